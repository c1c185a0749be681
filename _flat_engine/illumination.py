"""The illumination correction: a flat's small scales, the large scales of another light.

A dome or twilight flat has the most signal (millions of electrons per pixel in minutes),
but it records the response in its own light; a night-sky flat records the response in the
science's light, with a few per cent of the signal and leaks of the sources. The
correction keeps the first flat's pixels and takes from the second only a smooth surface
fitted to their ratio: the median of the ratio in blocks (robust to the leaks of sources and
to defects), then a low-order polynomial in the two coordinates, fitted to the blocks by
least squares and evaluated at every pixel.
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits
from astropy.nddata import CCDData, StdDevUncertainty
from numpy.polynomial import polynomial

from _flat_engine import options as _options
from _flat_engine import pixels as _pixels


def smooth_surface(image, block, degree):
    """Return a polynomial surface (float32) of ``degree`` fitted to ``image``'s block medians.

    NaN pixels are left out; blocks with less than half their pixels finite are left out of
    the fit. Coordinates run from -1 to 1 across the image, so the fit is well conditioned.
    """
    ny, nx = image.shape
    rows, cols = ny // block, nx // block
    if rows < degree + 1 or cols < degree + 1:
        raise ValueError(
            f"block={block} leaves {rows} x {cols} blocks: too few for degree {degree}"
        )
    cut = image[: rows * block, : cols * block].reshape(rows, block, cols, block)
    cut = cut.transpose(0, 2, 1, 3).reshape(rows, cols, block * block)
    finite = np.count_nonzero(np.isfinite(cut), axis=2) >= block * block / 2
    with np.errstate(all="ignore"):
        medians = np.nanmedian(np.where(finite[:, :, None], cut, 0.0), axis=2)
    y = ((np.arange(rows) + 0.5) * block - 0.5) / (ny - 1) * 2 - 1
    x = ((np.arange(cols) + 0.5) * block - 0.5) / (nx - 1) * 2 - 1
    yy, xx = np.meshgrid(y, x, indexing="ij")
    design = polynomial.polyvander2d(yy[finite], xx[finite], [degree, degree])
    keep = np.add.outer(np.arange(degree + 1), np.arange(degree + 1)).ravel() <= degree
    coefficients = np.zeros((degree + 1) ** 2)
    coefficients[keep], *_ = np.linalg.lstsq(design[:, keep], medians[finite], rcond=None)
    grid = coefficients.reshape(degree + 1, degree + 1)
    surface = polynomial.polygrid2d(np.linspace(-1, 1, ny), np.linspace(-1, 1, nx), grid)
    return surface.astype(np.float32)


def correct(flat, sky_flat, block, degree):
    """Return ``flat`` times the smooth surface of ``sky_flat / flat``, median 1.

    For an array (or Quantity) ``flat``, a float32 array with its masked pixels NaN; for a
    CCDData, a CCDData of the same unit: data and uncertainty (as a standard deviation)
    scaled by the same factor, mask kept, header kept with a HISTORY line.
    """
    block = _options.as_whole(block, "block", 2)
    degree = _options.as_whole(degree, "degree", 0)
    pixels, sky_flat = _pixels.as_float_array(flat), _pixels.as_float_array(sky_flat)
    if pixels.ndim != 2 or pixels.shape != sky_flat.shape:
        raise ValueError(
            f"the flats must be 2-D and of one shape, got {pixels.shape} and {sky_flat.shape}"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = sky_flat / pixels
    ratio[~np.isfinite(ratio) | (pixels <= 0)] = np.nan
    surface = smooth_surface(ratio, block, degree)
    corrected = pixels * surface
    median = np.nanmedian(corrected)
    if not isinstance(flat, CCDData):
        corrected /= median
        return corrected.astype(np.float32)
    factor = surface.astype(np.float64) / median
    uncertainty = None
    if flat.uncertainty is not None:
        sigma = flat.uncertainty.represent_as(StdDevUncertainty).array
        uncertainty = StdDevUncertainty((sigma * factor).astype(np.float32))
    header = fits.Header(flat.header)  # a copy, also of a dict
    header.add_history(
        f"illumination_correction: times a degree-{degree} surface fitted to the medians "
        f"of sky flat / flat in {block} x {block} blocks, median 1"
    )
    data = (np.asarray(flat.data, dtype=np.float64) * factor).astype(np.float32)
    mask = None if flat.mask is None else np.array(flat.mask, dtype=bool)
    return CCDData(
        data, unit=flat.unit, uncertainty=uncertainty, mask=mask, header=header, wcs=flat.wcs
    )
