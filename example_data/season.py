"""A season of twilight flats: several nights of the Example 2 camera, its flat drifting.

An observatory does not take flats once: every night adds a set, in each filter, and the
flat those sets measure changes slowly.  This module writes such a season, on the camera
of Example 2 (an Andor Aspen CG16M on a 0.6 m f/8 reflector) at Example 3's site,
:data:`example_data.night.SITE`, 31 degrees north and 101 degrees west (local mean solar
time UTC - 6 h 44 min), so that a lesson can show why flats are combined night by night:

- the r flats are taken at evening twilight (DATE-OBS about 01:02 UTC, 18:18 local, the Sun
  3.2 to 3.8 degrees below the horizon, as Example 2's), the g flats at dawn (about
  12:42 UTC, 05:58 local the next morning, the Sun 3.6 to 3.0 degrees below it; both from
  astropy for the site): both belong to the night that began on the evening's local date,
  which is neither's UTC date;
- the dust donuts of Example 2 sit on the camera's window (the same in both filters) and
  slide a little from night to night, one of them (1.3 % deep) by 1 % of the chip's width
  per night; from the fourth night on a new donut is there (a new particle of dust);
- vignetting and the pixel-to-pixel response (0.7 % rms, its own pattern per filter) do
  not change.

A frame of ``shape`` shows the whole chip on that many pixels (the donuts and vignetting
scale with it), so that small frames make a season quick to write for tests and notebooks.
There are no stars nor cosmic rays: the season is about the flat's drift.  Frames carry
the site's longitude as OBSGEO-L (degrees east), the keyword that tells the night's noon.
Nothing here changes Examples 1 to 3, whose files stay byte for byte as they were.
"""

from __future__ import annotations

import dataclasses
import math
import os
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
from astropy.io import fits

from example_data.camera import _STREAM_MAP, _STREAM_NOISE, _rng
from example_data.example2 import (
    _DONUT_OBSTRUCTION,
    EXAMPLE2_CAMERA,
    EXAMPLE2_MEDIANS,
    EXAMPLE2_SHAPE,
    example2_donuts,
)
from example_data.header import _common_header, _mjd
from example_data.maps import _multiply_ring, _ramps
from example_data.night import SITE as _SITE
from example_data.noise import _add_noise
from example_data.truth import Donuts
from example_data.writing import (  # the engine's
    hdu_list,
    remove_stale_temporaries,
    write_atomically,
)

SEASON_FIRST_NIGHT = date(2022, 3, 13)
"""The first night of the season: the evening of Example 2's frames (local date)."""
SEASON_SITE = (_SITE[1], _SITE[0], _SITE[2])
"""OBSGEO-L (degrees east), OBSGEO-B (degrees north), OBSGEO-H (m) of the season's site."""
SEASON_FILTERS = ("g", "r")
"""The filters of the season: g at dawn, r at dusk."""
SEASON_NEW_DONUT_NIGHT = 3
"""0-based night from which a new dust donut is on the window."""

_SEASON = 4  # the season's random streams: apart from Examples 1 to 3's
_FRAME_SPACING_S = 16.6  # seconds between frame starts (Example 2's automatic sequence)
_DUSK_UTC = timedelta(hours=25, minutes=2, seconds=11)  # after 0 h UTC of the night's date
_DAWN_UTC = timedelta(hours=36, minutes=42)
# in March at 31 degrees north (astropy, the Sun 3.5 degrees down, 14 to 24 March) dusk comes
# 40 s later each day and dawn 75 s earlier
_DUSK_DRIFT_S, _DAWN_DRIFT_S = 40.0, 75.0
_G_LEVELS = (21000.0, 24300.0, 27600.0, 30900.0, 34200.0, 37500.0, 40800.0, 44100.0)
_DRIFT_PX = 3.0  # rms slide of a donut per night, pixels of the full chip
_FAST_DONUT = (2, 41.0)  # the donut that slides fastest, and by how much (full-chip px)
_NEW_DONUT = (2900.0, 1200.0, 70.0, 0.012)  # row, column, radius (full chip), depth
_PIXEL_RMS = 0.007


