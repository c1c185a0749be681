"""Benchmark: the time per frame of ``combine_flats`` for 5 to 100 frames, side by side.

Run from the repository's root with ``python -m benchmarks.bench_scaling [--folder DIR]``.
Example 3's twelve 2048 x 2048 frames are written with ``example_data.ensure_example3`` into
DIR (kept, so a second run is cheap) or, without ``--folder``, into a temporary folder; the
stacks of N = 5, 10, 20, 40 and 100 frames are made of them under distinct names: the first
twelve hard links (a copy where links are refused), every further one a copy of one of them
with its values multiplied by 1 + 0.01 k (k = 1, 2, ...), so that it is a frame of its own.
(Links alone would be the same data twice: `combine_flats` leaves a frame's twin out, and
from N = 20 on it combined twelve frames while this benchmark divided by N.)

Each N is combined with ``combine_flats`` and its defaults, ``--repeat`` times in turn
(5, 10, ..., 100, then again), and the fastest time of each N kept (the machine may be shared:
the fastest run is the least disturbed).  The script prints the time per frame of each N and
its deviation from the mean over the N; the target is every N within 20 % of that mean (the
reads and the pass over blocks are linear in N; ccdproc's are not, astropy/ccdproc#1012).
Exit status 0 when the target is met.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COUNTS = (5, 10, 20, 40, 100)
TOLERANCE = 0.20


def stack_files(sources, count, folder):
    """Return ``count`` file names in ``folder``, each a frame of its own.

    The first ``len(sources)`` are links to ``sources``; the k-th round after them holds
    copies with their values multiplied by 1 + 0.01 k (same header): not twins of the
    sources, which `combine_flats` would leave out.
    """
    from astropy.io import fits

    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(count):
        name = folder / f"frame-{i + 1:03d}.fit"
        source = sources[i % len(sources)]
        if name.exists():
            pass
        elif i < len(sources):
            try:
                os.link(source, name)
            except OSError:  # another file system, or links not allowed
                shutil.copyfile(source, name)
        else:
            with fits.open(source) as hdul:
                factor = 1 + 0.01 * (i // len(sources))
                data = (hdul[0].data * factor).astype(hdul[0].data.dtype)
                fits.PrimaryHDU(data, hdul[0].header).writeto(name)
        names.append(str(name))
    return names


def time_per_frame(files):
    """Return the wall time of ``combine_flats(files)`` divided by the number of files."""
    import convenience_functions as cf

    start = time.perf_counter()
    flat = cf.combine_flats(files)
    seconds = time.perf_counter() - start
    if flat.meta["NCOMBINE"] != len(files):  # a frame left out: the time is not per frame
        raise SystemExit(f"combine_flats combined {flat.meta['NCOMBINE']} of {len(files)} frames")
    return seconds / len(files)


def main(argv=None):
    """Run the benchmark; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_scaling", description=__doc__)
    parser.add_argument("--folder", help="folder for Example 3 (default: a temporary one)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each N (default 2)")
    args = parser.parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import example_data
    from benchmarks import memory_settings

    with tempfile.TemporaryDirectory(prefix="bench_scaling_") as scratch:
        folder = example_data.ensure_example3(Path(args.folder) if args.folder else Path(scratch))
        sources = [folder / name for name in example_data.example_files(3)]
        links = Path(scratch) / "links"
        stacks = {n: stack_files(sources, n, links) for n in COUNTS}
        best = dict.fromkeys(COUNTS, float("inf"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # IMAGETYP 'light': these are not flats
            for _ in range(max(1, args.repeat)):
                for n, files in stacks.items():
                    best[n] = min(best[n], time_per_frame(files))
    mean = sum(best.values()) / len(best)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(
        f"combine_flats, 2048 x 2048 frames, {os.cpu_count()} CPUs, fastest of {args.repeat}; "
        f"load average at the end {load}\n"
        f"memory settings: {memory_settings()}\n"
    )
    print("| N | time per frame (ms) | / mean |")
    print("|---:|---:|---:|")
    for n, seconds in best.items():
        print(f"| {n} | {1000 * seconds:.0f} | {seconds / mean:.2f} |")
    worst = max(abs(seconds / mean - 1) for seconds in best.values())
    met = worst <= TOLERANCE
    print(f"\n- target every N within {TOLERANCE:.0%} of the mean: {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
