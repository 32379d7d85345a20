#!/usr/bin/env python3
"""Cost of a hostile document: one element with 1,000,000 attributes (issue 13, item 9).

Usage: scripts/bench_hostile.py [--fwx .build/release/fwx] [--runs 3] [--attributes 1000000] [--xmllint-timeout 30]

Uses a release build of fwx (swift build -c release --product fwx). Writes `<Header a0="1" a1="1" ...>` inside a
batch (about 12 MB for a million attributes), makes a throw-away test PKI (scripts/test-pki) and an NL node, then
times, --runs times each and in turns: `fwx validate`, `fwx convert --to json`, `fwx verify --trust`, `fwx sign`
(each must exit 1 with FWX-P004) and a POST of the file to the node (must be answered 422 FWX-P004), timed from the
first byte sent to the answer. The reference is libxml2 itself on the same file, `xmllint --noout`, whose
duplicate-attribute check compares every pair (it is stopped at --xmllint-timeout seconds); `xmllint --stream`
gives up early on this file ("Huge input lookup", libxml2's 10 MB limit for one start tag in push mode) and would
not refuse a file just under that limit any faster.
Target: each FWX path refuses the file in under 1 s.
"""
import argparse
import http.client
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_admission import config, prepare, tls_context  # noqa: E402  (the same node set-up as the admission bench)
from bench_node import free_port, wait_ready  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def hostile(count):
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<Batch xmlns="urn:fwx:schema:v1" schemaVersion="1.0">\n<Header']
    parts += [f' a{index}="1"' for index in range(count)]
    parts.append("/>\n</Batch>\n")
    return "".join(parts).encode()


def timed(command, timeout):
    start = time.perf_counter()
    try:
        result = subprocess.run(command, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"still running at {timeout} s", ""
    return time.perf_counter() - start, result.returncode, (result.stdout + result.stderr).decode(errors="replace")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fwx", default=os.path.join(ROOT, ".build", "release", "fwx"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--attributes", type=int, default=1_000_000)
    parser.add_argument("--xmllint-timeout", type=int, default=30)
    args = parser.parse_args()
    fwx = args.fwx
    work, pki = prepare(fwx, "hostile")
    path = os.path.join(work, "attributes.xml")
    body = hostile(args.attributes)
    with open(path, "wb") as f:
        f.write(body)
    liaison = (os.path.join(pki, "NL", "liaison.pem"), os.path.join(pki, "NL", "liaison.key.pem"))
    ca = os.path.join(pki, "NL", "ca.pem")
    commands = {
        "fwx validate": [fwx, "validate", path],
        "fwx convert --to json": [fwx, "convert", "--from", "xml", "--to", "json", path, "-o",
                                  os.path.join(work, "out.json")],
        "fwx verify": [fwx, "verify", "--trust", os.path.join(pki, "trust"), path],
        "fwx sign": [fwx, "sign", "--key", liaison[1], "--cert", liaison[0], path, "-o",
                     os.path.join(work, "signed.xml")],
    }

    port = free_port()
    with open(os.path.join(work, "nl.yaml"), "w") as f:
        f.write(config(port, 0, 0))
    log = open(os.path.join(work, "nl.log"), "w")
    node = subprocess.Popen([fwx, "serve", "--config", os.path.join(work, "nl.yaml")], stdout=log, stderr=log,
                            cwd=work)
    context = tls_context(*liaison, ca)
    results = {name: [] for name in list(commands) + ["node intake (POST)", "xmllint --noout"]}
    failures = []
    try:
        wait_ready(port, *liaison, ca, node)
        for _ in range(args.runs):
            for name, command in commands.items():
                seconds, status, output = timed(command, 120)
                results[name].append(seconds)
                if status != 1 or "FWX-P004" not in output:
                    failures.append(f"{name}: exit {status}, {output[:300]!r}")
            connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=120)
            start = time.perf_counter()
            connection.request("POST", "/v1/batches", body=body, headers={"Content-Type": "application/xml"})
            response = connection.getresponse()
            answer = response.read()
            results["node intake (POST)"].append(time.perf_counter() - start)
            connection.close()
            if response.status != 422 or b"FWX-P004" not in answer:
                failures.append(f"node: {response.status} {answer[:300]!r}")
            seconds, status, _ = timed(["xmllint", "--noout", path], args.xmllint_timeout)
            results["xmllint --noout"].append(seconds)
    finally:
        node.terminate()
        try:
            node.wait(timeout=30)
        except subprocess.TimeoutExpired:
            node.kill()

    print(f"\n{args.attributes:,} attributes on one element, {len(body) / 1e6:.1f} MB; {args.runs} runs each, in turns")
    print(f"{'':24} " + " ".join(f"{'run ' + str(i + 1):>10}" for i in range(args.runs)))
    for name, values in results.items():
        cells = [f"{v:9.2f}s" if v is not None else f"> {args.xmllint_timeout} s".rjust(10) for v in values]
        print(f"{name:24} " + " ".join(cells))
    for failure in failures:
        print("NOT REFUSED AS EXPECTED:", failure)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
