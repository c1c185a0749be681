"""Example 3: twelve dithered night frames in r, the raw material of a night-sky flat.

Twelve science frames of one night, 300 s each over three hours, with the Example 2 camera
binned 2 x 2 on the chip (:data:`EXAMPLE3_CAMERA`: 2048 x 2048 pixels of 18 microns, 0.773
arcsec at f/8 on 0.6 m), dithered between exposures; a tracked (undithered) variant is
written only on request. This module holds the example's camera and record
(:data:`EXAMPLE3`), its constants, its moonlit sky (:func:`example3_sky`), its stars and
galaxies (:func:`example3_sources`, :func:`example3_source_image`), its response (Example
2's, binned), and its noiseless frames (the builders of :mod:`example_data.examples`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from example_data import example2
from example_data.camera import (
    _ROW_BLOCK,
    _STREAM_STARS,
    Example,
    _check_index,
    _check_tracked,
    _rng,
)
from example_data.example2 import _ZERO_POINT, EXAMPLE2_CAMERA, EXAMPLE2_SHAPE
from example_data.maps import _ramps
from example_data.sources import _add_galaxies, _add_night_stars, _bleed
from example_data.truth import Galaxies, Sky, Sources, Stars

EXAMPLE3_SHAPE = (EXAMPLE2_SHAPE[0] // 2, EXAMPLE2_SHAPE[1] // 2)
"""Shape (rows, columns) of an example 3 frame: the example 2 chip binned 2 x 2."""
EXAMPLE3_FILES = tuple(f"sky-r-bin2-{i:03d}.fit" for i in range(1, 13))
"""File names of the example 3 frames (dithered), in order."""
EXAMPLE3_TRACKED_FILES = tuple(f"tracked-r-bin2-{i:03d}.fit" for i in range(1, 13))
"""File names of the frames of the tracked (undithered) variant of example 3, in order.

They differ from :data:`EXAMPLE3_FILES` so that the two sets cannot be mistaken for each
other, even in one folder."""
EXAMPLE3_EXPTIMES = (300.0,) * 12
"""Exposure time (s) of each example 3 frame."""
EXAMPLE3_DATE_OBS = (
    "2022-03-15T03:04:41.000",
    "2022-03-15T03:20:35.000",
    "2022-03-15T03:36:11.000",
    "2022-03-15T03:52:29.000",
    "2022-03-15T04:08:17.000",
    "2022-03-15T04:25:23.000",
    "2022-03-15T04:41:05.000",
    "2022-03-15T04:56:59.000",
    "2022-03-15T05:13:23.000",
    "2022-03-15T05:28:59.000",
    "2022-03-15T05:44:59.000",
    "2022-03-15T06:00:47.000",
)
"""DATE-OBS (UTC, start of exposure) of each example 3 frame: one every 16 minutes or so."""
EXAMPLE3_SKY_LEVELS = (
    4420.0,
    4215.0,
    3975.0,
    3760.0,
    3490.0,
    3280.0,
    3045.0,
    2830.0,
    2615.0,
    2425.0,
    2250.0,
    2085.0,
)
"""Sky level (ADU) of each example 3 frame, at the chip's centre on a pixel of response 1.

A moonlit sky of 18.4 magnitudes per square arcsecond in r at the first frame, fading to
19.2 as the Moon sinks towards the horizon (:func:`example3_sky`)."""
EXAMPLE3_DITHERS = (
    (-60, -35),
    (-59, 85),
    (-42, 32),
    (-4, -23),
    (7, 24),
    (-7, 74),
    (10, -81),
    (47, 89),
    (-53, -85),
    (45, -26),
    (58, -90),
    (66, 26),
)
"""Offset (rows, columns) of the sky in each dithered example 3 frame, in binned pixels.

A grid of 3 x 4 pointings about 55 pixels (42 arcsec) apart, visited in a shuffled order and
each moved by up to 12 pixels at random: any two frames are at least 48 pixels apart, so a
source never falls on the same pixels twice."""
EXAMPLE3_TRACKED_OFFSETS = tuple((0.06 * i, -0.04 * i) for i in range(12))
"""Offset (rows, columns) of the sky in each frame of the tracked variant, in binned pixels.

