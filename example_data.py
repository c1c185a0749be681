"""Simulated, already calibrated flat frames for the course's two worked examples.

The notebooks of this course combine flat frames. Rather than downloading about 900 MB of
real data, they call this module, which *simulates* the frames deterministically: the same
call writes bit-identical files on every run with the pinned dependencies (another processor
or NumPy version may differ in the last bit of a few pixels), so every number a notebook
prints is reproducible.

Example 1
    Six dome flats of a cryogenically cooled, thinned, back-side illuminated CCD, modelled on
    chip 0 of the Large Format Camera (LFC) at Palomar's 200-inch telescope: three in g' and
    three in i'. Files ``ccd.037.0.fits`` ... (frame number, chip number).
Example 2
    Ten twilight flats in r of a thermo-electrically cooled, front-side illuminated CCD,
    modelled on an Andor Aspen CG16M camera (KAF-16803 sensor). Files
    ``AutoFlat-PANoRot-r-Bin1-001.fit`` ... ``-010.fit``.

The frames are *calibrated*: bias and dark current have already been removed, so the pixel
values are the light collected, in ADU.

How a frame is made
-------------------
Each camera has a fixed sensitivity map (illumination times detector response), built once
per call in float32. A frame is ``level * map`` (times, for example 2, a twilight-sky gradient
that drifts from frame to frame), with the level chosen so that the frame's median matches
the real data the example is modelled on. Stars (example 2: one dithered field in every
frame, Moffat profiles, a few saturated) are added in small boxes. Noise is then added:
photon (shot) noise from the gain and read noise, drawn as *one* Gaussian per pixel with
variance ``signal / gain + (read_noise / gain) ** 2`` (ADU²). At these signal levels
(thousands of electrons per pixel) the Gaussian approximation of the
Poisson distribution is excellent. Cosmic rays (1.6 per cm^2 per minute on both chips,
during the exposure and, for example 2, the readout) are added last; example 2 is capped at
its saturation level.

What is not modelled: non-linearity (the KAF-16803 departs from linearity by a few tenths
of a per cent above about 40 000 ADU, where Example 2's first frames lie), bad columns and
hot or dead pixels, the shading of an iris shutter in one-second exposures, and colour
differences between the flat's light and the night sky's.

Every random number comes from :func:`numpy.random.default_rng` seeded with a fixed base seed,
the example number, the frame index and a stream number, so a frame does not depend on
which other frames are generated, in which order, or on which thread.

Writing is safe: each file is written under a temporary name in the destination folder and
renamed into place only when complete (with `_flat_engine.write_atomically`, the writer of
the helper module too), and a file with an expected name that this module did not write is
never overwritten (a :class:`ValueError` is raised instead).  Every frame carries the FITS
checksums, so a frame of ours that was truncated or altered is recognised and written again.

Use :func:`ensure_example_data` (or :func:`ensure_example1` / :func:`ensure_example2`) from a
notebook, or pre-generate from a shell::

    python -m example_data                         # both examples, default folders
    python -m example_data --example 2 --folder DIR
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
from astropy.io import fits
from astropy.time import Time

import _flat_engine as _engine

__all__ = [
    "EXAMPLE1_DATE_OBS",
    "EXAMPLE1_EXPTIMES",
    "EXAMPLE1_FILES",
    "EXAMPLE1_FILTERS",
    "EXAMPLE1_GAIN",
    "EXAMPLE1_MEDIANS",
    "EXAMPLE1_READ_NOISE",
    "EXAMPLE1_SHAPE",
    "EXAMPLE2_DATE_OBS",
    "EXAMPLE2_DITHERS",
    "EXAMPLE2_EXPTIMES",
    "EXAMPLE2_FILES",
    "EXAMPLE2_GAIN",
    "EXAMPLE2_MEDIANS",
    "EXAMPLE2_READ_NOISE",
    "EXAMPLE2_SATURATE",
    "EXAMPLE2_SHAPE",
    "EXAMPLE2_STAR_FRAMES",
    "Donuts",
    "Spots",
    "Stars",
    "default_folder",
    "ensure_example1",
    "ensure_example2",
    "ensure_example_data",
    "example1_spots",
    "example2_donuts",
    "example2_sky_gradient",
    "example2_stars",
    "example_files",
    "example_medians",
    "main",
    "make_example",
    "make_example1",
    "make_example2",
    "true_flat",
]

# --------------------------------------------------------------------------------------------
# Constants describing the two examples
# --------------------------------------------------------------------------------------------

#: Version of the simulation recipe, written to the header as ``SIMVERS``.
SIMULATION_VERSION = 4
_BASE_SEED = 20_240_917

EXAMPLE1_SHAPE = (4128, 2048)
"""Shape (rows, columns) of an example 1 frame."""
EXAMPLE1_FILES = (
    "ccd.037.0.fits",
    "ccd.038.0.fits",
    "ccd.039.0.fits",
    "ccd.043.0.fits",
    "ccd.044.0.fits",
    "ccd.045.0.fits",
)
"""File names of the example 1 frames, in order (frame number, chip 0)."""
EXAMPLE1_FILTERS = ("g'", "g'", "g'", "i'", "i'", "i'")
"""Filter of each example 1 frame."""
EXAMPLE1_EXPTIMES = (70.0, 70.0, 70.0, 7.0, 7.0, 7.0)
"""Exposure time (s) of each example 1 frame."""
EXAMPLE1_MEDIANS = (20173.0, 20169.0, 20157.0, 21026.0, 21042.0, 21058.0)
"""Target median (ADU) of each example 1 frame."""
EXAMPLE1_DATE_OBS = (
    "2003-02-04T01:14:05.000",
    "2003-02-04T01:15:52.000",
    "2003-02-04T01:17:39.000",
    "2003-02-04T01:26:12.000",
    "2003-02-04T01:27:01.000",
    "2003-02-04T01:27:50.000",
)
"""DATE-OBS (UTC, start of exposure) of each example 1 frame."""
EXAMPLE1_GAIN = 2.0
"""Gain of the example 1 camera, e-/ADU."""
EXAMPLE1_READ_NOISE = 8.0
"""Read noise of the example 1 camera, e-."""
# Cosmic rays: one rate per area for both cameras, 1.6 hits per cm^2 per minute (secondary
# muons at the ground, a little more at a mountain observatory, plus the odd radioactive
# decay).  Example 1's chip (4128 x 2048 pixels of 15 micron, 19.0 cm^2) then collects
# 0.51 per second; Example 2's (4096 x 4096 of 9 micron, 13.6 cm^2) 0.36 per second.  The
# Aspen's pixels keep collecting while the frame is read out (about 15 s, the spacing of
# the frames), which dominates its one-second exposures; the LFC's readout is not modelled.
_CR_RATE_PER_CM2_MINUTE = 1.6
_EXAMPLE1_CR_RATE = _CR_RATE_PER_CM2_MINUTE / 60 * 4128 * 2048 * 0.0015**2  # per second
_EXAMPLE2_CR_RATE = _CR_RATE_PER_CM2_MINUTE / 60 * 4096 * 4096 * 0.0009**2  # per second
_EXAMPLE2_READOUT = 15.0  # seconds during which hits still land after the exposure

EXAMPLE2_SHAPE = (4096, 4096)
"""Shape (rows, columns) of an example 2 frame."""
EXAMPLE2_FILES = tuple(f"AutoFlat-PANoRot-r-Bin1-{i:03d}.fit" for i in range(1, 11))
"""File names of the example 2 frames, in order."""
EXAMPLE2_EXPTIMES = (1.0, 1.0, 1.0, 1.0, 1.0, 1.04, 1.08, 1.12, 1.16, 1.21)
"""Exposure time (s) of each example 2 frame (longer as the twilight sky fades)."""
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
pixels) between exposures, a dither, so a star never falls on the same pixels twice."""
EXAMPLE2_GAIN = 1.5
"""Gain of the example 2 camera, e-/ADU."""
EXAMPLE2_READ_NOISE = 10.0
"""Read noise of the example 2 camera, e-."""
EXAMPLE2_SATURATE = 64000.0
"""Saturation level (ADU) of the calibrated example 2 frames; no pixel exceeds it."""

