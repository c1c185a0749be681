"""Example 2: ten twilight flats in r of a front-side illuminated CCD (Andor Aspen CG16M).

A thermo-electrically cooled Andor Aspen CG16M camera (KAF-16803 sensor, 9 micron pixels)
on a 0.6 m f/8 reflector. This module holds the example's camera (:data:`EXAMPLE2_CAMERA`,
which Example 3 bins 2 x 2) and record (:data:`EXAMPLE2`), its constants, its dust donuts
(:func:`example2_donuts`), its star field (:func:`example2_stars`), the twilight sky's
gradient (:func:`example2_sky_gradient`), its response map (vignetting, pixel response,
donuts, defects), and its noiseless frames (the builders of :mod:`example_data.examples`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from example_data.camera import (
    _ROW_BLOCK,
    _STREAM_DONUTS,
    _STREAM_MAP,
    _STREAM_STARS,
    _SUBSAMPLE,
    Camera,
    Example,
    _check_index,
    _rng,
)
from example_data.maps import _apply_defects, _colour_ramps, _multiply_ring, _place, _ramps
from example_data.sources import _add_stars, _moffat_alpha
from example_data.truth import Donuts, Stars

EXAMPLE2_SHAPE = (4096, 4096)
"""Shape (rows, columns) of an example 2 frame."""
EXAMPLE2_FILES = tuple(f"AutoFlat-PANoRot-r-Bin1-{i:03d}.fit" for i in range(1, 11))
"""File names of the example 2 frames, in order."""
EXAMPLE2_EXPTIMES = (1.0, 1.0, 1.0, 1.0, 1.0, 1.04, 1.08, 1.12, 1.16, 1.21)
"""Exposure time (s) of each example 2 frame.

The camera's automatic sequence keeps the exposure at its 1 s minimum while the sky is too
bright (frames 1 to 5, whose level falls), then lengthens it to hold the level (frames 6 to
10)."""
EXAMPLE2_MEDIANS = (
    45892.0,
    44226.0,
    43129.0,
    41496.0,
    39872.0,
    39020.0,
    38818.0,
    38864.0,
    38823.0,
    38662.0,
)
"""Target median (ADU) of each example 2 frame."""
EXAMPLE2_DATE_OBS = (
    "2022-03-14T01:02:11.250",
    "2022-03-14T01:02:27.830",
    "2022-03-14T01:02:44.420",
    "2022-03-14T01:03:01.010",
    "2022-03-14T01:03:17.600",
    "2022-03-14T01:03:34.190",
    "2022-03-14T01:03:50.820",
    "2022-03-14T01:04:07.490",
    "2022-03-14T01:04:24.200",
    "2022-03-14T01:04:40.950",
)
"""DATE-OBS (UTC, start of exposure) of each example 2 frame."""
EXAMPLE2_STAR_FRAMES = tuple(range(10))
"""Indices (0-based) of the example 2 frames that contain stars: all of them, one star field."""
EXAMPLE2_DITHERS = (
    (0, 0),
    (41, -27),
    (-18, 55),
    (63, 24),
    (-49, -38),
    (22, 71),
    (-66, 12),
    (35, -60),
    (-29, 33),
    (57, -14),
)
"""Offset (rows, columns) of the star field in each example 2 frame, in pixels.

