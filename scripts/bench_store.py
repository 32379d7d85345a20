#!/usr/bin/env python3
"""Benchmark node NL on SQLite, on PostgreSQL, and as two processes on one PostgreSQL database (issue 14 item 6).

Usage: scripts/bench_store.py [--batches 20] [--records 1000] [--clients 2] [--urgent 100] [--urgent-interval 0.05]
                              [--rounds 1]

Builds fwx in release mode (scratch path .build-release), makes a throw-away test PKI (NL, DE, BE) and signs the
batches once, then starts one throw-away PostgreSQL cluster (scripts/pg-cluster) with durable settings
(fsync=on, full_page_writes=on, synchronous_commit=on: the SQLite store commits with synchronous=FULL, so both
sync every commit to disk). In each round the three set-ups run one after the other on the same batches, each on a
fresh store (a new SQLite file, or a new database) and a fresh partner node DE on SQLite:

  sqlite:      one `fwx serve` for NL with store.sqlite
  postgres:    one `fwx serve` for NL with store.postgres (poolSize 10)
  postgres x2: two `fwx serve` for NL on the same database, each on its own port; clients alternate between them

and measures, as bench_node.py does:

  intake:  --batches signed batches of --records records (recipients BE, so nothing is pushed) POSTed by --clients
           concurrent mutual-TLS clients (client i to process i mod N); records/s, and CPU-seconds per 1,000 records
           of the NL process(es) plus, for PostgreSQL, the database server (postmaster and backends, exited ones
           included);
  paging:  BE's node identity pages NL's feed (pages of --records) to the end; with two processes the pages
           alternate between them; records/s;
  urgent:  --urgent one-record batches for DE, one every --urgent-interval seconds, on one connection: submission
           latency (until the signed receipt), and propagation NL -> DE (the two nodes' batch-in audit times;
           NL's audit read from its SQLite file or database).

The machine has 2 cores: the x2 set-up shows the cost per record of a second process more than any scaling.
Prints one table per round; every round is reported. Ratios use figures of the same round only.
"""
import argparse
import http.client
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_node import Client, cpu_seconds, free_port, run, wait_ready  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DURABLE = "-c fsync=on -c full_page_writes=on -c synchronous_commit=on -c shared_buffers=256MB"


def nl_config(port, address_port, store, de_port):
    return f"""node: {{country: NL, agency: NL-BENCH, baseURL: "https://127.0.0.1:{address_port}"}}
listen: {{host: 127.0.0.1, port: {port}}}
tls: {{certificate: pki/NL/node-tls.pem, key: pki/NL/node-tls.key.pem}}
signing: {{certificate: pki/NL/node-signing.pem, key: pki/NL/node-signing.key.pem}}
trust: {{directory: pki/trust}}
store: {store}
limits: {{maxBodyBytes: 67108864, maxRecordsPerBatch: 10000, requestsPerMinutePerPeer: 1000000, maxFeedPage: 10000}}
log: {{level: warning}}
peers:
  - country: DE
    baseURL: "https://127.0.0.1:{de_port}"
    ca: pki/DE/ca.pem
    push: true
    handlingCodes: [H0, H1, H2, H3]
  - country: BE
    baseURL: "https://127.0.0.1:9"
    ca: pki/BE/ca.pem
    handlingCodes: [H0, H1, H2, H3]
"""


def de_config(port, nl_port):
    return f"""node: {{country: DE, agency: DE-BENCH, baseURL: "https://127.0.0.1:{port}"}}
listen: {{host: 127.0.0.1, port: {port}}}
tls: {{certificate: pki/DE/node-tls.pem, key: pki/DE/node-tls.key.pem}}
signing: {{certificate: pki/DE/node-signing.pem, key: pki/DE/node-signing.key.pem}}
trust: {{directory: pki/trust}}
store: {{sqlite: data/de.sqlite}}
limits: {{requestsPerMinutePerPeer: 1000000}}
log: {{level: warning}}
peers:
  - country: NL
    baseURL: "https://127.0.0.1:{nl_port}"
    ca: pki/NL/ca.pem
    handlingCodes: [H0, H1, H2, H3]
"""


