"""Benchmark: combining Example 2's ten 4096 x 4096 twilight flats, four ways.

Run with ``python benchmarks/bench_combine.py [FOLDER]``.  The frames are written with
``example_data.ensure_example2`` into FOLDER (kept, so a second run is cheap) or, without
FOLDER, into a temporary folder that is removed afterwards.

Cases, each run in its own subprocess so that its peak memory is its own:

(a) the common ccdproc call, as public tutorials write it (including the misspelt
    ``signma_clip_dev_func``, which ccdproc silently ignores);
(b) ccdproc with its fastest options (string ``'median'`` / ``'mad_std'``, float32);
(c) ``convenience_functions.combine_flats`` with its defaults;
(d) the floor: reading all frames into one stack plus one ``np.median`` along the stack;
(e) the reference for combine_flats' own clipping code: the same scale-first algorithm written
    with ``astropy.stats.sigma_clip`` on blocks of 256 rows (one thread).  combine_flats
    sorts each block itself instead, because that is faster; this case measures by how much.

Peak memory is the peak resident set size during the call minus the resident set size after
the imports (on Linux the kernel's peak mark is reset first, because a child process keeps
its parent's ``ru_maxrss`` across exec).  The page cache is warmed before the first case, so
every case reads from memory.  The script prints a Markdown table and the ratios c/a, c/b and
c/d, with the targets c <= 1.5 d, c <= a / 3 and memory <= 1.15 x mem_limit.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

MEM_LIMIT = 350e6

CASES = {
    "a": "ccdproc.combine, common call (misspelt dev func)",
    "b": "ccdproc.combine, fastest options",
    "c": "combine_flats",
    "d": "floor: read all + np.median",
    "e": "scale first, astropy sigma_clip per block",
}

# Code run in the subprocess for each case; `files` is defined before it runs.
CASE_CODE = {
    "e": """
from astropy.io import fits
from astropy.stats import sigma_clip

scales = []
for name in files:
    data = fits.getdata(name, memmap=False)
    scales.append(1 / np.median(data))
    del data
scales = np.array(scales, dtype=np.float32)[:, None, None]
hduls = [fits.open(name, memmap=False, lazy_load_hdus=True) for name in files]
ny, nx = hduls[0][0].shape
result = np.empty((ny, nx), dtype=np.float32)
for row0 in range(0, ny, 256):
    stack = np.stack([h[0].section[row0 : row0 + 256] for h in hduls]).astype(np.float32)
    stack *= scales
    clipped = sigma_clip(
        stack, sigma=5, maxiters=1, cenfunc="median", stdfunc="mad_std", axis=0,
        masked=False, copy=False,
    )
    result[row0 : row0 + 256] = np.nanmean(clipped, axis=0)
result /= np.median(result)
for h in hduls:
    h.close()
""",
    "a": """
def inv_median(a):
    return 1 / np.median(a)

result = ccdproc.combine(
    files,
    method="average",
    scale=inv_median,
    sigma_clip=True,
    sigma_clip_low_thresh=5,
    sigma_clip_high_thresh=5,
    sigma_clip_func=np.ma.median,
    signma_clip_dev_func=mad_std,
    mem_limit=MEM_LIMIT,
)
""",
    "b": """
def inv_median(a):
    return 1 / np.median(a)

result = ccdproc.combine(
    files,
    method="average",
    scale=inv_median,
    sigma_clip=True,
    sigma_clip_low_thresh=5,
    sigma_clip_high_thresh=5,
    sigma_clip_func="median",
    sigma_clip_dev_func="mad_std",
    mem_limit=MEM_LIMIT,
    dtype=np.float32,
)
""",
    "c": """
result = cf.combine_flats(files, mem_limit=MEM_LIMIT)
""",
    "d": """
first = fits.getdata(files[0], memmap=False)
stack = np.empty((len(files),) + first.shape, dtype=np.float32)
stack[0] = first
del first
for i, name in enumerate(files[1:], start=1):
    stack[i] = fits.getdata(name, memmap=False)
