"""Raw night frames of a small telescope whose pointing drifts through the night.

The frames a small robotic telescope takes of one field, without dithering: coarse pixels
(5.2 arcsec), sharp images for that scale (a FWHM of 1.5 to 2.5 pixels), a pointing that
creeps by tens of pixels over the night, a sky that fades as the night darkens, the star
density of a field at intermediate galactic latitude and a few galaxies.  With
``huge_galaxy=True`` a nearby spiral fills much of every frame, as when the telescope is
pointed at one.  The tests and benchmark of `combine_sky_flats` use them as the "real
frames" that the course cannot ship.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from example_data.sources import _moffat_alpha
from example_data.synthetic import vignetting

DRIFT_SHAPE = (500, 650)  # rows, columns
DRIFT_PIXEL_SCALE = 5.2  # arcsec per pixel
DRIFT_GAIN = 1.4  # e-/ADU
DRIFT_READ_NOISE = 9.0  # e-
DRIFT_SATURATE = 60000.0  # ADU
_BETA = 3.0  # Moffat index of the stars
_STARS_PER_SQ_DEGREE = 8000  # down to r = 20 (the faintest drawn): latitude ~20 deg
_BRIGHT, _FAINT = 9.0, 20.0  # r magnitudes of the brightest and faintest stars
_FLUX_17 = 3000.0  # ADU: a star of r = 17 in one exposure


class DriftingFrames(NamedTuple):
    """What `make_drifting_frames` returns."""

    frames: list  # astropy.nddata.CCDData, ADU
    response: np.ndarray  # the true response, median 1
    skies: np.ndarray  # ADU, the sky level of each frame (at response 1)
    fwhm: np.ndarray  # pixels, the seeing of each frame
    offsets: np.ndarray  # (rows, columns) of the pointing in each frame, pixels


def make_drifting_frames(n=30, *, shape=DRIFT_SHAPE, huge_galaxy=False, seed=0):
    """Return seeded raw night frames of one field with a drifting pointing.

    Stars follow the counts of a field at a galactic latitude of about 20 degrees
    (N(<r) grows as 10**(0.3 r), 8000 per square degree to r = 20; 0.68 square degree in a 650 x 500
    frame of 5.2" pixels), as Moffat images (beta 3) whose FWHM changes with the seeing,
    1.5 to 2.5 pixels.  Twelve small galaxies (exponential discs, scale lengths of 1 to
    4 pixels) and, with ``huge_galaxy``, one spiral whose disc (scale length an eighth
    of the frame's height, its centre as bright as the first frame's sky) covers most
    of the frame.  The pointing drifts by about 30 rows and 45 columns from the first
    frame to the last, with a jitter of 0.3 pixels; the sky fades from 2600 to 1300 ADU
    (5 % scatter from frame to frame) with a gradient of 0.6 % across the frame that
    turns with the hour.  Poisson and read noise; pixels clipped at
    60000 ADU (SATURATE).

    Parameters
    ----------
    n : int, optional
        Number of frames.
    shape : tuple of int, optional
        (rows, columns) of each frame.
    huge_galaxy : bool, optional
        Add one galaxy that fills much of every frame.
    seed : int, optional
        Seed of everything random.

    Returns
    -------
    DriftingFrames
        ``frames`` (CCDData in ADU with GAIN, RDNOISE, SATURATE, FILTER and PIXSCALE in
        their meta), the true ``response`` (median 1), the ``skies`` (ADU), the ``fwhm``
        (pixels) and the pointing ``offsets`` (pixels) of each frame.

    Examples
    --------
    >>> frames, response, skies, fwhm, offsets = make_drifting_frames(3, shape=(60, 80))
    >>> frames[0].shape, round(float(np.median(response)), 6)
    ((60, 80), 1.0)
    """
    from astropy.nddata import CCDData

    rng = np.random.default_rng(seed)
    response = vignetting(shape) * (1 + 0.005 * rng.standard_normal(shape))
    response /= np.median(response)
    margin = 60  # the field is larger than the frame: stars drift in and out
    area = (shape[0] + 2 * margin) * (shape[1] + 2 * margin) * (DRIFT_PIXEL_SCALE / 3600) ** 2
    n_stars = rng.poisson(_STARS_PER_SQ_DEGREE * area)
    # N(<m) ~ 10**(0.3 m): m drawn by inverting that cumulative count
    low, high = 10 ** (0.3 * _BRIGHT), 10 ** (0.3 * _FAINT)
    magnitude = np.log10(rng.uniform(low, high, n_stars)) / 0.3
    star_flux = _FLUX_17 * 10 ** (-0.4 * (magnitude - 17))
    star_y = rng.uniform(-margin, shape[0] + margin, n_stars)
    star_x = rng.uniform(-margin, shape[1] + margin, n_stars)
    galaxies = [
        (rng.uniform(0, shape[0]), rng.uniform(0, shape[1]), rng.uniform(1, 4),
         rng.uniform(0.4, 1), rng.uniform(0, math.pi), 10 ** rng.uniform(3, 4.5))
        for _ in range(12)
    ]  # fmt: skip
    if huge_galaxy:
        scale = shape[0] / 8
        galaxies.append((shape[0] * 0.55, shape[1] * 0.5, scale, 0.7, 0.4, None))
    skies = np.linspace(2600.0, 1300.0, n) * (1 + 0.05 * rng.standard_normal(n))
    fwhm = rng.uniform(1.5, 2.5, n)
    hours = np.linspace(0, 1, n)
    offsets = np.stack([30 * hours, 45 * hours**1.3], axis=1) + rng.normal(0, 0.3, (n, 2))
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    frames = []
    for i in range(n):
        dy, dx = offsets[i]
        turn = math.pi * hours[i]
        tilt = math.cos(turn) * (xx / shape[1] - 0.5) + math.sin(turn) * (yy / shape[0] - 0.5)
        light = skies[i] * (1 + 0.006 * tilt)
        for gy, gx, length, axis_ratio, angle, flux in galaxies:
            part = _near(shape, gy + dy, gx + dx, 12 * length * max(1.0, axis_ratio))
            _add_disc(light[part], yy[part] - gy - dy, xx[part] - gx - dx, length,
                      axis_ratio, angle, flux, skies[0])  # fmt: skip
        _add_moffats(light, star_y + dy, star_x + dx, star_flux, fwhm[i])
        electrons = rng.poisson(light * response * DRIFT_GAIN) + rng.normal(
            0, DRIFT_READ_NOISE, shape
        )
        data = np.minimum(electrons / DRIFT_GAIN, DRIFT_SATURATE).astype(np.float32)
        meta = {
            "GAIN": DRIFT_GAIN, "RDNOISE": DRIFT_READ_NOISE, "SATURATE": DRIFT_SATURATE,
            "FILTER": "r", "PIXSCALE": DRIFT_PIXEL_SCALE, "IMAGETYP": "LIGHT",
        }  # fmt: skip
        frames.append(CCDData(data, unit="adu", meta=meta))
    return DriftingFrames(frames, response, skies, fwhm, offsets)


def _near(shape, row, col, reach):
    """Return the rows and columns of a frame of ``shape`` within ``reach`` of (row, col).

    An exponential disc is drawn out to 12 scale lengths along its axes, so within 12
    lengths (times the axis ratio, if above 1) of its centre: drawn on this part of the
    frame alone it adds the same values to the same pixels as on the whole frame, much
    faster for the small galaxies.  A margin of 2 pixels keeps rounding out of it.
    """
    reach += 2
    return tuple(
        slice(max(0, math.floor(at - reach)), max(0, min(size, math.ceil(at + reach) + 1)))
        for at, size in ((row, shape[0]), (col, shape[1]))
    )


def _add_disc(light, dy, dx, length, axis_ratio, angle, flux, centre):
    """Add an exponential disc to ``light``: a total ``flux``, or a ``centre`` brightness.

    ``dy`` and ``dx`` are each pixel's offsets from the disc's centre; ``light`` may be
    the part of a frame that `_near` gives.
    """
    along = dx * math.cos(angle) + dy * math.sin(angle)
    across = (dy * math.cos(angle) - dx * math.sin(angle)) / axis_ratio
    radius = np.hypot(along, across)
    if flux is not None:
        centre = flux / (2 * math.pi * length**2 * axis_ratio)
    near = radius < 12 * length
    light[near] += centre * np.exp(-radius[near] / length)


def _add_moffats(light, rows, cols, fluxes, fwhm):
    """Add Moffat stars of ``fwhm`` to ``light``, each drawn to where it is below 0.2 ADU."""
    alpha = _moffat_alpha(fwhm, _BETA)
    norm = (_BETA - 1) / (math.pi * alpha**2)
    nrow, ncol = light.shape
    for row, col, flux in zip(rows, cols, fluxes, strict=True):
        peak = flux * norm
        half = math.ceil(alpha * math.sqrt(max((peak / 0.2) ** (1 / _BETA) - 1, 1.0)))
        r0, r1 = max(int(row) - half, 0), min(int(row) + half + 1, nrow)
        c0, c1 = max(int(col) - half, 0), min(int(col) + half + 1, ncol)
        if r0 >= r1 or c0 >= c1:
            continue
        r2 = (np.arange(r0, r1)[:, None] - row) ** 2 + (np.arange(c0, c1) - col) ** 2
        light[r0:r1, c0:c1] += peak * (1 + r2 / alpha**2) ** -_BETA
