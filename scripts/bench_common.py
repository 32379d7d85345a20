"""Helpers shared by the benchmark scripts."""
import re
import subprocess
import sys


def run_timed(command):
    """Runs a command under /usr/bin/time; returns (exit status, elapsed seconds, peak RSS in KiB)."""
    result = subprocess.run(["/usr/bin/time", "-f", "@@TIME %e %M"] + command,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    match = re.search(r"@@TIME ([0-9.]+) ([0-9]+)", result.stderr)
    if not match:
        sys.exit(f"could not time {' '.join(command)}: {result.stderr[-500:]}")
    return result.returncode, float(match.group(1)), int(match.group(2))
