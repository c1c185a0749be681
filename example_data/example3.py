"""Example 3: twelve dithered night frames in r, the raw material of a night-sky flat.

Twelve science frames of one dark night, 600 s each over three hours, with the Example 2 camera
binned 2 x 2 on the chip (:data:`EXAMPLE3_CAMERA`: 2048 x 2048 pixels of 18 microns, 0.773
arcsec at f/8 on 0.6 m), dithered between exposures; a tracked (undithered) variant is
written only on request. This module holds the example's camera and record
(:data:`EXAMPLE3`), its constants, its moonless sky (:func:`example3_sky`), its stars and
galaxies (:func:`example3_sources`, :func:`example3_source_image`), its response (Example
2's, binned), and its noiseless frames (the builders of :mod:`example_data.examples`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from example_data import example2, night
from example_data.camera import (
    _ROW_BLOCK,
    _STREAM_GALAXIES,
    _STREAM_STARS,
    Example,
    _check_index,
    _check_tracked,
    _rng,
)
from example_data.example2 import _AXIS_NORMALISED, _ZERO_POINT, EXAMPLE2_CAMERA, EXAMPLE2_SHAPE
from example_data.maps import _chip_defects, _colour_ramps, _ramps
from example_data.noise import _add_hot_pixels, _hot_pixels
from example_data.sources import _add_galaxies, _add_night_stars, _bleed, _halo_amplitude
from example_data.truth import Galaxies, HotPixels, Sky, Sources, Stars

EXAMPLE3_SHAPE = (EXAMPLE2_SHAPE[0] // 2, EXAMPLE2_SHAPE[1] // 2)
"""Shape (rows, columns) of an example 3 frame: the example 2 chip binned 2 x 2."""
EXAMPLE3_FILES = tuple(f"sky-r-bin2-{i:03d}.fit" for i in range(1, 13))
"""File names of the example 3 frames (dithered), in order."""
EXAMPLE3_TRACKED_FILES = tuple(f"tracked-r-bin2-{i:03d}.fit" for i in range(1, 13))
"""File names of the frames of the tracked (undithered) variant of example 3, in order.

They differ from :data:`EXAMPLE3_FILES` so that the two sets cannot be mistaken for each
other, even in one folder."""
EXAMPLE3_EXPTIMES = (600.0,) * 12
"""Exposure time (s) of each example 3 frame."""
EXAMPLE3_DATE_OBS = (
    "2022-03-03T03:51:41.000",
    "2022-03-03T04:07:35.000",
    "2022-03-03T04:23:11.000",
    "2022-03-03T04:39:29.000",
    "2022-03-03T04:55:17.000",
    "2022-03-03T05:12:23.000",
    "2022-03-03T05:28:05.000",
    "2022-03-03T05:43:59.000",
    "2022-03-03T06:00:23.000",
    "2022-03-03T06:15:59.000",
    "2022-03-03T06:31:59.000",
    "2022-03-03T06:47:47.000",
)
"""DATE-OBS (UTC, start of exposure) of each example 3 frame: one every 16 minutes or so."""
EXAMPLE3_SKY_LEVELS = tuple(
    round(
        10 ** (0.4 * (21.9 - night.sky_brightness(i)))
        * EXAMPLE3_EXPTIMES[i]
        * (18e-6 * 206264.806 / 4.8) ** 2
    )
    for i in range(12)
)
"""Sky level (ADU) of each example 3 frame, at the chip's centre on a pixel of response 1.