The telescope stays on one pointing all night; only a slow drift of the guiding moves the
sources, by less than a pixel (0.8 pixel) over the twelve frames."""
EXAMPLE3_PIXEL_SCALE = 206264.806 * 18e-6 / 4.8
"""Angle (arcsec) on the sky of one binned pixel: 18 microns at the focus of a 0.6 m f/8
telescope (focal length 4.8 m), 0.773 arcsec."""

EXAMPLE3_CAMERA = dataclasses.replace(
    EXAMPLE2_CAMERA,
    name="Andor Aspen CG16M binned 2 x 2 on the chip",
    shape=EXAMPLE3_SHAPE,
    binning=2,
    # The KAF-16803 binned 2 x 2: pixels of 18 microns, a quarter of the pixels to digitise.
    pixel_um=18.0,
    readout_s=4.0,
    diffusion_px=0.225,
    defect_counts=None,  # example 2's, binned: they are in its response
    writes_pixel_size=True,
)
"""The camera of example 3: example 2's, binned 2 x 2 on the chip (gain, read noise and
saturation unchanged)."""

EXAMPLE3 = Example(
    number=3,
    camera=EXAMPLE3_CAMERA,
    files=EXAMPLE3_FILES,
    filters=("r",) * len(EXAMPLE3_FILES),
    exptimes=EXAMPLE3_EXPTIMES,
    date_obs=EXAMPLE3_DATE_OBS,
    medians=EXAMPLE3_SKY_LEVELS,
    imagetyp="LIGHT",
    object="galaxy field",
    tracked_files=EXAMPLE3_TRACKED_FILES,
)
"""Example 3: its camera and frames (the medians are the sky levels)."""

# The same telescope and filter as Example 2, so the same zero point: a star of magnitude r
# gives 10**(0.4 * (21.9 - r)) ADU per second in all (binning sums the charge of 2 x 2
# pixels, it does not change the total).  A binned pixel covers 0.773 arcsec, 0.598 square
# arcsec, and the chip 26.4 arcmin, 0.19 square degrees.  The sky of 4420 to 2085 ADU in
# 300 s is 14.7 to 6.9 ADU per second per pixel: 18.4 to 19.2 magnitudes per square arcsec,
# a sky lit by a Moon that sinks towards the horizon (a dark site's moonless sky would be
# about 20.8).  Against it the noise of one pixel is 37 to 54 ADU, and a star is detected
# at 5 sigma (within about 20 pixels of a 2 arcsec image) down to r = 20 or so.
_NIGHT_BETA = 2.5  # Moffat beta of the night's long exposures: broad wings
_NIGHT_FWHM = (2.6, 2.5, 2.4, 2.7, 2.9, 2.6, 2.3, 2.2, 2.5, 2.8, 2.6, 2.4)  # binned pixels
# Stars: one power law of the counts, N(< r) = 200 per square degree at r = 15, growing by
# 10**0.3 per magnitude (as at a moderate galactic latitude; at high latitude the faint
# counts grow more slowly), from r = 8 to 20.5, over the area the dithered chip sees.  Six
# bright stars are added at fixed places, more than a random field of this size holds (it
# would hold about one star brighter than r = 9), so that the frames show saturation and
# bleeding.
_NIGHT_COUNT_AT_15 = 200.0  # stars per square degree brighter than r = 15
_NIGHT_COUNT_SLOPE = 0.30  # d log10 N / d magnitude
_NIGHT_MAGNITUDES = (8.0, 20.5)
_NIGHT_MARGIN = 110  # binned pixels of sky beyond each edge of the chip (covers the dithers)
_NIGHT_BRIGHT = (  # (row, column, r magnitude) in the coordinates of the undithered chip
    (1430.0, 610.0, 5.9),
    (520.0, 1510.0, 6.5),
    (1780.0, 1640.0, 7.0),
    (300.0, 380.0, 8.0),
    (1050.0, 1850.0, 8.6),
    (880.0, 240.0, 9.1),
)
# Galaxies: (row, column, r magnitude, half-light radius in binned pixels, Sersic index,
# axis ratio, position angle in degrees from the +column axis towards +row).  Discs (n = 1)
# with scale lengths of 10 to 45 pixels (the half-light radius is 1.68 scale lengths), a
# lenticular (n = 2) and an elliptical (n = 4), whose faint outskirts reach hundreds of pixels.
_NIGHT_GALAXIES = (
    (1000.0, 1000.0, 10.8, 75.5, 1.0, 0.35, 30.0),
    (1560.0, 1150.0, 12.0, 37.0, 1.0, 0.80, 110.0),
    (420.0, 830.0, 11.8, 20.0, 4.0, 0.70, 65.0),
    (640.0, 330.0, 13.6, 16.8, 1.0, 0.55, 150.0),
    (1240.0, 1580.0, 13.2, 14.0, 2.0, 0.60, 10.0),
)
_NIGHT_PROFILE_FLOOR = 0.2  # ADU: sources are drawn out to where they fall below this
_NIGHT_SMALL_STAR = 12  # half-size (pixels) of the stamps of the faint stars, drawn together
_NIGHT_GALAXY_REACH = 420  # at most this far (pixels) from a galaxy's centre
# Bleeding.  The KAF-16803's lateral overflow drains take away the charge that a full pixel
# (about 100 000 e-) keeps collecting, so a saturated star does not bloom unless it
# overloads the drains: we assume they cope with up to about 100 times a pixel's full well
# (an order of magnitude for such drains, not a measured value of this sensor).  A binned
# pixel gathers four pixels, so the charge of a binned pixel beyond 100 x 4 x 100 000 e-,
# 2.7e7 ADU, spills along its column, half up and half down, filling the pixels it reaches
# to a binned pixel's full well (4 x 100 000 e-, 2.7e5 ADU) before moving on; charge that
# reaches the end of the column is lost.  The two brightest stars overload the drains in
# every frame, the third only in the best seeing.
# The full well and the drains' capacity are the camera's (EXAMPLE3_CAMERA.full_well_adu and
# .drain_limit_adu).
# The moonlit sky is brighter towards the Moon: a plane across the chip of 1.8 % at the
# first frame, which weakens to 1.1 % and turns by 45 degrees as the Moon sinks and moves
# west over the three hours.
_NIGHT_GRADIENT = (0.018, -0.0025)  # amplitude at the first frame, change per hour
_NIGHT_ANGLE = (250.0, -15.5)  # degrees at the first frame, change per hour


def _hours_since_first(index: int) -> float:
    """Return the hours between the starts of example 3's first frame and frame ``index``."""
    first, this = (datetime.fromisoformat(EXAMPLE3_DATE_OBS[i]) for i in (0, index))
    return (this - first).total_seconds() / 3600


