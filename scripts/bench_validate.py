#!/usr/bin/env python3
"""Benchmark `fwx validate` against `xmllint --stream --noout --schema` on the same generated batches.

Usage: scripts/bench_validate.py [--sizes 10000,100000,1000000] [--repeat 3] [--data DIR]

Builds fwx in release mode, generates batches with `fwx generate --seed 7` (kept in bench-data/ between runs),
then runs both validators on each file in the same run, alternating, and prints records/s, MB/s and peak RSS
(median of --repeat runs; peak RSS is the largest seen). Results go to BENCHMARKS.md by hand, with the command.
"""
import argparse
import os
import statistics
import subprocess
import sys

from bench_common import run_timed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))




def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", default=os.path.join(ROOT, "bench-data"))
    args = parser.parse_args()

    subprocess.run(["swift", "build", "-c", "release", "--product", "fwx", "--scratch-path", ".build-release"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    fwx = os.path.join(ROOT, ".build-release", "release", "fwx")
    schema = os.path.join(ROOT, "schemas", "v1", "batch.xsd")
    os.makedirs(args.data, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores; {open('/proc/cpuinfo').read().count('processor')} logical; "
          f"libxml2 {subprocess.run(['xmllint', '--version'], capture_output=True, text=True).stderr.splitlines()[0]}")
    print(f"{'records':>9} {'MB':>8} {'tool':<8} {'seconds':>8} {'records/s':>10} {'MB/s':>7} {'peak RSS MiB':>13} {'status':>6}")
    for size in [int(s) for s in args.sizes.split(",")]:
        path = os.path.join(args.data, f"batch-{size}.xml")
        if not os.path.exists(path):
            subprocess.run([fwx, "generate", "--records", str(size), "--seed", "7", "-o", path], check=True)
        megabytes = os.path.getsize(path) / 1e6
        tools = {
            "fwx": [fwx, "validate", "--quiet", path],
            "xmllint": ["xmllint", "--stream", "--noout", "--schema", schema, path],
        }
        results = {name: [] for name in tools}
        repeat = args.repeat if size < 1_000_000 else max(1, args.repeat // 2)
        for _ in range(repeat):
            for name, command in tools.items():
                results[name].append(run_timed(command))
        for name, runs in results.items():
            seconds = statistics.median(r[1] for r in runs)
            rss = max(r[2] for r in runs) / 1024
            status = ",".join(sorted({str(r[0]) for r in runs}))
            print(f"{size:>9} {megabytes:>8.1f} {name:<8} {seconds:>8.2f} {size / seconds:>10.0f} "
                  f"{megabytes / seconds:>7.1f} {rss:>13.1f} {status:>6}")
        fwx_s = statistics.median(r[1] for r in results["fwx"])
        lint_s = statistics.median(r[1] for r in results["xmllint"])
        print(f"{'':>9} {'':>8} ratio    fwx throughput = {lint_s / fwx_s:.2f}x xmllint")


if __name__ == "__main__":
    main()