A dark sky, the Moon 37 to 66 degrees below the horizon (:mod:`example_data.night`): 20.45
magnitudes per square arcsecond in r at the first frame, 20.75 at the last (1361 to 1040 ADU
in 600 s), darker as the field rises and its light crosses less
air (:func:`example3_sky`)."""
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
    observation=lambda index, tracked: night.observation_cards(
        index,
        (EXAMPLE3_TRACKED_OFFSETS if tracked else EXAMPLE3_DITHERS)[index],
        EXAMPLE3_SHAPE,
        EXAMPLE3_PIXEL_SCALE,
    ),
)
"""Example 3: its camera and frames (the medians are the sky levels)."""

# The same telescope and filter as Example 2, so the same zero point: a star of magnitude r
# gives 10**(0.4 * (21.9 - r)) ADU per second in all (binning sums the charge of 2 x 2
# pixels, it does not change the total).  A binned pixel covers 0.773 arcsec, 0.598 square
# arcsec, and the chip 26.4 arcmin, 0.19 square degrees.  The dark sky of 1361 to 1040 ADU
# in 600 s is 2.3 to 1.7 ADU per second per pixel: 20.45 to 20.75 magnitudes per square
# arcsec.  The exposures are long because the sky is faint: 600 s gives a sky of over a
# thousand ADU, whose photon noise, 26 to 30 ADU a pixel, outweighs the read noise (6.7 ADU)
# 15 to 20 times in variance; against it a star is detected at 5 sigma (within about 20 pixels
# of a 2 arcsec image) down to r = 21.5 or so.
_NIGHT_BETA = 2.5  # Moffat beta of the night's long exposures: broad wings
_NIGHT_FWHM = (2.6, 2.5, 2.4, 2.7, 2.9, 2.6, 2.3, 2.2, 2.5, 2.8, 2.6, 2.4)  # binned pixels
# Stars: one power law of the counts, N(< r) = 200 per square degree at r = 15, growing by
# 10**0.3 per magnitude (as at a moderate galactic latitude; at high latitude the faint
# counts grow more slowly), from r = 8 to 20.5, over the area the dithered chip sees.  Six
# bright stars, r = 6.9 to 10.1, are added at fixed places, more than a random field of this
# size holds (it would hold about one star brighter than r = 9), so that the frames show
# saturation and bleeding; none brighter, as an observer planning deep frames on a dark
# night picks a field without a star of r = 6 or so, whose halo stays above 1 % of the dark
# sky out to 200 pixels (on this sky, a star of r = 5.9 leaves its halo in a sky flat of
# these dithers: some 200 pixels beyond 7 sigmas).
_NIGHT_COUNT_AT_15 = 200.0  # stars per square degree brighter than r = 15
_NIGHT_COUNT_SLOPE = 0.30  # d log10 N / d magnitude
_NIGHT_MAGNITUDES = (8.0, 20.5)
_NIGHT_MARGIN = 110  # binned pixels of sky beyond each edge of the chip (covers the dithers)
_NIGHT_BRIGHT = (  # (row, column, r magnitude) in the coordinates of the undithered chip
    (1430.0, 610.0, 6.9),
    (520.0, 1510.0, 7.5),
    (1780.0, 1640.0, 8.0),
    (300.0, 380.0, 9.0),
    (1050.0, 1850.0, 9.6),
    (880.0, 240.0, 10.1),
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
# reaches the end of the column is lost.  In 600 s the brightest star overloads the drains
# in every frame, the second in all but the worst seeing.
# The full well and the drains' capacity are the camera's (EXAMPLE3_CAMERA.full_well_adu and
# .drain_limit_adu).
# The moonless sky is brighter towards the horizon, where its light crosses more air: across
# the chip's 0.44 degrees, Krisciunas & Schaefer's airmass gives 0.66 % at 43 degrees up,
# 0.23 % at 71 (:func:`example_data.night.sky_gradient`); the direction, away from the
# zenith, turns by 52 degrees over the night as the field rises in the east and crosses
# towards the meridian.
_CHIP_DEG = EXAMPLE3_SHAPE[1] * 18e-6 * 206264.806 / 4.8 / 3600
# Star halos.  Beyond its Moffat core a star image has an aureole that falls as a power of
# the radius, r**-2 to r**-3, out to arcminutes: light scattered by the mirrors' dust and
# micro-roughness and by the atmosphere (King 1971, PASP 83, 199; Racine 1996, PASP 108,
# 699).  We put 5 % of each star's light in a halo falling as r**-2.5 beyond one FWHM.
_NIGHT_HALO = (0.05, 2.5)  # fraction of the flux, logarithmic slope at large radii
_NIGHT_HALO_REACH = 1000  # pixels (13 arcmin): the brightest halos reach the whole chip
# Faint galaxies.  Counts from the SDSS: about 90 galaxies per square degree brighter than
# r = 17.77 (the main spectroscopic sample, Strauss et al. 2002, AJ 124, 1810), growing by
# 10**0.45 per magnitude to r = 21 (the slope of the r counts fainter than r = 18, Yasuda
# et al. 2001, AJ 122, 1104): some 2500 per square degree brighter than r = 21, about 480
# on the chip.  Half-light radii about 3 arcsec at r = 17 and 1 arcsec at r = 21, with a
# scatter of 0.2 dex (the sizes of SDSS galaxies, Shen et al. 2003, MNRAS 343, 978, at the
# redshifts of those magnitudes); 70 % discs (n = 1), 30 % spheroids (n = 4).
_GALAXY_COUNT = (90.0, 17.77, 0.45)  # per square degree brighter than r, r, d log10 N / dr
_GALAXY_MAGNITUDES = (14.0, 21.0)
_GALAXY_SIZE = (3.0, 17.0, -0.12, 0.2)  # arcsec at r, r, d log10 r_e / dr, scatter (dex)
# Charge traps (the low columns of Example 2's chip) take a fixed charge from each binned
# pixel that passes them: (1 - their response in Example 2) times 2400 e-, 48 to 160 ADU,
# 4 % to 15 % of the dark sky in 600 s (a few thousandths of a twilight flat's level).
_TRAP_ELECTRONS = 2400.0


def example3_sky(index: int) -> Sky:
    """Return the sky of frame ``index`` of example 3: its level and its gradient.

    A dark sky: the Moon, new, is 37 to 66 degrees below the horizon
    (:mod:`example_data.night`, whose numbers the headers carry: MOONALT, MOONILLU). The
    level falls from 1361 to 1040 ADU in 600 s (20.45 to 20.75 magnitudes per square
    arcsecond in r) as the field rises, from 43 to 71 degrees, and its light crosses less
    air; the sky is 0.66 % (first frame) to 0.23 % (last) brighter at the chip's edge
    towards the horizon than at the far edge. The gradient is a plane, simulated (like
    Example 2's) as the product of a row ramp and a column ramp. It is light of the sky, so
    :func:`true_flat` leaves it out; a sky flat made of these frames records it unless it
    is fitted and removed.

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
    amplitude, angle = night.sky_gradient(index, _CHIP_DEG)
    return Sky(float(EXAMPLE3_SKY_LEVELS[index]), amplitude, angle)


def _galaxy_field() -> Galaxies:
    """Return example 3's galaxies on the undithered chip: the five large, then the faint.

    Coordinates reach :data:`_NIGHT_MARGIN` pixels beyond the chip's edges; ``flux`` is per
    second.
    """
    rng = _rng(EXAMPLE3.number, -1, _STREAM_GALAXIES)
    nrow, ncol = EXAMPLE3_SHAPE
    size = (nrow + 2 * _NIGHT_MARGIN, ncol + 2 * _NIGHT_MARGIN)
    area_deg2 = size[0] * size[1] * (EXAMPLE3_PIXEL_SCALE / 3600) ** 2
    count, at, slope = _GALAXY_COUNT
    lo, hi = _GALAXY_MAGNITUDES
    n = int(
        rng.poisson(count * area_deg2 * (10 ** (slope * (hi - at)) - 10 ** (slope * (lo - at))))
    )
    a, b = 10 ** (slope * lo), 10 ** (slope * hi)
    magnitude = np.log10(a + rng.uniform(0, 1, n) * (b - a)) / slope
    r_e, at_r, size_slope, scatter = _GALAXY_SIZE
    log_size = np.log10(r_e) + size_slope * (magnitude - at_r) + rng.normal(0, scatter, n)
    sersic = np.where(rng.uniform(0, 1, n) < 0.7, 1.0, 4.0)
    axis_ratio = np.where(sersic == 1.0, rng.uniform(0.3, 1.0, n), rng.uniform(0.6, 1.0, n))
    g = np.array(_NIGHT_GALAXIES, dtype=np.float64).T
    columns = [
        rng.uniform(-_NIGHT_MARGIN, nrow - 1 + _NIGHT_MARGIN, n),
        rng.uniform(-_NIGHT_MARGIN, ncol - 1 + _NIGHT_MARGIN, n),
        magnitude,
        10**log_size / EXAMPLE3_PIXEL_SCALE,
        sersic,
        axis_ratio,
        rng.uniform(0, 180, n),
    ]
    row, col, mag, radius, n_index, q, angle = (
        np.concatenate([g[i], c]) for i, c in enumerate(columns)
    )
    return Galaxies(row, col, 10 ** (0.4 * (_ZERO_POINT - mag)), mag, radius, n_index, q, angle)


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

    One patch of sky is in every frame: 2077 stars from r = 6.9 to 20.5 (their number grows
    by a factor of 10**0.3 per magnitude) over an area a little larger than the chip, some
    1680 of them on the chip in any one frame, five large galaxies of r = 10.8 to 13.6 and
    590 faint ones of r = 14 to 21 (some 480 on the chip), from the SDSS galaxy counts. In
    the dithered frames the telescope points differently each time
    (:data:`EXAMPLE3_DITHERS`), so each source lands on different pixels in every frame; in
    the tracked variant it stays put but for a drift of under a pixel
    (:data:`EXAMPLE3_TRACKED_OFFSETS`). The star images are Moffat cores (beta = 2.5) whose
    FWHM, 2.2 to 2.9 binned pixels (1.7 to 2.2 arcsec), changes with the seeing from frame
    to frame, with a halo that holds 5 % of the light and falls as r**-2.5 out to arcminutes
    (``peak`` is the sum of the two at the centre). Every star brighter than r = 14 or so
    saturates in 600 s; the brightest (r = 6.9) also bleeds along its column, and the
    second (r = 7.5) does in all but the worst seeing.

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
    core = (1 - _NIGHT_HALO[0]) * flux * (_NIGHT_BETA - 1) / (np.pi * alpha**2)
    stars = Stars(row + drow, col + dcol, core, fwhm, flux, magnitude)
    stars = stars._replace(peak=core + _halo_amplitude(stars, _NIGHT_HALO))
    g = _galaxy_field()
    galaxies = g._replace(row=g.row + drow, col=g.col + dcol, flux=g.flux * exptime)
    return Sources(stars, galaxies, (float(drow), float(dcol)))


def example3_hot_pixels() -> HotPixels:
    """Return the hot pixels and hot columns of example 3's frames.

    Charge the dark subtraction left behind, the same in every frame (they belong to the
    chip, not to the sky, so the dithers do not move them): 300 pixels of 20 to 3000 ADU and
    two columns of 10 to 40 ADU from a hot spot to the far end, in 300 s (``adu``; twice that
    in the 600 s frames). A combination of the
    dithered frames keeps them; a bad-pixel mask (:func:`defect_pixels` ``(3)``) leaves
    them out.

    Returns
    -------
    HotPixels
        Named tuple of arrays, the same on every call.
    """
    return _hot_pixels(EXAMPLE3)


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
        halo=_NIGHT_HALO,
        max_reach=_NIGHT_HALO_REACH,
    )
    return image