def _check_season(nights, frames, shape):
    """Validate the season's size; return the shape as a tuple of two ints."""
    for name, value, top in (("nights", nights, 60), ("frames", frames, len(_G_LEVELS))):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an integer, got {value!r}")
        if not 1 <= value <= top:
            raise ValueError(f"{name} must be from 1 to {top}, got {value}")
    if len(shape) != 2 or any(not isinstance(n, (int, np.integer)) or n < 64 for n in shape):
        raise ValueError(f"shape must be two integers of at least 64, got {shape!r}")
    return int(shape[0]), int(shape[1])


def season_date_obs(night: int, filt: str, index: int) -> str:
    """Return DATE-OBS (UTC) of frame ``index`` of ``filt`` on 0-based ``night``.

    r at dusk, 25 h 02 min after 0 h UTC of the night's local date (18:18 local), g at
    dawn, 36 h 42 min after (05:58 local the next morning); dusk 40 s later, dawn 75 s
    earlier, each night; one frame every 16.6 s.
    """
    start = datetime.combine(SEASON_FIRST_NIGHT + timedelta(days=night), datetime.min.time())
    if filt == "r":
        start += _DUSK_UTC + timedelta(seconds=_DUSK_DRIFT_S * night)
    else:
        start += _DAWN_UTC - timedelta(seconds=_DAWN_DRIFT_S * night)
    return (start + timedelta(seconds=_FRAME_SPACING_S * index)).isoformat(timespec="milliseconds")


def season_night(night: int) -> str:
    """Return the local date (``YYYY-MM-DD``) of the evening of 0-based ``night``."""
    return (SEASON_FIRST_NIGHT + timedelta(days=night)).isoformat()


def season_donuts(night: int, shape: tuple[int, int] = EXAMPLE2_SHAPE) -> Donuts:
    """Return the dust donuts on the window on 0-based ``night``, on a frame of ``shape``.

    Example 2's 18 donuts, each slid by a random walk of 3 pixels (of the full chip) rms
    per night, donut 2 by 41 pixels per night more; from night 3 on, one more donut of
    70 pixels radius and 1.2 % depth.  Positions and radii scale to ``shape``.
    """
    base = example2_donuts()
    steps = _rng(_SEASON, -1, _STREAM_MAP).normal(0.0, _DRIFT_PX, (60, 2, base.row.size))
    moved = steps[:night].sum(axis=0)
    moved[1, _FAST_DONUT[0]] += _FAST_DONUT[1] * night
    row, col = base.row + moved[0], base.col + moved[1]
    radius, depth = base.radius, base.depth
    if night >= SEASON_NEW_DONUT_NIGHT:
        r, c, rad, d = _NEW_DONUT
        row, col = np.append(row, r), np.append(col, c)
        radius, depth = np.append(radius, rad), np.append(depth, d)
    scale_r, scale_c = shape[0] / EXAMPLE2_SHAPE[0], shape[1] / EXAMPLE2_SHAPE[1]
    scale = math.sqrt(scale_r * scale_c)
    radius = radius * scale
    return Donuts(row * scale_r, col * scale_c, radius, radius * _DONUT_OBSTRUCTION, depth)


def season_flat(night: int, filt: str, shape: tuple[int, int] = (256, 256)) -> np.ndarray:
    """Return the true flat (float32, median 1) of ``filt`` on 0-based ``night``.

    Vignetting (as Example 2's: 8 % to 12 % darker in the corners), the filter's own
    pixel-to-pixel pattern (0.7 % rms) and the night's donuts (`season_donuts`).
    """
    nrow, ncol = shape
    rng = _rng(_SEASON, SEASON_FILTERS.index(filt), _STREAM_MAP)
    flat = rng.standard_normal(shape, dtype=np.float32) * np.float32(_PIXEL_RMS) + np.float32(1)
    k = -math.log(0.9) / 2
    y = (np.arange(nrow) - 2110.0 * nrow / EXAMPLE2_SHAPE[0]) / (nrow / 2)
    x = (np.arange(ncol) - 1995.0 * ncol / EXAMPLE2_SHAPE[1]) / (ncol / 2)
    flat *= np.exp(-k * y**2).astype(np.float32)[:, None]
    flat *= np.exp(-k * x**2).astype(np.float32)[None, :]
    for r, c, radius, inner, depth in zip(*season_donuts(night, shape), strict=True):
        _multiply_ring(flat, r, c, radius, depth, width=max(1.0, 0.04 * radius), inner=inner)
    flat /= np.float32(np.median(flat))
    return flat


