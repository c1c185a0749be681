"""Benchmark of example_data: time, peak memory and disk use of writing the three examples.

Run from the repository's root with ``python benchmarks/bench_example_data.py`` or
``python -m benchmarks.bench_example_data``.  The examples are written from scratch into a
temporary folder (removed afterwards), then checked again with nothing to write.  The targets
are: at most 15 s for examples 1 and 2 from scratch, at most 10 s and 300 MB on disk for
example 3 (the night frames), at most 1 GB peak memory (ru_maxrss) and at most 1.3 GB on disk
in all.  For scale, the script also measures an I/O floor in the same run: the
time astropy takes to write the same number of float32 arrays of zeros of the same shapes.
It prints one line per example and the totals against the targets; the exit status is 0 when
every target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.io import fits

ROOT = Path(__file__).resolve().parent.parent

TIME_LIMIT_S = 15.0  # examples 1 and 2
EXAMPLE3_TIME_LIMIT_S = 10.0
EXAMPLE3_DISK_LIMIT_MB = 300e6 / 2**20  # 300 MB
MEMORY_LIMIT_MB = 1024.0
DISK_LIMIT_MB = 1.3e9 / 2**20  # 1.3 GB
EXAMPLES = (1, 2, 3)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (ru_maxrss)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024  # bytes on macOS, KiB else


def folder_size_mb(folder: Path) -> float:
    """Total size of the files in ``folder``, in MiB."""
    return sum(p.stat().st_size for p in folder.iterdir()) / 2**20


def write_zeros(folder: Path, shape: tuple[int, int], count: int) -> float:
    """Write ``count`` float32 zero images of ``shape`` with astropy; return seconds."""
    folder.mkdir()
    start = time.perf_counter()
    for i in range(count):
        data = np.zeros(shape, dtype=np.float32)
        fits.PrimaryHDU(data).writeto(folder / f"zeros-{i:03d}.fits")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its report.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default: ``sys.argv[1:]``); only ``--help`` is understood.

    Returns
    -------
    int
        Exit status: 0 if every target is met, 1 otherwise.
    """
    prog, raw = "python -m benchmarks.bench_example_data", argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=raw)
    parser.parse_args(argv)
    if str(ROOT) not in sys.path:  # run as a script: this repository's example_data
        sys.path.insert(0, str(ROOT))
    import example_data as ed

    baseline_mb = peak_rss_mb()
    with tempfile.TemporaryDirectory(prefix="bench_example_data_") as tmp:
        root = Path(tmp)
        times = {}
        sizes = {}
        for example in EXAMPLES:
            folder = root / f"example{example}"
            start = time.perf_counter()
            ed.ensure_example_data(example, folder)
            times[example] = time.perf_counter() - start
            sizes[example] = folder_size_mb(folder)
        peak_mb = peak_rss_mb()

        start = time.perf_counter()
        for example in EXAMPLES:
            ed.ensure_example_data(example, root / f"example{example}")
        recheck = time.perf_counter() - start

        floor = {
            1: write_zeros(root / "zeros1", ed.EXAMPLE1_SHAPE, len(ed.EXAMPLE1_FILES)),
            2: write_zeros(root / "zeros2", ed.EXAMPLE2_SHAPE, len(ed.EXAMPLE2_FILES)),
            3: write_zeros(root / "zeros3", ed.EXAMPLE3_SHAPE, len(ed.EXAMPLE3_FILES)),
        }

    total = times[1] + times[2]
    floor_total = floor[1] + floor[2]
    disk = sum(sizes.values())
    print(f"example_data benchmark (numpy {np.__version__}, {ed.writing._WORKERS} worker threads)")
    for example in EXAMPLES:
        n = len(ed.example_files(example))
        print(
            f"  example {example}: {n:2d} frames  {times[example]:6.2f} s   "
            f"I/O floor {floor[example]:5.2f} s   "
            f"simulation / I/O floor = {times[example] / floor[example]:4.1f}   "
            f"{sizes[example]:6.1f} MiB"
        )
    print(
        f"  examples 1 and 2: {total:6.2f} s (limit {TIME_LIMIT_S:.0f} s, "
        f"{'OK' if total <= TIME_LIMIT_S else 'OVER'});  "
        f"simulation / I/O floor = {total / floor_total:.1f}"
    )
    ok3 = times[3] <= EXAMPLE3_TIME_LIMIT_S and sizes[3] <= EXAMPLE3_DISK_LIMIT_MB
    print(
        f"  example 3       : {times[3]:6.2f} s (limit {EXAMPLE3_TIME_LIMIT_S:.0f} s), "
        f"{sizes[3]:.1f} MiB (limit {EXAMPLE3_DISK_LIMIT_MB:.0f} MiB): "
        f"{'OK' if ok3 else 'OVER'}"
    )
    print(f"  re-check of complete folders (ensure, nothing to write): {recheck * 1000:.0f} ms")
    print(
        f"  peak memory (ru_maxrss): {peak_mb:.0f} MiB (limit {MEMORY_LIMIT_MB:.0f} MiB, "
        f"{'OK' if peak_mb <= MEMORY_LIMIT_MB else 'OVER'}); "
        f"baseline after imports {baseline_mb:.0f} MiB"
    )
    print(
        f"  disk: {disk:.0f} MiB (limit {DISK_LIMIT_MB:.0f} MiB, "
        f"{'OK' if disk <= DISK_LIMIT_MB else 'OVER'})"
    )
    ok = total <= TIME_LIMIT_S and peak_mb <= MEMORY_LIMIT_MB and disk <= DISK_LIMIT_MB and ok3
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
