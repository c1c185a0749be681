"""The truth tables: what the simulator put into the frames, as named tuples of arrays.

Each public ``example*`` function returns one of these, the same on every call: the dark
spots of Example 1's chip (:class:`Spots`), Example 2's dust donuts (:class:`Donuts`), the
stars of a frame (:class:`Stars`), a chip's defects (:class:`Defects`), a frame's cosmic-ray
hits (:class:`CosmicRays`), and Example 3's galaxies, sources and sky (:class:`Galaxies`,
:class:`Sources`, :class:`Sky`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


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


class HotPixels(NamedTuple):
    """Example 3's hot pixels and hot columns: charge the dark subtraction left behind.

    The same pixels in every frame (they belong to the chip, not to the sky), added to the
    light before the noise; not part of :func:`true_flat`, which is multiplicative.

    Attributes
    ----------
    row, col : numpy.ndarray of int
        Hot pixels (0-based, binned pixels).
    adu : numpy.ndarray of float
        Charge each adds to a 300 s frame, ADU.
    column, first_row : numpy.ndarray of int
        Hot columns: from ``first_row`` to the last row, where a hot spot at ``first_row``
        adds charge to every pixel that passes it on the way to the readout register.
    column_adu : numpy.ndarray of float
        Charge each hot column adds to each of its pixels in a 300 s frame, ADU.
    """

    row: np.ndarray
    col: np.ndarray
    adu: np.ndarray
    column: np.ndarray
    first_row: np.ndarray
    column_adu: np.ndarray
