#!/usr/bin/env python3
"""Admission control of an FWX node under a burst of over-limit work (issue 13, item 1).

Usage: scripts/bench_admission.py [--fwx .build/release/fwx] [--batches 8] [--bodies 10] [--body-mb 40]
                                  [--budget BYTES] [--concurrent N]

Uses a release build of fwx (build it first: swift build -c release --product fwx), makes a throw-away test PKI
(scripts/test-pki) and an NL node configuration in bench-data/admission with maxRecordsPerBatch 10000 (the other
limits at their defaults, which derive from this machine, unless --budget / --concurrent are given), starts the
node with `fwx serve`, warms it up (health checks, two small batches) and measures its idle RSS. Then, all at once:

  batches: --batches concurrent POSTs of one signed 10,001-record batch (about 23 MB, within maxBodyBytes, one
           record over maxRecordsPerBatch); a client answered 503 waits Retry-After and sends again, until the
           node's final answer (413 FWX-N004 expected).
  bodies:  --bodies concurrent POSTs of --body-mb MB (over maxBodyBytes, 32 MiB): half declare their
           Content-Length, half are chunked; each client sends 1 MB at a time and stops when an answer arrives
           (413 expected, before the body is read for the declared ones, at the limit for the chunked ones).
  probes:  during the burst, GET /healthz every 100 ms and a small signed batch every 0.5 s, each on its own
           connection (a new TLS handshake each time, as a fresh partner would): their latency and status.

Prints the node's RSS (VmRSS sampled every 20 ms, and VmHWM) at its peak, 10 s after the burst, and idle, and the
answers; targets: peak < 512 MiB, RSS 10 s after the burst < 2x idle, normal requests answered during the burst.
"""
import argparse
import http.client
import json
import os
import select
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_node import free_port, run, wait_ready  # noqa: E402  (same PKI, nodes and clients as bench_node)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def config(port, budget, concurrent):
    extra = ""
    if budget:
        extra += f", memoryBudgetBytes: {budget}"
    if concurrent:
        extra += f", maxConcurrentBatches: {concurrent}"
    return f"""node: {{country: NL, agency: NL-BENCH, baseURL: "https://127.0.0.1:{port}"}}
listen: {{host: 127.0.0.1, port: {port}}}
tls: {{certificate: pki/NL/node-tls.pem, key: pki/NL/node-tls.key.pem}}
signing: {{certificate: pki/NL/node-signing.pem, key: pki/NL/node-signing.key.pem}}
trust: {{directory: pki/trust}}
store: {{sqlite: data/nl.sqlite}}
limits: {{maxRecordsPerBatch: 10000, requestsPerMinutePerPeer: 1000000{extra}}}
log: {{level: warning}}
peers:
  - country: DE
    baseURL: "https://127.0.0.1:9"
    ca: pki/DE/ca.pem
    handlingCodes: [H0, H1, H2, H3]
"""


