"""Benchmark: combining Example 2's ten 4096 x 4096 twilight flats, six ways, and a pure read.

Run from the repository's root with ``python benchmarks/bench_combine.py [FOLDER]`` or
``python -m benchmarks.bench_combine [FOLDER]``.  The frames are written with
``example_data.ensure_example2`` into FOLDER (kept, so a second run is cheap) or, without
FOLDER, into a temporary folder that is removed afterwards.

Cases, each a function of this module (``case_a`` ... ``case_f``) run in a fresh Python
process (``python -m benchmarks.bench_combine --case X``), so that its peak memory is its own:

(a) the common ccdproc call, as public tutorials write it (including the misspelt
    ``signma_clip_dev_func``, which ccdproc silently ignores);
(b) ccdproc with its fastest options (string ``'median'`` / ``'mad_std'``, float32);
(c) ``convenience_functions.combine_flats`` with its defaults;
(d) the floor: reading all frames into one stack plus one ``np.median`` along the stack;
(e) the reference for combine_flats' own clipping code: the same scale-first algorithm written
    with ``astropy.stats.sigma_clip`` on blocks of 256 rows (one thread).  combine_flats
    sorts each block itself instead, because that is faster; this case measures by how much;
(f) ``combine_flats`` with ``stdfunc='mad_std'``, the MAD clip, to compare the default
    rejection (case c) with.  If the installed helper refuses the keyword, the error is
    reported and the other cases still run;
(r) the pure read: every frame read once with astropy into memory, nothing computed (the
    yardstick of what the machine allows: an exact median needs at least this).

Peak memory is the peak resident set size during the call minus the resident set size after
the imports (on Linux the kernel's peak mark is reset first, through /proc/self/clear_refs,
because a child process keeps its parent's ``ru_maxrss`` across exec; elsewhere ``ru_maxrss``
is used).  The page cache is warmed before the first case, so every case reads from memory.
The cases run ``--rounds`` times in turn (3 by default: r d c b a e f, r d c ..., so that a
machine shared with other work slows them alike); the table gives each case's median wall
time and largest peak, and each ratio is the median of the ratios of the same round.
With ``--phases`` a last process runs ``combine_flats`` once more and prints where its CPU
time goes (`phase_times`): the passes over the frames, and the steps of the kernel.
The script prints a Markdown table and the ratios c/a, c/b, c/d, c/e, c/f and c/r, with the
targets c <= 4 r, c <= a / 8 (the guide's call at least 8 times slower), c <= 1.5 d,
c <= 1.2 f and memory of c <= 1.15 x mem_limit.  The exit
status is 0 when every target is met, 1 otherwise (also when a case failed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.stats import sigma_clip

ROOT = Path(__file__).resolve().parent.parent
MEM_LIMIT = 350e6

CASES = {
    "a": "ccdproc.combine, common call (misspelt dev func)",
    "b": "ccdproc.combine, fastest options",
    "c": "combine_flats",
    "d": "floor: read all + np.median",
    "e": "scale first, astropy sigma_clip per block",
    "f": "combine_flats, stdfunc='mad_std'",
    "r": "pure read: every frame once with astropy",
}
DEFAULT_ORDER = "rdcbaef"


# --------------------------------------------------------------------------------------
# The cases
# --------------------------------------------------------------------------------------


def case_a(files, mem_limit):
    """Combine with ``ccdproc.combine`` as tutorials commonly call it (`ccdproc_recipe`).

    Parameters
    ----------
    files : list of str
        The frames.
    mem_limit : float
        Memory budget in bytes, passed on.

    Returns
    -------
    astropy.nddata.CCDData
        The combined frame.
    """
    import convenience_functions as cf

    return cf.ccdproc_recipe(files, spelling="guide", mem_limit=mem_limit)


def case_b(files, mem_limit):
    """Combine with ``ccdproc.combine`` and its fastest options (string functions, float32).

    Parameters and return value as for `case_a`.
    """
    import convenience_functions as cf

    return cf.ccdproc_recipe(files, mem_limit=mem_limit, dtype=np.float32)


def case_c(files, mem_limit):
    """Combine with ``convenience_functions.combine_flats`` and its defaults.

    Parameters and return value as for `case_a`.
    """
    import convenience_functions as cf

    return cf.combine_flats(files, mem_limit=mem_limit)


def case_d(files, mem_limit):
    """Read every frame into one float32 stack and take its median along the frames.

    ``mem_limit`` is not used: this is the floor that ignores memory.

    Returns
    -------
    numpy.ndarray
        The median image (not normalised).
    """
    first = fits.getdata(files[0], memmap=False)
    stack = np.empty((len(files), *first.shape), dtype=np.float32)
    stack[0] = first
    del first
    for i, name in enumerate(files[1:], start=1):
        stack[i] = fits.getdata(name, memmap=False)
    return np.median(stack, axis=0)


def case_e(files, mem_limit, rows=256):
    """Scale first, then ``astropy.stats.sigma_clip`` (5 x MAD) and mean, block by block.

    ``mem_limit`` is not used; the blocks are ``rows`` rows of every frame.

    Returns
    -------
    numpy.ndarray
        The combined image, float32, normalised to median 1.
    """
    scales = []
    for name in files:
        data = fits.getdata(name, memmap=False)
        scales.append(1 / np.median(data))
        del data
    scales = np.array(scales, dtype=np.float32)[:, None, None]
    hduls = [fits.open(name, memmap=False, lazy_load_hdus=True) for name in files]
    try:
        ny, nx = hduls[0][0].shape
        result = np.empty((ny, nx), dtype=np.float32)
        for row0 in range(0, ny, rows):
            stack = np.stack([h[0].section[row0 : row0 + rows] for h in hduls])
            stack = stack.astype(np.float32)
            stack *= scales
            clipped = sigma_clip(
                stack,
                sigma=5,
                maxiters=1,
                cenfunc="median",
                stdfunc="mad_std",
                axis=0,
                masked=False,
                copy=False,
            )
            result[row0 : row0 + rows] = np.nanmean(clipped, axis=0)
    finally:
        for h in hduls:
            h.close()
    result /= np.median(result)
    return result


def case_f(files, mem_limit):
    """Combine with ``combine_flats(..., stdfunc='mad_std')``, the MAD clip.

    Parameters and return value as for `case_a`.
    """
    import convenience_functions as cf

    return cf.combine_flats(files, mem_limit=mem_limit, stdfunc="mad_std")


def case_r(files, mem_limit):
    """Read every frame once into memory with astropy, one at a time; compute nothing.

    ``mem_limit`` is not used.

    Returns
    -------
    int
        The number of pixels read.
    """
    pixels = 0
    for name in files:
        pixels += fits.getdata(name, memmap=False).size
    return pixels


CASE_FUNCTIONS = {
    "a": case_a,
    "b": case_b,
    "c": case_c,
    "d": case_d,
    "e": case_e,
    "f": case_f,
    "r": case_r,
}


# --------------------------------------------------------------------------------------
# Measuring one case, in the child process
# --------------------------------------------------------------------------------------


def _status_bytes(key):
    """Return a size field of /proc/self/status (``VmRSS``, ``VmHWM``) in bytes, or None."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _ru_peak_bytes():
    """Return this process's peak resident set size (``ru_maxrss``) in bytes."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def _reset_peak():
    """Reset the kernel's peak-RSS mark (Linux); return whether VmHWM can be used."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return _status_bytes("VmHWM") is not None