The telescope tracks during each exposure and is moved by a few tens of arcseconds (tens of
pixels, at 0.39 arcsec per pixel) between exposures, a dither, so a star never falls on the
same pixels twice."""

EXAMPLE2_CAMERA = Camera(
    name="Andor Aspen CG16M: KAF-16803, front-side illuminated CCD, thermo-electrically cooled",
    shape=EXAMPLE2_SHAPE,
    binning=1,
    pixel_um=9.0,
    gain=1.5,
    read_noise=10.0,
    saturate=64000.0,  # the converter's limit, in the calibrated frames
    readout_s=15.0,
    depth_um=25.0,  # the thicker collecting layer of a front-illuminated chip
    diffusion_px=0.45,
    defect_counts=(2, 40, 250),
    full_well_e=100_000.0,
    drain_factor=100.0,  # an order of magnitude for lateral overflow drains, not measured
    identity=(
        ("INSTRUME", "Andor Aspen CG16M", "Camera"),
        ("TELESCOP", "0.6 m f/8 reflector", "Telescope"),
        ("DETECTOR", "KAF-16803", "Front-illuminated CCD sensor"),
    ),
    temperature=("CCD-TEMP", -25.0, "[C] Sensor temperature (TE cooled)"),
    writes_exposure=True,
    writes_binning=True,
)
"""The camera of example 2: an Andor Aspen CG16M (KAF-16803) on a 0.6 m f/8 reflector."""

EXAMPLE2 = Example(
    number=2,
    camera=EXAMPLE2_CAMERA,
    files=EXAMPLE2_FILES,
    filters=("r",) * len(EXAMPLE2_FILES),
    exptimes=EXAMPLE2_EXPTIMES,
    date_obs=EXAMPLE2_DATE_OBS,
    medians=EXAMPLE2_MEDIANS,
    imagetyp="FLAT",
    object="AutoFlat",
)
"""Example 2: its camera and frames."""

_N_DONUTS = 18
_DONUT_OBSTRUCTION = 0.42  # inner radius / outer radius of a donut
# Dust: particles of 25 to 60 microns radius.  The shadow's depth is the particle's area over
# the area of the annular beam where the particle sits, pi R**2 (1 - obstruction**2), with R
# the donut's radius: far from the chip, the beam is wide, the shadow large and shallow.
_DUST_RADIUS_UM = (25.0, 60.0)


def example2_donuts() -> Donuts:
    """Return the dust donuts of the example 2 camera.

    A dust particle on a window or filter in front of the sensor is far out of focus, so it
    casts a ring-shaped shadow: the image of the telescope's annular pupil, with an
    unshadowed hole where the central obstruction is. At f/8 a donut of radius R pixels
    comes from dust 16 R pixels (of 9 microns) in front of the sensor, 3 mm to 17 mm here.
    The farther the dust, the wider the beam it sits in, so the larger and shallower its
    shadow: the depth is the particle's cross-section over the beam's, which falls as
    1 / R² (for dust particles of 25 to 60 microns radius).

    Returns
    -------
    Donuts
        Named tuple of arrays ``row``, ``col``, ``radius``, ``inner_radius``, ``depth``, one
        element per donut, the same on every call. Radii range from about 20 to 120 pixels,
        depths from 13 % (a small donut) to 0.2 % (the largest ones).
    """
    rng = _rng(EXAMPLE2.number, -1, _STREAM_DONUTS)
    # Several sizes: spread evenly in log radius, in shuffled order.
    radius = np.exp(np.linspace(np.log(20.0), np.log(120.0), _N_DONUTS))
    radius = radius * rng.uniform(0.95, 1.0, _N_DONUTS)
    radius = radius[rng.permutation(_N_DONUTS)]
    dust = np.exp(rng.uniform(*np.log(_DUST_RADIUS_UM), _N_DONUTS))
    beam = (radius * EXAMPLE2_CAMERA.pixel_um) ** 2 * (1 - _DONUT_OBSTRUCTION**2)
    depth = dust**2 / beam
    row, col = _place(rng, radius, EXAMPLE2_SHAPE, margin=60.0, gap=60.0)
    return Donuts(row, col, radius, radius * _DONUT_OBSTRUCTION, depth)


# The star field of Example 2.  The camera on a 0.6 m f/8 reflector (0.39 arcsec per pixel,
# a field of 26 arcmin, 0.19 square degrees) collects 10**(0.4 * (21.9 - r)) ADU per second
# from a star of magnitude r (r = 0: about 1.2e10 photons per second per m^2 through an SDSS
# r filter, 0.23 m^2 of clear aperture, 0.35 overall efficiency, 1.5 e-/ADU).  The twilight
# sky of 40 000 ADU per second per pixel is then about 8.3 mag per square arcsec.  Stars are
# counted as at a moderate galactic latitude: some 50 fainter than r = 9 down to r = 15,
# their number growing by a factor of 10**0.32 per magnitude, so about 5 brighter than 12.
# Two bright stars (r = 6.5 and 7.0) are added, more than a random field of this size holds
# on average, so that the frames show what saturated stars do to a flat.
_ZERO_POINT = 21.9
_FIELD_STARS = 55
_FIELD_MAGNITUDES = (9.0, 15.0)
_COUNT_SLOPE = 0.32  # d log10 N / d magnitude
_BRIGHT_STARS = (6.5, 7.0)
_MOFFAT_BETA = 2.8  # star images have Moffat profiles: a core with broad wings
_STAR_MARGIN = 150.0  # pixels between the field's stars and the chip's edges, before dithers


def _star_field() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the row, column and r magnitude of the field's stars (brightest first)."""
    rng = _rng(EXAMPLE2.number, -1, _STREAM_STARS)
    lo, hi = (10 ** (_COUNT_SLOPE * m) for m in _FIELD_MAGNITUDES)
    # Inverse of the cumulative count N(< m), proportional to 10**(slope * m) - 10**(slope * lo).
    field = np.log10(lo + rng.uniform(0, 1, _FIELD_STARS) * (hi - lo)) / _COUNT_SLOPE
    magnitude = np.sort(np.concatenate([_BRIGHT_STARS, field]))
    n = magnitude.size
    row = rng.uniform(_STAR_MARGIN, EXAMPLE2_SHAPE[0] - 1 - _STAR_MARGIN, n)
    col = rng.uniform(_STAR_MARGIN, EXAMPLE2_SHAPE[1] - 1 - _STAR_MARGIN, n)
    return row, col, magnitude


