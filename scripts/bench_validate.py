#!/usr/bin/env python3
"""Benchmark `fwx validate` against `xmllint --stream --noout --schema` on the same generated batches.

Usage: scripts/bench_validate.py [--sizes 10000,100000,1000000] [--repeat 3] [--data DIR] [--schema-versions 1,2]

Builds fwx in release mode, generates batches with `fwx generate --seed 7` (kept in bench-data/ between runs),
then runs both validators on each file in the same run, alternating, and prints records/s, MB/s and peak RSS
(median of --repeat runs; peak RSS is the largest seen). Results go to BENCHMARKS.md by hand, with the command.

With --schema-versions 1,2 each batch is also upgraded once with `fwx upgrade` (kept beside it as
batch-N-v2.xml), and the four runs alternate in the same loop: fwx and xmllint on v1 (schemas/v1/batch.xsd), fwx
and xmllint on v2 (schemas/v2/batch.xsd). Every run's seconds are printed, then the medians and the ratios.
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
    parser.add_argument("--schema-versions", default="1", help="1 (default), 2, or 1,2: which schema versions to run")
    args = parser.parse_args()

    subprocess.run(["swift", "build", "-c", "release", "--product", "fwx", "--scratch-path", ".build-release"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    fwx = os.path.join(ROOT, ".build-release", "release", "fwx")
    parser_versions = [v for v in args.schema_versions.split(",") if v]
    if not set(parser_versions) <= {"1", "2"}:
        sys.exit("--schema-versions takes 1, 2 or 1,2")
    os.makedirs(args.data, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores; {open('/proc/cpuinfo').read().count('processor')} logical; "
          f"libxml2 {subprocess.run(['xmllint', '--version'], capture_output=True, text=True).stderr.splitlines()[0]}")
    print(f"{'records':>9} {'MB':>8} {'tool':<11} {'seconds':>8} {'records/s':>10} {'MB/s':>7} {'peak RSS MiB':>13} {'status':>6}  runs (s)")
    for size in [int(s) for s in args.sizes.split(",")]:
        path = os.path.join(args.data, f"batch-{size}.xml")
        if not os.path.exists(path):
            subprocess.run([fwx, "generate", "--records", str(size), "--seed", "7", "-o", path], check=True)
        files = {}
        for version in parser_versions:
            file = path if version == "1" else os.path.join(args.data, f"batch-{size}-v2.xml")
            if version == "2" and not os.path.exists(file):
                subprocess.run([fwx, "upgrade", path, "-o", file], check=True, stderr=subprocess.DEVNULL)
            files[version] = file
        megabytes = os.path.getsize(path) / 1e6
        tools = {}
        for version, file in files.items():
            suffix = "" if parser_versions == ["1"] else f" v{version}"
            schema = os.path.join(ROOT, "schemas", f"v{version}", "batch.xsd")
            tools["fwx" + suffix] = [fwx, "validate", "--quiet", file]
            tools["xmllint" + suffix] = ["xmllint", "--stream", "--noout", "--schema", schema, file]
        results = {name: [] for name in tools}
        repeat = args.repeat if size < 1_000_000 else max(1, args.repeat // 2)
        for _ in range(repeat):
            for name, command in tools.items():
                run = run_timed(command)
                if run[0] != 0:
                    sys.exit(f"{name} failed on {command[-1]} (exit {run[0]}); these batches are valid")
                results[name].append(run)
        medians = {}
        for name, runs in results.items():
            seconds = statistics.median(r[1] for r in runs)
            medians[name] = seconds
            rss = max(r[2] for r in runs) / 1024
            status = ",".join(sorted({str(r[0]) for r in runs}))
            every = " ".join(f"{r[1]:.2f}" for r in runs)
            print(f"{size:>9} {megabytes:>8.1f} {name:<11} {seconds:>8.2f} {size / seconds:>10.0f} "
                  f"{megabytes / seconds:>7.1f} {rss:>13.1f} {status:>6}  {every}")
        for version in files:
            suffix = "" if parser_versions == ["1"] else f" v{version}"
            print(f"{'':>9} {'':>8} ratio{suffix}: fwx throughput = "
                  f"{medians['xmllint' + suffix] / medians['fwx' + suffix]:.2f}x xmllint")
        if len(files) == 2:
            print(f"{'':>9} {'':>8} ratio: fwx v2 throughput = {medians['fwx v1'] / medians['fwx v2']:.2f}x fwx v1")


if __name__ == "__main__":
    main()