_SHAPES = {1: EXAMPLE1_SHAPE, 2: EXAMPLE2_SHAPE}
_FILES = {1: EXAMPLE1_FILES, 2: EXAMPLE2_FILES}
_MEDIANS = {1: EXAMPLE1_MEDIANS, 2: EXAMPLE2_MEDIANS}
_FOLDER_NAMES = {1: "example1-reduced", 2: "example2-reduced"}

# Random streams: every piece of randomness has its own seed (base seed, example, frame, stream).
_STREAM_MAP = 0  # fixed sensitivity features of a camera (frame index -1)
_STREAM_NOISE = 1
_STREAM_COSMICS = 2
_STREAM_STARS = 3
_STREAM_SPOTS = 4
_STREAM_DONUTS = 5

_ROW_BLOCK = 128  # rows processed at a time in per-frame loops (keeps temporaries small)
_SUBSAMPLE = 4  # step of the subsample used to measure a noiseless model's median
_WORKERS = 2  # frames generated in parallel; results do not depend on this

_HISTORY = (
    "Simulated by the example_data module of the combining-flats course,",
    "not a real observation. Already calibrated: bias and dark removed.",
)


def _rng(example: int, index: int, stream: int) -> np.random.Generator:
    """Return the random generator of one stream of one frame (index -1: the camera)."""
    return np.random.default_rng([_BASE_SEED, example, index + 1, stream])


# --------------------------------------------------------------------------------------------
# Truth tables
# --------------------------------------------------------------------------------------------


class Spots(NamedTuple):
    """Dark spots of example 1 (uneven thinning), one array element per spot.

    Attributes
    ----------
    row, col : numpy.ndarray of int
        Pixel coordinates (0-based row and column) of the spot centres.
    diameter : numpy.ndarray of float
        Spot diameters in pixels (full width where the depth has fallen to half).
    depth : numpy.ndarray of float
        Fractional depth in the requested filter: 0.05 means the sensitivity at the
        centre is 5 % lower than around the spot.
    """

    row: np.ndarray
    col: np.ndarray
    diameter: np.ndarray
    depth: np.ndarray


class Donuts(NamedTuple):
    """Dust donuts of example 2, one array element per donut.

    Attributes
    ----------
    row, col : numpy.ndarray of int
        Where each donut is centred: 0-based row and column.
    radius : numpy.ndarray of float
        Outer radius in pixels (where the shadow has fallen to half depth).
    inner_radius : numpy.ndarray of float
        Radius of the unshadowed hole in the middle (the telescope's central obstruction).
    depth : numpy.ndarray of float
        Fractional depth of the shadow in the ring between ``inner_radius`` and ``radius``.
    """

    row: np.ndarray
    col: np.ndarray
    radius: np.ndarray
    inner_radius: np.ndarray
    depth: np.ndarray


class Stars(NamedTuple):
    """Stars in one example 2 frame, one array element per star.

    Attributes
    ----------
    row, col : numpy.ndarray of float
        Sub-pixel coordinates (0-based row and column) of the star centres.
    peak : numpy.ndarray of float
        Peak of the star above the sky in ADU, before noise and before the frame is capped
        at :data:`EXAMPLE2_SATURATE` (stars with ``sky + peak`` above it are saturated).
    fwhm : numpy.ndarray of float
        Full width at half maximum of the (Gaussian) star image in pixels.
    """

    row: np.ndarray
    col: np.ndarray
    peak: np.ndarray
    fwhm: np.ndarray


_SPOT_DEPTH_RATIO_I = 0.35  # i' spots are shallower: red light is absorbed deeper in silicon
_N_SPOTS = 40
_N_DONUTS = 18
_DONUT_OBSTRUCTION = 0.42  # inner radius / outer radius of a donut