def measure(case, files, mem_limit):
    """Run one case in this process and measure it.

    Everything a case imports is imported first; the baseline is the resident set size
    after that.

    Parameters
    ----------
    case : str
        One of the keys of `CASES`.
    files : list of str
        The frames.
    mem_limit : float
        Memory budget in bytes, passed on to the case.

    Returns
    -------
    dict
        ``case``; ``wall``, the wall time in seconds, ``cpu``, the CPU time of all its
        threads (seconds), and ``extra``, the peak memory above
        the baseline in bytes; ``reject``, the REJECT keyword of a combined CCDData (else
        None); ``error``, None, or the exception's type and message if the case raised
        (``wall`` and ``extra`` are then None).
    """
    import convenience_functions  # noqa: F401  (imported before the baseline)

    function = CASE_FUNCTIONS[case]
    use_hwm = _reset_peak()
    base = _status_bytes("VmRSS") if use_hwm else _ru_peak_bytes()
    start, cpu = time.perf_counter(), time.process_time()
    try:
        result = function(files, mem_limit)
    except Exception as err:  # reported by the parent, which runs the other cases
        return {"case": case, "wall": None, "extra": None, "reject": None, "error": repr(err)}
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = _status_bytes("VmHWM") if use_hwm else _ru_peak_bytes()
    meta = getattr(result, "meta", None)
    reject = meta.get("REJECT") if meta is not None else None
    return {
        "case": case,
        "wall": wall,
        "cpu": cpu,
        "extra": peak - base,
        "reject": reject,
        "error": None,
    }


