#!/usr/bin/env python3
"""Benchmark `fwx sign` / `fwx verify` against `xmlsec1 --sign` / `xmlsec1 --verify` on the same batches.

Usage: scripts/bench_sign.py [--sizes 1000,10000,100000] [--repeat 3] [--key-type ec|rsa] [--xmlsec1-max 100000]

Builds fwx in release mode, makes a throw-away test PKI (scripts/test-pki), generates batches with
`fwx generate --seed 11`, and for each size, in the same run and alternating:
  sign:   fwx sign --key K --cert C batch.xml -o out        vs  xmlsec1 --sign --privkey-pem K,C --output out template.xml
  verify: fwx verify --trust DIR signed.xml                 vs  xmlsec1 --verify --trusted-pem CA signed.xml
fwx sign and fwx verify also validate the batch's content (schema and rules) on the other core; xmlsec1 does
signature work only. The template for xmlsec1 is the same batch with an empty signature skeleton of the same form
FWX makes. Prints every run's seconds, the median, records/s, peak RSS and fwx's throughput as a multiple of
xmlsec1's. Above --xmlsec1-max records only fwx runs: xmlsec1 builds a DOM (about 2.6 GB at 100k records, so some
26 GB at 1M, more than the machine has).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys

from bench_common import run_timed
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TEMPLATE = """<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo>\
<CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>\
<SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#{method}"/>\
<Reference URI=""><Transforms><Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>\
<Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></Transforms>\
<DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><DigestValue/></Reference></SignedInfo>\
<SignatureValue/><KeyInfo><X509Data><X509Certificate/></X509Data></KeyInfo></Signature>"""




def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--key-type", default="ec", choices=["ec", "rsa"])
    parser.add_argument("--xmlsec1-max", type=int, default=100000)
    args = parser.parse_args()

    subprocess.run(["swift", "build", "-c", "release", "--product", "fwx", "--scratch-path", ".build-release"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    fwx = os.path.join(ROOT, ".build-release", "release", "fwx")
    work = tempfile.mkdtemp(prefix="fwx-bench-sign-")
    try:
        pki = os.path.join(work, "pki")
        subprocess.run([os.path.join(ROOT, "scripts", "test-pki"), pki, "--countries", "NL",
                        "--key-type", args.key_type], check=True, stdout=subprocess.DEVNULL)
        key, cert = os.path.join(pki, "NL", "node-signing.key.pem"), os.path.join(pki, "NL", "node-signing.pem")
        ca, trust = os.path.join(pki, "NL", "ca.pem"), os.path.join(pki, "trust")
        method = "rsa-sha256" if args.key_type == "rsa" else "ecdsa-sha256"
        print(f"key type {args.key_type}; median of {args.repeat} runs; {os.cpu_count()} cores")
        print(f"{'records':>8} {'MB':>7} {'operation':<16} {'seconds':>8} {'records/s':>10} {'peak RSS MiB':>13} {'exit':>5}  runs (s)")
        for size in [int(s) for s in args.sizes.split(",")]:
            batch = os.path.join(work, f"batch-{size}.xml")
            subprocess.run([fwx, "generate", "--records", str(size), "--seed", "11", "-o", batch], check=True)
            with_xmlsec1 = size <= args.xmlsec1_max
            template = os.path.join(work, f"template-{size}.xml")
            if with_xmlsec1:
                text = open(batch, encoding="utf-8").read()
                open(template, "w", encoding="utf-8").write(text.replace("</Batch>", TEMPLATE.format(method=method) + "</Batch>"))
                del text
            signed_fwx = os.path.join(work, f"signed-fwx-{size}.xml")
            signed_xmlsec = os.path.join(work, f"signed-xmlsec-{size}.xml")
            commands = {
                "fwx sign": [fwx, "sign", "--key", key, "--cert", cert, batch, "-o", signed_fwx],
                "xmlsec1 --sign": ["xmlsec1", "--sign", "--privkey-pem", f"{key},{cert}", "--output", signed_xmlsec, template],
            }
            verify = {
                "fwx verify": [fwx, "verify", "--trust", trust, signed_fwx],
                "xmlsec1 --verify": ["xmlsec1", "--verify", "--trusted-pem", ca, signed_fwx],
            }
            if not with_xmlsec1:
                del commands["xmlsec1 --sign"], verify["xmlsec1 --verify"]
            megabytes = os.path.getsize(batch) / 1e6
            for group in (commands, verify):
                results = {name: [] for name in group}
                for _ in range(args.repeat):
                    for name, command in group.items():
                        results[name].append(run_timed(command))
                medians = {}
                for name, runs in results.items():
                    seconds = statistics.median(r[1] for r in runs)
                    medians[name] = seconds
                    print(f"{size:>8} {megabytes:>7.1f} {name:<16} {seconds:>8.2f} {size / seconds:>10.0f} "
                          f"{max(r[2] for r in runs) / 1024:>13.1f} {','.join(sorted({str(r[0]) for r in runs})):>5}  "
                          + " ".join(f"{r[1]:.2f}" for r in runs))
                names = list(group)
                if len(names) == 2:
                    print(f"{'':>8} {'':>7} {names[0]} throughput = {medians[names[1]] / medians[names[0]]:.2f}x {names[1]}'s")
            if with_xmlsec1:
                # Cross-check: each verifies the other's output.
                cross = subprocess.run([fwx, "verify", "--trust", trust, signed_xmlsec], capture_output=True, text=True)
                print(f"{'':>8} {'':>7} fwx verifies xmlsec1's signature: exit {cross.returncode}")
            for leftover in (batch, template, signed_fwx, signed_xmlsec):
                if os.path.exists(leftover):
                    os.remove(leftover)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