class Cluster:
    """The throw-away PostgreSQL cluster of this run."""

    def __init__(self, directory):
        self.directory = directory
        env = dict(os.environ, PG_SERVER_OPTIONS=DURABLE)
        self.base_url = subprocess.run([os.path.join(ROOT, "scripts", "pg-cluster"), "start", directory], env=env,
                                       check=True, capture_output=True, text=True).stdout.strip()
        self.port = int(self.base_url.rsplit(":", 1)[1].strip("/"))
        self.password_file = os.path.join(directory, "password")

    def createdb(self, name):
        run([os.path.join(ROOT, "scripts", "pg-cluster"), "createdb", self.directory, name])

    def psql(self, database, sql):
        env = dict(os.environ, PGPASSWORD=open(self.password_file).read().strip())
        result = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "fwx", "-d", database, "-At",
                                 "-F", "\t", "-c", sql], env=env, check=True, capture_output=True, text=True)
        return [line.split("\t") for line in result.stdout.splitlines() if line]

    def cpu_seconds(self):
        """CPU time of the server so far: the postmaster, its live children and its exited children."""
        with open(os.path.join(self.directory, "data", "postmaster.pid")) as f:
            postmaster = int(f.readline())
        total = 0.0
        tick = os.sysconf("SC_CLK_TCK")
        with open(f"/proc/{postmaster}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += sum(int(fields[i]) for i in (11, 12, 13, 14)) / tick
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == postmaster:
                continue
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == postmaster:
                    total += (int(fields[11]) + int(fields[12])) / tick
            except OSError:
                continue
        return total

    def stop(self):
        subprocess.run([os.path.join(ROOT, "scripts", "pg-cluster"), "stop", self.directory], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else float("nan")


def run_setup(name, processes, fwx, work, pki, cluster, round_index, batches, urgent, args):
    """Starts NL (1 or 2 processes) and DE on fresh stores, runs the three measurements, stops them."""
    folder = os.path.join(work, f"r{round_index}-{name.replace(' ', '')}")
    os.makedirs(os.path.join(folder, "data"))
    os.symlink(pki, os.path.join(folder, "pki"))
    database = None
    if processes == 1 and name == "sqlite":
        store = "{sqlite: data/nl.sqlite}"
    else:
        database = f"bench_r{round_index}_{name.replace(' ', '').replace('x', '_x')}"
        cluster.createdb(database)
        store = (f'{{postgres: {{url: "{cluster.base_url}{database}?sslmode=disable", '
                 f'passwordFile: "{cluster.password_file}", poolSize: 10}}}}')
    ports = [free_port() for _ in range(processes)]
    de_port = free_port()
    for index, port in enumerate(ports):
        with open(os.path.join(folder, f"nl{index}.yaml"), "w") as f:
            f.write(nl_config(port, ports[0], store, de_port))
    with open(os.path.join(folder, "de.yaml"), "w") as f:
        f.write(de_config(de_port, ports[0]))
    liaison = (os.path.join(pki, "NL", "liaison.pem"), os.path.join(pki, "NL", "liaison.key.pem"))
    nl_ca, de_ca = os.path.join(pki, "NL", "ca.pem"), os.path.join(pki, "DE", "ca.pem")
    de_tls = (os.path.join(pki, "DE", "node-tls.pem"), os.path.join(pki, "DE", "node-tls.key.pem"))
    be_tls = (os.path.join(pki, "BE", "node-tls.pem"), os.path.join(pki, "BE", "node-tls.key.pem"))
    nodes = []
    try:
        log = open(os.path.join(folder, "de.log"), "w")
        nodes.append(subprocess.Popen([fwx, "serve", "--config", os.path.join(folder, "de.yaml")], stdout=log,
                                      stderr=log))
        wait_ready(de_port, *de_tls, de_ca, nodes[0])
        for index in range(processes):
            log = open(os.path.join(folder, f"nl{index}.log"), "w")
            nodes.append(subprocess.Popen([fwx, "serve", "--config", os.path.join(folder, f"nl{index}.yaml")],
                                          stdout=log, stderr=log))
        for index, port in enumerate(ports):
            wait_ready(port, *liaison, nl_ca, nodes[1 + index])
        nl_pids = [process.pid for process in nodes[1:]]

        def nl_cpu():
            own = sum(cpu_seconds(pid) for pid in nl_pids)
            return own + (cluster.cpu_seconds() if database else 0.0)

        # Intake.
        local = threading.local()
        counter = iter(range(1_000_000))
        lock = threading.Lock()

        def push(body):
            if not hasattr(local, "client"):
                with lock:
                    number = next(counter)
                local.client = Client(ports[number % processes], *liaison, nl_ca)
            status, _, answer = local.client.request("POST", "/v1/batches", body)
            if status != 200:
                raise RuntimeError(f"push answered {status}: {answer[:300]!r}")

        cpu_before = nl_cpu()
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.clients) as pool:
            list(pool.map(push, batches))
        intake_seconds = time.perf_counter() - start
        intake_cpu = nl_cpu() - cpu_before
        total = len(batches) * args.records

        # Feed paging, alternating between the processes.
        clients = [Client(port, *be_tls, nl_ca) for port in ports]
        cursor, pulled, pages = "0", 0, 0
        start = time.perf_counter()
        while True:
            status, headers, body = clients[pages % processes].request(
                "GET", f"/v1/feed?after={cursor}&limit={args.records}")
            if status != 200:
                raise RuntimeError(f"feed answered {status}: {body[:300]!r}")
            pages += 1
            pulled += body.count(b"<RecordId>")
            cursor = headers["FWX-Next-Cursor"]
            if headers["FWX-More"] != "true":
                break
        paging_seconds = time.perf_counter() - start
        if pulled != total:
            raise RuntimeError(f"the feed gave {pulled} records, expected {total}")

        # Urgent one-record pushes, alternating between the processes.
        latencies = []
        clients = [Client(port, *liaison, nl_ca) for port in ports]
        for index, body in enumerate(urgent):
            time.sleep(args.urgent_interval)
            start = time.perf_counter()
            status, _, answer = clients[index % processes].request("POST", "/v1/batches", body)
            latencies.append((time.perf_counter() - start) * 1000)
            if status != 200:
                raise RuntimeError(f"urgent push answered {status}: {answer[:300]!r}")
        deadline = time.time() + 60
        propagation = []
        while time.time() < deadline:
            if database:
                sent = {row[0]: float(row[1]) for row in cluster.psql(
                    database, "SELECT target, at FROM audit WHERE action = 'batch-in' AND detail = '1 records'")}
            else:
                nl = sqlite3.connect(os.path.join(folder, "data", "nl.sqlite"))
                sent = dict(nl.execute("SELECT target, at FROM audit WHERE action = 'batch-in' "
                                       "AND detail = '1 records'"))
                nl.close()
            de = sqlite3.connect(os.path.join(folder, "data", "de.sqlite"))
            got = dict(de.execute("SELECT target, at FROM audit WHERE action = 'batch-in'"))
            de.close()
            if len(got) >= len(urgent):
                propagation = sorted((got[b] - sent[b]) * 1000 for b in got if b in sent)
                break
            time.sleep(0.5)
        if len(propagation) < len(urgent):
            raise RuntimeError(f"DE received {len(propagation)} of {len(urgent)} urgent batches within 60 s")
    finally:
        for process in nodes:
            process.terminate()
        for process in nodes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    return {"setup": name, "round": round_index, "records": total, "intake_s": intake_seconds,
            "intake_rps": total / intake_seconds, "cpu_s_per_1k": 1000 * intake_cpu / total,
            "paging_s": paging_seconds, "paging_rps": pulled / paging_seconds, "pages": pages,
            "submit_p50_ms": pct(latencies, 50), "submit_p99_ms": pct(latencies, 99),
            "propagation_p50_ms": pct(propagation, 50), "propagation_p99_ms": pct(propagation, 99)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--urgent", type=int, default=100)
    parser.add_argument("--urgent-interval", type=float, default=0.05)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()

    run(["swift", "build", "-c", "release", "--product", "fwx", "--scratch-path", ".build-release"], cwd=ROOT)
    fwx = os.path.join(ROOT, ".build-release", "release", "fwx")
    work = os.path.join(ROOT, "bench-data", "store")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "batches"))
    pki = os.path.join(work, "pki")
    run([os.path.join(ROOT, "scripts", "test-pki"), pki, "--countries", "NL,DE,BE"])
    liaison = (os.path.join(pki, "NL", "liaison.pem"), os.path.join(pki, "NL", "liaison.key.pem"))

    print(f"preparing {args.batches} batches of {args.records} records and {args.urgent} one-record batches ...")

    def signed(name, records, seed, sequence, first, recipients):
        plain = os.path.join(work, "batches", f"{name}.xml")
        out = os.path.join(work, "batches", f"{name}.signed.xml")
        run([fwx, "generate", "--records", str(records), "--seed", str(seed), "--sender", "NL", "--sequence",
             str(sequence), "--first-number", str(first), "--recipients", recipients, "-o", plain])
        run([fwx, "sign", "--key", liaison[1], "--cert", liaison[0], plain, "-o", out])
        return open(out, "rb").read()

    batches = [signed(f"b{i}", args.records, 1000 + i, i + 1, i * args.records + 1, "BE") for i in range(args.batches)]
    base = args.batches * args.records + 1
    urgent = [signed(f"u{i}", 1, 5000 + i, args.batches + i + 1, base + i, "DE") for i in range(args.urgent)]

    cluster_dir = os.path.join(work, "pg")
    cluster = Cluster(cluster_dir)
    results = []
    try:
        for round_index in range(1, args.rounds + 1):
            for name, processes in (("sqlite", 1), ("postgres", 1), ("postgres x2", 2)):
                print(f"round {round_index}: {name} ...", flush=True)
                results.append(run_setup(name, processes, fwx, work, pki, cluster, round_index, batches, urgent, args))
    finally:
        cluster.stop()

    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    print(f"\n{os.cpu_count()} cores, load average {load} at the end; {args.batches} batches x {args.records} records, "
          f"{args.clients} pushing clients; {args.urgent} urgent one-record batches every {args.urgent_interval} s; "
          f"PostgreSQL {DURABLE}")
    header = (f"{'round':>5} {'set-up':<12} {'intake rec/s':>12} {'CPU-s/1k rec':>12} {'paging rec/s':>12} "
              f"{'submit p50/p99 ms':>18} {'propagation p50/p99 ms':>23}")
    print(header)
    for r in results:
        print(f"{r['round']:>5} {r['setup']:<12} {r['intake_rps']:>12.0f} {r['cpu_s_per_1k']:>12.3f} "
              f"{r['paging_rps']:>12.0f} {r['submit_p50_ms']:>8.1f} / {r['submit_p99_ms']:<7.1f} "
              f"{r['propagation_p50_ms']:>10.1f} / {r['propagation_p99_ms']:<8.1f}")
    for round_index in range(1, args.rounds + 1):
        by = {r["setup"]: r for r in results if r["round"] == round_index}
        s, p, p2 = by["sqlite"], by["postgres"], by["postgres x2"]
        print(f"round {round_index}: postgres / sqlite intake {p['intake_rps'] / s['intake_rps']:.2f}x "
              f"(x2: {p2['intake_rps'] / s['intake_rps']:.2f}x; target >= 0.7x), paging "
              f"{p['paging_rps'] / s['paging_rps']:.2f}x (x2: {p2['paging_rps'] / s['paging_rps']:.2f}x; target >= 0.8x), "
              f"propagation p99 sqlite {s['propagation_p99_ms']:.1f} ms, postgres {p['propagation_p99_ms']:.1f} ms, "
              f"x2 {p2['propagation_p99_ms']:.1f} ms (target < 50 ms)")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
