"""Light of the sky's sources and what it does to a chip: stars, galaxies, bleeding.

Stars are Moffat profiles, ``peak * (1 + r**2 / alpha**2) ** -beta``: a core with broad
wings, whose width ``alpha`` follows from the FWHM and ``beta``; Example 3's stars also
have a power-law halo, which falls as ``r**-2.5`` out to arcminutes. Galaxies are elliptical
Sersic profiles, their cores softened over the seeing's half width. A star that overloads a
chip's anti-blooming drains bleeds: the charge beyond the drains' limit runs up and down its
column, filling pixel after pixel to a full well.
"""

from __future__ import annotations

import math

import numpy as np

from example_data.camera import Camera
from example_data.maps import _box
from example_data.truth import Galaxies, Stars


def _moffat_alpha(fwhm: np.ndarray | float, beta: float) -> np.ndarray | float:
    """Return the Moffat scale radius alpha of a profile of FWHM ``fwhm``."""
    return fwhm / (2 * math.sqrt(2 ** (1 / beta) - 1))


def _add_stars(
    frame: np.ndarray, stars: Stars, response: np.ndarray, scale: float, beta: float
) -> None:
    """Add Moffat star images to ``frame`` in place, seen through ``response * scale``.

    Each star is drawn out to where its profile (Moffat ``beta``) falls below half an ADU.
    """
    nrow, ncol = frame.shape
    for row, col, peak, fwhm in zip(stars.row, stars.col, stars.peak, stars.fwhm, strict=True):
        alpha = _moffat_alpha(fwhm, beta)
        reach = alpha * math.sqrt(max((2 * peak) ** (1 / beta) - 1, 0.0))
        half = math.ceil(max(2 * fwhm, reach))
        r0, r1 = _box(row, half, nrow)
        c0, c1 = _box(col, half, ncol)
        dr = (np.arange(r0, r1) - row)[:, None]
        dc = (np.arange(c0, c1) - col)[None, :]
        profile = peak * scale * (1 + (dr**2 + dc**2) / alpha**2) ** -beta
        frame[r0:r1, c0:c1] += profile.astype(np.float32) * response[r0:r1, c0:c1]


def _sersic_b(n: np.ndarray) -> np.ndarray:
    """Return the Sersic b_n for which the radius parameter is the half-light radius."""
    return 2 * n - 1 / 3 + 4 / (405 * n) + 46 / (25515 * n**2)


def _halo_amplitude(stars: Stars, halo: tuple[float, float]) -> np.ndarray:
    """Return the central height (ADU) of each star's halo: ``fraction`` of its flux.

    The halo ``A (1 + r**2 / w**2) ** (-slope / 2)``, ``w`` the star's FWHM, holds
    ``2 pi A w**2 / (slope - 2)`` ADU.
    """
    fraction, slope = halo
    return fraction * stars.flux * (slope - 2) / (2 * np.pi * stars.fwhm**2)


def _add_night_stars(
    image: np.ndarray,
    stars: Stars,
    *,
    beta: float,
    floor: float,
    small_star: int,
    halo: tuple[float, float],
    max_reach: int,
) -> None:
    """Add the images of ``stars`` to ``image`` in place (ADU, no response).

    Each image is a Moffat core (``beta``) plus a power-law halo (``halo``: the fraction of
    the flux in it and its logarithmic slope at large radii, see :func:`_halo_amplitude`),
    whose heights add up to the star's ``peak``; it is drawn out to where it falls below
    ``floor`` ADU, at most ``max_reach`` pixels from its centre. The many faint stars, those
    that fit a stamp of half-size ``small_star``, are drawn together on stamps of that size,
    the others one by one.
    """
    nrow, ncol = image.shape
    slope = halo[1]
    alpha = stars.fwhm / (2 * np.sqrt(2 ** (1 / beta) - 1))
    height = _halo_amplitude(stars, halo)
    core = stars.peak - height
    reach = alpha * np.sqrt(np.maximum(core / floor, 1.0) ** (1 / beta) - 1)
    halo_reach = stars.fwhm * np.sqrt(np.maximum(height / floor, 1.0) ** (2 / slope) - 1)
    half = np.ceil(np.maximum.reduce([2 * stars.fwhm, reach, halo_reach])).astype(np.int64)
    half = np.minimum(half, max_reach)
    small = half <= small_star
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
        dr = (np.arange(r0, r1) - stars.row[k]).astype(np.float32)[:, None]
        dc = (np.arange(c0, c1) - stars.col[k]).astype(np.float32)[None, :]
        r2 = dr**2 + dc**2
        profile = np.power(1 + r2 / np.float32(alpha[k] ** 2), np.float32(-beta))
        profile *= np.float32(core[k])
        wing = np.power(1 + r2 / np.float32(stars.fwhm[k] ** 2), np.float32(-slope / 2))
        wing *= np.float32(height[k])
        profile += wing
        image[r0:r1, c0:c1] += profile
    few = np.flatnonzero(small & on_chip)
    if few.size == 0:
        return
    h = small_star
    offsets = np.arange(-h, h + 1)
    r_int = np.round(stars.row[few]).astype(np.int64)
    c_int = np.round(stars.col[few]).astype(np.int64)
    rows = r_int[:, None, None] + offsets[None, :, None]
    cols = c_int[:, None, None] + offsets[None, None, :]
    dr2 = ((rows - stars.row[few][:, None, None]) ** 2).astype(np.float32)
    r2 = dr2 + ((cols - stars.col[few][:, None, None]) ** 2).astype(np.float32)
    a2 = (alpha[few] ** 2).astype(np.float32)[:, None, None]
    profile = np.power(1 + r2 / a2, np.float32(-beta))
    profile *= core[few].astype(np.float32)[:, None, None]
    w2 = (stars.fwhm[few] ** 2).astype(np.float32)[:, None, None]
    wing = np.power(1 + r2 / w2, np.float32(-slope / 2))
    wing *= height[few].astype(np.float32)[:, None, None]
    profile += wing
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


