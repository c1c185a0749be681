"""Simulated, already calibrated frames for the course's three worked examples.

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
    modelled on an Andor Aspen CG16M camera (KAF-16803 sensor) on a 0.6 m f/8 reflector.
    Files ``AutoFlat-PANoRot-r-Bin1-001.fit`` ... ``-010.fit``.
Example 3
    Twelve science frames in r of one night, 300 s each over three hours, with the Example 2
    camera binned 2 x 2 on the chip (2048 x 2048 pixels of 18 microns, 0.773 arcsec at f/8 on
    0.6 m), dithered between exposures: the raw material of a night-sky flat. Files
    ``sky-r-bin2-001.fit`` ... ``-012.fit``; a tracked (undithered) variant,
    ``tracked-r-bin2-001.fit`` ..., is written only on request, into a folder the caller
    names.

The frames are *calibrated*: bias and dark current have already been removed, so the pixel
values are the light collected, in ADU.

How a frame is made
-------------------
Each camera has a fixed response map, built once per call in float32: the illumination of
the chip times the response of each pixel. :func:`true_flat` returns it, normalised to a
median of 1. A frame is ``level * response``, for Example 2 times a twilight-sky gradient,
with the level chosen so that the frame's median matches the real data the example is
modelled on. Stars (Example 2) are added, themselves seen through the response. An
Example 3 frame is ``(sky + sources) * response``, the sky a level times a moonlit
gradient, the sources stars and galaxies; the charge of the brightest stars then bleeds
along their columns. Noise is
then added: photon (shot) noise from the gain, and read noise, drawn as *one* Gaussian per
pixel with variance ``signal / gain + (read_noise / gain) ** 2`` (ADU²); at thousands of
electrons per pixel the Gaussian approximation of the Poisson distribution is excellent.
Cosmic rays come last; Examples 2 and 3 are capped at their saturation level, 64 000 ADU.

What is modelled
----------------
1. Illumination. Example 1: the dome screen's smooth few-per-cent pattern, different in g'
   and i'. Example 2: vignetting, about 10 % darker in the corners than on the optical axis.
2. Pixel-to-pixel response, uncorrelated from pixel to pixel: 0.60 % rms in g' and 0.35 %
   in i' on the thinned chip (blue light is absorbed next to the chip's back surface, whose
   treatment is uneven; the two filters share part of the pattern), 0.7 % in r on the
   front-side illuminated chip. Example 1 adds a faint mottle on scales of tens of pixels
   (0.25 % rms in g', 0.08 % in i').
3. The thinned chip's structure (Example 1): steps of 0.1 % to 0.3 % between the blocks the
   chip was stitched from, a cross-hatch with a period of 97 pixels (0.6 % in g', 0.2 % in
   i'), 40 dark spots of 5 to 30 pixels where the thinning was uneven (2 % to 15 % deep in
   g', about a third of that in i'), and in i' a smooth 1.5 % change of response with the
   membrane's thickness, with a fringe residue of 0.1 % peak to peak (a broadband dome lamp
   washes out the interference fringes that narrow sky lines show).
4. Dust donuts (Example 2): 18 out-of-focus shadows of dust, 20 to 120 pixels in radius,
   with the hole of the central obstruction. Their depth is the dust particle's area over the
   area of the beam at its distance, so it falls as 1 / radius²: up to 13 % for the
   smallest, 0.2 % for the largest (:func:`example2_donuts`).
5. Defects (:func:`example_defects`), part of the response: a few columns of low response
   (3 % to 10 % low, from a charge trap to the far end of the column), dead pixels (response
   0) and low pixels (response 0.5 to 0.9).
6. The twilight sky (Example 2): brightest towards the set Sun, a plane across the chip of
   1.20 % growing to 1.29 % over the 2.5 minutes of the sequence, whose direction turns by
   0.15 degree per minute, as slowly as the Sun's azimuth (:func:`example2_sky_gradient`).
   It changes from frame to frame, so it is not part of :func:`true_flat`.
7. Stars (Example 2): one field of 57 stars, r = 6.5 to 15, in every frame: their counts
   grow with the exposure time while the sky fades; Moffat images (beta = 2.8, FWHM 3.6 to
   4.6 pixels, the seeing changes a little), dithered by tens of pixels between frames. The
   two bright stars saturate; most stars are too faint to see against the bright sky
   (:func:`example2_stars`).
8. Cosmic rays (:func:`example_cosmic_rays`): one rate for both chips, 2 per cm² per minute
   (muons and their secondaries at a mountain observatory), during the exposure and, for the
   rows still waiting to be read, during the readout (35 s for the LFC, 15 s for the Aspen).
   Each hit deposits about 70 electrons per micron of silicon crossed, with a Landau tail
   (about 1000 to 5000 electrons typically); tracks are longer on the thicker collecting
   layer and smaller pixels of the front-illuminated chip. Example 3 sees the same rate on
   the same chip, with 18 micron binned pixels and a 4 s readout: some 137 hits a frame.
9. Example 3's response (:func:`true_flat` ``(3, "r")``): Example 2's, each block of 2 x 2
   pixels averaged (a binned pixel collects the charge of four), renormalised to median 1.
   Gain (1.5 e-/ADU) and saturation (64 000 ADU, the converter's limit) are Example 2's;
   the read noise of 10 e- is added once per binned pixel.
10. Example 3's sky (:func:`example3_sky`): 4420 ADU falling to 2085 ADU in 300 s (18.4 to
    19.2 mag per square arcsec: a moonlit sky, darkening as the Moon sinks), times a plane
    of 1.8 % across the chip weakening to 1.1 % and turning by 45 degrees over the night.
11. Example 3's sources (:func:`example3_sources`, :func:`example3_source_image`): some
    1680 stars on the chip in each frame (2077 over the area the dithers cover), r = 5.9
    to 20.5 (the zero point of Example 2: 10**(0.4 * (21.9 - r))
    ADU per second; counts grow by 10**0.3 per magnitude, 200 per square degree brighter
    than r = 15), faint ones down to the sky's noise; Moffat images (beta = 2.5, FWHM 2.2
    to 2.9 binned pixels as the seeing changes); five galaxies (Sersic discs, a lenticular
    and an elliptical, half-light radii of 14 to 75 pixels, drawn out to their faint
    outskirts). The 12 pointings are tens of arcsec apart (:data:`EXAMPLE3_DITHERS`), so
    each source falls on other pixels in every frame. All stars brighter than r = 13.5 or
    so saturate.
12. Bleeding (Example 3): the KAF-16803 has anti-blooming drains, which remove the charge a
    full pixel keeps collecting, so a saturated star normally stays round. Only a star that
    overloads the drains, here assumed to cope with 100 times a pixel's full well, bleeds:
    the charge beyond that runs up and down its column, filling pixel after pixel to a full
    well (charge is conserved, but for what runs off the chip), and they read as saturated.
    The two brightest stars (r = 5.9 and 6.5) bleed in every frame, over some 220 to 490 and
    35 to 150 pixels (the sharper the seeing, the higher the peak and the longer the trail),
    the third (r = 7.0) only in the best seeing, over up to 25 pixels.

What is not modelled
--------------------
Non-linearity (the KAF-16803 departs from linearity by a few tenths of a per cent above about
40 000 ADU, where Example 2's first frames lie: the simulated chips are perfectly linear, so
the response is the same at every level); bleeding in Example 2 (its stars do not overload
the anti-blooming drains); hot pixels (irrelevant in calibrated flats); the shading of an
iris shutter in short exposures; scattered light and ghosts, and the halos and diffraction
spikes of bright stars; residuals of the bias and dark subtraction; the colour difference
between the flat's light and the night sky's (Example 3's response is Example 2's, though
the night sky is redder than twilight); the brighter-fatter effect and charge-transfer
inefficiency. In Example 3 also: fringing (a front-illuminated chip in r hardly fringes),
the sky's emission lines and any change of the sky's colour with the Moon, airglow
variations on small scales, the softening of the anti-blooming drains' onset (a pixel fills
linearly, then stops), the read noise and charge of the two columns that binning sums
separately, faint galaxies below r = 14 other than the five, satellites and aircraft,
field rotation and distortion (the dither is a pure shift), and the convolution of the
galaxies with the seeing (their cores are only softened).

Every random number comes from :func:`numpy.random.default_rng` seeded with a fixed base seed,
the example number, the frame index and a stream number, so a frame does not depend on
which other frames are generated, in which order, or on which thread.

Writing is safe: each file is written under a temporary name in the destination folder and
renamed into place only when complete (with `_flat_engine.write_atomically`, the writer of
the helper module too), and a file with an expected name that this module did not write is
never overwritten (a :class:`ValueError` is raised instead).  Every frame carries the FITS
checksums, so a frame of ours that was truncated or altered is recognised and written again.

Use :func:`ensure_example_data` (or :func:`ensure_example1` ... :func:`ensure_example3`) from a
notebook, or pre-generate from a shell::

    python -m example_data                         # all three examples, default folders
    python -m example_data --example 2 --folder DIR
    python -m example_data --example 3 --folder DIR --tracked   # the undithered variant
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import numpy as np
from astropy.io import fits
from astropy.time import Time
from astropy.utils.exceptions import AstropyUserWarning

from _flat_engine import files as _engine

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
    "EXAMPLE3_DATE_OBS",
    "EXAMPLE3_DITHERS",
    "EXAMPLE3_EXPTIMES",
    "EXAMPLE3_FILES",
    "EXAMPLE3_GAIN",
    "EXAMPLE3_PIXEL_SCALE",
    "EXAMPLE3_READ_NOISE",
    "EXAMPLE3_SATURATE",
    "EXAMPLE3_SHAPE",
    "EXAMPLE3_SKY_LEVELS",
    "EXAMPLE3_TRACKED_FILES",
    "EXAMPLE3_TRACKED_OFFSETS",
    "CosmicRays",
    "Defects",
    "Donuts",
    "Galaxies",
    "Sky",
    "Sources",
    "Spots",
    "Stars",
    "default_folder",
    "ensure_example1",
    "ensure_example2",
    "ensure_example3",
    "ensure_example_data",
    "example1_spots",
    "example2_donuts",
    "example2_sky_gradient",
    "example2_stars",
    "example3_sky",
    "example3_source_image",
    "example3_sources",
    "example_cosmic_rays",
    "example_defects",
    "example_files",
    "example_medians",
    "main",
    "make_example",
    "make_example1",
    "make_example2",
    "make_example3",
    "true_flat",
]

# --------------------------------------------------------------------------------------------
# Constants describing the two examples
# --------------------------------------------------------------------------------------------

#: Version of the simulation recipe, written to the header as ``SIMVERS``.
SIMULATION_VERSION = 5
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
EXAMPLE2_GAIN = 1.5
"""Gain of the example 2 camera, e-/ADU."""
EXAMPLE2_READ_NOISE = 10.0
"""Read noise of the example 2 camera, e-."""
EXAMPLE2_SATURATE = 64000.0
"""Saturation level (ADU) of the calibrated example 2 frames; no pixel exceeds it."""

EXAMPLE3_SHAPE = (2048, 2048)
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
EXAMPLE3_GAIN = EXAMPLE2_GAIN
"""Gain of the example 3 camera, e-/ADU (the example 2 camera's; binning does not change it)."""
EXAMPLE3_READ_NOISE = EXAMPLE2_READ_NOISE
"""Read noise of the example 3 camera, e-: the charge of a binned pixel is read once."""
EXAMPLE3_SATURATE = EXAMPLE2_SATURATE
"""Saturation level (ADU) of the calibrated example 3 frames; no pixel exceeds it."""

_EXAMPLES = (1, 2, 3)
_SHAPES = {1: EXAMPLE1_SHAPE, 2: EXAMPLE2_SHAPE, 3: EXAMPLE3_SHAPE}
_FILES = {1: EXAMPLE1_FILES, 2: EXAMPLE2_FILES, 3: EXAMPLE3_FILES}
_MEDIANS = {1: EXAMPLE1_MEDIANS, 2: EXAMPLE2_MEDIANS, 3: EXAMPLE3_SKY_LEVELS}
_EXPTIMES = {1: EXAMPLE1_EXPTIMES, 2: EXAMPLE2_EXPTIMES, 3: EXAMPLE3_EXPTIMES}
_GAINS = {1: EXAMPLE1_GAIN, 2: EXAMPLE2_GAIN, 3: EXAMPLE3_GAIN}
_FOLDER_NAMES = {1: "example1-reduced", 2: "example2-reduced", 3: "example3-reduced"}
_FILTERS = {1: ("g'", "i'"), 2: ("r",), 3: ("r",)}

# Random streams: every piece of randomness has its own seed (base seed, example, frame, stream).
_STREAM_MAP = 0  # fixed sensitivity features of a camera (frame index -1)
_STREAM_NOISE = 1
_STREAM_COSMICS = 2
_STREAM_STARS = 3
_STREAM_SPOTS = 4
_STREAM_DONUTS = 5
_STREAM_DEFECTS = 6

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
    """Stars in one example 2 or 3 frame, one array element per star, brightest first.

    Attributes
    ----------
    row, col : numpy.ndarray of float
        Sub-pixel coordinates (0-based row and column) of the star centres.
    peak : numpy.ndarray of float
        Peak of the star above the sky in ADU in this frame, on a pixel of median response
        (``true_flat == 1``), before noise and before the frame is capped at
        :data:`EXAMPLE2_SATURATE` (stars with ``sky + peak`` above it are saturated;
        example 3: :data:`EXAMPLE3_SATURATE`).
    fwhm : numpy.ndarray of float
        Full width at half maximum of the (Moffat) star image in pixels.
    flux : numpy.ndarray of float
        Total counts of the star in this frame, ADU, on pixels of median response.
    magnitude : numpy.ndarray of float
        The star's r magnitude (the simulated camera collects 10**(0.4 * (21.9 - r)) ADU per
        second from it, binned or not).
    """

    row: np.ndarray
    col: np.ndarray
    peak: np.ndarray
    fwhm: np.ndarray
    flux: np.ndarray
    magnitude: np.ndarray


class Defects(NamedTuple):
    """Defects of a chip, part of its response (and of :func:`true_flat`).

    Attributes
    ----------
    column : numpy.ndarray of int
        Columns of low response (0-based).
    first_row : numpy.ndarray of int
        Each such column is low from this row to the last: a charge trap at ``first_row``
        takes its toll from all the charge that passes it on the way to the readout
        register at row 0 (0 means the whole column).
    column_response : numpy.ndarray of float
        Response of each low column relative to its neighbours (0.90 to 0.97).
    row, col : numpy.ndarray of int
        Dead and low pixels (0-based).
    response : numpy.ndarray of float
        Their response relative to their neighbours: 0 for a dead pixel, 0.5 to 0.9 for a
        low one.
    """

    column: np.ndarray
    first_row: np.ndarray
    column_response: np.ndarray
    row: np.ndarray
    col: np.ndarray
    response: np.ndarray


class CosmicRays(NamedTuple):
    """Cosmic-ray hits in one frame: one element per pixel that received charge.

    Attributes
    ----------
    hit : numpy.ndarray of int
        Which hit (0, 1, ...) the charge came from; a hit spreads over several pixels.
    row, col : numpy.ndarray of int
        The pixel (0-based).
    adu : numpy.ndarray of float
        The charge the hit left in the pixel, in ADU, before the frame is capped at its
        saturation level.
    """

    hit: np.ndarray
    row: np.ndarray
    col: np.ndarray
    adu: np.ndarray


_SPOT_DEPTH_RATIO_I = 0.35  # i' spots are shallower: red light is absorbed deeper in silicon
_N_SPOTS = 40
_N_DONUTS = 18
_DONUT_OBSTRUCTION = 0.42  # inner radius / outer radius of a donut
# Dust: particles of 25 to 60 microns radius.  The shadow's depth is the particle's area over
# the area of the annular beam where the particle sits, pi R**2 (1 - obstruction**2), with R
# the donut's radius: far from the chip, the beam is wide, the shadow large and shallow.
_DUST_RADIUS_UM = (25.0, 60.0)


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
    rng = _rng(2, -1, _STREAM_DONUTS)
    # Several sizes: spread evenly in log radius, in shuffled order.
    radius = np.exp(np.linspace(np.log(20.0), np.log(120.0), _N_DONUTS))
    radius = radius * rng.uniform(0.95, 1.0, _N_DONUTS)
    radius = radius[rng.permutation(_N_DONUTS)]
    dust = np.exp(rng.uniform(*np.log(_DUST_RADIUS_UM), _N_DONUTS))
    beam = (radius * _SENSORS[2].pixel_um) ** 2 * (1 - _DONUT_OBSTRUCTION**2)
    depth = dust**2 / beam
    row, col = _place(rng, radius, EXAMPLE2_SHAPE, margin=60.0, gap=60.0)
    return Donuts(row, col, radius, radius * _DONUT_OBSTRUCTION, depth)


# Defects: (low columns, dead pixels, low pixels) of each chip.
_DEFECT_COUNTS = {1: (3, 25, 150), 2: (2, 40, 250)}


def example_defects(example: int) -> Defects:
    """Return the defects of an example's chip: low columns, dead and low pixels.

    They are part of the chip's response, so every frame of the example (in both filters of
    Example 1) shows them and :func:`true_flat` contains them. Hot pixels are not simulated:
    the dark current they add is removed with the dark frame.

    Parameters
    ----------
    example : {1, 2}
        Example number.

    Returns
    -------
    Defects
        Named tuple of arrays, the same on every call: for Example 1, 3 low columns, 25
        dead and 150 low pixels; for Example 2, 2 low columns, 40 dead and 250 low pixels,
        at random places. The first low column of each chip is low over its whole length.

    Raises
    ------
    ValueError
        If ``example`` is not 1 or 2 (example 3's defects are example 2's, binned).
    """
    if example == 3:
        raise ValueError(
            "example 3's chip is example 2's binned 2 x 2: its defects are "
            "example_defects(2), at half the row and column numbers"
        )
    example = _check_example(example, (1, 2))
    nrow, ncol = _SHAPES[example]
    n_columns, n_dead, n_low = _DEFECT_COUNTS[example]
    rng = _rng(example, -1, _STREAM_DEFECTS)
    column = rng.choice(np.arange(8, ncol - 8), n_columns, replace=False)
    first_row = rng.integers(nrow // 8, 7 * nrow // 8, n_columns)
    first_row[0] = 0
    column_response = rng.uniform(0.90, 0.97, n_columns)
    n = n_dead + n_low
    row = rng.integers(2, nrow - 2, n)
    col = rng.integers(2, ncol - 2, n)
    response = np.concatenate([np.zeros(n_dead), rng.uniform(0.5, 0.9, n_low)])
    return Defects(column, first_row, column_response, row, col, response)


def _check_index(example: int, index: int) -> int:
    """Validate a 0-based frame index of an example and return it as an int."""
    n = len(_FILES[example])
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise TypeError(f"frame index must be an integer, not {type(index).__name__}")
    if not 0 <= index < n:
        raise ValueError(f"example {example} has frames 0 to {n - 1}; got index {index}")
    return int(index)


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
    rng = _rng(2, -1, _STREAM_STARS)
    lo, hi = (10 ** (_COUNT_SLOPE * m) for m in _FIELD_MAGNITUDES)
    # Inverse of the cumulative count N(< m), proportional to 10**(slope * m) - 10**(slope * lo).
    field = np.log10(lo + rng.uniform(0, 1, _FIELD_STARS) * (hi - lo)) / _COUNT_SLOPE
    magnitude = np.sort(np.concatenate([_BRIGHT_STARS, field]))
    n = magnitude.size
    row = rng.uniform(_STAR_MARGIN, EXAMPLE2_SHAPE[0] - 1 - _STAR_MARGIN, n)
    col = rng.uniform(_STAR_MARGIN, EXAMPLE2_SHAPE[1] - 1 - _STAR_MARGIN, n)
    return row, col, magnitude


def _moffat_alpha(fwhm: np.ndarray | float) -> np.ndarray | float:
    """Return the Moffat scale radius alpha of a profile of FWHM ``fwhm``."""
    return fwhm / (2 * math.sqrt(2 ** (1 / _MOFFAT_BETA) - 1))


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
    index = _check_index(2, index)
    row, col, magnitude = _star_field()
    flux = 10 ** (0.4 * (_ZERO_POINT - magnitude)) * EXAMPLE2_EXPTIMES[index]
    fwhm = np.full(row.size, 3.6 + 0.25 * ((3 * index) % 5))  # the seeing changes a little
    peak = flux * (_MOFFAT_BETA - 1) / (math.pi * _moffat_alpha(fwhm) ** 2)
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
    index = _check_index(2, index)
    minutes = _minutes_since_first(index)
    amplitude = _SKY_AMPLITUDE * (1 + _SKY_GROWTH_PER_MINUTE * minutes)
    return amplitude, _SKY_ANGLE + _SKY_TURN_PER_MINUTE * minutes


# Cosmic rays: one rate per area for both cameras, 2 hits per cm^2 per minute (secondary
# muons at the ground, about 1 per cm^2 per minute at sea level, more at a mountain
# observatory, plus electrons, gammas and the odd radioactive decay in the camera).  A pixel
# collects hits during the exposure and, after it, while its charge waits to be read: the
# row next to the readout register (row 0) at once, the last row after the whole readout,
# on average half of it.  The readout times come from the frames' spacing: 37 s of the LFC's
# 107 s cycle is not exposure, 15.6 s of the Aspen's 16.6 s.  A minimum-ionising particle
# frees about 70 electrons per micron of silicon (most probable value; the Landau
# distribution has a long tail), so a hit deposits some 1000 to 5000 electrons.  Tracks
# are as long as the collecting layer is thick, times the tangent of the incidence angle.
class _Sensor(NamedTuple):
    pixel_um: float  # pixel pitch
    depth_um: float  # thickness of silicon whose charge a pixel collects
    diffusion_px: float  # rms spread of the charge, pixels
    readout_s: float  # time to read the whole chip


_SENSORS = {
    1: _Sensor(pixel_um=15.0, depth_um=15.0, diffusion_px=0.3, readout_s=35.0),  # thinned LFC
    2: _Sensor(pixel_um=9.0, depth_um=25.0, diffusion_px=0.45, readout_s=15.0),  # KAF-16803
    # The KAF-16803 binned 2 x 2: pixels of 18 microns, a quarter of the pixels to digitise.
    3: _Sensor(pixel_um=18.0, depth_um=25.0, diffusion_px=0.225, readout_s=4.0),
}
_CR_RATE_PER_CM2_MINUTE = 2.0
_CR_ELECTRONS_PER_UM = 70.0
_CR_HEAVY_FRACTION = 0.05  # slow electrons, protons, alphas: 3 to 10 times the charge


def _cosmic_ray_rate(example: int) -> float:
    """Return the mean number of cosmic-ray hits per second on an example's chip."""
    nrow, ncol = _SHAPES[example]
    area_cm2 = nrow * ncol * (_SENSORS[example].pixel_um * 1e-4) ** 2
    return _CR_RATE_PER_CM2_MINUTE / 60 * area_cm2


def _expected_cosmic_rays(example: int, index: int) -> float:
    """Return the mean number of hits in a frame: exposure plus half the readout."""
    exposure = _EXPTIMES[example][index] + _SENSORS[example].readout_s / 2
    return _cosmic_ray_rate(example) * exposure


def example_cosmic_rays(example: int, index: int) -> CosmicRays:
    """Return the cosmic-ray hits of one frame.

    Both chips see 2 hits per cm² per minute, during the exposure and, row by row, while the
    chip is read out (35 s for the LFC, 15 s for the Aspen, 4 s for the Aspen binned 2 x 2;
    rows far from the readout register wait longest, so they collect more). That is on
    average 55 hits in a 70 s g' frame of Example 1 (19 cm²), 16 in a 7 s i' frame, 4 in
    each 1 s twilight frame of Example 2 (13.6 cm²) and 137 in each 300 s night frame of
    Example 3 (the same chip, whose binned pixels are 18 microns). A hit deposits about 70
    electrons per micron of silicon it crosses, with a Landau tail and now and then a
    heavier particle, over a track as long as the collecting layer (15 microns in the
    thinned LFC chip, 25 microns in the KAF-16803) times the tangent of its incidence angle,
    spread by diffusion.

    Parameters
    ----------
    example : {1, 2, 3}
        Example number.
    index : int
        0-based frame index.

    Returns
    -------
    CosmicRays
        Named tuple of arrays ``hit``, ``row``, ``col``, ``adu``, one element per pixel that
        received charge, the same on every call.

    Raises
    ------
    ValueError
        If ``example`` or ``index`` is out of range.
    """
    example = _check_example(example)
    index = _check_index(example, index)
    sensor = _SENSORS[example]
    nrow, ncol = _SHAPES[example]
    rng = _rng(example, index, _STREAM_COSMICS)
    rate = _cosmic_ray_rate(example)
    n_exposure = int(rng.poisson(rate * _EXPTIMES[example][index]))
    n_readout = int(rng.poisson(rate * sensor.readout_s / 2))
    n = n_exposure + n_readout
    # Where: uniform during the exposure; during the readout, in proportion to the time a
    # row waited, which grows with its distance from the register at row 0.
    row0 = np.concatenate(
        [rng.uniform(0, nrow, n_exposure), nrow * np.sqrt(rng.uniform(0, 1, n_readout))]
    )
    col0 = rng.uniform(0, ncol, n)
    # Incidence: the muon flux goes as cos^2 of the zenith angle, and a flat chip facing up
    # sees it through its projected area, so cos(incidence) has density ~ mu^3 (mu = u**1/4).
    mu = np.maximum(rng.uniform(0, 1, n) ** 0.25, 0.05)
    phi = rng.uniform(0, 2 * np.pi, n)
    length = np.minimum(sensor.depth_um * np.sqrt(1 - mu**2) / mu / sensor.pixel_um, 200.0)
    # Landau fluctuations, approximated by a Moyal distribution (-ln z**2, z Gaussian).
    moyal = -np.log(np.maximum(rng.standard_normal(n) ** 2, 1e-12))
    per_um = _CR_ELECTRONS_PER_UM * np.maximum(1 + 0.2 * moyal, 0.4)
    heavy = rng.uniform(0, 1, n) < _CR_HEAVY_FRACTION
    per_um = np.where(heavy, per_um * rng.uniform(3, 10, n), per_um)
    adu = per_um * sensor.depth_um / mu / _GAINS[example]
    # Each track as many points of charge, jittered by diffusion, each landing in a pixel.
    hits, rows, cols, charges = [], [], [], []
    for k in range(n):
        points = max(16, math.ceil(8 * length[k]))
        t = (np.arange(points) + 0.5) / points - 0.5
        jitter = rng.standard_normal((2, points)) * sensor.diffusion_px
        r = np.floor(row0[k] + t * length[k] * math.sin(phi[k]) + jitter[0]).astype(np.int64)
        c = np.floor(col0[k] + t * length[k] * math.cos(phi[k]) + jitter[1]).astype(np.int64)
        inside = (r >= 0) & (r < nrow) & (c >= 0) & (c < ncol)
        hits.append(np.full(np.count_nonzero(inside), k))
        rows.append(r[inside])
        cols.append(c[inside])
        charges.append(np.full(np.count_nonzero(inside), adu[k] / points))
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return CosmicRays(empty, empty, empty, np.zeros(0))
    key = (np.concatenate(hits) * nrow + np.concatenate(rows)) * ncol + np.concatenate(cols)
    unique, inverse = np.unique(key, return_inverse=True)
    total = np.bincount(inverse, weights=np.concatenate(charges))
    hit, pixel = np.divmod(unique, nrow * ncol)
    return CosmicRays(hit, pixel // ncol, pixel % ncol, total)


# --------------------------------------------------------------------------------------------
# Example 3: a night of dithered science frames
# --------------------------------------------------------------------------------------------

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
_FULL_WELL_E = 100_000.0
_DRAIN_FACTOR = 100.0
_BINNED_FULL_WELL = 4 * _FULL_WELL_E / EXAMPLE3_GAIN  # ADU
_DRAIN_LIMIT = _DRAIN_FACTOR * _BINNED_FULL_WELL  # ADU
# The moonlit sky is brighter towards the Moon: a plane across the chip of 1.8 % at the
# first frame, which weakens to 1.1 % and turns by 45 degrees as the Moon sinks and moves
# west over the three hours.
_NIGHT_GRADIENT = (0.018, -0.0025)  # amplitude at the first frame, change per hour
_NIGHT_ANGLE = (250.0, -15.5)  # degrees at the first frame, change per hour


class Galaxies(NamedTuple):
    """Galaxies in one example 3 frame, one array element per galaxy.

    Each is an elliptical Sersic profile ``I(a) = I_e exp(-b_n ((a / radius)**(1 / n) - 1))``,
    with ``a`` the elliptical radius (along the major axis); its core is softened over the
    seeing's half width rather than convolved with the star images.

    Attributes
    ----------
    row, col : numpy.ndarray of float
        Centres (0-based row and column) in this frame.
    flux : numpy.ndarray of float
        Total counts in this frame, ADU, on pixels of median response (``true_flat == 1``).
    magnitude : numpy.ndarray of float
        Total r magnitude.
    radius : numpy.ndarray of float
        Half-light radius along the major axis, binned pixels.
    sersic : numpy.ndarray of float
        Sersic index ``n``: 1 for an exponential disc, 4 for an elliptical.
    axis_ratio : numpy.ndarray of float
        Minor over major axis.
    angle : numpy.ndarray of float
        Direction of the major axis, degrees counter-clockwise from the +column axis towards
        the +row axis.
    """

    row: np.ndarray
    col: np.ndarray
    flux: np.ndarray
    magnitude: np.ndarray
    radius: np.ndarray
    sersic: np.ndarray
    axis_ratio: np.ndarray
    angle: np.ndarray


class Sources(NamedTuple):
    """Stars and galaxies of one example 3 frame.

    Attributes
    ----------
    stars : Stars
        The stars, brightest first, in this frame's pixel coordinates.
    galaxies : Galaxies
        The galaxies, in this frame's pixel coordinates.
    offset : tuple of float
        The frame's offset (rows, columns) of the sky, binned pixels: its dither (or, for
        the tracked variant, its drift).
    """

    stars: Stars
    galaxies: Galaxies
    offset: tuple[float, float]


class Sky(NamedTuple):
    """The sky of one example 3 frame.

    The sky's light on a pixel at ``x``, ``y`` (columns and rows, from -0.5 to 0.5 across the
    chip) is ``level * (1 + amplitude * sin(angle) * y) * (1 + amplitude * cos(angle) * x)``
    ADU, before the response (:func:`true_flat`) multiplies it.

    Attributes
    ----------
    level : float
        Sky level at the chip's centre, ADU (:data:`EXAMPLE3_SKY_LEVELS`).
    amplitude : float
        Fractional change of the sky across the chip along the gradient.
    angle : float
        Direction of increasing sky brightness, degrees counter-clockwise from the +column
        axis towards the +row axis.
    """

    level: float
    amplitude: float
    angle: float


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
    index = _check_index(3, index)
    hours = _hours_since_first(index)
    amplitude = _NIGHT_GRADIENT[0] + _NIGHT_GRADIENT[1] * hours
    angle = _NIGHT_ANGLE[0] + _NIGHT_ANGLE[1] * hours
    return Sky(EXAMPLE3_SKY_LEVELS[index], amplitude, angle)


def _night_field() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the row, column and r magnitude of example 3's stars (brightest first).

    Coordinates are those of the undithered chip; the field reaches :data:`_NIGHT_MARGIN`
    pixels beyond its edges, so that the dithered frames are filled to their edges.
    """
    rng = _rng(3, -1, _STREAM_STARS)
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


def _sersic_b(n: np.ndarray) -> np.ndarray:
    """Return the Sersic b_n for which the radius parameter is the half-light radius."""
    return 2 * n - 1 / 3 + 4 / (405 * n) + 46 / (25515 * n**2)


def _check_tracked(tracked: object) -> bool:
    """Validate the ``tracked`` option (a bool) and return it."""
    if not isinstance(tracked, (bool, np.bool_)):
        raise ValueError(f"tracked must be True or False, not {tracked!r}")
    return bool(tracked)


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
    index = _check_index(3, index)
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


def _add_night_stars(image: np.ndarray, stars: Stars) -> None:
    """Add the Moffat images of ``stars`` to ``image`` in place (ADU, no response).

    Each star is drawn out to where its profile falls below :data:`_NIGHT_PROFILE_FLOOR`. The
    many faint stars are drawn together on stamps of one size, the others one by one.
    """
    nrow, ncol = image.shape
    alpha = stars.fwhm / (2 * np.sqrt(2 ** (1 / _NIGHT_BETA) - 1))
    ratio = np.maximum(stars.peak / _NIGHT_PROFILE_FLOOR, 1.0)
    reach = alpha * np.sqrt(ratio ** (1 / _NIGHT_BETA) - 1)
    half = np.ceil(np.maximum(2 * stars.fwhm, reach)).astype(np.int64)
    small = half <= _NIGHT_SMALL_STAR
    # Stars whose stamp misses the chip altogether are skipped.
    on_chip = (
        (stars.row + half >= 0)
        & (stars.row - half <= nrow - 1)
        & (stars.col + half >= 0)
        & (stars.col - half <= ncol - 1)
    )
    big = np.flatnonzero(~small & on_chip)
    for k in big:
        r0, r1 = _box(stars.row[k], int(half[k]), nrow)
        c0, c1 = _box(stars.col[k], int(half[k]), ncol)
        dr = (np.arange(r0, r1) - stars.row[k])[:, None]
        dc = (np.arange(c0, c1) - stars.col[k])[None, :]
        profile = (1 + (dr**2 + dc**2) / alpha[k] ** 2) ** -_NIGHT_BETA
        image[r0:r1, c0:c1] += (stars.peak[k] * profile).astype(np.float32)
    few = np.flatnonzero(small & on_chip)
    if few.size == 0:
        return
    h = _NIGHT_SMALL_STAR
    offsets = np.arange(-h, h + 1)
    r_int = np.round(stars.row[few]).astype(np.int64)
    c_int = np.round(stars.col[few]).astype(np.int64)
    rows = r_int[:, None, None] + offsets[None, :, None]
    cols = c_int[:, None, None] + offsets[None, None, :]
    dr2 = ((rows - stars.row[few][:, None, None]) ** 2).astype(np.float32)
    dc2 = ((cols - stars.col[few][:, None, None]) ** 2).astype(np.float32)
    a2 = (alpha[few] ** 2).astype(np.float32)[:, None, None]
    profile = np.power(1 + (dr2 + dc2) / a2, np.float32(-_NIGHT_BETA))
    profile *= stars.peak[few].astype(np.float32)[:, None, None]
    inside = (
        (rows >= 0)
        & (rows < nrow)
        & (cols >= 0)
        & (cols < ncol)
        & (np.abs(rows - r_int[:, None, None]) <= half[few][:, None, None])
        & (np.abs(cols - c_int[:, None, None]) <= half[few][:, None, None])
    )
    flat_index = (rows * ncol + cols)[inside]
    light = np.bincount(flat_index, weights=profile[inside], minlength=nrow * ncol)
    image += light.reshape(nrow, ncol).astype(np.float32)


def _add_galaxies(image: np.ndarray, galaxies: Galaxies, fwhm: float) -> None:
    """Add the Sersic profiles of ``galaxies`` to ``image`` in place (ADU, no response)."""
    nrow, ncol = image.shape
    soft2 = (fwhm / 2) ** 2
    for row, col, flux, _mag, radius, n, q, angle in zip(*galaxies, strict=True):
        b = float(_sersic_b(np.float64(n)))
        # Total flux of an elliptical Sersic profile: 2 pi n q Re^2 I_e e^b Gamma(2n) / b^2n.
        norm = 2 * math.pi * n * q * radius**2 * math.exp(b) * math.gamma(2 * n) / b ** (2 * n)
        i_e = flux / norm
        reach = radius * (1 + math.log(max(i_e / _NIGHT_PROFILE_FLOOR, 1.0)) / b) ** n
        half = min(math.ceil(reach), _NIGHT_GALAXY_REACH)
        r0, r1 = _box(row, half, nrow)
        c0, c1 = _box(col, half, ncol)
        if r0 >= r1 or c0 >= c1:
            continue
        theta = math.radians(angle)
        dr = (np.arange(r0, r1) - row).astype(np.float32)[:, None]
        dc = (np.arange(c0, c1) - col).astype(np.float32)[None, :]
        major = dc * np.float32(math.cos(theta)) + dr * np.float32(math.sin(theta))
        minor = dr * np.float32(math.cos(theta)) - dc * np.float32(math.sin(theta))
        a2 = major**2
        a2 += (minor / np.float32(q)) ** 2
        a2 += np.float32(soft2)
        a2 /= np.float32(radius**2)
        profile = np.power(a2, np.float32(0.5 / n), out=a2)
        profile -= np.float32(1.0)
        profile *= np.float32(-b)
        np.exp(profile, out=profile)
        profile *= np.float32(i_e)
        image[r0:r1, c0:c1] += profile


def _source_image(index: int, tracked: bool) -> np.ndarray:
    """Return the noiseless light of the stars and galaxies of a frame (float32, ADU)."""
    sources = example3_sources(index, tracked=tracked)
    image = np.zeros(EXAMPLE3_SHAPE, dtype=np.float32)
    _add_galaxies(image, sources.galaxies, _NIGHT_FWHM[index])
    _add_night_stars(image, sources.stars)
    return image


def example3_source_image(index: int, *, tracked: bool = False) -> np.ndarray:
    """Return the noiseless light of the stars and galaxies in frame ``index`` of example 3.

    This is the light as it arrives at the chip, before the response: the frame holds
    ``(sky + this) * true_flat(3, "r")``, then bleeding, noise and cosmic rays, capped at
    :data:`EXAMPLE3_SATURATE`. Each source is drawn out to where it falls below 0.2 ADU
    (about 1/200 of the sky's noise per pixel), so ``image > t`` for a small ``t`` marks the
    pixels that hold source light; bleed trails are not in it.

    Parameters
    ----------
    index : int
        0-based frame index.
    tracked : bool, optional
        Return the light of the tracked variant's frame rather than the dithered one's.

    Returns
    -------
    numpy.ndarray
        float32, shape :data:`EXAMPLE3_SHAPE`, ADU; 0 where no source contributes.

    Raises
    ------
    ValueError
        If ``index`` is out of range or ``tracked`` is not a bool.
    """
    index = _check_index(3, index)
    return _source_image(index, _check_tracked(tracked))


def _spill(column: np.ndarray, amount: float) -> None:
    """Spill ``amount`` ADU of charge into ``column`` (a view, nearest pixel first).

    Each pixel is filled up to a binned pixel's full well before the charge moves on; what
    is left at the end of the column is lost (it leaves the chip).
    """
    room = np.maximum(np.float32(_BINNED_FULL_WELL) - column, 0).astype(np.float64)
    filled = np.cumsum(room)
    full = int(np.searchsorted(filled, amount, side="right"))
    column[:full] += room[:full].astype(np.float32)
    if full < column.size:
        column[full] += np.float32(amount - (filled[full - 1] if full else 0.0))


def _bleed(frame: np.ndarray, stars: Stars) -> None:
    """Let the charge of stars that overload the anti-blooming drains run along columns.

    In every column through such a star, the charge above :data:`_DRAIN_LIMIT` is removed
    from the overloaded pixels and spilled half towards lower and half towards higher rows,
    starting next to the overloaded run, so the column's charge is conserved (but for what
    runs off the chip).
    """
    nrow, ncol = frame.shape
    for row, col, peak, fwhm in zip(stars.row, stars.col, stars.peak, stars.fwhm, strict=True):
        if peak * 1.2 < _DRAIN_LIMIT:  # stars are brightest first: no later one bleeds
            break
        half = math.ceil(3 * fwhm)
        r0, r1 = _box(row, half, nrow)
        c0, c1 = _box(col, half, ncol)
        if r0 >= r1 or c0 >= c1:
            continue
        for c in range(c0, c1):
            values = frame[r0:r1, c]
            over = np.flatnonzero(values > _DRAIN_LIMIT)
            if over.size == 0:
                continue
            excess = float(np.sum(values[over] - np.float32(_DRAIN_LIMIT), dtype=np.float64))
            values[over] = np.float32(_DRAIN_LIMIT)
            first, last = r0 + int(over[0]), r0 + int(over[-1])
            _spill(frame[first - 1 :: -1, c] if first > 0 else frame[0:0, c], excess / 2)
            _spill(frame[last + 1 :, c], excess / 2)


def default_folder(example: int) -> Path:
    """Return the default folder of an example: ``notebooks/exampleN-reduced`` here.

    Parameters
    ----------
    example : {1, 2, 3}
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
    example : {1, 2, 3}
        Example number.

    Returns
    -------
    tuple of str
        :data:`EXAMPLE1_FILES`, :data:`EXAMPLE2_FILES` or :data:`EXAMPLE3_FILES` (the
        tracked variant of example 3 is :data:`EXAMPLE3_TRACKED_FILES`).
    """
    return _FILES[_check_example(example)]


def example_medians(example: int) -> tuple[float, ...]:
    """Return the target median (ADU) of each of an example's frames, in order.

    Parameters
    ----------
    example : {1, 2, 3}
        Example number.

    Returns
    -------
    tuple of float
        :data:`EXAMPLE1_MEDIANS` or :data:`EXAMPLE2_MEDIANS`, with which the simulated
        frames' medians agree to better than 0.2 %; for example 3 the sky levels,
        :data:`EXAMPLE3_SKY_LEVELS`, with which the frames' medians agree to 0.1 % (the
        sources' light raises them a little; the pixels free of it, divided by the sky's
        gradient and :func:`true_flat`, have the sky level as their median to 0.05 %).
    """
    return _MEDIANS[_check_example(example)]


def _check_example(example: object, allowed: Sequence[int] = _EXAMPLES) -> int:
    """Validate an example number (one of ``allowed``) and return it as an int."""
    if (
        isinstance(example, bool)
        or not isinstance(example, (int, np.integer))
        or int(example) not in allowed
    ):
        names = [str(e) for e in allowed]
        listed = ", ".join(names[:-1]) + " or " + names[-1]
        raise ValueError(f"example must be {listed}, not {example!r}")
    return int(example)


# --------------------------------------------------------------------------------------------
# Response maps
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


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], cell: int) -> np.ndarray:
    """Return a smooth random field (float32, rms 1) varying over ``cell`` pixels.

    White noise on a grid of ``cell``-pixel cells, smoothed over a cell or two and
    interpolated linearly to every pixel: cheap, and free of any structure from pixel to
    pixel.
    """
    coarse = rng.standard_normal((shape[0] // cell + 4, shape[1] // cell + 4))
    kernel = np.exp(-0.5 * np.arange(-3, 4) ** 2)
    kernel /= math.sqrt(float(np.sum(kernel**2)))  # keeps the rms of white noise at 1
    for axis in (0, 1):
        coarse = sum(
            w * np.roll(coarse, s, axis=axis) for s, w in zip(range(-3, 4), kernel, strict=True)
        )

    def weights(n: int) -> tuple[np.ndarray, np.ndarray]:
        position = (np.arange(n) + 0.5) / cell + 1.0
        lower = np.floor(position).astype(np.int64)
        return lower, (position - lower).astype(np.float32)

    c0, wc = weights(shape[1])
    across = (coarse[:, c0] * (1 - wc) + coarse[:, c0 + 1] * wc).astype(np.float32)
    r0, wr = weights(shape[0])
    field = across[r0]
    field *= (1 - wr)[:, None]
    field += across[r0 + 1] * wr[:, None]
    field /= np.float32(field[::8, ::8].std())
    return field


def _apply_defects(image: np.ndarray, example: int) -> None:
    """Multiply ``image`` in place by the response of the chip's defects."""
    defects = example_defects(example)
    for column, first, response in zip(
        defects.column, defects.first_row, defects.column_response, strict=True
    ):
        image[first:, column] *= np.float32(response)
    image[defects.row, defects.col] *= defects.response.astype(np.float32)


# Pixel-to-pixel response of the thinned chip: a part common to both filters (pixel areas,
# 0.30 %), plus a part from the back surface that blue light feels most (0.52 % in g',
# 0.18 % in i'): 0.60 % and 0.35 % rms in all.  The surface also leaves a mottle on scales
# of some 30 pixels, 0.25 % rms in g', 0.08 % in i'.
_PIXEL_COMMON = 0.0030
_PIXEL_SURFACE = {"g'": 0.0052, "i'": 0.0018}
_MOTTLE = {"g'": 0.0025, "i'": 0.0008}
_MOTTLE_CELL = 32


def _example1_maps(filters: Sequence[str]) -> dict[str, np.ndarray]:
    """Build the example 1 response map (float32) of each filter in ``filters``.

    The map is the dome illumination (a smooth, filter-dependent few-per-cent term) times the
    chip's response: pixel-to-pixel variations and a mottle (stronger in g'), faint steps
    between the blocks the chip's layout was stitched from, a cross-hatch from thinning
    (stronger in g'), in i' a smooth change of response with the membrane's thickness (and a
    faint residue of interference fringes), dark spots where the thinning was uneven (deeper
    in g'), and the chip's defects.
    """
    nrow, ncol = EXAMPLE1_SHAPE
    y = _norm_coord(nrow)
    x = _norm_coord(ncol)
    rows = np.arange(nrow)
    cols = np.arange(ncol)
    rng = _rng(1, -1, _STREAM_MAP)

    common = rng.standard_normal(EXAMPLE1_SHAPE, dtype=np.float32)
    common *= np.float32(_PIXEL_COMMON)
    common += np.float32(1.0)
    surface = rng.standard_normal(EXAMPLE1_SHAPE, dtype=np.float32)
    mottle = _smooth_field(rng, EXAMPLE1_SHAPE, _MOTTLE_CELL)
    # Stitching steps: 4 blocks of 1032 rows and 4 of 512 columns.
    row_step = rng.uniform(-0.0015, 0.0015, 4)[rows // 1032]
    col_step = rng.uniform(-0.0015, 0.0015, 4)[cols // 512]
    common *= (1.0 + row_step).astype(np.float32)[:, None]
    common *= (1.0 + col_step).astype(np.float32)[None, :]

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
        sens = np.multiply(surface, np.float32(_PIXEL_SURFACE[name]))
        sens += mottle * np.float32(_MOTTLE[name])
        sens += common
        sens *= np.multiply(hatch_r[:, None], hatch_c[None, :] * np.float32(hatch)) + 1
        sens *= illum_r.astype(np.float32)[:, None]
        sens *= illum_c.astype(np.float32)[None, :]
        if name == "i'":
            # The thinned membrane is not equally thick everywhere.  ``thick`` is its
            # thickness in units of lambda / 2n (about 0.1 micron in i'), some 30 units
            # (3 microns) from corner to corner.  Red light is partly transmitted, so the
            # response follows the thickness smoothly: 1.5 % from thinnest to thickest.
            # Each change of lambda / 2n would also make an interference fringe, of some
            # 10 % to 20 % in monochromatic light.  A broadband dome lamp lights the chip
            # with light coherent over only lambda**2 / dlambda, about 4 microns, against a
            # round trip through the chip of 2 n d, about 110 microns: the fringes average
            # out over the band to well under a per cent of themselves, a residue of
            # 0.05 % amplitude (0.1 % peak to peak), below one frame's noise.
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
            thick *= np.float32(_FRINGE_AMPLITUDE)
            thick += np.float32(1.0)
            sens *= thick
            del thick
        spots = example1_spots(filter_name=name)
        for r, c, d, depth in zip(*spots, strict=True):
            _multiply_ring(sens, r, c, d / 2, depth, width=max(0.6, d / 12))
        _apply_defects(sens, 1)
        maps[name] = sens
    return maps


_FRINGE_AMPLITUDE = 0.0005  # i' fringe residue in dome light: 0.1 % peak to peak
_EXAMPLE2_PIXEL = 0.007  # pixel-to-pixel response of the front-side illuminated chip


def _example2_map() -> np.ndarray:
    """Build the example 2 response map (float32).

    Pixel-to-pixel response variations (0.7 % rms), vignetting (a smooth radial fall-off,
    about 10 % in the corners, centred slightly off the chip's centre), dust donuts and the
    chip's defects.
    """
    nrow, ncol = EXAMPLE2_SHAPE
    rng = _rng(2, -1, _STREAM_MAP)
    sens = rng.standard_normal(EXAMPLE2_SHAPE, dtype=np.float32)
    sens *= np.float32(_EXAMPLE2_PIXEL)
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
    _apply_defects(sens, 2)
    return sens


def _example3_map() -> np.ndarray:
    """Build the example 3 response map: example 2's, binned 2 x 2, normalised to median 1.

    A binned pixel collects the charge of 2 x 2 pixels, so its response is their mean
    response (float32).
    """
    fine = _example2_map()
    nrow, ncol = EXAMPLE3_SHAPE
    binned = fine.reshape(nrow, 2, ncol, 2).sum(axis=(1, 3), dtype=np.float64)
    del fine
    binned /= 4.0
    binned /= np.median(binned)
    return binned.astype(np.float32)


def _ramps(shape: tuple[int, int], amplitude: float, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Return the row and column ramps (float32) of a planar sky gradient on ``shape``."""
    theta = math.radians(angle)
    y = np.linspace(-0.5, 0.5, shape[0])
    x = np.linspace(-0.5, 0.5, shape[1])
    ramp_r = 1.0 + amplitude * math.sin(theta) * y
    ramp_c = 1.0 + amplitude * math.cos(theta) * x
    return ramp_r.astype(np.float32), ramp_c.astype(np.float32)


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
    """Add shot and read noise to ``frame`` (ADU) in place: one Gaussian draw per pixel.

    The Gaussian numbers come from uniform ones by the Box-Muller transform in single
    precision, which is faster here than NumPy's own normal generator; with 24-bit uniform
    numbers it reaches out to 5.8 sigma, beyond which a frame would hold a pixel only once
    in about ten frames.
    """
    nrow, ncol = frame.shape
    size = _ROW_BLOCK * ncol  # even, so the pairs of Box-Muller fill a block exactly
    uniform = np.empty(size, dtype=np.float32)
    gauss = np.empty(size, dtype=np.float32)
    sigma = np.empty((_ROW_BLOCK, ncol), dtype=np.float32)
    inv_gain = np.float32(1.0 / gain)
    read_var = np.float32((read_noise / gain) ** 2)
    for start in range(0, nrow, _ROW_BLOCK):
        block = frame[start : start + _ROW_BLOCK]
        n = block.size
        half = (n + 1) // 2
        u = uniform[: 2 * half]
        rng.random(dtype=np.float32, out=u)
        radius, angle = u[:half], u[half:]
        np.subtract(np.float32(1.0), radius, out=radius)  # in (0, 1]: a finite logarithm
        np.log(radius, out=radius)
        radius *= np.float32(-2.0)
        np.sqrt(radius, out=radius)
        angle *= np.float32(2 * np.pi)
        z = gauss[: 2 * half]
        np.cos(angle, out=z[:half])
        np.sin(angle, out=z[half:])
        z[:half] *= radius
        z[half:] *= radius
        sb = sigma[: block.shape[0]]
        np.multiply(block, inv_gain, out=sb)
        sb += read_var
        np.sqrt(sb, out=sb)
        sb *= z[:n].reshape(block.shape)
        block += sb
        if saturate is not None:
            np.minimum(block, np.float32(saturate), out=block)


def _add_cosmic_rays(frame: np.ndarray, rays: CosmicRays, saturate: float | None) -> None:
    """Add cosmic-ray charge to ``frame`` in place, capped at ``saturate`` if given."""
    np.add.at(frame, (rays.row, rays.col), rays.adu.astype(np.float32))
    if saturate is not None:
        frame[rays.row, rays.col] = np.minimum(frame[rays.row, rays.col], np.float32(saturate))


def _add_stars(frame: np.ndarray, stars: Stars, response: np.ndarray, scale: float) -> None:
    """Add Moffat star images to ``frame`` in place, seen through ``response * scale``.

    Each star is drawn out to where its profile falls below half an ADU.
    """
    nrow, ncol = frame.shape
    for row, col, peak, fwhm in zip(stars.row, stars.col, stars.peak, stars.fwhm, strict=True):
        alpha = _moffat_alpha(fwhm)
        reach = alpha * math.sqrt(max((2 * peak) ** (1 / _MOFFAT_BETA) - 1, 0.0))
        half = math.ceil(max(2 * fwhm, reach))
        r0, r1 = _box(row, half, nrow)
        c0, c1 = _box(col, half, ncol)
        dr = (np.arange(r0, r1) - row)[:, None]
        dc = (np.arange(c0, c1) - col)[None, :]
        profile = peak * scale * (1 + (dr**2 + dc**2) / alpha**2) ** -_MOFFAT_BETA
        frame[r0:r1, c0:c1] += profile.astype(np.float32) * response[r0:r1, c0:c1]


def _subsample_median(image: np.ndarray) -> float:
    """Return the median of a regular subsample of ``image`` (precise to about 1e-4)."""
    return float(np.median(image[::_SUBSAMPLE, ::_SUBSAMPLE]))


def _example1_frame(index: int, sens: np.ndarray, sens_median: float) -> np.ndarray:
    """Simulate the pixels of example 1 frame ``index`` from its filter's map."""
    level = np.float32(EXAMPLE1_MEDIANS[index] / sens_median)
    frame = np.multiply(sens, level)
    _add_noise(frame, _rng(1, index, _STREAM_NOISE), EXAMPLE1_GAIN, EXAMPLE1_READ_NOISE, None)
    _add_cosmic_rays(frame, example_cosmic_rays(1, index), None)
    return frame


def _example2_frame(index: int, sens: np.ndarray, sens_median: float) -> np.ndarray:
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
    _add_stars(frame, example2_stars(index), sens, 1 / sens_median)
    _add_noise(
        frame,
        _rng(2, index, _STREAM_NOISE),
        EXAMPLE2_GAIN,
        EXAMPLE2_READ_NOISE,
        EXAMPLE2_SATURATE,
    )
    _add_cosmic_rays(frame, example_cosmic_rays(2, index), EXAMPLE2_SATURATE)
    return frame


def _example3_frame(index: int, response: np.ndarray, tracked: bool) -> np.ndarray:
    """Simulate the pixels of example 3 frame ``index`` from the binned response (median 1)."""
    sky = example3_sky(index)
    ramp_r, ramp_c = _ramps(EXAMPLE3_SHAPE, sky.amplitude, sky.angle)
    ramp_r *= np.float32(sky.level)
    frame = _source_image(index, tracked)
    for start in range(0, EXAMPLE3_SHAPE[0], _ROW_BLOCK):
        stop = start + _ROW_BLOCK
        block = frame[start:stop]
        block += ramp_r[start:stop, None] * ramp_c[None, :]
        block *= response[start:stop]
    _bleed(frame, example3_sources(index, tracked=tracked).stars)
    _add_noise(
        frame,
        _rng(3, index, _STREAM_NOISE),
        EXAMPLE3_GAIN,
        EXAMPLE3_READ_NOISE,
        EXAMPLE3_SATURATE,
    )
    _add_cosmic_rays(frame, example_cosmic_rays(3, index), EXAMPLE3_SATURATE)
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


def _example3_header(index: int, tracked: bool) -> fits.Header:
    """Return the header of example 3 frame ``index`` (dithered or tracked)."""
    header = fits.Header()
    header["IMAGETYP"] = ("LIGHT", "Type of image")
    header["OBJECT"] = ("galaxy field", "Target")
    header["FILTER"] = ("r", "Filter name")
    header["EXPTIME"] = (EXAMPLE3_EXPTIMES[index], "[s] Exposure time")
    header["EXPOSURE"] = (EXAMPLE3_EXPTIMES[index], "[s] Exposure time")
    header["DATE-OBS"] = (EXAMPLE3_DATE_OBS[index], "UTC date and time of exposure start")
    header["MJD-OBS"] = (_mjd(EXAMPLE3_DATE_OBS[index]), "[d] Modified Julian Date of DATE-OBS")
    header["INSTRUME"] = ("Andor Aspen CG16M", "Camera")
    header["TELESCOP"] = ("0.6 m f/8 reflector", "Telescope")
    header["DETECTOR"] = ("KAF-16803", "Front-illuminated CCD sensor")
    header["XBINNING"] = (2, "Binning factor in width")
    header["YBINNING"] = (2, "Binning factor in height")
    header["XPIXSZ"] = (18.0, "[um] Binned pixel width")
    header["YPIXSZ"] = (18.0, "[um] Binned pixel height")
    header["CCD-TEMP"] = (-25.0, "[C] Sensor temperature (TE cooled)")
    header["GAIN"] = (EXAMPLE3_GAIN, "[e-/adu] Gain")
    header["RDNOISE"] = (EXAMPLE3_READ_NOISE, "[e-] Read noise")
    header["SATURATE"] = (EXAMPLE3_SATURATE, "[adu] Saturation level of calibrated data")
    header["SIMDITH"] = (not tracked, "Simulation: pointing dithered between frames")
    _common_header(header, index)
    return header


class _Camera:
    """Lazily built response maps of one example, shared (read-only) by its frames."""

    def __init__(self, example: int, indices: Sequence[int], *, tracked: bool = False) -> None:
        self.example = example
        self.tracked = tracked
        self.maps: dict[str, np.ndarray] = {}
        if example == 1:
            self.maps = _example1_maps(sorted({EXAMPLE1_FILTERS[i] for i in indices}))
        elif indices:
            self.maps = {"r": _example2_map() if example == 2 else _example3_map()}
        self.medians = {name: _subsample_median(m) for name, m in self.maps.items()}

    def frame(self, index: int) -> tuple[np.ndarray, fits.Header]:
        """Return the pixel data and header of frame ``index``."""
        if self.example == 1:
            name = EXAMPLE1_FILTERS[index]
            data = _example1_frame(index, self.maps[name], self.medians[name])
            return data, _example1_header(index)
        if self.example == 3:
            data = _example3_frame(index, self.maps["r"], self.tracked)
            return data, _example3_header(index, self.tracked)
        data = _example2_frame(index, self.maps["r"], self.medians["r"])
        return data, _example2_header(index)


def _simulate_frame(
    example: int, index: int, *, tracked: bool = False
) -> tuple[np.ndarray, fits.Header]:
    """Return (data, header) of one frame, building the camera's maps just for it."""
    example = _check_example(example)
    index = _check_index(example, index)
    return _Camera(example, [index], tracked=tracked).frame(index)


def true_flat(example: int, filter: str) -> np.ndarray:
    """Return the response the frames of an example and filter were drawn from.

    This is what a perfect combination of the frames would recover, and what no real data
    set comes with: everything multiplicative that the flat should record, the illumination
    of the chip times the response of each pixel, normalised to a median of 1 and computed
    without writing any file (a second or two).

    Example 1 (g' or i'): the dome illumination, the pixel-to-pixel response and mottle, the
    stitching steps, the cross-hatch, the spots, in i' the thickness pattern and its fringe
    residue, and the defects (dead pixels are 0). Example 2 (r): the vignetting, the
    pixel-to-pixel response, the dust donuts and the defects. A frame is ``level`` times
    this (Example 2: times :func:`example2_sky_gradient`, too), plus stars (Example 2),
    noise and cosmic rays, capped at :data:`EXAMPLE2_SATURATE`. Example 3 (r): Example 2's
    response (before the twilight gradient) binned 2 x 2, the mean of each block of four
    pixels, renormalised to a median of 1; its frames are
    ``(sky + example3_source_image) * true_flat(3, "r")``, then bleeding, noise and cosmic
    rays.

    Not included: anything additive or anything that changes from frame to frame, which a
    combination must remove or average: noise, cosmic rays, stars (they add light) and the
    twilight sky's gradient (light of the sky, not a property of the telescope, and
    different in every frame; a combination of twilight flats records its average, about
    1.25 % across the chip, which is the combined flat's error), and Example 3's moonlit
    sky gradient (:func:`example3_sky`).

    Parameters
    ----------
    example : {1, 2, 3}
        Example number.
    filter : str
        ``"g'"`` or ``"i'"`` for Example 1, ``"r"`` for Examples 2 and 3.

    Returns
    -------
    numpy.ndarray
        float32, the shape of the example's frames, median 1.

    Raises
    ------
    ValueError
        For an unknown example or a filter the example does not have; the message lists
        the valid ones.
    """
    try:
        example = _check_example(example)
    except ValueError:
        raise ValueError(
            f"example must be 1, 2 or 3, not {example!r} (example 1 has filters g' and i', "
            "examples 2 and 3 have r)"
        ) from None
    filters = _FILTERS[example]
    if filter not in filters:
        raise ValueError(
            f"example {example} has no filter {filter!r}; choose one of {', '.join(filters)}"
        )
    if example == 3:
        return _example3_map()
    truth = _example1_maps([filter])[filter] if example == 1 else _example2_map()
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
    ours is ``"damaged"`` and is written again; any other file is not ours.  An error of the
    file system (one with an errno, such as a permission denied) is raised as it is.
    """
    if not path.is_file():
        return "it is not a regular file"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            header = fits.getheader(path)
    except (OSError, ValueError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise
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
        except (OSError, ValueError) as exc:
            if isinstance(exc, OSError) and exc.errno is not None:
                raise
            return "damaged"
    # astropy warns "Checksum verification failed ..." or "Datasum verification failed ...".
    if any(
        issubclass(w.category, AstropyUserWarning)
        and ("checksum" in str(w.message).lower() or "datasum" in str(w.message).lower())
        for w in caught
    ):
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
    tracked: bool = False,
) -> _EnsureResult:
    """Write an example's missing frames (or all of ours if ``overwrite_ours``)."""
    example = _check_example(example)
    tracked = _check_tracked(tracked)
    if tracked and example != 3:
        raise ValueError(f"tracked=True is for example 3 only, not example {example}")
    if tracked and folder is None:
        raise ValueError(
            "tracked=True needs an explicit folder: the tracked frames must not share the "
            "default folder of the dithered ones"
        )
    path = _prepare_folder(folder, example)
    names = EXAMPLE3_TRACKED_FILES if tracked else _FILES[example]
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

    camera = _Camera(example, todo, tracked=tracked)

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


def ensure_example_data(
    example: int, folder: str | os.PathLike[str] | None = None, *, tracked: bool = False
) -> Path:
    """Write the frames of example 1, 2 or 3 that are missing or damaged in ``folder``.

    Intact frames written earlier by this module are kept as they are; a frame of ours that
    was truncated or altered (its FITS checksum no longer matches) or that an older version
    of the simulation wrote is written again.  Temporary files that a killed run left (and
    only those) are removed.  A second call therefore reads the frames but writes nothing.

    Parameters
    ----------
    example : {1, 2, 3}
        Example number.
    folder : str or os.PathLike, optional
        Destination folder, created if needed.  Default: ``notebooks/exampleN-reduced``
        beside this module (N the example number).
    tracked : bool, optional
        Example 3 only: write the tracked (undithered) variant instead, files
        :data:`EXAMPLE3_TRACKED_FILES`, in which the sources stay on the same pixels (but
        for a drift of under a pixel).  It needs an explicit ``folder``: the default folder
        is for the dithered frames.

    Returns
    -------
    pathlib.Path
        The folder.

    Raises
    ------
    ValueError
        If ``example`` is not 1, 2 or 3, ``tracked`` is not a bool, is True for example 1
        or 2 or without a ``folder``, ``folder`` is an empty name or exists but is not a
        folder, or a file with one of the expected names exists that this module did not
        write (it is left untouched).
    OSError
        If a file could not be written, for example because the disk is full or permission
        is denied; the message names the file.  No partial file is left behind.
    """
    example = _check_example(example)
    return _ensure(example, folder, overwrite_ours=False, tracked=tracked).folder


def ensure_example1(folder: str | os.PathLike[str] | None = None) -> Path:
    """Write the missing example 1 frames into ``folder``: ``ensure_example_data(1, folder)``."""
    return ensure_example_data(1, folder)


def ensure_example2(folder: str | os.PathLike[str] | None = None) -> Path:
    """Write the missing example 2 frames into ``folder``: ``ensure_example_data(2, folder)``."""
    return ensure_example_data(2, folder)


def ensure_example3(folder: str | os.PathLike[str] | None = None, *, tracked: bool = False) -> Path:
    """Write the missing example 3 frames into ``folder``.

    ``ensure_example_data(3, folder, tracked=tracked)``: the twelve dithered night frames
    (:data:`EXAMPLE3_FILES`) or, with ``tracked=True`` and an explicit ``folder``, the tracked
    variant (:data:`EXAMPLE3_TRACKED_FILES`).

    Parameters
    ----------
    folder : str or os.PathLike, optional
        Destination folder, created if needed (default: ``notebooks/example3-reduced``;
        required when ``tracked`` is True).
    tracked : bool, optional
        Write the tracked (undithered) frames.

    Returns
    -------
    pathlib.Path
        The folder.

    Raises
    ------
    ValueError, OSError
        As for :func:`ensure_example_data`.
    """
    return ensure_example_data(3, folder, tracked=tracked)


def make_example(example: int, folder: str | os.PathLike[str], *, tracked: bool = False) -> Path:
    """Write all frames of an example into ``folder``, replacing earlier copies of ours.

    Parameters
    ----------
    example : {1, 2, 3}
        Example number.
    folder : str or os.PathLike
        Destination folder, created if needed.
    tracked : bool, optional
        Example 3 only: write the tracked (undithered) variant, as for
        :func:`ensure_example_data`.

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
    example = _check_example(example)
    return _ensure(example, folder, overwrite_ours=True, tracked=tracked).folder


def make_example1(folder: str | os.PathLike[str]) -> Path:
    """Write all example 1 frames into ``folder``: ``make_example(1, folder)``."""
    return make_example(1, folder)


def make_example2(folder: str | os.PathLike[str]) -> Path:
    """Write all example 2 frames into ``folder``: ``make_example(2, folder)``."""
    return make_example(2, folder)


def make_example3(folder: str | os.PathLike[str], *, tracked: bool = False) -> Path:
    """Write all example 3 frames into ``folder``: ``make_example(3, folder, tracked=...)``.

    Parameters
    ----------
    folder : str or os.PathLike
        Destination folder, created if needed.
    tracked : bool, optional
        Write the tracked (undithered) variant, files :data:`EXAMPLE3_TRACKED_FILES`, rather
        than the dithered frames, :data:`EXAMPLE3_FILES`.

    Returns
    -------
    pathlib.Path
        The folder.

    Raises
    ------
    ValueError, OSError
        As for :func:`ensure_example_data`.
    """
    return make_example(3, folder, tracked=tracked)


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
            "Write the simulated, calibrated frames (flats, night frames) of the course's "
            "worked examples. Only missing frames are written; existing frames and other files "
            "are kept."
        ),
    )
    parser.add_argument(
        "--example",
        type=int,
        choices=_EXAMPLES,
        help="which example to write (default: all three)",
    )
    parser.add_argument(
        "--folder",
        help=(
            "destination folder (needs --example; default: notebooks/exampleN-reduced "
            "beside this module)"
        ),
    )
    parser.add_argument(
        "--tracked",
        action="store_true",
        help=(
            "with --example 3 and --folder: write the tracked (undithered) variant, "
            "tracked-r-bin2-NNN.fit"
        ),
    )
    args = parser.parse_args(argv)
    if args.folder is not None and args.example is None:
        parser.error("--folder needs --example 1, 2 or 3")
    if args.tracked and (args.example != 3 or args.folder is None):
        parser.error("--tracked needs --example 3 and --folder")
    examples = (args.example,) if args.example is not None else _EXAMPLES
    for example in examples:
        try:
            result = _ensure(
                example,
                args.folder,
                overwrite_ours=False,
                progress=lambda name: print(f"  wrote {name}", flush=True),
                tracked=args.tracked,
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