def example3_source_image(index: int, *, tracked: bool = False) -> np.ndarray:
    """Return the noiseless light of the stars and galaxies in frame ``index`` of example 3.

    The sources of :func:`example3_sources` (the same arguments, the same errors) drawn as
    their light arrives at the chip, before the response: the frame holds
    ``(sky + this) * true_flat(3, "r")``, then bleeding, noise and cosmic rays, capped at
    :data:`EXAMPLE3_SATURATE`. Each source is drawn out to where it falls below 0.2 ADU
    (about 1/200 of the sky's noise per pixel), the halos of the brightest stars out to 1000
    pixels, so nearly every pixel holds some source light: ``image > t`` marks the pixels
    with more than ``t``; bleed trails are not in it.

    Returns
    -------
    numpy.ndarray
        float32, shape :data:`EXAMPLE3_SHAPE`, ADU; 0 where no source contributes.
    """
    index = _check_index(EXAMPLE3, index)
    return _source_image(index, _check_tracked(tracked))


def _binned(fine: np.ndarray) -> np.ndarray:
    """Return the mean of each 2 x 2 block of an example 2 map (float64)."""
    nrow, ncol = EXAMPLE3_SHAPE
    binned = fine.reshape(nrow, 2, ncol, 2).sum(axis=(1, 3), dtype=np.float64)
    binned /= 4.0
    return binned