def example3_sky(index: int) -> Sky:
    """Return the sky of frame ``index`` of example 3: its level and its gradient.

    The sky is lit by the Moon, which sinks towards the horizon during the three hours of the
    sequence: the level falls from 4420 to 2085 ADU in 300 s (18.4 to 19.2 magnitudes per
    square arcsecond in r), and the sky's gradient, brightest towards the Moon, weakens from
    1.8 % to 1.1 % across the chip while its direction turns by 45 degrees. The gradient is a
    plane, simulated (like Example 2's) as the product of a row ramp and a column ramp. It
    is light of the sky, so :func:`true_flat` leaves it out; a sky flat made of these frames
    records the average gradient unless it is fitted and removed.

    Parameters
    ----------
    index : int
        0-based frame index (the same for the dithered and the tracked frames).

    Returns
    -------
    Sky
        Named tuple ``level`` (ADU), ``amplitude`` (fraction), ``angle`` (degrees).

    Raises
    ------
    ValueError
        If ``index`` is out of range.
    """
    index = _check_index(EXAMPLE3, index)
    hours = _hours_since_first(index)
    amplitude = _NIGHT_GRADIENT[0] + _NIGHT_GRADIENT[1] * hours
    angle = _NIGHT_ANGLE[0] + _NIGHT_ANGLE[1] * hours
    return Sky(EXAMPLE3_SKY_LEVELS[index], amplitude, angle)