def prepare(fwx, name, folders=("data",), countries="NL,DE"):
    """Checks that `fwx` is a built executable, makes bench-data/NAME afresh with `folders` and a test PKI in
    bench-data/NAME/pki for `countries`; returns (work folder, PKI folder)."""
    if not os.access(fwx, os.X_OK):
        sys.exit(f"{fwx} is not an executable; build it: swift build -c release --product fwx")
    work = os.path.join(ROOT, "bench-data", name)
    shutil.rmtree(work, ignore_errors=True)
    for folder in folders:
        os.makedirs(os.path.join(work, folder))
    pki = os.path.join(work, "pki")
    run([os.path.join(ROOT, "scripts", "test-pki"), pki, "--countries", countries])
    return work, pki


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class Sampler(threading.Thread):
    """VmRSS of a process every 20 ms; the highest seen."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stopped = pid, 0, threading.Event()

    def run(self):
        while not self.stopped.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.02)


def tls_context(cert, key, ca):
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    context.load_cert_chain(cert, key)
    context.check_hostname = False
    return context


def post_once(context, port, body):
    """One POST on a new connection: (status, Retry-After or None)."""
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=300)
    try:
        connection.request("POST", "/v1/batches", body=body, headers={"Content-Type": "application/xml"})
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader("Retry-After")
    except (BrokenPipeError, ConnectionResetError, ssl.SSLError) as error:
        return f"closed ({type(error).__name__})", None
    finally:
        connection.close()


def over_limit_body(context, port, megabytes, chunked):
    """Sends a body of `megabytes` MB 1 MB at a time, stopping when the node answers: (status, MB sent)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
    length = megabytes * 1_000_000
    head = "POST /v1/batches HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/xml\r\n"
    head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else f"Content-Length: {length}\r\n\r\n"
    piece = b"<" + b"x" * (1_000_000 - 1)
    sent = 0
    answer = b""
    try:
        sock.sendall(head.encode())
        while sent < megabytes:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable or sock.pending():
                break
            sock.sendall((b"%x\r\n" % len(piece)) + piece + b"\r\n" if chunked else piece)
            sent += 1
        sock.settimeout(60)
        while b"\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout) as error:
        if not answer:
            return f"closed ({type(error).__name__})", sent
    finally:
        sock.close()
    status = answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/1.1 ") else "no answer"
    return status, sent


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fwx", default=os.path.join(ROOT, ".build", "release", "fwx"))
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--bodies", type=int, default=10)
    parser.add_argument("--body-mb", type=int, default=40)
    parser.add_argument("--budget", type=int, default=0, help="limits.memoryBudgetBytes (default: the node's)")
    parser.add_argument("--concurrent", type=int, default=0, help="limits.maxConcurrentBatches (default: the node's)")
    parser.add_argument("--hold", type=int, default=0,
                        help="keep the node running this many seconds after the measurement (to inspect it)")
    args = parser.parse_args()
    fwx = args.fwx
    work, pki = prepare(fwx, "admission", folders=("data", "batches"))
    port = free_port()
    with open(os.path.join(work, "nl.yaml"), "w") as f:
        f.write(config(port, args.budget, args.concurrent))
    liaison = (os.path.join(pki, "NL", "liaison.pem"), os.path.join(pki, "NL", "liaison.key.pem"))
    ca = os.path.join(pki, "NL", "ca.pem")
    context = tls_context(*liaison, ca)

    def signed_batch(name, records, sequence, first):
        plain = os.path.join(work, "batches", f"{name}.xml")
        signed = os.path.join(work, "batches", f"{name}.signed.xml")
        run([fwx, "generate", "--records", str(records), "--seed", str(sequence), "--sender", "NL", "--sequence",
             str(sequence), "--first-number", str(first), "--recipients", "DE", "-o", plain])
        run([fwx, "sign", "--key", liaison[1], "--cert", liaison[0], plain, "-o", signed])
        return open(signed, "rb").read()

    print("preparing a 10,001-record batch and small batches ...")
    big = signed_batch("big", 10_001, 1, 1)
    small = [signed_batch(f"small{i}", 5, 100 + i, 100_000 + 10 * i) for i in range(40)]

    log = open(os.path.join(work, "nl.log"), "w")
    node = subprocess.Popen([fwx, "serve", "--config", os.path.join(work, "nl.yaml")], stdout=log, stderr=log)
    try:
        wait_ready(port, *liaison, ca, node)
        for body in small[:2]:
            status, _ = post_once(context, port, body)
            if status != 200:
                sys.exit(f"a warm-up batch was answered {status}")
        time.sleep(2)
        idle = rss_kib(node.pid)
        sampler = Sampler(node.pid)
        sampler.start()

        results = {"batches": [], "bodies": [], "health": [], "small": []}
        lock = threading.Lock()
        burst_over = threading.Event()

        def batch_client():
            refused_busy = 0
            deadline = time.time() + 120
            while True:
                status, retry = post_once(context, port, big)
                if status == 503 and time.time() < deadline:
                    refused_busy += 1
                    time.sleep(float(retry or 1))
                    continue
                with lock:
                    results["batches"].append((status, refused_busy))
                return

        def body_client(index):
            outcome = over_limit_body(context, port, args.body_mb, chunked=index % 2 == 1)
            with lock:
                results["bodies"].append(("chunked" if index % 2 else "declared",) + outcome)

        def health_probe():
            while not burst_over.is_set():
                start = time.perf_counter()
                connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=60)
                try:
                    connection.request("GET", "/healthz")
                    status = connection.getresponse().status
                except OSError as error:
                    status = type(error).__name__
                finally:
                    connection.close()
                with lock:
                    results["health"].append((status, (time.perf_counter() - start) * 1000))
                time.sleep(0.1)

        def small_probe():
            for body in small[2:]:
                if burst_over.is_set():
                    return
                start = time.perf_counter()
                status, _ = post_once(context, port, body)
                with lock:
                    results["small"].append((status, (time.perf_counter() - start) * 1000))
                time.sleep(0.5)

        start = time.perf_counter()
        workers = [threading.Thread(target=batch_client) for _ in range(args.batches)]
        workers += [threading.Thread(target=body_client, args=(i,)) for i in range(args.bodies)]
        probes = [threading.Thread(target=health_probe), threading.Thread(target=small_probe)]
        for thread in probes + workers:
            thread.start()
        for thread in workers:
            thread.join()
        burst_seconds = time.perf_counter() - start
        burst_over.set()
        for thread in probes:
            thread.join()
        peak_at_end = sampler.peak
        rss_samples = []
        for second in range(1, 11):
            time.sleep(1)
            rss_samples.append(rss_kib(node.pid))
        sampler.stopped.set()
        hwm = rss_kib(node.pid, "VmHWM")
        after = rss_samples[-1]
        if args.hold:
            print(f"holding the node (pid {node.pid}) for {args.hold} s", flush=True)
            time.sleep(args.hold)
    finally:
        node.terminate()
        try:
            node.wait(timeout=30)
        except subprocess.TimeoutExpired:
            node.kill()

    mib = lambda kib: kib / 1024  # noqa: E731
    print(f"\n{os.cpu_count()} cores; node limits: maxRecordsPerBatch 10000, maxBodyBytes 32 MiB, "
          f"memoryBudgetBytes {args.budget or 'default'}, maxConcurrentBatches {args.concurrent or 'default'}")
    print(f"burst: {args.batches} x POST of a 10,001-record batch ({len(big) / 1e6:.1f} MB) + {args.bodies} x "
          f"{args.body_mb} MB over-limit bodies; over after {burst_seconds:.1f} s")
    finals = {}
    for status, busy in results["batches"]:
        finals[status] = finals.get(status, 0) + 1
    print(f"  batches: final answers {finals}; 503 answers before them: "
          f"{sum(b for _, b in results['batches'])} (each client waited Retry-After and sent again)")
    for kind in ("declared", "chunked"):
        rows = [r for r in results["bodies"] if r[0] == kind]
        statuses = sorted({str(r[1]) for r in rows})
        print(f"  bodies, {kind} length: answers {statuses}, MB sent before the answer: "
              f"{sorted(r[2] for r in rows)}")
    health = [ms for status, ms in results["health"] if status == 200]
    health_bad = [status for status, _ in results["health"] if status != 200]
    print(f"  GET /healthz during the burst (new connection each): {len(health)} x 200"
          f"{', others: ' + str(health_bad) if health_bad else ''}; p50 {pct(health, 50):.0f} ms, "
          f"p95 {pct(health, 95):.0f} ms, max {max(health) if health else float('nan'):.0f} ms")
    small_ok = [ms for status, ms in results["small"] if status == 200]
    small_statuses = {}
    for status, _ in results["small"]:
        small_statuses[status] = small_statuses.get(status, 0) + 1
    print(f"  5-record batch POSTs during the burst: answers {small_statuses}; 200s p50 {pct(small_ok, 50):.0f} ms, "
          f"max {max(small_ok) if small_ok else float('nan'):.0f} ms")
    print(f"node RSS: idle {mib(idle):.0f} MiB; peak {mib(max(peak_at_end, sampler.peak)):.0f} MiB sampled, "
          f"VmHWM {mib(hwm):.0f} MiB (target < 512 MiB); 10 s after the burst {mib(after):.0f} MiB = "
          f"{after / idle:.2f}x idle (target < 2x)")
    print(f"  RSS each second after the burst (MiB): {[round(mib(k)) for k in rss_samples]}")
    print(json.dumps({"idle_kib": idle, "peak_kib": max(peak_at_end, sampler.peak), "hwm_kib": hwm,
                      "after10_kib": after, "burst_s": burst_seconds, "batches": finals,
                      "bodies": [list(r) for r in results["bodies"]], "health_ms_p95": pct(health, 95)}))


if __name__ == "__main__":
    main()
