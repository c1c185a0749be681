"""Fixtures and seeded data factories shared by the tests."""

import hashlib
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import CCDData
from astropy.stats import sigma_clip

matplotlib.use("Agg")

SHAPE = (64, 96)


def make_flats(n, *, shape=SHAPE, level=20000.0, spread=0.0, seed=0, noise=None):
    """Seeded flats: a vignetting pattern times a level, plus Gaussian noise.

    The noise is Poisson-like (sqrt of the level, gain 1) unless ``noise`` gives it as a
    fraction of the level.  Levels fall linearly by ``spread`` from the first frame.
    """
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        lev = level * (1 - spread * i / max(n - 1, 1))
        sd = np.sqrt(lev) if noise is None else noise * lev
        frames.append((vignetting(shape) * lev + rng.normal(0, sd, shape)).astype(np.float32))
    return frames


def vignetting(shape):
    """The smooth pattern of `make_flats`, normalised to median 1."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    pattern = 1 - 0.2 * (((xx / shape[1]) - 0.5) ** 2 + ((yy / shape[0]) - 0.5) ** 2)
    return pattern / np.median(pattern)


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


def make_sky_frames(n=9, *, shape=(256, 256), dither=25.0, seed=0, gain=1.5, read_noise=10.0):
    """Seeded night-sky frames: a response times a sky with a slow gradient, plus stars.

    Forty stars (Moffat images, beta 2.5, FWHM 2.5 pixels, fluxes from 300 to 300,000
    electrons, the brightest saturated at 64,000 ADU), shifted by up to ``dither``
    pixels between frames (0: a tracked, undithered set), Poisson and read noise.
    Returns the CCDData frames (GAIN, RDNOISE, SATURATE, FILTER in their meta), the true
    response (median 1) and the sky levels (ADU).
    """
    rng = np.random.default_rng(seed)
    response = vignetting(shape) * (1 + 0.005 * rng.standard_normal(shape))
    response /= np.median(response)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    stars_y = rng.uniform(10, shape[0] - 10, 40)
    stars_x = rng.uniform(10, shape[1] - 10, 40)
    fluxes = 10 ** rng.uniform(2.5, 5.5, 40) / gain  # ADU
    alpha = 2.5 / (2 * np.sqrt(2 ** (1 / 2.5) - 1))  # Moffat width for FWHM 2.5 pixels
    skies = np.linspace(3000.0, 2000.0, n)
    frames = []
    for i, sky in enumerate(skies):
        dy, dx = rng.uniform(-dither, dither, 2)
        light = sky * (1 + 0.01 * (xx / shape[1] - 0.5) * (1 if i % 2 else -1))
        for y, x, flux in zip(stars_y + dy, stars_x + dx, fluxes, strict=True):
            r2 = ((yy - y) ** 2 + (xx - x) ** 2) / alpha**2
            light += flux * (2.5 - 1) / (np.pi * alpha**2) * (1 + r2) ** -2.5
        electrons = rng.poisson(light * response * gain) + rng.normal(0, read_noise, shape)
        data = np.minimum(electrons / gain, 64000.0).astype(np.float32)
        meta = {"GAIN": gain, "RDNOISE": read_noise, "SATURATE": 64000.0, "FILTER": "r"}
        frames.append(CCDData(data, unit="adu", meta=meta))
    return frames, response, skies