def truth_map(light: str, part: str) -> np.ndarray:
    """Return the response (float32) of ``part`` of the chip and telescope in ``light``.

    Example 2's map of the part (``"pixels"``, ``"illumination"`` or ``"all"``, see
    :func:`example_data.example2.truth_map`) binned 2 x 2, but without the low columns: the
    charge traps take a fixed charge from the binned pixels (:func:`noiseless_frame`), which
    is no response.
    """
    if part == "illumination":
        binned = _binned(example2.truth_map("twilight", "illumination"))
    elif part == "pixels":
        binned = _binned(example2.truth_map("twilight", "pixels"))
    else:
        binned = _binned(example2.response_maps(["r"], columns=False)["r"])
    if part != "pixels" and light != "twilight":
        ramp_r, ramp_c = _colour_ramps(EXAMPLE3_SHAPE, light, "twilight", _AXIS_NORMALISED)
        binned *= ramp_r[:, None]
        binned *= ramp_c[None, :]
    return binned.astype(np.float32)


def response_maps(filters: Sequence[str]) -> dict[str, np.ndarray]:
    """Build the example 3 response map (float32) if ``filters`` holds "r" (it is r only).

    Example 2's map binned 2 x 2 (a binned pixel collects the charge of 2 x 2 pixels, so its
    response is their mean response), without its low columns, in the night sky's light
    (:func:`truth_map`), normalised to median 1.
    """
    if not filters:
        return {}
    response = truth_map("night", "all")
    response /= np.float32(np.median(response))
    return {"r": response}