# Where combine_flats spends its CPU time: (module, function, label), outer steps first.
# The outer three run one after the other (process CPU time); the others are timed in the
# thread that calls them (thread CPU time, summed over both threads).
PHASES = (
    ("checks", "screen", "first read: each frame read, surveyed, judged"),
    ("stack", "combine_rows", "second read: blocks read, scaled, clipped, averaged"),
    ("stack", "finish_flat", "normalising, bad-pixel mask"),
    ("frames", "Frame.read_rows", "  reading rows (both reads)"),
    ("pixels", "block_median", "  exact medians (each frame's, the flat's)"),
    ("rejection", "combine_block", "  the kernel, in all"),
    ("rejection", "Block.median", "    medians by the sorting network"),
    ("rejection", "_avsigclip_estimates", "    avsigclip's per-pixel estimates"),
    ("rejection", "robust_scale", "    avsigclip's robust scale"),
    ("rejection", "_poisson_variance", "    the noise model's spreads"),
    ("rejection", "_clip_and_average", "    rejecting and averaging"),
)


def phase_times(files, mem_limit):
    """Run ``combine_flats`` once with each of `PHASES` timed; return ``{label: CPU s}``.

    Also ``'combine_flats'``: the whole call's CPU time (all threads) and, under
    ``'wall'``, its wall time.
    """
    import functools
    import importlib
    import threading

    import convenience_functions as cf

    totals, lock, outer = {}, threading.Lock(), {"screen", "combine_rows", "finish_flat"}
    patched = []
    for module_name, name, label in PHASES:
        owner = importlib.import_module(f"_flat_engine.{module_name}")
        attribute = name
        if "." in name:
            class_name, attribute = name.split(".")
            owner = getattr(owner, class_name)
        original = getattr(owner, attribute)
        clock = time.process_time if attribute in outer else time.thread_time

        def timed(*args, _original=original, _label=label, _clock=clock, **kwargs):
            start = _clock()
            try:
                return _original(*args, **kwargs)
            finally:
                with lock:
                    totals[_label] = totals.get(_label, 0.0) + _clock() - start

        patched.append((owner, attribute, original))
        setattr(owner, attribute, functools.wraps(original)(timed))
    try:
        for module_name in ("checks", "stack"):  # names imported into other modules too
            module = importlib.import_module(f"_flat_engine.{module_name}")
            for other in ("block_median", "combine_block"):
                source = "pixels" if other == "block_median" else "rejection"
                if hasattr(module, other):
                    replacement = getattr(importlib.import_module(f"_flat_engine.{source}"), other)
                    patched.append((module, other, getattr(module, other)))
                    setattr(module, other, replacement)
        wall, cpu = time.perf_counter(), time.process_time()
        cf.combine_flats(files, mem_limit=mem_limit)
        totals["combine_flats"] = time.process_time() - cpu
        totals["wall"] = time.perf_counter() - wall
    finally:
        for owner, attribute, original in reversed(patched):
            setattr(owner, attribute, original)
    return totals


def print_phases(totals, n_files):
    """Print `phase_times`' result as a Markdown table."""
    whole = totals["combine_flats"]
    print(
        f"\nWhere combine_flats' CPU time goes (one more run; {whole:.2f} s of CPU, "
        f"{totals['wall']:.2f} s of wall time):\n"
    )
    print("| step | CPU time (s) | ms per frame | share |")
    print("|---|---:|---:|---:|")
    for _, _, label in PHASES:
        seconds = totals.get(label, 0.0)
        print(
            f"| {label.strip()}{' (of the above)' if label.startswith(' ') else ''} | "
            f"{seconds:.2f} | {1000 * seconds / n_files:.0f} | {seconds / whole:.0%} |"
        )


