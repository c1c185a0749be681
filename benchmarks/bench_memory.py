"""Benchmark: the memory promise of `combine_flats` at every ``mem_limit`` (issue 20).

Run from the repository's root with ``python -m benchmarks.bench_memory``.  Ten seeded
2048 x 2048 flats (``example_data.synthetic.make_flats``, float32, written into a temporary
folder) are combined with ``mem_limit`` from the smallest value accepted to 1e9 bytes, each
run in a fresh process.  The peak resident memory above what the process held after its
imports (``VmHWM`` after resetting it, Linux only) is printed as a multiple of
``mem_limit``; the exit status is 0 when every run stays at or under 1.15 x, 1 otherwise.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOUND = 1.15
SHAPE, N_FRAMES = (2048, 2048), 10
FACTORS = (1.001, 1.1, 1.25, 1.4, 1.5, 1.6, 1.75, 2.0, 2.5, 3.0)

CHILD = """
import json, sys
import convenience_functions as cf

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024

paths, mem_limit = json.loads(sys.argv[1])
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the peak (VmHWM) starts again from the present resident size
base = status("VmRSS")
cf.combine_flats(paths, mem_limit=mem_limit)
print(status("VmHWM") - base)
"""


def smallest_limit(paths):
    """Return the smallest mem_limit `combine_flats` accepts for ``paths``.

    It is read from the error's message, which rounds it to four digits: the runs start
    0.1 % above it.
    """
    import convenience_functions as cf

    try:
        cf.combine_flats(paths, mem_limit=1e6)
    except ValueError as err:
        return float(re.search(r"at least ([0-9.e+]+) bytes", str(err)).group(1))
    raise RuntimeError("mem_limit=1e6 was accepted")


def main():
    """Run every limit in a fresh process; print the table; return the exit status."""
    if not Path("/proc/self/clear_refs").exists():
        print("needs Linux (/proc/self/clear_refs to reset the peak)")
        return 1
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from astropy.io import fits

    from benchmarks import memory_settings
    from example_data.synthetic import make_flats

    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i, frame in enumerate(make_flats(N_FRAMES, shape=SHAPE, spread=0.1, seed=5)):
            paths.append(str(Path(folder) / f"flat-{i}.fits"))
            fits.writeto(paths[-1], frame, fits.Header({"IMAGETYP": "FLAT", "FILTER": "r"}))
        least = smallest_limit(paths)
        limits = sorted({*(least * f for f in FACTORS), 5e8, 1e9})
        print(f"{N_FRAMES} frames of {SHAPE[0]} x {SHAPE[1]}, float32; smallest mem_limit")
        print(f"accepted {least / 1e6:.1f} MB; peak above imports, fresh process each")
        print(f"memory settings: {memory_settings()}\n")
        print("| mem_limit (MB) | peak (MB) | peak / mem_limit |")
        print("|---:|---:|---:|")
        worst = 0.0
        for limit in limits:
            out = subprocess.run(
                [sys.executable, "-c", CHILD, json.dumps([paths, limit])],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            peak = int(out.stdout.strip().splitlines()[-1])
            worst = max(worst, peak / limit)
            print(f"| {limit / 1e6:.1f} | {peak / 1e6:.1f} | {peak / limit:.3f} |")
    print(f"\nworst {worst:.3f} x mem_limit (target <= {BOUND})")
    return 0 if worst <= BOUND else 1


if __name__ == "__main__":
    sys.exit(main())