def _frame(night, filt, index, flat):
    """Return the frame (float32, ADU, with noise) and its header."""
    level = EXAMPLE2_MEDIANS[index] if filt == "r" else _G_LEVELS[index]
    angle = 35.0 if filt == "r" else 215.0  # the sky is brightest towards the Sun
    ramp_r, ramp_c = _ramps(flat.shape, 0.012, angle)
    frame = flat * (ramp_r[:, None] * np.float32(level)) * ramp_c[None, :]
    serial = (night * len(SEASON_FILTERS) + SEASON_FILTERS.index(filt)) * 100 + index
    camera = dataclasses.replace(EXAMPLE2_CAMERA, shape=flat.shape)
    _add_noise(frame, _rng(_SEASON, serial, _STREAM_NOISE), camera)
    date_obs = season_date_obs(night, filt, index)
    header = fits.Header()
    header["IMAGETYP"] = ("FLAT", "Type of image")
    header["OBJECT"] = ("AutoFlat", "Target")
    header["FILTER"] = (filt, "Filter name")
    header["EXPTIME"] = (1.0, "[s] Exposure time")
    header["DATE-OBS"] = (date_obs, "UTC date and time of exposure start")
    header["MJD-OBS"] = (_mjd(date_obs), "[d] Modified Julian Date of DATE-OBS")
    for key, value, comment in zip(
        ("OBSGEO-L", "OBSGEO-B", "OBSGEO-H"),
        SEASON_SITE,
        (
            "[deg] Site longitude, east positive",
            "[deg] Site latitude",
            "[m] Site height",
        ),
        strict=True,
    ):
        header[key] = (value, comment)
    for key, value, comment in camera.header_cards():
        header[key] = (value, comment)
    _common_header(header, serial)
    return frame, header


def season_files(nights: int = 6, frames: int = 5) -> list[tuple[int, str, int, str]]:
    """Return ``(night, filter, index, file name)`` of each frame of a season, in order."""
    return [
        (night, filt, index, f"AutoFlat-{filt}-n{night + 1:02d}-{index + 1:03d}.fit")
        for night in range(nights)
        for filt in SEASON_FILTERS
        for index in range(frames)
    ]


def write_season(
    folder: str | os.PathLike[str],
    *,
    nights: int = 6,
    frames: int = 5,
    shape: tuple[int, int] = (256, 256),
) -> list[Path]:
    """Write a season of twilight flats into ``folder``; return the files' paths.

    ``nights`` nights, each with ``frames`` flats in g (at dawn) and in r (at dusk), of
    ``shape`` pixels; the same call writes the same bytes.  Each file is written through a
    temporary file and a rename; a file of that name is replaced.

    Parameters
    ----------
    folder : str or os.PathLike
        Where to write (created if missing).
    nights : int, optional
        Number of nights, 1 to 60.
    frames : int, optional
        Flats per filter and night, 1 to 8.
    shape : tuple of int, optional
        Rows and columns of a frame (each at least 64): the whole chip on this grid.

    Returns
    -------
    list of pathlib.Path
        The files written, night by night, g before r.

    Raises
    ------
    ValueError
        If ``nights``, ``frames`` or ``shape`` is out of range.
    TypeError
        If ``nights`` or ``frames`` is not an integer.

    Examples
    --------
    >>> import tempfile
    >>> paths = write_season(tempfile.mkdtemp(), nights=1, frames=2, shape=(64, 64))
    >>> [p.name for p in paths]
    ['AutoFlat-g-n01-001.fit', 'AutoFlat-g-n01-002.fit', 'AutoFlat-r-n01-001.fit', \
'AutoFlat-r-n01-002.fit']
    >>> import shutil; shutil.rmtree(paths[0].parent)
    """
    shape = _check_season(nights, frames, shape)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    flats, paths = {}, []
    for night, filt, index, name in season_files(nights, frames):
        if (night, filt) not in flats:
            flats = {(night, filt): season_flat(night, filt, shape)}  # one flat at a time
        data, header = _frame(night, filt, index, flats[night, filt])
        path = folder / name
        remove_stale_temporaries(path)
        hdus = hdu_list(data, header)
        hdus[0].add_checksum(when="set by example_data")  # a fixed comment: the same bytes
        write_atomically(path, hdus)
        paths.append(path)
    return paths