# --------------------------------------------------------------------------------------
# The parent: frames, one process per case, the report
# --------------------------------------------------------------------------------------


def warm_page_cache(files):
    """Read every file once so that all cases read from the page cache."""
    for name in files:
        with open(name, "rb") as handle:
            while handle.read(1 << 24):
                pass


def run_case(case, files, mem_limit):
    """Run one case in a fresh interpreter (the arguments are those of `measure`).

    Returns
    -------
    result : dict
        What `measure` returned in the child; if the child died without reporting,
        ``error`` says so.
    log : list of str
        The child's other output lines (ccdproc's INFO lines, warnings).
    """
    command = [
        sys.executable,
        "-m",
        "benchmarks.bench_combine",
        "--case",
        case,
        "--files-json",
        json.dumps(files),
        "--mem-limit",
        repr(mem_limit),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    result, log = None, []
    for line in (done.stdout + done.stderr).splitlines():
        if line.startswith('{"case"'):
            result = json.loads(line)
        elif line.strip():
            log.append(line.strip())
    if result is None:
        tail = log[-1] if log else "no output"
        error = f"the process ended with status {done.returncode} without a result: {tail}"
        result = {"case": case, "wall": None, "extra": None, "reject": None, "error": error}
    return result, log


def combine_rounds(found):
    """One case's results over the rounds: the median wall time, the largest peak.

    The first error, if any round failed; ``walls`` keeps each round's time, in order.
    """
    failed = [r for r in found if r["error"] is not None]
    if failed:
        return failed[0]
    walls, cpu = [r["wall"] for r in found], float(np.median([r["cpu"] for r in found]))
    extra = max(r["extra"] for r in found)
    return {**found[0], "wall": float(np.median(walls)), "walls": walls, "cpu": cpu, "extra": extra}


def report(results, logs, n_files, mem_limit):
    """Print the table, the ratios and the targets; return True if every target is met."""
    from benchmarks import memory_settings  # after main() has put the repository on sys.path

    rounds = max((len(r.get("walls", [])) for r in results.values()), default=1)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(
        f"{n_files} frames of Example 2 (4096 x 4096 float32), "
        f"mem_limit = {mem_limit / 1e6:.0f} MB, {os.cpu_count()} CPUs, "
        f"median of {rounds} round(s); load average at the end {load}\n"
        f"memory settings: {memory_settings()}\n"
    )
    print("| case | wall time (s) | CPU time (s) | peak memory above baseline (MB) |")
    print("|---|---:|---:|---:|")
    for case, label in CASES.items():
        if case not in results:
            continue
        result = results[case]
        if result["reject"] is not None:
            label = f"{label} (REJECT = {result['reject']})"
        if result["error"] is None:
            wall, cpu, extra = result["wall"], result["cpu"], result["extra"] / 1e6
            print(f"| ({case}) {label} | {wall:.2f} | {cpu:.2f} | {extra:.0f} |")
        else:
            print(f"| ({case}) {label} | failed | failed | failed |")
    print()
    ok = {case: r for case, r in results.items() if r["error"] is None}
    all_met = len(ok) == len(results)
    for case, result in results.items():
        if result["error"] is not None:
            print(f"- ({case}) failed: {result['error']}")
    if "c" in ok:
        c_extra = ok["c"]["extra"]
        ratio = {  # the median over the rounds of c's time over the other's, round by round
            other: float(np.median(np.divide(ok["c"]["walls"], r["walls"])))
            for other, r in ok.items()
        }
        for other in "abdefr":
            if other in ok:
                print(f"- c/{other}: {ratio[other]:.2f}")
        targets = {  # case: (text, factor), the target being c <= factor x that case
            "r": ("c <= 4 x r (combine_flats within 4 pure reads)", 4.0),
            "a": ("c <= a / 8 (the guide's call at least 8 x slower)", 1 / 8),
            "d": ("c <= 1.5 x d", 1.5),
            "f": ("c <= 1.2 x f (default rejection vs the MAD clip)", 1.2),
        }
        for other, (text, factor) in targets.items():
            if other in ok:
                met = ratio[other] <= factor
                all_met &= met
                print(f"- target {text}: {'met' if met else 'NOT met'}")
            elif other in results:
                all_met = False
                print(f"- target {text}: not measured, ({other}) failed")
        met = c_extra <= 1.15 * mem_limit
        all_met &= met
        print(
            f"- target memory of c <= 1.15 x mem_limit ({1.15 * mem_limit / 1e6:.0f} MB): "
            f"{'met' if met else 'NOT met'}"
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
    return all_met


def parse_args(argv=None):
    """Parse the command line (see the module docstring)."""
    prog, raw = "python -m benchmarks.bench_combine", argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=raw)
    parser.add_argument(
        "folder", nargs="?", help="folder for the Example 2 frames (default: a temporary one)"
    )
    parser.add_argument(
        "--cases",
        default=DEFAULT_ORDER,
        help=f"which cases to run, in this order (default: {DEFAULT_ORDER})",
    )
    parser.add_argument(
        "--mem-limit",
        type=float,
        default=MEM_LIMIT,
        help=f"memory budget in bytes of cases a, b, c and f (default: {MEM_LIMIT:.0f})",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="times each case runs, in turn (default 3)"
    )
    parser.add_argument(
        "--phases",
        action="store_true",
        help="also time the steps of combine_flats, in a last process (see phase_times)",
    )
    parser.add_argument(
        "--case",
        choices=sorted(CASES),
        help="internal: run this one case in this process and print one JSON line",
    )
    parser.add_argument(
        "--files-json", help="internal, with --case: the frames, as a JSON list of paths"
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.cases) - set(CASES))
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {''.join(CASES)}")
    if args.case is not None and (args.files_json is None or args.folder is not None):
        parser.error("--case needs --files-json and no FOLDER")
    if args.case is None and args.files_json is not None and not args.phases:
        parser.error("--files-json goes with --case or --phases")
    return args