def _add_galaxies(
    image: np.ndarray, galaxies: Galaxies, fwhm: float, *, floor: float, max_reach: int
) -> None:
    """Add the Sersic profiles of ``galaxies`` to ``image`` in place (ADU, no response).

    Each is drawn out to where it falls below ``floor`` ADU, but at most ``max_reach``
    pixels from its centre; its core is softened over half the seeing's ``fwhm``.
    """
    nrow, ncol = image.shape
    soft2 = (fwhm / 2) ** 2
    for row, col, flux, _mag, radius, n, q, angle in zip(*galaxies, strict=True):
        b = float(_sersic_b(np.float64(n)))
        # Total flux of an elliptical Sersic profile: 2 pi n q Re^2 I_e e^b Gamma(2n) / b^2n.
        norm = 2 * math.pi * n * q * radius**2 * math.exp(b) * math.gamma(2 * n) / b ** (2 * n)
        i_e = flux / norm
        reach = radius * (1 + math.log(max(i_e / floor, 1.0)) / b) ** n
        half = min(math.ceil(reach), max_reach)
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


def _spill(column: np.ndarray, amount: float, full_well: float) -> None:
    """Spill ``amount`` ADU of charge into ``column`` (a view, nearest pixel first).

    Each pixel is filled up to ``full_well`` (ADU) before the charge moves on; what is left
    at the end of the column is lost (it leaves the chip).
    """
    room = np.maximum(np.float32(full_well) - column, 0).astype(np.float64)
    filled = np.cumsum(room)
    full = int(np.searchsorted(filled, amount, side="right"))
    column[:full] += room[:full].astype(np.float32)
    if full < column.size:
        column[full] += np.float32(amount - (filled[full - 1] if full else 0.0))


def _bleed(frame: np.ndarray, stars: Stars, camera: Camera) -> None:
    """Let the charge of stars that overload the anti-blooming drains run along columns.

    In every column through such a star, the charge above the camera's drain limit
    (:attr:`~example_data.camera.Camera.drain_limit_adu`) is removed from the overloaded
    pixels and spilled half towards lower and half towards higher rows, starting next to
    the overloaded run, each pixel filled to a full well, so the column's charge is
    conserved (but for what runs off the chip).
    """
    drain_limit, full_well = camera.drain_limit_adu, camera.full_well_adu
    nrow, ncol = frame.shape
    for row, col, peak, fwhm in zip(stars.row, stars.col, stars.peak, stars.fwhm, strict=True):
        if peak * 1.2 < drain_limit:  # stars are brightest first: no later one bleeds
            break
        half = math.ceil(3 * fwhm)
        r0, r1 = _box(row, half, nrow)
        c0, c1 = _box(col, half, ncol)
        if r0 >= r1 or c0 >= c1:
            continue
        for c in range(c0, c1):
            values = frame[r0:r1, c]
            over = np.flatnonzero(values > drain_limit)
            if over.size == 0:
                continue
            excess = float(np.sum(values[over] - np.float32(drain_limit), dtype=np.float64))
            values[over] = np.float32(drain_limit)
            first, last = r0 + int(over[0]), r0 + int(over[-1])
            _spill(frame[first - 1 :: -1, c] if first > 0 else frame[0:0, c], excess / 2, full_well)
            _spill(frame[last + 1 :, c], excess / 2, full_well)