def _place(
    rng: np.random.Generator,
    sizes: np.ndarray,
    shape: tuple[int, int],
    margin: float,
    gap: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Place non-overlapping circles of radius ``sizes`` at random integer positions."""
    rows: list[int] = []
    cols: list[int] = []
    for size in sizes:
        edge = math.ceil(size + margin)
        for _ in range(10_000):
            r = int(rng.integers(edge, shape[0] - edge))
            c = int(rng.integers(edge, shape[1] - edge))
            if all(
                math.hypot(r - r2, c - c2) > size + s2 + gap
                for r2, c2, s2 in zip(rows, cols, sizes, strict=False)
            ):
                break
        else:  # pragma: no cover - cannot happen with the fixed sizes used here
            raise RuntimeError("could not place the simulated features without overlap")
        rows.append(r)
        cols.append(c)
    return np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64)


def example1_spots(*, filter_name: str = "g'") -> Spots:
    """Return the dark spots (uneven thinning) of the example 1 chip.

    Parameters
    ----------
    filter_name : {"g'", "i'"}, optional
        Filter whose depths to return. The spots are the same in both filters but deeper in
        g': blue light is absorbed close to the thinned back surface, where the thinning
        defects are, while red light reaches deeper into the silicon.

    Returns
    -------
    Spots
        Named tuple of arrays ``row``, ``col``, ``diameter``, ``depth``, one element per spot,
        the same on every call.

    Raises
    ------
    ValueError
        If ``filter_name`` is not "g'" or "i'".
    """
    if filter_name not in ("g'", "i'"):
        raise ValueError(f"filter_name must be g' or i', not {filter_name!r}")
    rng = _rng(1, -1, _STREAM_SPOTS)
    diameter = np.exp(rng.uniform(np.log(5.0), np.log(30.0), _N_SPOTS))
    depth = rng.uniform(0.02, 0.15, _N_SPOTS)
    row, col = _place(rng, diameter / 2, EXAMPLE1_SHAPE, margin=40.0, gap=20.0)
    if filter_name == "i'":
        depth = depth * _SPOT_DEPTH_RATIO_I
    return Spots(row, col, diameter, depth)


def example2_donuts() -> Donuts:
    """Return the dust donuts of the example 2 camera.

    A dust particle on a window or filter in front of the sensor is far out of focus, so it
    casts a ring-shaped shadow: the image of the telescope's annular pupil, with an
    unshadowed hole where the central obstruction is.

    Returns
    -------
    Donuts
        Named tuple of arrays ``row``, ``col``, ``radius``, ``inner_radius``, ``depth``, one
        element per donut, the same on every call. Radii range from about 20 to 120 pixels
        and depths from 1 % to 6 %.
    """
    rng = _rng(2, -1, _STREAM_DONUTS)
    # Several sizes: spread evenly in log radius, in shuffled order.
    radius = np.exp(np.linspace(np.log(20.0), np.log(120.0), _N_DONUTS))
    radius = radius * rng.uniform(0.95, 1.0, _N_DONUTS)
    radius = radius[rng.permutation(_N_DONUTS)]
    depth = rng.uniform(0.01, 0.06, _N_DONUTS)
    row, col = _place(rng, radius, EXAMPLE2_SHAPE, margin=60.0, gap=60.0)
    return Donuts(row, col, radius, radius * _DONUT_OBSTRUCTION, depth)


def _check_index(example: int, index: int) -> int:
    """Validate a 0-based frame index of an example and return it as an int."""
    n = len(_FILES[example])
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise TypeError(f"frame index must be an integer, not {type(index).__name__}")
    if not 0 <= index < n:
        raise ValueError(f"example {example} has frames 0 to {n - 1}; got index {index}")
    return int(index)


def example2_stars(index: int) -> Stars:
    """Return the stars in frame ``index`` of example 2.

    One star field is in every twilight frame.  A star's counts grow with the exposure time
    (from 1 s to 1.21 s), while the sky fades: only its contrast against the sky changes.
    The field is dithered between frames (:data:`EXAMPLE2_DITHERS`), so a star never falls on
    the same pixels twice, which is what lets rejection remove it.  About forty stars, from
    a few hundred ADU at their peak to a few that saturate.

    Parameters
    ----------
    index : int
        0-based frame index (position in :data:`EXAMPLE2_FILES`).

    Returns
    -------
    Stars
        Named tuple of arrays ``row``, ``col``, ``peak``, ``fwhm``, one element per star,
        brightest first; ``peak`` is the peak above the sky, in ADU, in this frame.

    Raises
    ------
    ValueError
        If ``index`` is out of range.
    """
    index = _check_index(2, index)
    rng = _rng(2, -1, _STREAM_STARS)  # the same field for every frame
    n = 40
    margin = 100.0
    row = rng.uniform(margin, EXAMPLE2_SHAPE[0] - 1 - margin, n)
    col = rng.uniform(margin, EXAMPLE2_SHAPE[1] - 1 - margin, n)
    rate = np.exp(rng.uniform(np.log(300.0), np.log(40_000.0), n))  # peak ADU per second
    rate[:3] = (60_000.0, 45_000.0, 35_000.0)  # saturated in every frame, on ~39 000 ADU of sky
    rate = -np.sort(-rate)
    drow, dcol = EXAMPLE2_DITHERS[index]
    fwhm = np.full(n, 3.6 + 0.25 * ((3 * index) % 5))  # the seeing changes a little
    return Stars(row + drow, col + dcol, rate * EXAMPLE2_EXPTIMES[index], fwhm)


def example2_sky_gradient(index: int) -> tuple[float, float]:
    """Return the twilight-sky gradient of frame ``index`` of example 2.

    The sky gradient is (to first order) a plane
    ``1 + amplitude * (cos(angle) * x + sin(angle) * y)``, with ``x`` and ``y`` running from
    -0.5 to 0.5 across the columns and rows; it is simulated as the product of a row ramp and
    a column ramp, which differs from the plane by less than 0.01 %. The sky is brightest
    towards the set Sun: the direction turns by only 0.3 degree per frame (the Sun's azimuth
    changes slowly), while the amplitude grows from 1.2 % to 1.9 % as the sky darkens.

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
    index = _check_index(2, index)
    # The sky is brightest towards the set Sun, whose azimuth moves by well under a degree
    # in the 2.5 minutes of the sequence: the direction barely turns, the amplitude grows.
    return 0.012 + 0.0008 * index, 35.0 + 0.3 * index


def default_folder(example: int) -> Path:
    """Return the default folder of an example: ``notebooks/exampleN-reduced`` here.

    Parameters
    ----------
    example : {1, 2}
        Example number.

    Returns
    -------
    pathlib.Path
        Absolute path of the folder beside this module (it may not exist yet).
    """
    example = _check_example(example)
    return Path(__file__).resolve().parent / "notebooks" / _FOLDER_NAMES[example]


def example_files(example: int) -> tuple[str, ...]:
    """Return the file names of an example's frames, in order.

    Parameters
    ----------
    example : {1, 2}
        Example number.

    Returns
    -------
    tuple of str
        :data:`EXAMPLE1_FILES` or :data:`EXAMPLE2_FILES`.
    """
    return _FILES[_check_example(example)]


def example_medians(example: int) -> tuple[float, ...]:
    """Return the target median (ADU) of each of an example's frames, in order.

    Parameters
    ----------
    example : {1, 2}
        Example number.

    Returns
    -------
    tuple of float
        :data:`EXAMPLE1_MEDIANS` or :data:`EXAMPLE2_MEDIANS`; the simulated frames' medians
        agree with these to better than 0.2 %.
    """
    return _MEDIANS[_check_example(example)]


def _check_example(example: object) -> int:
    """Validate an example number (1 or 2) and return it as an int."""
    if (
        isinstance(example, bool)
        or not isinstance(example, (int, np.integer))
        or int(example) not in (1, 2)
    ):
        raise ValueError(f"example must be 1 or 2, not {example!r}")
    return int(example)


# --------------------------------------------------------------------------------------------
# Sensitivity maps
# --------------------------------------------------------------------------------------------


def _norm_coord(n: int) -> np.ndarray:
    """Return n coordinates running from -1 to 1 (float64)."""
    return np.linspace(-1.0, 1.0, n)


def _soft_step(x: np.ndarray) -> np.ndarray:
    """Return a smooth step from 0 (x << 0) to 1 (x >> 0), 0.5 at 0 (a logistic function)."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _box(center: float, half: int, n: int) -> tuple[int, int]:
    """Return the clipped index range [lo, hi) of a box of half-width ``half`` at ``center``."""
    c = round(center)
    return max(c - half, 0), min(c + half + 1, n)


def _multiply_ring(
    image: np.ndarray,
    row: float,
    col: float,
    radius: float,
    depth: float,
    width: float,
    inner: float = 0.0,
) -> None:
    """Darken ``image`` in place by ``depth`` inside a soft-edged disk or ring."""
    half = (math.ceil(radius + 8 * width)) + 1
    r0, r1 = _box(row, half, image.shape[0])
    c0, c1 = _box(col, half, image.shape[1])
    dr = np.arange(r0, r1) - row
    dc = np.arange(c0, c1) - col
    r = np.hypot(dr[:, None], dc[None, :])
    profile = _soft_step((radius - r) / width)
    if inner > 0:
        profile *= _soft_step((r - inner) / width)
    image[r0:r1, c0:c1] *= (1.0 - depth * profile).astype(np.float32)


def _example1_maps(filters: Sequence[str]) -> dict[str, np.ndarray]:
    """Build the example 1 sensitivity map (float32) of each filter in ``filters``.

    The map is the dome illumination (a smooth, filter-dependent few-per-cent term) times the
    chip's response: pixel-to-pixel variations, faint steps between the blocks the chip's
    layout was stitched from, a cross-hatch from thinning (stronger in g'), in i' a smooth
    change of response with the membrane's thickness (and a faint residue of interference
    fringes), and dark spots where the thinning was uneven (deeper in g').
    """
    nrow, ncol = EXAMPLE1_SHAPE
    y = _norm_coord(nrow)
    x = _norm_coord(ncol)
    rows = np.arange(nrow)
    cols = np.arange(ncol)
    rng = _rng(1, -1, _STREAM_MAP)

    # Fixed per-pixel response (0.4 % rms) and stitching steps (8 blocks of 1032 x 1024 rows,
    # columns, plus 512-column sub-blocks), common to both filters.
    base = rng.standard_normal(EXAMPLE1_SHAPE, dtype=np.float32)
    base *= np.float32(0.004)
    base += np.float32(1.0)
    row_step = rng.uniform(-0.0015, 0.0015, 4)[rows // 1032]
    col_step = rng.uniform(-0.0015, 0.0015, 4)[cols // 512]
    base *= (1.0 + row_step).astype(np.float32)[:, None]
    base *= (1.0 + col_step).astype(np.float32)[None, :]

    # Cross-hatch: two diagonal ridge patterns, sin(a + b) + sin(a - b) = 2 sin(a) cos(b).
    hatch_r = np.cos(2 * np.pi * rows / 97.0 + 0.4).astype(np.float32)
    hatch_c = np.sin(2 * np.pi * cols / 97.0 + 1.1).astype(np.float32)

    maps: dict[str, np.ndarray] = {}
    for name in filters:
        if name == "g'":
            illum_r = 1.0 + 0.020 * y - 0.025 * y**2
            illum_c = 1.0 + 0.012 * x - 0.030 * x**2
            hatch = 0.006
        elif name == "i'":
            illum_r = 1.0 - 0.008 * y - 0.040 * y**2
            illum_c = 1.0 - 0.015 * x - 0.020 * x**2
            hatch = 0.002
        else:  # pragma: no cover - internal use only
            raise ValueError(f"unknown example 1 filter {name!r}")
        sens = np.multiply(hatch_r[:, None], hatch_c[None, :], dtype=np.float32)
        sens *= np.float32(hatch)
        sens += np.float32(1.0)
        sens *= base
        sens *= illum_r.astype(np.float32)[:, None]
        sens *= illum_c.astype(np.float32)[None, :]
        if name == "i'":
            # The thinned membrane is not equally thick everywhere.  ``thick`` is its
            # thickness in units of lambda / 2n (about 0.1 micron in i'), some 30 units
            # (3 microns) from corner to corner.  Red light is partly transmitted, so the
            # response follows the thickness smoothly: 1.5 % from thinnest to thickest.
            # Thickness changes of lambda / 2n also make interference fringes, but a
            # broadband dome lamp (coherence length lambda**2 / dlambda, about 4 microns,
            # against a round trip of about 110 microns) washes them out to a residual
            # of 0.05 %, below one frame's noise.
            thick = np.add.outer(
                5.0 * y + 1.5 * np.sin(2.1 * y + 0.3), 9.0 * x**2 + 2.0 * x
            ).astype(np.float32)
            thick += np.multiply.outer(3.0 * y, x).astype(np.float32)
            span = float(thick.max() - thick.min())
            smooth = (thick - np.float32(thick.mean())) * np.float32(0.015 / span)
            smooth += np.float32(1.0)
            sens *= smooth
            del smooth
            thick *= np.float32(2 * np.pi)
            np.cos(thick, out=thick)
            thick *= np.float32(0.0005)
            thick += np.float32(1.0)
            sens *= thick
            del thick
        spots = example1_spots(filter_name=name)
        for r, c, d, depth in zip(*spots, strict=True):
            _multiply_ring(sens, r, c, d / 2, depth, width=max(0.6, d / 12))
        maps[name] = sens
    return maps


def _example2_map() -> np.ndarray:
    """Build the example 2 sensitivity map (float32).

    Pixel-to-pixel response variations (0.7 % rms), vignetting (a smooth radial fall-off,
    about 10 % in the corners, centred slightly off the chip's centre) and dust donuts.
    """
    nrow, ncol = EXAMPLE2_SHAPE
    rng = _rng(2, -1, _STREAM_MAP)
    sens = rng.standard_normal(EXAMPLE2_SHAPE, dtype=np.float32)
    sens *= np.float32(0.007)
    sens += np.float32(1.0)
    # exp(-k r^2) is separable: exp(-k y^2) * exp(-k x^2). The optical axis is a little
    # off-centre; with k = 0.053 the corners are 8 % to 12 % darker than the axis.
    k = -math.log(0.9) / 2
    y = (np.arange(nrow) - 2110.0) / (nrow / 2)
    x = (np.arange(ncol) - 1995.0) / (ncol / 2)
    sens *= np.exp(-k * y**2).astype(np.float32)[:, None]
    sens *= np.exp(-k * x**2).astype(np.float32)[None, :]
    donuts = example2_donuts()
    for r, c, radius, inner, depth in zip(*donuts, strict=True):
        _multiply_ring(sens, r, c, radius, depth, width=max(1.5, 0.04 * radius), inner=inner)
    return sens


def _sky_ramps(index: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the row and column ramps (float32) of the example 2 sky gradient of a frame."""
    amplitude, angle = example2_sky_gradient(index)
    theta = math.radians(angle)
    y = np.linspace(-0.5, 0.5, EXAMPLE2_SHAPE[0])
    x = np.linspace(-0.5, 0.5, EXAMPLE2_SHAPE[1])
    ramp_r = 1.0 + amplitude * math.sin(theta) * y
    ramp_c = 1.0 + amplitude * math.cos(theta) * x
    return ramp_r.astype(np.float32), ramp_c.astype(np.float32)


# --------------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------------


def _add_noise(
    frame: np.ndarray,
    rng: np.random.Generator,
    gain: float,
    read_noise: float,
    saturate: float | None,
) -> None:
    """Add shot and read noise to ``frame`` (ADU) in place: one Gaussian draw per pixel."""
    nrow, ncol = frame.shape
    z = np.empty((_ROW_BLOCK, ncol), dtype=np.float32)
    s = np.empty((_ROW_BLOCK, ncol), dtype=np.float32)
    inv_gain = np.float32(1.0 / gain)
    read_var = np.float32((read_noise / gain) ** 2)
    for start in range(0, nrow, _ROW_BLOCK):
        block = frame[start : start + _ROW_BLOCK]
        n = block.shape[0]
        zb, sb = z[:n], s[:n]
        rng.standard_normal(dtype=np.float32, out=zb)
        np.multiply(block, inv_gain, out=sb)
        sb += read_var
        np.sqrt(sb, out=sb)
        zb *= sb
        block += zb
        if saturate is not None:
            np.minimum(block, np.float32(saturate), out=block)


def _add_cosmic_rays(
    frame: np.ndarray, rng: np.random.Generator, mean_count: float, saturate: float | None
) -> None:
    """Add cosmic-ray hits in place: short tracks of 1-6 pixels, hundreds to thousands ADU."""
    nrow, ncol = frame.shape
    count = int(rng.poisson(mean_count))
    for _ in range(count):
        length = int(rng.integers(1, 7))
        theta = rng.uniform(0, 2 * np.pi)
        r0 = rng.uniform(0, nrow)
        c0 = rng.uniform(0, ncol)
        steps = np.arange(length)
        rr = np.clip(np.round(r0 + steps * math.sin(theta)).astype(np.int64), 0, nrow - 1)
        cc = np.clip(np.round(c0 + steps * math.cos(theta)).astype(np.int64), 0, ncol - 1)
        amp = math.exp(rng.uniform(math.log(300.0), math.log(6000.0)))
        energy = (amp * rng.uniform(0.6, 1.0, length)).astype(np.float32)
        # Some charge spills into one neighbouring pixel of each track pixel.
        side = rng.integers(0, 2, length) * 2 - 1
        if abs(math.sin(theta)) < abs(math.cos(theta)):
            r_side, c_side = np.clip(rr + side, 0, nrow - 1), cc
        else:
            r_side, c_side = rr, np.clip(cc + side, 0, ncol - 1)
        spill = (energy * rng.uniform(0.1, 0.3, length)).astype(np.float32)
        all_r = np.concatenate([rr, r_side])
        all_c = np.concatenate([cc, c_side])
        np.add.at(frame, (all_r, all_c), np.concatenate([energy, spill]))
        if saturate is not None:
            frame[all_r, all_c] = np.minimum(frame[all_r, all_c], np.float32(saturate))


_MOFFAT_BETA = 3.0  # star images have Moffat profiles: a Gaussian core with broad wings


def _add_stars(frame: np.ndarray, stars: Stars) -> None:
    """Add Moffat star images (beta = 3) to ``frame`` in place, each in a box of 8 FWHM."""
    nrow, ncol = frame.shape
    for row, col, peak, fwhm in zip(*stars, strict=True):
        alpha = fwhm / (2 * math.sqrt(2 ** (1 / _MOFFAT_BETA) - 1))
        half = math.ceil(4 * fwhm)
        r0, r1 = _box(row, half, nrow)
        c0, c1 = _box(col, half, ncol)
        dr = (np.arange(r0, r1) - row)[:, None]
        dc = (np.arange(c0, c1) - col)[None, :]
        profile = (1 + (dr**2 + dc**2) / alpha**2) ** -_MOFFAT_BETA
        frame[r0:r1, c0:c1] += (peak * profile).astype(np.float32)


def _subsample_median(image: np.ndarray) -> float:
    """Return the median of a regular subsample of ``image`` (precise to about 1e-4)."""
    return float(np.median(image[::_SUBSAMPLE, ::_SUBSAMPLE]))


def _example1_frame(index: int, sens: np.ndarray, sens_median: float) -> np.ndarray:
    """Simulate the pixels of example 1 frame ``index`` from its filter's map."""
    level = np.float32(EXAMPLE1_MEDIANS[index] / sens_median)
    frame = np.multiply(sens, level)
    _add_noise(frame, _rng(1, index, _STREAM_NOISE), EXAMPLE1_GAIN, EXAMPLE1_READ_NOISE, None)
    mean_cr = _EXAMPLE1_CR_RATE * EXAMPLE1_EXPTIMES[index]
    _add_cosmic_rays(frame, _rng(1, index, _STREAM_COSMICS), mean_cr, None)
    return frame


def _example2_frame(index: int, sens: np.ndarray) -> np.ndarray:
    """Simulate the pixels of example 2 frame ``index`` from the camera's map."""
    ramp_r, ramp_c = _sky_ramps(index)
    step = _SUBSAMPLE
    sub = sens[::step, ::step] * ramp_r[::step, None]
    sub *= ramp_c[None, ::step]
    level = EXAMPLE2_MEDIANS[index] / float(np.median(sub))
    del sub
    ramp_r = ramp_r * np.float32(level)
    frame = np.empty(EXAMPLE2_SHAPE, dtype=np.float32)
    for start in range(0, EXAMPLE2_SHAPE[0], _ROW_BLOCK):
        stop = start + _ROW_BLOCK
        block = frame[start:stop]
        np.multiply(sens[start:stop], ramp_r[start:stop, None], out=block)
        block *= ramp_c[None, :]
    _add_stars(frame, example2_stars(index))
    _add_noise(
        frame,
        _rng(2, index, _STREAM_NOISE),
        EXAMPLE2_GAIN,
        EXAMPLE2_READ_NOISE,
        EXAMPLE2_SATURATE,
    )
    mean_cr = _EXAMPLE2_CR_RATE * (EXAMPLE2_EXPTIMES[index] + _EXAMPLE2_READOUT)
    _add_cosmic_rays(frame, _rng(2, index, _STREAM_COSMICS), mean_cr, EXAMPLE2_SATURATE)
    return frame


def _common_header(header: fits.Header, index: int) -> None:
    """Add the keywords that mark a frame as simulated by this module."""
    header["BUNIT"] = ("adu", "Physical unit of the pixel values")
    header["SIMULATE"] = (True, "Simulated data, not a real observation")
    header["SIMVERS"] = (SIMULATION_VERSION, "Version of the example_data simulation")
    header["SIMFRAME"] = (index, "0-based frame index within the example")
    for line in _HISTORY:
        header.add_history(line)
    header.add_history("Bias subtracted. Dark current subtracted.")


def _mjd(date_obs: str) -> float:
    """Return the Modified Julian Date of an ISO date ``date_obs`` (UTC), rounded to 1e-6 d.

    Writing MJD-OBS beside DATE-OBS spares readers that build a WCS from the header (such as
    `astropy.nddata.CCDData.read`) a warning that they had to compute it themselves.
    """
    return round(Time(date_obs, format="isot", scale="utc").mjd, 6)


def _example1_header(index: int) -> fits.Header:
    """Return the header of example 1 frame ``index``."""
    header = fits.Header()
    header["IMAGETYP"] = ("FLATFIELD", "Type of image")
    header["OBJECT"] = ("dome flat", "Target")
    header["FILTER"] = (EXAMPLE1_FILTERS[index], "Filter name")
    header["EXPTIME"] = (EXAMPLE1_EXPTIMES[index], "[s] Exposure time")
    header["DATE-OBS"] = (EXAMPLE1_DATE_OBS[index], "UTC date and time of exposure start")
    header["MJD-OBS"] = (_mjd(EXAMPLE1_DATE_OBS[index]), "[d] Modified Julian Date of DATE-OBS")
    header["INSTRUME"] = ("LFC", "Large Format Camera")
    header["TELESCOP"] = ("P200", "Palomar 200-inch Hale telescope")
    header["OBSERVAT"] = ("Palomar", "Observatory")
    header["DETECTOR"] = ("CCD 0", "Chip of the mosaic: thinned, back-illuminated")
    header["CCDTEMP"] = (-110.0, "[C] Detector temperature (cryogenic)")
    header["GAIN"] = (EXAMPLE1_GAIN, "[e-/adu] Gain")
    header["RDNOISE"] = (EXAMPLE1_READ_NOISE, "[e-] Read noise")
    _common_header(header, index)
    return header


def _example2_header(index: int) -> fits.Header:
    """Return the header of example 2 frame ``index``."""
    header = fits.Header()
    header["IMAGETYP"] = ("FLAT", "Type of image")
    header["OBJECT"] = ("AutoFlat", "Target")
    header["FILTER"] = ("r", "Filter name")
    header["EXPTIME"] = (EXAMPLE2_EXPTIMES[index], "[s] Exposure time")
    header["EXPOSURE"] = (EXAMPLE2_EXPTIMES[index], "[s] Exposure time")
    header["DATE-OBS"] = (EXAMPLE2_DATE_OBS[index], "UTC date and time of exposure start")
    header["MJD-OBS"] = (_mjd(EXAMPLE2_DATE_OBS[index]), "[d] Modified Julian Date of DATE-OBS")
    header["INSTRUME"] = ("Andor Aspen CG16M", "Camera")
    header["TELESCOP"] = ("0.6 m f/8 reflector", "Telescope")
    header["DETECTOR"] = ("KAF-16803", "Front-illuminated CCD sensor")
    header["XBINNING"] = (1, "Binning factor in width")
    header["YBINNING"] = (1, "Binning factor in height")
    header["CCD-TEMP"] = (-25.0, "[C] Sensor temperature (TE cooled)")
    header["GAIN"] = (EXAMPLE2_GAIN, "[e-/adu] Gain")
    header["RDNOISE"] = (EXAMPLE2_READ_NOISE, "[e-] Read noise")
    header["SATURATE"] = (EXAMPLE2_SATURATE, "[adu] Saturation level of calibrated data")
    _common_header(header, index)
    return header


class _Camera:
    """Lazily built sensitivity maps of one example, shared (read-only) by its frames."""

    def __init__(self, example: int, indices: Sequence[int]) -> None:
        self.example = example
        self.maps: dict[str, np.ndarray] = {}
        self.medians: dict[str, float] = {}
        if example == 1:
            needed = sorted({EXAMPLE1_FILTERS[i] for i in indices})
            self.maps = _example1_maps(needed)
            self.medians = {name: _subsample_median(m) for name, m in self.maps.items()}
        elif indices:
            self.maps = {"r": _example2_map()}

    def frame(self, index: int) -> tuple[np.ndarray, fits.Header]:
        """Return the pixel data and header of frame ``index``."""
        if self.example == 1:
            name = EXAMPLE1_FILTERS[index]
            data = _example1_frame(index, self.maps[name], self.medians[name])
            return data, _example1_header(index)
        return _example2_frame(index, self.maps["r"]), _example2_header(index)


def _simulate_frame(example: int, index: int) -> tuple[np.ndarray, fits.Header]:
    """Return (data, header) of one frame, building the camera's maps just for it."""
    example = _check_example(example)
    index = _check_index(example, index)
    return _Camera(example, [index]).frame(index)


def true_flat(example: int, filter: str) -> np.ndarray:
    """Return the response the frames of an example and filter were drawn from.

    This is what a perfect combination of the frames would recover, and what no real data
    set comes with: the illumination times the detector's response, normalised to a median
    of 1, computed without writing any file (a few seconds for Example 2).

    For Example 1 it is the sensitivity map of the filter: dome illumination, pixel-to-pixel
    response, stitching steps, cross-hatch, spots (and, in i', the thickness pattern).  For
    Example 2 it is the camera's map (vignetting, pixel response, dust donuts) times the
    twilight-sky gradient averaged over the ten frames, since that average is what any
    combination of them records.  Noise, cosmic rays and stars are not part of it: they
    are what a combination must remove.

    Parameters
    ----------
    example : {1, 2}
        Example number.
    filter : str
        ``"g'"`` or ``"i'"`` for Example 1, ``"r"`` for Example 2.

    Returns
    -------
    numpy.ndarray
        float32, the shape of the example's frames, median 1.

    Raises
    ------
    ValueError
        For an unknown example or a filter the example does not have.
    """
    example = _check_example(example)
    filters = sorted(set(EXAMPLE1_FILTERS)) if example == 1 else ["r"]
    if filter not in filters:
        raise ValueError(
            f"example {example} has no filter {filter!r}; choose one of {', '.join(filters)}"
        )
    if example == 1:
        truth = _example1_maps([filter])[filter]
    else:
        truth = _example2_map()
        ramps = [_sky_ramps(i) for i in range(len(EXAMPLE2_FILES))]
        truth *= np.mean([r for r, _ in ramps], axis=0, dtype=np.float32)[:, None]
        truth *= np.mean([c for _, c in ramps], axis=0, dtype=np.float32)[None, :]
    truth /= np.float32(np.median(truth))
    return truth


# --------------------------------------------------------------------------------------------
# Safe writing
# --------------------------------------------------------------------------------------------


class _EnsureResult(NamedTuple):
    """What :func:`_ensure` did in a folder.

    Attributes
    ----------
    folder : pathlib.Path
        The folder.
    written : tuple of str
        Names of the files written.
    kept : tuple of str
        Names of the files that were already present and were left alone.
    """

    folder: Path
    written: tuple[str, ...]
    kept: tuple[str, ...]


def _data_bytes(shape: tuple[int, int]) -> int:
    """Return the size on disk of a float32 data unit of ``shape`` (padded to 2880 bytes)."""
    raw = shape[0] * shape[1] * 4
    return -(-raw // 2880) * 2880


def _frame_state(path: Path, example: int) -> str:
    """Return ``"intact"``, ``"damaged"`` or why ``path`` is not a frame of this module.

    A frame of ours carries SIMULATE = T, our HISTORY and the FITS checksums (CHECKSUM,
    DATASUM), which astropy verifies as it reads the file: a truncated or altered frame of
    ours is ``"damaged"`` and is written again; any other file is not ours.
    """
    if not path.is_file():
        return "it is not a regular file"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            header = fits.getheader(path)
    except (OSError, ValueError) as exc:  # not FITS at all
        return f"it cannot be read as a FITS file ({type(exc).__name__}: {exc})"
    if header.get("SIMULATE") is not True:
        return "it has no SIMULATE = T keyword"
    if not any("example_data" in str(line) for line in header.get("HISTORY", [])):
        return "its HISTORY does not say it was simulated by example_data"
    shape = _SHAPES[example]
    if (header.get("NAXIS2"), header.get("NAXIS1")) != shape or header.get("BITPIX") != -32:
        return f"it is not a {shape[0]} x {shape[1]} float32 image"
    if header.get("SIMVERS") != SIMULATION_VERSION or "DATASUM" not in header:
        return "damaged"  # ours, from another version of the simulation: write it again
    if path.stat().st_size != 2880 * (len(header.tostring()) // 2880) + _data_bytes(shape):
        return "damaged"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with fits.open(path, checksum=True, memmap=False) as hdul:
                hdul[0].data  # noqa: B018 - reading the data verifies DATASUM
        except (OSError, ValueError):
            return "damaged"
    if any("Checksum verification failed" in str(w.message) for w in caught):
        return "damaged"
    if any("Datasum verification failed" in str(w.message) for w in caught):
        return "damaged"
    return "intact"


def _prepare_folder(folder: str | os.PathLike[str] | None, example: int) -> Path:
    """Resolve the destination folder and create it if needed."""
    if folder is not None and not str(os.fspath(folder)).strip():
        raise ValueError("folder is an empty name; give a folder, or None for the default")
    path = default_folder(example) if folder is None else Path(os.fspath(folder)).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError(f"folder {str(path)!r} exists but is not a folder")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _ensure(
    example: int,
    folder: str | os.PathLike[str] | None,
    *,
    overwrite_ours: bool,
    progress: Callable[[str], None] | None = None,
) -> _EnsureResult:
    """Write an example's missing frames (or all of ours if ``overwrite_ours``)."""
    example = _check_example(example)
    path = _prepare_folder(folder, example)
    names = _FILES[example]
    foreign: list[str] = []
    present: list[int] = []
    for i, name in enumerate(names):
        file = path / name
        _engine.remove_stale_temporaries(file)  # left by a run that was killed
        if not os.path.lexists(file):
            continue
        state = _frame_state(file, example)
        if state == "intact":
            present.append(i)
        elif state != "damaged":
            foreign.append(f"{str(file)!r} ({state})")
    if foreign:
        raise ValueError(
            "refusing to overwrite file(s) that example_data did not write: "
            + "; ".join(foreign)
            + ". Move or rename them, or choose another folder."
        )
    todo = (
        list(range(len(names)))
        if overwrite_ours
        else [i for i in range(len(names)) if i not in present]
    )
    kept = tuple(names[i] for i in range(len(names)) if i not in todo)
    if not todo:
        return _EnsureResult(path, (), kept)

    camera = _Camera(example, todo)

    def work(index: int) -> str:
        data, header = camera.frame(index)
        hdus = _engine.hdu_list(data, header)
        # A fixed comment (astropy's default is the current time) keeps frames bit-identical.
        hdus[0].add_checksum(when="set by example_data")
        _engine.write_atomically(path / names[index], hdus)
        return names[index]

    written: list[str] = []
    with ThreadPoolExecutor(max_workers=min(_WORKERS, len(todo))) as pool:
        futures = [pool.submit(work, i) for i in todo]
        try:
            for future in futures:  # in order, so that progress reports are reproducible
                written.append(future.result())
                if progress is not None:
                    progress(written[-1])
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    return _EnsureResult(path, tuple(written), kept)


def ensure_example_data(example: int, folder: str | os.PathLike[str] | None = None) -> Path:
    """Write the frames of example 1 or 2 that are missing or damaged in ``folder``.

    Intact frames written earlier by this module are kept as they are; a frame of ours that
    was truncated or altered (its FITS checksum no longer matches) or that an older version
    of the simulation wrote is written again.  Temporary files that a killed run left (and
    only those) are removed.  A second call therefore reads the frames but writes nothing.

    Parameters
    ----------
    example : {1, 2}
        Example number.
    folder : str or os.PathLike, optional
        Destination folder, created if needed.  Default: ``notebooks/example1-reduced`` or
        ``notebooks/example2-reduced`` beside this module.

    Returns
    -------
    pathlib.Path
        The folder.

    Raises
    ------
    ValueError
        If ``example`` is not 1 or 2, ``folder`` is an empty name or exists but is not a
        folder, or a file with one of the expected names exists that this module did not
        write (it is left untouched).
    OSError
        If a file could not be written, for example because the disk is full or permission
        is denied; the message names the file.  No partial file is left behind.
    """
    return _ensure(_check_example(example), folder, overwrite_ours=False).folder


def ensure_example1(folder: str | os.PathLike[str] | None = None) -> Path:
    """Write the missing example 1 frames into ``folder``: ``ensure_example_data(1, folder)``."""
    return ensure_example_data(1, folder)


def ensure_example2(folder: str | os.PathLike[str] | None = None) -> Path:
    """Write the missing example 2 frames into ``folder``: ``ensure_example_data(2, folder)``."""
    return ensure_example_data(2, folder)


def make_example(example: int, folder: str | os.PathLike[str]) -> Path:
    """Write all frames of an example into ``folder``, replacing earlier copies of ours.

    Parameters
    ----------
    example : {1, 2}
        Example number.
    folder : str or os.PathLike
        Destination folder, created if needed.

    Returns
    -------
    pathlib.Path
        The folder.

    Raises
    ------
    ValueError, OSError
        As for :func:`ensure_example_data` (nothing is written when a foreign file is in
        the way).
    """
    return _ensure(_check_example(example), folder, overwrite_ours=True).folder


def make_example1(folder: str | os.PathLike[str]) -> Path:
    """Write all example 1 frames into ``folder``: ``make_example(1, folder)``."""
    return make_example(1, folder)


def make_example2(folder: str | os.PathLike[str]) -> Path:
    """Write all example 2 frames into ``folder``: ``make_example(2, folder)``."""
    return make_example(2, folder)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line interface: write the examples' missing frames.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 on success, 1 on error.
    """
    parser = argparse.ArgumentParser(
        prog="python -m example_data",
        description=(
            "Write the simulated, calibrated flat frames of the course's worked examples. "
            "Only missing frames are written; existing frames and other files are kept."
        ),
    )
    parser.add_argument(
        "--example",
        type=int,
        choices=(1, 2),
        help="which example to write (default: both)",
    )
    parser.add_argument(
        "--folder",
        help=(
            "destination folder (needs --example; default: notebooks/example1-reduced or "
            "notebooks/example2-reduced beside this module)"
        ),
    )
    args = parser.parse_args(argv)
    if args.folder is not None and args.example is None:
        parser.error("--folder needs --example 1 or --example 2")
    examples = (args.example,) if args.example is not None else (1, 2)
    for example in examples:
        try:
            result = _ensure(
                example,
                args.folder,
                overwrite_ours=False,
                progress=lambda name: print(f"  wrote {name}", flush=True),
            )
        except (OSError, ValueError) as exc:
            print(f"error: example {example}: {exc}", file=sys.stderr)
            return 1
        for name in result.kept:
            print(f"  kept  {name}")
        print(
            f"example {example}: {len(result.written)} frame(s) written, "
            f"{len(result.kept)} already present, in {result.folder}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