def main(argv=None):
    """Run the benchmark (or, with ``--case``, one case); return the exit status."""
    args = parse_args(argv)
    if args.case is not None:
        result = measure(args.case, json.loads(args.files_json), args.mem_limit)
        print(json.dumps(result), flush=True)
        return 0 if result["error"] is None else 1
    if args.files_json is not None:  # --phases, in the child
        print(json.dumps(phase_times(json.loads(args.files_json), args.mem_limit)), flush=True)
        return 0

    if str(ROOT) not in sys.path:  # run as a script: this repository's modules, as the cases
        sys.path.insert(0, str(ROOT))
    import example_data

    with tempfile.TemporaryDirectory(prefix="bench_combine_") as scratch:
        folder = Path(args.folder) if args.folder else Path(scratch)
        folder = example_data.ensure_example2(folder)
        files = [str(folder / name) for name in example_data.example_files(2)]
        missing = [name for name in files if not os.path.exists(name)]
        if missing:
            raise SystemExit(f"frames missing after ensure_example2: {missing}")
        warm_page_cache(files)

        runs, logs = {case: [] for case in args.cases}, {}
        for round_ in range(1, max(1, args.rounds) + 1):
            for case in args.cases:
                print(f"round {round_}: ({case}) {CASES[case]} ...", file=sys.stderr, flush=True)
                result, logs[case] = run_case(case, files, args.mem_limit)
                runs[case].append(result)
        results = {case: combine_rounds(found) for case, found in runs.items()}
        phases = None
        if args.phases:
            print("phases of combine_flats ...", file=sys.stderr, flush=True)
            command = [sys.executable, "-m", "benchmarks.bench_combine", "--phases"]
            command += ["--files-json", json.dumps(files), "--mem-limit", repr(args.mem_limit)]
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
            phases = json.loads(done.stdout.strip().splitlines()[-1])

    met = report(results, logs, len(files), args.mem_limit)
    if phases is not None:
        print_phases(phases, len(files))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
