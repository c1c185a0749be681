"""Benchmark: how fast a wrong option is refused, against the time of the work it spares.

Run from the repository's root with ``python -m benchmarks.bench_refusal``.  Eight seeded
512 x 512 night-sky frames (``example_data.synthetic.make_sky_frames``, written into a
temporary folder) are given to `combine_flats` and `combine_sky_flats` with a wrong option
(a ``gain`` with the default ``stdfunc``, which ignores it, and ``sigma_upper=-5``), then
with their defaults.  Every option is checked before a frame is opened, so a refusal costs
milliseconds where the work takes seconds.  Prints a Markdown table; the exit status is 0
when every refusal takes under 0.5 s, 1 otherwise.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 0.5  # seconds
WRONG = {"gain=1.5": {"gain": 1.5}, "sigma_upper=-5": {"sigma_upper": -5.0}}


def seconds(call):
    """Return the wall time of ``call()`` in seconds, ignoring the ValueError it may raise."""
    start = time.perf_counter()
    try:
        call()
    except ValueError:
        pass
    return time.perf_counter() - start


def main():
    """Time the refusals and the full runs; print the table; return the exit status."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from astropy.io import fits

    import convenience_functions as cf
    from example_data.synthetic import make_sky_frames

    frames, _, _ = make_sky_frames(8, shape=(512, 512))
    passed = True
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for index, frame in enumerate(frames):
            paths.append(Path(folder) / f"sky-{index:03d}.fit")
            fits.writeto(paths[-1], frame.data, fits.Header(frame.meta))
        print("| function | option | refused in (s) | full run with defaults (s) |")
        print("|---|---|---:|---:|")
        for combine in (cf.combine_flats, cf.combine_sky_flats):
            full = seconds(lambda combine=combine: combine(paths))
            for name, options in WRONG.items():
                took = seconds(lambda combine=combine, options=options: combine(paths, **options))
                passed &= took < LIMIT
                print(f"| {combine.__name__} | {name} | {took:.4f} | {full:.2f} |")
    print(f"\nTarget: every refusal under {LIMIT} s: {'PASS' if passed else 'FAIL'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
