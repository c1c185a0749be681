"""Fixtures and helpers shared by the tests.

The seeded data factories live in :mod:`example_data.synthetic`; they are imported here so
that the tests can keep writing ``from conftest import make_flats, SHAPE, ...``.
"""

import hashlib
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from astropy.io import fits
from astropy.stats import sigma_clip

from example_data.synthetic import TEST_SHAPE as SHAPE
from example_data.synthetic import make_flats, make_sky_frames, vignetting

matplotlib.use("Agg")

__all__ = [
    "SHAPE",
    "astropy_reference",
    "digest",
    "make_flats",
    "make_sky_frames",
    "rng",
    "vignetting",
    "write_frames",
]


def write_frames(folder, frames, *, filt="r", imagetyp="FLAT", prefix="flat", extra=None):
    """Write frames as FITS files with IMAGETYP, FILTER and BUNIT; return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, data in enumerate(frames):
        header = fits.Header()
        header["IMAGETYP"] = imagetyp
        if filt is not None:
            header["FILTER"] = filt
        header["BUNIT"] = "adu"
        for key, value in (extra or {}).items():
            header[key] = value
        path = folder / f"{prefix}-{i + 1:03d}.fit"
        fits.writeto(path, data, header)
        paths.append(path)
    return paths


def digest(paths):
    """SHA-256 of each file, to show that inputs are not modified."""
    return {str(p): hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}


def astropy_reference(
    frames, sigmas=(5.0, 5.0), cenfunc="median", stdfunc="mad_std", dtype=np.float32
):
    """The scale-first method written with astropy's sigma_clip: (data, n_used).

    Each frame is scaled by the inverse median of its finite pixels; the scaled stack is
    clipped once (``maxiters=1``) along the frames with ``sigmas`` = (lower, upper)
    thresholds (None: that side is not clipped; both None: no clipping); the survivors
    are averaged and the result divided by its median.
    """
    stack = []
    for frame in frames:
        frame = np.asarray(frame, dtype=dtype)
        stack.append(frame * dtype(1 / np.median(frame[np.isfinite(frame)])))
    stack = np.ma.masked_invalid(np.array(stack))
    lower, upper = sigmas
    if lower is None and upper is None:
        clipped = stack
    else:
        clipped = sigma_clip(
            stack,
            sigma_lower=np.inf if lower is None else lower,
            sigma_upper=np.inf if upper is None else upper,
            maxiters=1,
            cenfunc=cenfunc,
            stdfunc=stdfunc,
            axis=0,
        )
    n_used = (~np.ma.getmaskarray(clipped)).sum(axis=0)
    mean = clipped.mean(axis=0).filled(np.nan)
    return mean / np.median(mean[np.isfinite(mean)]), n_used


@pytest.fixture
def rng():
    """A seeded random generator."""
    return np.random.default_rng(12345)
