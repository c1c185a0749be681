"""Example 1: six dome flats of a thinned, back-side illuminated CCD (LFC chip 0, Palomar).

Three flats in g' and three in i' of chip 0 of the Large Format Camera (LFC) at Palomar's
200-inch telescope, a cryogenically cooled, thinned, back-side illuminated CCD. This module
holds the example's camera (:data:`EXAMPLE1_CAMERA`) and record (:data:`EXAMPLE1`), its
constants, its dark spots (:func:`example1_spots`), its response maps (the dome's
illumination times the chip's response, per filter), and its noiseless frames (the
builders of :mod:`example_data.examples`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from example_data.camera import _STREAM_MAP, _STREAM_SPOTS, Camera, Example, _rng
from example_data.maps import (
    _apply_defects,
    _colour_ramps,
    _multiply_ring,
    _norm_coord,
    _place,
    _smooth_field,
)
from example_data.truth import Spots

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

EXAMPLE1_CAMERA = Camera(
    name="LFC chip 0: thinned, back-side illuminated CCD, cryogenically cooled",
    shape=EXAMPLE1_SHAPE,
    binning=1,
    pixel_um=15.0,
    gain=2.0,
    read_noise=8.0,
    saturate=None,  # the dome flats are far below saturation
    readout_s=35.0,
    depth_um=15.0,  # the thinned chip collects charge from 15 microns of silicon
    diffusion_px=0.3,
    defect_counts=(3, 25, 150),
    full_well_e=None,
    drain_factor=None,
    identity=(
        ("INSTRUME", "LFC", "Large Format Camera"),
        ("TELESCOP", "P200", "Palomar 200-inch Hale telescope"),
        ("OBSERVAT", "Palomar", "Observatory"),
        ("DETECTOR", "CCD 0", "Chip of the mosaic: thinned, back-illuminated"),
    ),
    temperature=("CCDTEMP", -110.0, "[C] Detector temperature (cryogenic)"),
)
"""The camera of example 1: chip 0 of the LFC on Palomar's 200-inch telescope."""

EXAMPLE1 = Example(
    number=1,
    camera=EXAMPLE1_CAMERA,
    files=EXAMPLE1_FILES,
    filters=EXAMPLE1_FILTERS,
    exptimes=EXAMPLE1_EXPTIMES,
    date_obs=EXAMPLE1_DATE_OBS,
    medians=EXAMPLE1_MEDIANS,
    imagetyp="FLATFIELD",
    object="dome flat",
)
"""Example 1: its camera and frames."""

_SPOT_DEPTH_RATIO_I = 0.35  # i' spots are shallower: red light is absorbed deeper in silicon
_N_SPOTS = 40


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
    rng = _rng(EXAMPLE1.number, -1, _STREAM_SPOTS)
    diameter = np.exp(rng.uniform(np.log(5.0), np.log(30.0), _N_SPOTS))
    depth = rng.uniform(0.02, 0.15, _N_SPOTS)
    row, col = _place(rng, diameter / 2, EXAMPLE1_SHAPE, margin=40.0, gap=20.0)
    if filter_name == "i'":
        depth = depth * _SPOT_DEPTH_RATIO_I
    return Spots(row, col, diameter, depth)


# Pixel-to-pixel response of the thinned chip: a part common to both filters (pixel areas,
# 0.30 %), plus a part from the back surface that blue light feels most (0.52 % in g',
# 0.18 % in i'): 0.60 % and 0.35 % rms in all.  The surface also leaves a mottle on scales
# of some 30 pixels, 0.25 % rms in g', 0.08 % in i'.
_PIXEL_COMMON = 0.0030
_PIXEL_SURFACE = {"g'": 0.0052, "i'": 0.0018}
_MOTTLE = {"g'": 0.0025, "i'": 0.0008}
_MOTTLE_CELL = 32
_FRINGE_AMPLITUDE = 0.0005  # i' fringe residue in dome light: 0.1 % peak to peak