def _night_field() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the row, column and r magnitude of example 3's stars (brightest first).

    Coordinates are those of the undithered chip; the field reaches :data:`_NIGHT_MARGIN`
    pixels beyond its edges, so that the dithered frames are filled to their edges.
    """
    rng = _rng(EXAMPLE3.number, -1, _STREAM_STARS)
    nrow, ncol = EXAMPLE3_SHAPE
    size = (nrow + 2 * _NIGHT_MARGIN, ncol + 2 * _NIGHT_MARGIN)
    area_deg2 = size[0] * size[1] * (EXAMPLE3_PIXEL_SCALE / 3600) ** 2
    lo, hi = _NIGHT_MAGNITUDES
    slope = _NIGHT_COUNT_SLOPE
    mean = _NIGHT_COUNT_AT_15 * area_deg2 * (10 ** (slope * (hi - 15)) - 10 ** (slope * (lo - 15)))
    n = int(rng.poisson(mean))
    # Inverse of the cumulative count, as for Example 2's field.
    a, b = 10 ** (slope * lo), 10 ** (slope * hi)
    magnitude = np.log10(a + rng.uniform(0, 1, n) * (b - a)) / slope
    row = rng.uniform(-_NIGHT_MARGIN, nrow - 1 + _NIGHT_MARGIN, n)
    col = rng.uniform(-_NIGHT_MARGIN, ncol - 1 + _NIGHT_MARGIN, n)
    bright = np.array(_NIGHT_BRIGHT, dtype=np.float64)
    row = np.concatenate([bright[:, 0], row])
    col = np.concatenate([bright[:, 1], col])
    magnitude = np.concatenate([bright[:, 2], magnitude])
    order = np.argsort(magnitude, kind="stable")
    return row[order], col[order], magnitude[order]


def example3_sources(index: int, *, tracked: bool = False) -> Sources:
    """Return the stars and galaxies of frame ``index`` of example 3.

    One patch of sky is in every frame: 2077 stars from r = 5.9 to 20.5 (their number grows
    by a factor of 10**0.3 per magnitude) over an area a little larger than the chip, some
    1680 of them on the chip in any one frame, and five galaxies of r = 10.8 to 13.6. In
    the dithered frames the telescope points differently each time
    (:data:`EXAMPLE3_DITHERS`), so each source lands on different pixels in every frame; in
    the tracked variant it stays put but for a drift of under a pixel
    (:data:`EXAMPLE3_TRACKED_OFFSETS`). The star images are Moffat profiles (beta = 2.5,
    broad wings) whose FWHM, 2.2 to 2.9 binned pixels (1.7 to 2.2 arcsec), changes with the
    seeing from frame to frame. Every star brighter than r = 13.5 or so saturates in 300 s;
    the two brightest (r = 5.9 and 6.5) also bleed along their columns, and the third
    (r = 7.0) does in the best seeing.

    Parameters
    ----------
    index : int
        0-based frame index.
    tracked : bool, optional
        Return the sources of the tracked variant's frame rather than the dithered one's.

    Returns
    -------
    Sources
        Named tuple of ``stars`` (:class:`Stars`: ``peak`` and ``flux`` in ADU in this
        frame, on pixels of median response), ``galaxies`` (:class:`Galaxies`) and the
        frame's ``offset``.

    Raises
    ------
    ValueError
        If ``index`` is out of range or ``tracked`` is not a bool.
    """
    index = _check_index(EXAMPLE3, index)
    tracked = _check_tracked(tracked)
    drow, dcol = (EXAMPLE3_TRACKED_OFFSETS if tracked else EXAMPLE3_DITHERS)[index]
    exptime = EXAMPLE3_EXPTIMES[index]
    row, col, magnitude = _night_field()
    flux = 10 ** (0.4 * (_ZERO_POINT - magnitude)) * exptime
    fwhm = np.full(row.size, _NIGHT_FWHM[index])
    alpha = fwhm / (2 * np.sqrt(2 ** (1 / _NIGHT_BETA) - 1))
    peak = flux * (_NIGHT_BETA - 1) / (np.pi * alpha**2)
    stars = Stars(row + drow, col + dcol, peak, fwhm, flux, magnitude)
    g = np.array(_NIGHT_GALAXIES, dtype=np.float64).T
    galaxies = Galaxies(
        row=g[0] + drow,
        col=g[1] + dcol,
        flux=10 ** (0.4 * (_ZERO_POINT - g[2])) * exptime,
        magnitude=g[2],
        radius=g[3],
        sersic=g[4],
        axis_ratio=g[5],
        angle=g[6],
    )
    return Sources(stars, galaxies, (float(drow), float(dcol)))


def _source_image(index: int, tracked: bool) -> np.ndarray:
    """Return the noiseless light of the stars and galaxies of a frame (float32, ADU)."""
    sources = example3_sources(index, tracked=tracked)
    image = np.zeros(EXAMPLE3_SHAPE, dtype=np.float32)
    _add_galaxies(
        image,
        sources.galaxies,
        _NIGHT_FWHM[index],
        floor=_NIGHT_PROFILE_FLOOR,
        max_reach=_NIGHT_GALAXY_REACH,
    )
    _add_night_stars(
        image,
        sources.stars,
        beta=_NIGHT_BETA,
        floor=_NIGHT_PROFILE_FLOOR,
        small_star=_NIGHT_SMALL_STAR,
    )
    return image


def example3_source_image(index: int, *, tracked: bool = False) -> np.ndarray:
    """Return the noiseless light of the stars and galaxies in frame ``index`` of example 3.

    The sources of :func:`example3_sources` (the same arguments, the same errors) drawn as
    their light arrives at the chip, before the response: the frame holds
    ``(sky + this) * true_flat(3, "r")``, then bleeding, noise and cosmic rays, capped at
    :data:`EXAMPLE3_SATURATE`. Each source is drawn out to where it falls below 0.2 ADU
    (about 1/200 of the sky's noise per pixel), so ``image > t`` for a small ``t`` marks the
    pixels that hold source light; bleed trails are not in it.

    Returns
    -------
    numpy.ndarray
        float32, shape :data:`EXAMPLE3_SHAPE`, ADU; 0 where no source contributes.
    """
    index = _check_index(EXAMPLE3, index)
    return _source_image(index, _check_tracked(tracked))


def response_maps(filters: Sequence[str]) -> dict[str, np.ndarray]:
    """Build the example 3 response map (float32) if ``filters`` holds "r" (it is r only).

    Example 2's map binned 2 x 2, normalised to median 1: a binned pixel collects the charge
    of 2 x 2 pixels, so its response is their mean response.
    """
    if not filters:
        return {}
    fine = example2.response_maps(filters)["r"]
    nrow, ncol = EXAMPLE3_SHAPE
    binned = fine.reshape(nrow, 2, ncol, 2).sum(axis=(1, 3), dtype=np.float64)
    del fine
    binned /= 4.0
    binned /= np.median(binned)
    return {"r": binned.astype(np.float32)}


def noiseless_frame(
    index: int, response: np.ndarray, response_median: float, *, tracked: bool = False
) -> np.ndarray:
    """Return frame ``index`` without noise: sky and sources, bled (see :mod:`.examples`)."""
    sky = example3_sky(index)
    ramp_r, ramp_c = _ramps(EXAMPLE3_SHAPE, sky.amplitude, sky.angle)
    ramp_r *= np.float32(sky.level)
    frame = _source_image(index, tracked)
    for start in range(0, EXAMPLE3_SHAPE[0], _ROW_BLOCK):
        stop = start + _ROW_BLOCK
        block = frame[start:stop]
        block += ramp_r[start:stop, None] * ramp_c[None, :]
        block *= response[start:stop]
    _bleed(frame, example3_sources(index, tracked=tracked).stars, EXAMPLE3_CAMERA)
    return frame