def example2_stars(index: int) -> Stars:
    """Return the stars in frame ``index`` of example 2.

    One star field is in every twilight frame: 57 stars from r = 6.5 to 15. A star's counts
    grow with the exposure time (from 1 s to 1.21 s) while the sky fades: only its contrast
    against the sky changes. The field is dithered between frames (:data:`EXAMPLE2_DITHERS`),
    so a star never falls on the same pixels twice, which is what lets rejection remove it.
    The images are Moffat profiles (beta = 2.8) with a FWHM of 3.6 to 4.6 pixels (1.4 to 1.8
    arcsec) that changes from frame to frame with the seeing. Against a sky of about 40 000
    ADU, whose noise is 160 ADU per pixel, only the six stars brighter than r = 12 stand out:
    two bright ones, which saturate, and four with peaks of about 300 to 1200 ADU.

    Parameters
    ----------
    index : int
        0-based frame index (position in :data:`EXAMPLE2_FILES`).

    Returns
    -------
    Stars
        Named tuple of arrays ``row``, ``col``, ``peak``, ``fwhm``, ``flux``, ``magnitude``,
        one element per star, brightest first; ``peak`` and ``flux`` are in ADU in this
        frame, on pixels of median response (the frame multiplies them by
        :func:`true_flat`).

    Raises
    ------
    ValueError
        If ``index`` is out of range.
    """
    index = _check_index(EXAMPLE2, index)
    row, col, magnitude = _star_field()
    flux = 10 ** (0.4 * (_ZERO_POINT - magnitude)) * EXAMPLE2_EXPTIMES[index]
    fwhm = np.full(row.size, 3.6 + 0.25 * ((3 * index) % 5))  # the seeing changes a little
    peak = flux * (_MOFFAT_BETA - 1) / (math.pi * _moffat_alpha(fwhm, _MOFFAT_BETA) ** 2)
    drow, dcol = EXAMPLE2_DITHERS[index]
    return Stars(row + drow, col + dcol, peak, fwhm, flux, magnitude)


# The twilight sky is brightest towards the set Sun.  Across this 26 arcmin field that is a
# plane of 1.2 % at the first frame.  In the 2.5 minutes of the sequence the Sun sinks by
# half a degree: the sky fades by almost a third, and its gradient steepens a little (3 % of
# itself per minute).  The Sun's azimuth changes by only 0.14 degree per minute at sunset (at
# 35 degrees north in March), and so does the gradient's direction.
_SKY_AMPLITUDE = 0.012
_SKY_GROWTH_PER_MINUTE = 0.03
_SKY_ANGLE = 35.0
_SKY_TURN_PER_MINUTE = 0.15


def _minutes_since_first(index: int) -> float:
    """Return the minutes between the starts of example 2's first frame and frame ``index``."""
    first, this = (datetime.fromisoformat(EXAMPLE2_DATE_OBS[i]) for i in (0, index))
    return (this - first).total_seconds() / 60


def example2_sky_gradient(index: int) -> tuple[float, float]:
    """Return the twilight-sky gradient of frame ``index`` of example 2.

    The sky gradient is (to first order) a plane
    ``1 + amplitude * (cos(angle) * x + sin(angle) * y)``, with ``x`` and ``y`` running from
    -0.5 to 0.5 across the columns and rows; it is simulated as the product of a row ramp and
    a column ramp, which differs from the plane by less than 0.01 %. The sky is brightest
    towards the set Sun. With ``t`` the minutes since the first frame started, the amplitude
    is ``0.012 * (1 + 0.03 t)`` (1.20 % to 1.29 %: the gradient steepens slowly as the Sun
    sinks) and the direction ``35 + 0.15 t`` degrees (it turns as slowly as the Sun's
    azimuth, 0.4 degree over the sequence). The gradient is light of the sky, not part of
    the telescope's response, so :func:`true_flat` leaves it out.

    Parameters
    ----------
    index : int
        0-based frame index.

    Returns
    -------
    amplitude : float
        Fractional change of the sky level across the chip along the gradient direction.
    angle : float
        Direction of increasing sky brightness, degrees counter-clockwise from the +column
        axis towards the +row axis.
    """
    index = _check_index(EXAMPLE2, index)
    minutes = _minutes_since_first(index)
    amplitude = _SKY_AMPLITUDE * (1 + _SKY_GROWTH_PER_MINUTE * minutes)
    return amplitude, _SKY_ANGLE + _SKY_TURN_PER_MINUTE * minutes