def _screen_ramps(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Return the row and column factors (float64) of the dome screen's light in a filter."""
    y = _norm_coord(EXAMPLE1_SHAPE[0])
    x = _norm_coord(EXAMPLE1_SHAPE[1])
    if name == "g'":
        return 1.0 + 0.020 * y - 0.025 * y**2, 1.0 + 0.012 * x - 0.030 * x**2
    if name == "i'":
        return 1.0 - 0.008 * y - 0.040 * y**2, 1.0 - 0.015 * x - 0.020 * x**2
    raise ValueError(f"filter_name must be g' or i', not {name!r}")


def example1_screen(filter_name: str) -> np.ndarray:
    """Return the uneven light of the dome screen on the example 1 chip, median 1.

    The screen is not lit evenly, and its light is not the sky's: a smooth pattern of several
    per cent (9 % from brightest to faintest in g'), different in g' and i' (the lamp's light
    reaches the screen's parts at other angles, and their reflectance depends on the
    colour). The dome flats record it times the
    chip's response, :func:`true_flat`, which leaves it out: it is an error of every dome
    flat, which no combination of the frames can see, and which an illumination correction
    (from twilight or night-sky frames) removes.

    Parameters
    ----------
    filter_name : {"g'", "i'"}
        The filter.

    Returns
    -------
    numpy.ndarray
        float32, :data:`EXAMPLE1_SHAPE`, median 1.

    Raises
    ------
    ValueError
        If ``filter_name`` is not "g'" or "i'".
    """
    ramp_r, ramp_c = _screen_ramps(filter_name)
    screen = np.multiply.outer(ramp_r, ramp_c).astype(np.float32)
    screen /= np.float32(np.median(screen))
    return screen


def truth_map(name: str, light: str, part: str) -> np.ndarray:
    """Return the response (float32) of ``part`` of the chip and telescope in ``light``.

    ``"pixels"``: the chip's response (everything but the colour term); ``"illumination"``:
    the colour term of :func:`~example_data.maps._colour_ramps` (1 in the dome's light:
    the telescope's vignetting is not modelled); ``"all"``: their product. The dome screen's
    uneven light is in none of them (:func:`example1_screen`).
    """
    if part == "illumination":
        sens = np.ones(EXAMPLE1_SHAPE, dtype=np.float32)
    else:
        sens = response_maps([name], screen=False)[name]
    if part != "pixels" and light != "dome":
        ramp_r, ramp_c = _colour_ramps(EXAMPLE1_SHAPE, light, "dome")
        sens *= ramp_r[:, None]
        sens *= ramp_c[None, :]
    return sens


def response_maps(filters: Sequence[str], *, screen: bool = True) -> dict[str, np.ndarray]:
    """Build the example 1 response map (float32) of each filter in ``filters``.

    The map is the dome screen's light (a smooth, filter-dependent few-per-cent term, left
    out with ``screen=False``) times the chip's response: pixel-to-pixel variations and a
    mottle (stronger in g'), faint steps between the blocks the chip's layout was stitched
    from, a cross-hatch from thinning (stronger in g'), in i' a smooth change of response
    with the membrane's thickness (and a faint residue of interference fringes), dark spots
    where the thinning was uneven (deeper in g'), and the chip's defects.
    """
    nrow, ncol = EXAMPLE1_SHAPE
    y = _norm_coord(nrow)
    x = _norm_coord(ncol)
    rows = np.arange(nrow)
    cols = np.arange(ncol)
    rng = _rng(EXAMPLE1.number, -1, _STREAM_MAP)

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
        illum_r, illum_c = _screen_ramps(name)
        hatch = 0.006 if name == "g'" else 0.002
        sens = np.multiply(surface, np.float32(_PIXEL_SURFACE[name]))
        sens += mottle * np.float32(_MOTTLE[name])
        sens += common
        sens *= np.multiply(hatch_r[:, None], hatch_c[None, :] * np.float32(hatch)) + 1
        if screen:
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
        _apply_defects(sens, EXAMPLE1)
        maps[name] = sens
    return maps


def noiseless_frame(
    index: int, response: np.ndarray, response_median: float, *, tracked: bool = False
) -> np.ndarray:
    """Return frame ``index`` without noise: a level times ``response`` (see :mod:`.examples`)."""
    return np.multiply(response, np.float32(EXAMPLE1_MEDIANS[index] / response_median))
