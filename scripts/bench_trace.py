#!/usr/bin/env python3
"""Benchmark `fwx trace` (issue 5): over a node's store and over batch files, with time and peak RSS.

Usage: scripts/bench_trace.py [--records 100000] [--batch 10000] [--reuse] [--work DIR]

Builds fwx in release mode (scratch path .build-release), generates --records records as NL batches of --batch
records (fwx generate, disjoint record numbers), then:

  store:  starts an NL node (fwx serve) with a throw-away PKI, submits every batch signed by the NL liaison over
          mutual TLS (2 clients), stops the node, and times `fwx trace --config nl.yaml` (summary output:
          once after dropping the page cache when allowed, then warm, the second of two warm runs) and the
          same with --format json (facts kept at intake; no XML is read).
  files:  times `fwx trace FILES` (hardened streaming parse, no schema) against
          `xmllint --stream --noout FILES` (parse only) on the same files, in the same run.

--reuse keeps the store and the batch files of an earlier run with the same sizes (bench-data/trace/stored.txt
records them) and only times the traces.

Targets: 1M records from a store in under 10 s and under 1 GiB; over files no slower than 1.5x xmllint.
"""
import argparse
import http.client
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from bench_common import run_timed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(command, **kwargs):
    return subprocess.run(command, check=True, stdout=subprocess.DEVNULL, **kwargs)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--reuse", action="store_true",
                        help="keep the store and batch files of an earlier run with the same --records and --batch "
                             "(submitting 1M records takes ~6 minutes); missing batch files are generated again")
    parser.add_argument("--work", default=os.path.join(ROOT, "bench-data", "trace"),
                        help="folder for the store, PKI and batch files (default bench-data/trace); give each size "
                             "its own to keep both with --reuse")
    args = parser.parse_args()

    run(["swift", "build", "-c", "release", "--product", "fwx", "--scratch-path", ".build-release"], cwd=ROOT)
    fwx = os.path.join(ROOT, ".build-release", "release", "fwx")
    work = os.path.abspath(args.work)
    pki = os.path.join(work, "pki")
    stamp = os.path.join(work, "stored.txt")
    reusing = args.reuse and os.path.exists(stamp) and open(stamp).read() == f"{args.records} {args.batch}"
    if not reusing:
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(os.path.join(work, "data"))
        run([os.path.join(ROOT, "scripts", "test-pki"), pki, "--countries", "NL,DE"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    if not reusing:
        write_config(os.path.join(work, "nl.yaml"), port)
    liaison = (os.path.join(pki, "NL", "liaison.pem"), os.path.join(pki, "NL", "liaison.key.pem"))
    files, signed = [], []
    count = (args.records + args.batch - 1) // args.batch
    print(f"generating {args.records} records in {count} batches ...", flush=True)
    for index in range(count):
        size = min(args.batch, args.records - index * args.batch)
        plain = os.path.join(work, f"b{index}.xml")
        if not os.path.exists(plain):
            run([fwx, "generate", "--records", str(size), "--seed", str(700 + index), "--sequence", str(index + 1),
                 "--first-number", str(index * args.batch + 1), "-o", plain])
        files.append(plain)
        if not reusing:
            out = plain + ".signed"
            run([fwx, "sign", "--key", liaison[1], "--cert", liaison[0], plain, "-o", out])
            signed.append(out)
    if reusing:
        print("reusing the store of an earlier run", flush=True)
    else:
        submit_all(fwx, work, pki, liaison, port, signed, args.records)
        for path in signed:
            os.remove(path)
        with open(stamp, "w") as f:
            f.write(f"{args.records} {args.batch}")
    time_traces(fwx, work, files, args.records)


def write_config(path, port):
    with open(path, "w") as f:
        f.write(f"""node: {{country: NL, agency: NL-BENCH, baseURL: "https://127.0.0.1:{port}"}}
listen: {{host: 127.0.0.1, port: {port}}}
tls: {{certificate: pki/NL/node-tls.pem, key: pki/NL/node-tls.key.pem}}
signing: {{certificate: pki/NL/node-signing.pem, key: pki/NL/node-signing.key.pem}}
trust: {{directory: pki/trust}}
store: {{sqlite: data/nl.sqlite}}
limits: {{maxBodyBytes: 268435456, maxRecordsPerBatch: 100000, requestsPerMinutePerPeer: 1000000}}
log: {{level: warning}}
peers:
  - {{country: DE, baseURL: "https://127.0.0.1:9", ca: pki/DE/ca.pem, handlingCodes: [H0, H1, H2, H3]}}
""")


def submit_all(fwx, work, pki, liaison, port, signed, records):
    print("submitting to the NL node ...", flush=True)
    node = subprocess.Popen([fwx, "serve", "--config", os.path.join(work, "nl.yaml")],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "nl.log"), "w"))
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=os.path.join(pki, "NL", "ca.pem"))
        context.load_cert_chain(*liaison)
        context.check_hostname = False
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or node.poll() is not None:
                    sys.exit("the node did not start")
                time.sleep(0.2)

        def submit(path):
            connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=600)
            connection.request("POST", "/v1/batches", body=open(path, "rb").read(),
                               headers={"Content-Type": "application/xml"})
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"{path}: HTTP {response.status}: {body[:300]!r}")
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(submit, signed))
        print(f"  {records} records stored in {time.perf_counter() - start:.1f} s", flush=True)
    finally:
        node.terminate()
        node.wait(timeout=60)


def time_traces(fwx, work, files, records):
    config = os.path.join(work, "nl.yaml")
    results = []
    # The summary output: what is timed is reading and analysing, not encoding every map point as JSON. First
    # with the store out of the page cache (when this user may drop it), then again with it cached, as on a node
    # in use.
    trace_store = [fwx, "trace", "--config", config, "-o", os.path.join(work, "store.txt")]
    if drop_page_cache():
        status, seconds, rss = run_timed(trace_store)
        results.append(("fwx trace --config, cold cache", status, seconds, rss))
    run_timed(trace_store)
    status, seconds, rss = run_timed(trace_store)
    results.append(("fwx trace --config (node store)", status, seconds, rss))
    status, seconds, rss = run_timed([fwx, "trace", "--config", config, "--format", "json", "-o", os.path.join(work, "store.json")])
    results.append(("  the same, --format json", status, seconds, rss))
    status, seconds, rss = run_timed([fwx, "trace", *files, "-o", os.path.join(work, "files.txt")])
    results.append(("fwx trace FILES", status, seconds, rss))
    status, seconds, rss = run_timed(["xmllint", "--stream", "--noout", *files])
    results.append(("xmllint --stream --noout FILES", status, seconds, rss))
    megabytes = sum(os.path.getsize(f) for f in files) / 1e6
    print(f"\n{records} records, {megabytes:.0f} MB of batch files; {os.cpu_count()} cores")
    print(f"{'command':<34} {'exit':>4} {'seconds':>8} {'records/s':>10} {'peak RSS MiB':>13}")
    for name, status, seconds, rss in results:
        print(f"{name:<34} {status:>4} {seconds:>8.2f} {records / seconds:>10.0f} {rss / 1024:>13.1f}")
    print(f"fwx trace FILES / xmllint = {results[-2][2] / results[-1][2]:.2f}x the time (target <= 1.5x)")


def drop_page_cache():
    """Writes dirty pages and drops the page cache (needs root); False when not allowed."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("1\n")
        return True
    except OSError:
        print("(cannot drop the page cache: the cold-cache run is left out)", flush=True)
        return False


if __name__ == "__main__":
    main()
