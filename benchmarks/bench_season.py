"""Benchmark: a season of flats combined by night here and on LocalClusters of 2 workers.

Run from the repository's root with ``python benchmarks/bench_season.py [FOLDER]`` or
``python -m benchmarks.bench_season [FOLDER]``.  The season (`example_data.season`: 10
nights x 2 filters x 5 frames of 2048 x 2048 pixels, 20 groups, 1.7 GB) is written into
FOLDER (kept, so a second run is cheap) or, without FOLDER, into a temporary folder that is
removed afterwards.

``combine_flats_by_filter(..., group_by=("night", "filter"))`` is run three ways, in turn
A B C A B C ..., so that the ratios of each round are measured under the same load (the
median of the rounds is printed):

(A) without a client: one group after another in this process;
(B) on a `distributed.LocalCluster` of 2 worker processes of one thread each, as dask
    starts them (its workers run with ``MALLOC_TRIM_THRESHOLD_=65536``, which hands freed
    memory back to the system at once, so that every large temporary array is fresh,
    page-faulted memory);
(C) the same cluster with that variable unset
    (``distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_: None``).

Each way's wall time and CPU time (user + system of this process, or of the workers) are
printed; the CPU ratio is steadier than the wall ratio on a shared machine.  The clusters
are started once, before the first round.  B's and C's files are compared with A's, byte
for byte.

Memory per worker: each worker's peak resident set size during its runs minus its resident
set size just before (the kernel's peak mark reset through /proc/self/clear_refs, on Linux
only), against the bound a task holds, ``mem_limit`` (350 MB by default), with the same
15 % allowance as ``bench_combine``.  The exit status is 0 when the files agree and the
memory is within the bound.  On a shared machine the ratios are only as steady as its load:
say so when quoting them.
"""

from __future__ import annotations

import argparse
import contextlib
import filecmp
import resource
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


def cpu_seconds():
    """Return the user + system seconds this process has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(raw, out, client):
    """Combine the season by night into ``out``; return the wall and CPU seconds."""
    import convenience_functions as cf

    before = cpu_seconds() + (sum(client.run(cpu_seconds).values()) if client else 0.0)
    start = time.perf_counter()
    cf.combine_flats_by_filter(
        raw,
        imagetyp="flat",
        output_dir=out,
        group_by=("night", "filter"),
        client=client,
        mem_limit=MEM_LIMIT,
    )
    wall = time.perf_counter() - start
    after = cpu_seconds() + (sum(client.run(cpu_seconds).values()) if client else 0.0)
    return wall, after - before


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
    parser.add_argument("--rounds", type=int, default=2, help="rounds of A B C timed")
    args = parser.parse_args(argv)
    import dask
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
        unset = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
        with contextlib.ExitStack() as stack:
            clients = {"A": None}
            for way, config in (("B", {}), ("C", unset)):
                with dask.config.set(config):
                    cluster = stack.enter_context(
                        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0")
                    )
                clients[way] = stack.enter_context(Client(cluster))
            print(f"2 LocalClusters of 2 workers started in {time.perf_counter() - start:.1f} s")
            baselines = {way: clients[way].run(worker_baseline) for way in "BC"}
            times = {way: [] for way in clients}
            for round_ in range(args.rounds):
                for way, client in clients.items():
                    times[way].append(run(raw, Path(scratch) / f"{way}-{round_}", client))
                print(
                    f"round {round_ + 1}: "
                    + ", ".join(
                        f"{w} {t[-1][0]:.1f} s ({t[-1][1]:.1f} s CPU)" for w, t in times.items()
                    )
                )
            peaks = {way: clients[way].run(worker_peak) for way in "BC"}
        same = all(
            same_files(Path(scratch) / f"A-{r}", Path(scratch) / f"{way}-{r}")
            for r in range(args.rounds)
            for way in "BC"
        )
    for way in "BC":
        for kind, index in (("wall", 0), ("CPU", 1)):
            ratios = [t[index] / a[index] for t, a in zip(times[way], times["A"], strict=True)]
            print(f"median {way}/A, {kind} time: {statistics.median(ratios):.2f}")
    print(f"outputs byte-identical to A's: {same}")
    within = True
    for way in "BC":
        for address, peak in sorted(peaks[way].items()):
            start = baselines[way].get(address)
            if peak is None or start is None:
                print(f"{way} worker {address}: no peak memory on this system")
                continue
            ok = peak - start <= 1.15 * MEM_LIMIT
            within &= ok
            print(
                f"{way} worker {address}: peak {peak / 1e6:.0f} MB, {(peak - start) / 1e6:.0f} MB "
                f"above its start (bound {MEM_LIMIT / 1e6:.0f} MB + 15 %: "
                f"{'held' if ok else 'NOT held'})"
            )
    print("The machine may be shared: the ratios hold for this run's load only.")
    return 0 if same and within else 1


if __name__ == "__main__":
    sys.exit(main())
