"""Benchmark: a season of flats combined by night here and on a LocalCluster of 2 workers.

Run from the repository's root with ``python benchmarks/bench_season.py [FOLDER]`` or
``python -m benchmarks.bench_season [FOLDER]``.  The season (`example_data.season`: 10
nights x 2 filters x 5 frames of 2048 x 2048 pixels, 20 groups, 1.7 GB) is written into
FOLDER (kept, so a second run is cheap) or, without FOLDER, into a temporary folder that is
removed afterwards.

``combine_flats_by_filter(..., group_by=("night", "filter"))`` is run without a client
(A, one group after another in this process) and with a `distributed.LocalCluster` of 2
worker processes of one thread each (B), in turn A B A B ..., so that the ratio B / A of
each pair is measured under the same load; the median of the pairs is printed.  The
cluster is started once, before the first pair (its start-up is printed apart).  B's files
are compared with A's, byte for byte.

Memory per worker: each worker's peak resident set size during its runs minus its resident
set size just before (the kernel's peak mark reset through /proc/self/clear_refs, on Linux
only), against the bound a task holds, ``mem_limit`` (350 MB by default), with the same
15 % allowance as ``bench_combine``.  The exit status is 0 when the files agree and the
memory is within the bound.  On a shared machine the ratio is only as steady as its load:
say so when quoting it.
"""

from __future__ import annotations

import argparse
import filecmp
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_combine import _reset_peak, _status_bytes  # noqa: E402

MEM_LIMIT = 350e6


def worker_baseline():
    """Reset this worker's peak mark; return its resident set size (bytes) or None."""
    return _status_bytes("VmRSS") if _reset_peak() else None


def worker_peak():
    """Return this worker's peak resident set size since the reset (bytes) or None."""
    return _status_bytes("VmHWM")


def run(raw, out, client):
    """Combine the season by night into ``out``; return the wall seconds."""
    import convenience_functions as cf

    start = time.perf_counter()
    cf.combine_flats_by_filter(
        raw,
        imagetyp="flat",
        output_dir=out,
        group_by=("night", "filter"),
        client=client,
        mem_limit=MEM_LIMIT,
    )
    return time.perf_counter() - start


def same_files(a, b):
    """Return whether folders ``a`` and ``b`` hold the same names with the same bytes."""
    names = sorted(p.name for p in Path(a).iterdir())
    if names != sorted(p.name for p in Path(b).iterdir()):
        return False
    return all(filecmp.cmp(Path(a) / n, Path(b) / n, shallow=False) for n in names)


def main(argv=None):
    """Write the season if needed, time both ways, print the ratio and memory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", help="where the season is written (kept)")
    parser.add_argument("--nights", type=int, default=10)
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--pairs", type=int, default=2, help="A B pairs timed")
    args = parser.parse_args(argv)
    from distributed import Client, LocalCluster

    from example_data.season import season_files, write_season

    with tempfile.TemporaryDirectory() as scratch:
        base = Path(args.folder) if args.folder else Path(scratch)
        raw = base / f"season-{args.nights}x{args.frames}-{args.size}"
        expected = [name for *_, name in season_files(args.nights, args.frames)]
        if sorted(p.name for p in raw.glob("*.fit")) != sorted(expected):
            start = time.perf_counter()
            write_season(raw, nights=args.nights, frames=args.frames, shape=(args.size, args.size))
            print(f"season written in {time.perf_counter() - start:.1f} s: {raw}")
        groups = args.nights * 2
        print(f"{groups} groups of {args.frames} frames of {args.size}^2 pixels")
        start = time.perf_counter()
        with (
            LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster,
            Client(cluster) as client,
        ):
            print(f"LocalCluster of 2 workers started in {time.perf_counter() - start:.1f} s")
            baseline = client.run(worker_baseline)
            ratios, here, there = [], [], []
            for pair in range(args.pairs):
                here.append(run(raw, Path(scratch) / f"here-{pair}", None))
                there.append(run(raw, Path(scratch) / f"dask-{pair}", client))
                ratios.append(there[-1] / here[-1])
                print(
                    f"pair {pair + 1}: A {here[-1]:.1f} s, B {there[-1]:.1f} s, "
                    f"B/A {ratios[-1]:.2f}"
                )
            peaks = client.run(worker_peak)
        same = all(
            same_files(Path(scratch) / f"here-{p}", Path(scratch) / f"dask-{p}")
            for p in range(args.pairs)
        )
    print(f"median B/A (LocalCluster / client=None): {statistics.median(ratios):.2f}")
    print(f"outputs byte-identical: {same}")
    within = True
    for address, peak in sorted(peaks.items()):
        if peak is None or baseline.get(address) is None:
            print(f"worker {address}: no peak memory on this system")
            continue
        used = peak - baseline[address]
        ok = used <= 1.15 * MEM_LIMIT
        within &= ok
        print(
            f"worker {address}: peak {peak / 1e6:.0f} MB, {used / 1e6:.0f} MB above its start "
            f"(bound {MEM_LIMIT / 1e6:.0f} MB + 15 %: {'held' if ok else 'NOT held'})"
        )
    print("The machine may be shared: the ratio holds for this run's load only.")
    return 0 if same and within else 1


if __name__ == "__main__":
    sys.exit(main())