def noiseless_frame(
    index: int, response: np.ndarray, response_median: float, *, tracked: bool = False
) -> np.ndarray:
    """Return frame ``index`` without noise: sky and sources, bled (see :mod:`.examples`)."""
    sky = example3_sky(index)
    ramp_r, ramp_c = _ramps(EXAMPLE3_SHAPE, sky.amplitude, sky.angle)
    ramp_r *= np.float32(sky.level)
    # the response in this frame's light, whose colour mixes the dark sky's and moonlight's
    share = night.dark_share(index)
    colour = _colour_ramps(EXAMPLE3_SHAPE, "night", "night", _AXIS_NORMALISED, share)
    frame = _source_image(index, tracked)
    for start in range(0, EXAMPLE3_SHAPE[0], _ROW_BLOCK):
        stop = start + _ROW_BLOCK
        block = frame[start:stop]
        block += ramp_r[start:stop, None] * ramp_c[None, :]
        block *= response[start:stop]
        if share < 1:  # a moonlit sky: bluer light, a shallower colour term
            block *= colour[0][start:stop, None] * colour[1][None, :]
    _bleed(frame, example3_sources(index, tracked=tracked).stars, EXAMPLE3_CAMERA)
    defects = _chip_defects(example2.EXAMPLE2)
    for column, first, response in zip(
        defects.column, defects.first_row, defects.column_response, strict=True
    ):  # the traps empty a column's pixels at worst
        trapped = frame[first // 2 :, column // 2]
        trapped -= np.float32((1 - response) * _TRAP_ELECTRONS / EXAMPLE3_CAMERA.gain)
        np.maximum(trapped, 0, out=trapped)
    _add_hot_pixels(frame, example3_hot_pixels(), EXAMPLE3_EXPTIMES[index])
    return frame