_EXAMPLE2_PIXEL = 0.007  # pixel-to-pixel response of the front-side illuminated chip
_OPTICAL_AXIS = (2110.0, 1995.0)  # (row, column) where the optical axis meets the chip
_AXIS_NORMALISED = tuple(
    (a - (n - 1) / 2) / ((n - 1) / 2) for a, n in zip(_OPTICAL_AXIS, EXAMPLE2_SHAPE, strict=True)
)


def _pixel_response() -> np.ndarray:
    """Return the chip's pixel-to-pixel response (float32), without its defects."""
    rng = _rng(EXAMPLE2.number, -1, _STREAM_MAP)
    sens = rng.standard_normal(EXAMPLE2_SHAPE, dtype=np.float32)
    sens *= np.float32(_EXAMPLE2_PIXEL)
    sens += np.float32(1.0)
    return sens


def _vignetting() -> tuple[np.ndarray, np.ndarray]:
    """Return the row and column factors (float32) of the vignetting."""
    # exp(-k r^2) is separable: exp(-k y^2) * exp(-k x^2). The optical axis is a little
    # off-centre; with k = 0.053 the corners are 8 % to 12 % darker than the axis.
    nrow, ncol = EXAMPLE2_SHAPE
    k = -math.log(0.9) / 2
    y = (np.arange(nrow) - _OPTICAL_AXIS[0]) / (nrow / 2)
    x = (np.arange(ncol) - _OPTICAL_AXIS[1]) / (ncol / 2)
    return np.exp(-k * y**2).astype(np.float32), np.exp(-k * x**2).astype(np.float32)


def _shadows(sens: np.ndarray) -> None:
    """Multiply ``sens`` in place by the shadows of the dust donuts."""
    for r, c, radius, inner, depth in zip(*example2_donuts(), strict=True):
        _multiply_ring(sens, r, c, radius, depth, width=max(1.5, 0.04 * radius), inner=inner)


def response_maps(filters: Sequence[str], *, columns: bool = True) -> dict[str, np.ndarray]:
    """Build the example 2 response map (float32) if ``filters`` holds "r" (it is r only).

    Pixel-to-pixel response variations (0.7 % rms), vignetting (a smooth radial fall-off,
    about 10 % in the corners, centred slightly off the chip's centre), dust donuts and the
    chip's defects (``columns=False``: without its low columns), in twilight's light.
    """
    if not filters:
        return {}
    sens = _pixel_response()
    ramp_r, ramp_c = _vignetting()
    sens *= ramp_r[:, None]
    sens *= ramp_c[None, :]
    _shadows(sens)
    _apply_defects(sens, EXAMPLE2, columns=columns)
    return {"r": sens}


def truth_map(light: str, part: str) -> np.ndarray:
    """Return the response (float32) of ``part`` of the telescope and chip in ``light``.

    ``"pixels"``: the chip's own response; ``"illumination"``: the light the optics bring
    to each pixel (vignetting, dust shadows, the colour term of
    :func:`~example_data.maps._colour_ramps`); ``"all"``: their product.
    """
    if part == "pixels":
        sens = _pixel_response()
        _apply_defects(sens, EXAMPLE2)
        return sens
    if part == "illumination":
        sens = np.ones(EXAMPLE2_SHAPE, dtype=np.float32)
        ramp_r, ramp_c = _vignetting()
        sens *= ramp_r[:, None]
        sens *= ramp_c[None, :]
        _shadows(sens)
    else:
        sens = response_maps(["r"])["r"]
    if light != "twilight":
        ramp_r, ramp_c = _colour_ramps(EXAMPLE2_SHAPE, light, "twilight", _AXIS_NORMALISED)
        sens *= ramp_r[:, None]
        sens *= ramp_c[None, :]
    return sens


def noiseless_frame(
    index: int, response: np.ndarray, response_median: float, *, tracked: bool = False
) -> np.ndarray:
    """Return frame ``index`` without noise: twilight sky and stars (see :mod:`.examples`)."""
    ramp_r, ramp_c = _ramps(EXAMPLE2_SHAPE, *example2_sky_gradient(index))
    step = _SUBSAMPLE
    sub = response[::step, ::step] * ramp_r[::step, None]
    sub *= ramp_c[None, ::step]
    level = EXAMPLE2_MEDIANS[index] / float(np.median(sub))
    del sub
    ramp_r = ramp_r * np.float32(level)
    frame = np.empty(EXAMPLE2_SHAPE, dtype=np.float32)
    for start in range(0, EXAMPLE2_SHAPE[0], _ROW_BLOCK):
        stop = start + _ROW_BLOCK
        block = frame[start:stop]
        np.multiply(response[start:stop], ramp_r[start:stop, None], out=block)
        block *= ramp_c[None, :]
    _add_stars(frame, example2_stars(index), response, 1 / response_median, _MOFFAT_BETA)
    return frame
