"""Benchmark: rejection quality of ``combine_flats`` against a flat whose truth is known.

Run from the repository's root with ``python benchmarks/bench_rejection.py`` or
``python -m benchmarks.bench_rejection`` (``--help`` lists the options).  No file is written
unless ``--examples FOLDER`` is given.

The flats are drawn by a seeded generator, ``example_data.synthetic.make_flats_with_rays``
(shared with the tests, independent of the simulation of the course's examples): a known
response (a smooth vignetting and tilt times a 1 % pixel-to-pixel response, normalised to
median 1), a level L_i per frame (spread evenly over 20,000-40,000
ADU, in a seeded order), real Poisson noise of the detected electrons (gain 1.5 e-/ADU) plus
Gaussian read noise (8 e-), and cosmic rays: single pixels and tracks of 2-3 pixels whose
amplitudes, pixel by pixel, are log-uniform between 8 and 40 standard deviations of that
pixel's noise in that frame.  No pixel is hit in more than one frame, so every ray can be
removed in principle.  The frames are 1024 x 1024 CCDData in ADU with GAIN and RDNOISE in
their headers; they are combined as N = 3 and N = 10 frames with every method of
``--methods`` (``combine_flats(frames, stdfunc=method, return_counts=True)``, all other
options at their defaults).  A method the installed helper does not accept is reported as
"not available".

The ideal noise of the combined flat at a pixel is that of the plain mean of the N scaled
frames, from the generator's noise model: sqrt(sum_i sigma_i**2) / N, where
sigma_i = sqrt(t L_i / g + (r / g)**2) / L_i, t being the true response there.
For each N and method the script prints one row of a table:

- rays surviving: the fraction of ray pixels where the combined flat exceeds the truth by
  more than 5 ideal noises (target: at most 1 %);
- ray pixels with a rejection: where at least one sample was rejected (with rays of 8 sigma
  and more, that is the ray), over all ray pixels and over those of 9-11 sigma;
- good samples rejected: over the pixels without a ray in any frame,
  sum(N - n_used) / (pixels x N) (target: at most 0.05 %);
- noise / ideal: the rms over those pixels of (combined - truth) / ideal noise (target:
  within 3 % of 1);

then PASS or FAIL against the three targets.  With ``--examples FOLDER`` it also combines
the course's Example 1 frames (g' and i') and Example 2 frames (written into FOLDER/example1 and
FOLDER/example2 by ``example_data``, about 1 GB, kept for the next run) with every method
and prints the residual rms against ``example_data.true_flat``, that rms over the ideal
noise, and the numbers of pixels more than 6 ideal noises above and below the truth (for Example 2
after dividing out the plane that best fits flat / truth: the twilight sky's gradient,
which every combination of twilight flats records).

Everything is seeded: two runs print the same numbers (except the times).  The exit status
is 0 when every method of ``--expect-pass`` that is run is available and meets every target,
1 otherwise.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.nddata import CCDData

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: this repository's modules
    sys.path.insert(0, str(ROOT))

# The seeded generator of the flats, shared with the tests.
from example_data.synthetic import (  # noqa: E402
    RAY_FLATS_GAIN,
    RAY_FLATS_READ_NOISE,
    RAY_FLATS_SEED,
    RAY_FLATS_SHAPE,
    SyntheticFlats,
    make_flats_with_rays,
    true_response,
)

__all__ = ["SyntheticFlats", "make_flats", "true_response"]

make_flats = make_flats_with_rays  # this benchmark's name for the generator

SEED = RAY_FLATS_SEED
SHAPE = RAY_FLATS_SHAPE
GAIN = RAY_FLATS_GAIN  # e-/ADU
READ_NOISE = RAY_FLATS_READ_NOISE  # e-
BIN_10_SIGMA = (9.0, 11.0)

MAX_RAYS_SURVIVING = 0.01
MAX_GOOD_REJECTED = 0.0005
MAX_NOISE_EXCESS = 0.03
SURVIVAL_THRESHOLD = 5.0  # ideal noises above the truth
EXAMPLE_THRESHOLD = 6.0

DEFAULT_METHODS = "avsigclip,ccdclip,mad_std"
DEFAULT_EXPECT_PASS = "avsigclip,ccdclip"


# --------------------------------------------------------------------------------------
# Combining and judging
# --------------------------------------------------------------------------------------


def method_available(method):
    """Return None if ``combine_flats`` accepts ``stdfunc=method``, else the reason.

    The test is a combination of three small frames (with GAIN and RDNOISE), so an old
    helper that does not know the method, or ``return_counts``, says so here.
    """
    import convenience_functions as cf

    rng = np.random.default_rng(0)
    meta = {"GAIN": GAIN, "RDNOISE": READ_NOISE}
    tiny = [
        CCDData(rng.normal(level, math.sqrt(level), (8, 8)), unit="adu", meta=meta)
        for level in (20_000.0, 25_000.0, 30_000.0)
    ]
    try:
        cf.combine_flats(tiny, stdfunc=method, return_counts=True)
    except (TypeError, ValueError) as err:
        return str(err)
    return None


@dataclass
class Quality:
    """The metrics of one combination (fractions, not percentages)."""

    rays_surviving: float
    rays_with_rejection: float
    rays_10_sigma_with_rejection: float
    good_rejected: float
    noise_ratio: float
    seconds: float

    def checks(self):
        """Return whether each target is met: (rays, good samples, noise)."""
        return (
            self.rays_surviving <= MAX_RAYS_SURVIVING,
            self.good_rejected <= MAX_GOOD_REJECTED,
            abs(self.noise_ratio - 1.0) <= MAX_NOISE_EXCESS,
        )

    @property
    def passed(self):
        """True when every target is met."""
        return all(self.checks())


def ideal_sigma(flats):
    """Return the ideal noise of the combined flat per pixel (see the module docstring)."""
    from convenience_functions import ideal_flat_noise

    return ideal_flat_noise(flats.levels, gain=GAIN, read_noise=READ_NOISE, response=flats.truth)


def judge(flats, combined, n_used, seconds):
    """Compare a combination of ``flats`` with their truth.

    Parameters
    ----------
    flats : SyntheticFlats
        The frames and their truth.
    combined : astropy.nddata.CCDData or numpy.ndarray
        The combined flat, normalised to median 1.
    n_used : numpy.ndarray
        The number of samples that survived at each pixel.
    seconds : float
        The time the combination took, carried into the result.

    Returns
    -------
    Quality
        The metrics described in the module docstring.
    """
    n_frames = len(flats.frames)
    data = np.asarray(getattr(combined, "data", combined), dtype=np.float64)
    excess = (data - flats.truth) / ideal_sigma(flats)
    rays = flats.ray_frame >= 0
    clean = ~rays  # pixels no ray hit in any frame
    good = clean & np.isfinite(excess)  # NaN where no sample survived
    rejected_any = n_used < n_frames
    near_10 = rays & (flats.ray_sigma >= BIN_10_SIGMA[0]) & (flats.ray_sigma <= BIN_10_SIGMA[1])
    # NaN (no survivor) counts as surviving: the ray's pixel is not repaired.
    survived = ~(excess[rays] <= SURVIVAL_THRESHOLD)
    n_clean = int(clean.sum())
    return Quality(
        rays_surviving=float(survived.mean()),
        rays_with_rejection=float(rejected_any[rays].mean()),
        rays_10_sigma_with_rejection=float(rejected_any[near_10].mean()),
        good_rejected=float(np.sum(n_frames - n_used[clean].astype(np.int64)))
        / (n_clean * n_frames),
        noise_ratio=float(np.sqrt(np.mean(excess[good] ** 2))),
        seconds=seconds,
    )


def run_synthetic(frame_counts, methods, *, shape=SHAPE, seed=SEED):
    """Generate, combine with each method and judge; print the table.

    Parameters
    ----------
    frame_counts : sequence of int
        The numbers of frames N to try.
    methods : sequence of str
        ``stdfunc`` values of ``combine_flats``.
    shape : tuple of int, optional
        Frame shape.
    seed : int, optional
        Seed of the generator.

    Returns
    -------
    dict
        ``{(N, method): Quality or None}``, None where the method is not available.
    """
    import convenience_functions as cf

    missing = {method: method_available(method) for method in methods}
    truth = true_response(shape, seed)
    results = {}
    for n_frames in frame_counts:
        start = time.perf_counter()
        flats = make_flats(n_frames, shape=shape, seed=seed, truth=truth)
        drawn = time.perf_counter() - start
        n_ray_pixels = int((flats.ray_frame >= 0).sum())
        levels = ", ".join(f"{level:.0f}" for level in flats.levels)
        print(
            f"N = {n_frames}: levels {levels} ADU; {flats.n_events} ray events on "
            f"{n_ray_pixels} pixels; ideal noise of the combined flat "
            f"{np.median(ideal_sigma(flats)):.2e} (median over pixels); drawn in {drawn:.1f} s",
            flush=True,
        )
        for method in methods:
            if missing[method] is not None:
                results[n_frames, method] = None
                continue
            start = time.perf_counter()
            combined, n_used = cf.combine_flats(flats.frames, stdfunc=method, return_counts=True)
            seconds = time.perf_counter() - start
            results[n_frames, method] = judge(flats, combined, n_used, seconds)
        del flats
    print()
    print_table(results, missing)
    return results


def _percent(value, digits=2):
    return f"{100 * value:.{digits}f} %"


def print_table(results, missing):
    """Print the Markdown table of `run_synthetic` and the methods not available."""
    low, high = BIN_10_SIGMA
    print(
        "| N | method | rays surviving | ray pixels with a rejection "
        f"(all / {low:.0f}-{high:.0f} sigma) | good samples rejected | noise / ideal "
        "| time (s) | verdict |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---|")
    for (n_frames, method), quality in results.items():
        if quality is None:
            print(f"| {n_frames} | {method} | | | | | | not available |")
            continue
        rays_ok, good_ok, noise_ok = quality.checks()
        failed = [
            name
            for name, ok in (("rays", rays_ok), ("good samples", good_ok), ("noise", noise_ok))
            if not ok
        ]
        verdict = "PASS" if not failed else "FAIL (" + ", ".join(failed) + ")"
        print(
            f"| {n_frames} | {method} | {_percent(quality.rays_surviving)} "
            f"| {_percent(quality.rays_with_rejection, 1)} / "
            f"{_percent(quality.rays_10_sigma_with_rejection, 1)} "
            f"| {_percent(quality.good_rejected, 3)} | {quality.noise_ratio:.3f} "
            f"| {quality.seconds:.2f} | {verdict} |"
        )
    print(
        f"\nTargets: rays surviving <= {_percent(MAX_RAYS_SURVIVING, 0)}; good samples "
        f"rejected <= {_percent(MAX_GOOD_REJECTED)}; noise / ideal within "
        f"{_percent(MAX_NOISE_EXCESS, 0)} of 1."
    )
    for method, reason in missing.items():
        if reason is not None:
            print(f"Method {method!r} is not available in this combine_flats: {reason}")


# --------------------------------------------------------------------------------------
# The course's examples
# --------------------------------------------------------------------------------------


def _ideal_sigma_of_files(files, truth):
    """Ideal combined noise per pixel of ``files`` (GAIN, RDNOISE, median of each frame)."""
    from convenience_functions import ideal_flat_noise

    levels = []
    for name in files:
        with fits.open(name, memmap=False) as hdul:
            header, data = hdul[0].header, hdul[0].data
            levels.append(float(np.median(data[::4, ::4])))
    gain, read_noise = float(header["GAIN"]), float(header["RDNOISE"])
    return ideal_flat_noise(levels, gain=gain, read_noise=read_noise, response=truth)


def run_examples(folder, methods):
    """Combine the course's Example 1 (g', i') and Example 2 frames; compare with the truth.

    Parameters
    ----------
    folder : str or os.PathLike
        Where the frames are written (subfolders ``example1`` and ``example2``); frames
        already there are reused.
    methods : sequence of str
        ``stdfunc`` values of ``combine_flats``; those not available are skipped.
    """
    import convenience_functions as cf
    import example_data as ed
    from convenience_functions import fit_plane

    if not hasattr(ed, "true_flat"):
        print("\nexample_data.true_flat does not exist yet: the examples are skipped.")
        return
    methods = [method for method in methods if method_available(method) is None]
    folder = Path(folder)
    print(f"\nThe course's examples (frames in {folder}):\n")
    sets = []
    ex1 = ed.ensure_example1(folder / "example1")
    files1 = [str(ex1 / name) for name in ed.example_files(1)]
    for filter_name in ("g'", "i'"):
        chosen = [n for n in files1 if fits.getheader(n)["FILTER"].strip() == filter_name]
        sets.append((f"Example 1 {filter_name}", chosen, 1, filter_name))
    ex2 = ed.ensure_example2(folder / "example2")
    sets.append(("Example 2 r", [str(ex2 / name) for name in ed.example_files(2)], 2, "r"))
    print(
        "| frames | N | method | residual rms | rms / ideal "
        f"| pixels > {EXAMPLE_THRESHOLD:.0f} ideal sigma above truth | below truth "
        "| time (s) |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for label, files, example, filter_name in sets:
        truth = ed.true_flat(example, filter_name).astype(np.float64)
        if example == 1:  # the dome flats record the screen's uneven light too
            truth *= ed.example1_screen(filter_name)
            truth /= np.median(truth)
        ideal = _ideal_sigma_of_files(files, truth)
        ideal_rms = float(np.sqrt(np.mean(ideal**2)))
        for method in methods:
            start = time.perf_counter()
            combined = cf.combine_flats(files, stdfunc=method)
            seconds = time.perf_counter() - start
            flat = combined.data
            if example == 2:  # the twilight sky's mean gradient: an illumination error
                with np.errstate(divide="ignore", invalid="ignore"):  # dead pixels: truth 0
                    flat = flat / fit_plane(flat / truth)
            residual = flat - truth
            finite = np.isfinite(residual)
            rms = float(np.sqrt(np.mean(residual[finite] ** 2)))
            excess = residual[finite] / ideal[finite]
            high = int(np.sum(excess > EXAMPLE_THRESHOLD))
            low = int(np.sum(excess < -EXAMPLE_THRESHOLD))
            print(
                f"| {label} | {len(files)} | {method} | {rms:.2e} | {rms / ideal_rms:.3f} "
                f"| {high} | {low} | {seconds:.1f} |",
                flush=True,
            )
            del combined, flat, residual, finite
        del truth, ideal


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def _names(text):
    return [name.strip() for name in text.split(",") if name.strip()]


def main(argv=None):
    """Run the benchmark; return the exit status (see the module docstring)."""
    prog, raw = "python -m benchmarks.bench_rejection", argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=raw)
    parser.add_argument(
        "--methods",
        type=_names,
        default=_names(DEFAULT_METHODS),
        help=f"stdfunc values to compare, comma-separated (default: {DEFAULT_METHODS})",
    )
    parser.add_argument(
        "--frames",
        type=lambda text: [int(n) for n in _names(text)],
        default=[3, 10],
        help="numbers of frames, comma-separated (default: 3,10)",
    )
    parser.add_argument(
        "--expect-pass",
        type=_names,
        default=_names(DEFAULT_EXPECT_PASS),
        help="methods that must meet every target for exit status 0 "
        f"(default: {DEFAULT_EXPECT_PASS})",
    )
    parser.add_argument("--seed", type=int, default=SEED, help=f"seed (default: {SEED})")
    parser.add_argument(
        "--examples",
        metavar="FOLDER",
        help="also combine the course's Example 1 (g', i') and Example 2 frames, written into "
        "FOLDER (about 1 GB)",
    )
    args = parser.parse_args(argv)
    if any(n < 3 for n in args.frames):
        parser.error("--frames: combine_flats rejects only with 3 frames or more")
    import convenience_functions as cf

    print(
        f"combine_flats from {Path(cf.__file__).resolve()}; frames {SHAPE[0]} x {SHAPE[1]}, "
        f"gain {GAIN} e-/ADU, read noise {READ_NOISE} e-, seed {args.seed}\n"
    )
    results = run_synthetic(args.frames, args.methods, seed=args.seed)
    if args.examples:
        run_examples(args.examples, args.methods)
    expected = [quality for (_, method), quality in results.items() if method in args.expect_pass]
    return 0 if all(q is not None and q.passed for q in expected) else 1


if __name__ == "__main__":
    sys.exit(main())