result = np.median(stack, axis=0)
""",
}

RUNNER = """
import json, resource, sys, time
import numpy as np
import ccdproc
from astropy.io import fits
from astropy.stats import mad_std
import convenience_functions as cf

files = json.loads(sys.argv[1])
MEM_LIMIT = float(sys.argv[2])
code = sys.argv[3]

def status(key):
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None

def ru_peak():
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024

try:
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
    use_hwm = True
except OSError:
    use_hwm = False
base = status("VmRSS") if use_hwm else ru_peak()
start = time.perf_counter()
exec(code)
wall = time.perf_counter() - start
peak = status("VmHWM") if use_hwm else ru_peak()
print("RESULT " + json.dumps({"wall": wall, "extra": peak - base}))
"""


def warm_page_cache(files):
    """Read every file once so that all cases read from the page cache."""
    for name in files:
        with open(name, "rb") as handle:
            while handle.read(1 << 24):
                pass


def run_case(case, files):
    """Run one case in a fresh interpreter; return (wall seconds, peak extra bytes, log)."""
    command = [sys.executable, "-c", RUNNER, json.dumps(files), repr(MEM_LIMIT), CASE_CODE[case]]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"case {case} failed:\n{done.stdout}\n{done.stderr}")
    result = next(
        json.loads(line[len("RESULT ") :])
        for line in done.stdout.splitlines()
        if line.startswith("RESULT ")
    )
    log = [
        line.strip()
        for line in (done.stdout + done.stderr).splitlines()
        if line.strip() and not line.startswith("RESULT ")
    ]
    return result["wall"], result["extra"], log


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", help="folder for the Example 2 frames")
    parser.add_argument(
        "--cases", default="dcbae", help="which cases to run, in order (default: dcbae)"
    )
    args = parser.parse_args()

    import example_data

    with tempfile.TemporaryDirectory(prefix="bench_combine_") as scratch:
        folder = Path(args.folder) if args.folder else Path(scratch)
        folder = example_data.ensure_example2(folder)
        files = [str(folder / name) for name in example_data.example_files(2)]
        missing = [name for name in files if not os.path.exists(name)]
        if missing:
            raise SystemExit(f"frames missing after ensure_example2: {missing}")
        warm_page_cache(files)

        results, logs = {}, {}
        for case in args.cases:
            print(f"running ({case}) {CASES[case]} ...", file=sys.stderr, flush=True)
            wall, extra, log = run_case(case, files)
            results[case], logs[case] = (wall, extra), log

    print(
        f"{len(files)} frames of Example 2 (4096 x 4096 float32), "
        f"mem_limit = {MEM_LIMIT / 1e6:.0f} MB, {os.cpu_count()} CPUs\n"
    )
    print("| case | wall time (s) | peak memory above baseline (MB) |")
    print("|---|---:|---:|")
    for case in "abcde":
        if case in results:
            wall, extra = results[case]
            print(f"| ({case}) {CASES[case]} | {wall:.2f} | {extra / 1e6:.0f} |")
    print()
    all_met = True
    if "c" in results:
        c_wall, c_extra = results["c"]
        for other in "abde":
            if other in results:
                print(f"- c/{other}: {c_wall / results[other][0]:.2f}")
        if "d" in results:
            ok = c_wall <= 1.5 * results["d"][0]
            all_met &= ok
            print(f"- target c <= 1.5 x d: {'met' if ok else 'NOT met'}")
        if "a" in results:
            ok = c_wall <= results["a"][0] / 3
            all_met &= ok
            print(f"- target c <= a / 3: {'met' if ok else 'NOT met'}")
        ok = c_extra <= 1.15 * MEM_LIMIT
        all_met &= ok
        print(
            f"- target memory of c <= 1.15 x mem_limit ({1.15 * MEM_LIMIT / 1e6:.0f} MB): "
            f"{'met' if ok else 'NOT met'}"
        )
    for case, log in logs.items():
        info = sorted({line for line in log if "INFO" in line})
        other = [line for line in log if "INFO" not in line]
        if info or other:
            print(f"\nMessages from ({case}):")
            for line in info:
                print(f"    {line}")
            if other:
                print(f"    ... and {len(other)} other lines, e.g. {other[0]}")
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
