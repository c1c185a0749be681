"""Pixel values of in-memory images, and statistics of whole images.

- `as_float_array`, `unit_of`, `values_name_unit`: an ndarray, Quantity, CCDData or file
  as float pixel values (masked pixels NaN), its unit and a name;
- `block_mean`: an image averaged in blocks, ignoring NaN (display, residual maps);
- `block_median`, `block_middle`, `finite_median`, `inverse_median`: the exact median of an
  image in bounded memory (and ``np.median``'s own value of it), and the scale factor of a flat;
- `fit_plane`: the plane that best fits an image (a sky's gradient);
- `pixel_scatter`: the noise and pattern of an image, free of its smooth structure.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.nddata import CCDData

from .files import read_image


def as_float_array(data):
    """Return the pixel values of an ndarray, Quantity or CCDData as a float ndarray.

    Masked pixels (of a CCDData or a masked array) become NaN.  The result may share
    memory with the input when no conversion is needed; callers must not modify it.
    """
    mask = None
    if isinstance(data, CCDData):
        mask = data.mask
        values = np.asarray(data.data)
    elif isinstance(data, u.Quantity):
        values = data.value
    elif isinstance(data, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(data)
        values = np.asarray(data.data)
    else:
        values = np.asarray(data)
    if values.dtype.kind not in "fiub":
        raise TypeError(f"expected numeric pixel values, got an array of dtype {values.dtype}")
    if values.dtype.kind != "f":
        values = values.astype(np.float64)
    if mask is not None and np.any(mask):
        values = values.astype(np.result_type(values.dtype, np.float32), copy=True)
        values[np.broadcast_to(mask, values.shape)] = np.nan
    return values


def unit_of(data):
    """Return the unit of a CCDData or Quantity, or None."""
    if isinstance(data, (CCDData, u.Quantity)):
        return data.unit
    return None


def block_mean(values, factor, dtype=np.float32, counts=False):
    """Average ``values`` in blocks of ``factor`` x ``factor`` pixels, ignoring NaN.

    Edge blocks that the image does not fill are averaged over the pixels it has; a
    block without a finite pixel is NaN.  Sums are in ``dtype`` (float32 suffices for a
    display).  With ``counts=True`` returns ``(means, number of finite pixels)``.
    """
    values = np.asarray(values)
    if factor == 1 and not counts:
        return values.astype(dtype)
    ny, nx = values.shape
    py, px = -ny % factor, -nx % factor
    has_nan = bool(np.isnan(values).any()) or counts
    if py or px:
        padded = np.full((ny + py, nx + px), np.nan, dtype=dtype)
        padded[:ny, :nx] = values
        values, has_nan = padded, True
    blocks = values.reshape(values.shape[0] // factor, factor, values.shape[1] // factor, factor)
    if not has_nan:
        return blocks.mean(axis=(1, 3), dtype=dtype)
    finite = np.isfinite(blocks)
    total = np.where(finite, blocks, 0).sum(axis=(1, 3), dtype=dtype)
    count = finite.sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(count > 0, total / count, np.nan).astype(dtype)
    return (means, count) if counts else means


def pixel_scatter(image, region=None):
    """Return the robust scatter of horizontal neighbours' differences over sqrt(2).

    ``region`` (slices) selects a part of the image.  ValueError for an empty region, an
    image that is not 2-D, or fewer than 10 finite neighbour pairs.
    """
    from astropy.stats import mad_std

    values = as_float_array(image)
    if region is not None:
        shape, values = values.shape, values[region]
        if values.size == 0:
            raise ValueError(f"region {region} selects no pixel of an image of shape {shape}")
    if values.ndim != 2:
        raise ValueError(f"pixel_scatter needs a 2-D image, got {values.ndim} dimension(s)")
    differences = np.diff(values.astype(np.float64), axis=1)
    differences = differences[np.isfinite(differences)]
    if differences.size < 10:
        raise ValueError(
            f"pixel_scatter needs at least 10 finite neighbour pairs, got {differences.size}"
        )
    return float(mad_std(differences)) / math.sqrt(2)


def fit_plane(image, step=8):
    """Return the plane ``a + b x + c y`` that best fits the finite pixels of ``image``.

    Fitted by least squares to every ``step``-th row and column (outliers barely matter to
    a fit of three numbers over so many pixels); returned at full size, float32.
    """
    ny, nx = image.shape
    return plane_rows(plane_coefficients(image[::step, ::step], step), slice(0, ny), nx)


def plane_coefficients(sample, step):
    """Return ``(a, b, c)`` of the plane fitted to ``sample``, every ``step``-th pixel."""
    y, x = np.mgrid[0 : sample.shape[0] * step : step, 0 : sample.shape[1] * step : step]
    good = np.isfinite(sample)
    design = np.column_stack([np.ones(good.sum()), x[good], y[good]])
    (a, b, c), *_ = np.linalg.lstsq(design, sample[good].astype(np.float64), rcond=None)
    return a, b, c


def plane_rows(coefficients, rows, nx):
    """Return the rows ``rows`` (a slice) of a plane ``(a, b, c)``, ``nx`` wide, float32."""
    a, b, c = coefficients
    column = (a + c * np.arange(rows.start, rows.stop, dtype=np.float64))[:, np.newaxis]
    return (column + b * np.arange(nx, dtype=np.float64)[np.newaxis, :]).astype(np.float32)


def block_median(image, block_rows, step=16):
    """Exact median of the finite values of an image, visited in blocks of rows.

    The mean, in float64, of the middle one or two values `block_middle` finds (the
    parameters are its own); NaN when no value is finite.
    """
    middle = block_middle(image, block_rows, step)
    if middle is None:
        return math.nan
    return 0.5 * (float(middle[0]) + float(middle[-1]))


def block_middle(image, block_rows, step=16):
    """Return the middle value, or the two middle values, of the finite values of an image.

    Memory stays at a few blocks plus ``1/step`` of the image: a first pass counts the
    finite values and keeps every ``step``-th one; a bracket around the median of that
    sample (1 % of the sample on either side) is then refined by a second pass that
    counts the values below the bracket and keeps those inside it.  If the median falls
    outside the bracket (possible only for unusual images), the bracket is widened to
    that side and the second pass repeated.

    Parameters
    ----------
    image : numpy.ndarray
        A 2-D float image.
    block_rows : int
        Rows per block (at least 1).
    step : int, optional
        Sampling step of the first pass.

    Returns
    -------
    numpy.ndarray or None
        The value of rank ``(n - 1) // 2`` and, for an even count ``n`` of finite values,
        that of rank ``n // 2`` (one or two values, of the image's dtype, in order); None
        when no value is finite.  ``np.median`` of it is ``np.median`` of the finite
        values, bit for bit: both average the same one or two values the same way.
    """
    ny = image.shape[0]
    blocks = [image[start : start + block_rows] for start in range(0, ny, block_rows)]
    # A block whose sum is finite has no NaN or inf: it needs no mask (overflow to inf
    # only sends a block the slower way).
    with np.errstate(over="ignore", invalid="ignore"):
        clean = [bool(np.isfinite(block.sum())) for block in blocks]
    n_finite, samples = 0, []
    for block, is_clean in zip(blocks, clean, strict=True):
        finite = block.ravel() if is_clean else block[np.isfinite(block)]
        n_finite += finite.size
        samples.append(finite[::step].copy())
        del finite
    if n_finite == 0:
        return None
    sample = np.concatenate(samples)
    del samples
    k_lo, k_hi = (n_finite - 1) // 2, n_finite // 2
    margin = max(64, sample.size // 100)
    ranks = (max(0, sample.size // 2 - margin), min(sample.size - 1, sample.size // 2 + margin))
    sample.partition(ranks)
    low, high = float(sample[ranks[0]]), float(sample[ranks[1]])
    del sample
    while True:
        below, inside = 0, []
        for block, is_clean in zip(blocks, clean, strict=True):
            if is_clean:  # no NaN: those not below but at most high are inside
                smaller = block < low
                below += int(np.count_nonzero(smaller))
                inside.append(block[np.logical_xor(block <= high, smaller, out=smaller)])
                continue
            finite = np.isfinite(block)  # +-inf must not count (NaN compares False anyway)
            below += int(np.count_nonzero((block < low) & finite))
            inside.append(block[(block >= low) & (block <= high) & finite])
        inside = np.concatenate(inside)
        if below > k_lo:  # the median is below the bracket: widen downwards
            low, high = -math.inf, low
        elif below + inside.size <= k_hi:  # above the bracket: widen upwards
            low, high = high, math.inf
        else:
            lo_rank, hi_rank = k_lo - below, k_hi - below
            if lo_rank == hi_rank:
                inside.partition(lo_rank)
                return inside[lo_rank : lo_rank + 1].copy()
            inside.partition((lo_rank, hi_rank))
            return inside[[lo_rank, hi_rank]]


def finite_median(values):
    """Return ``np.median`` of the finite values of an array, bit for bit, in bounded memory.

    The one or two middle values (`block_middle`, blocks of about a million values) are
    averaged by ``np.median`` itself, so the result is that of ``np.median`` of a copy of
    the finite values, without the copy or the full partition; NaN when none is finite.
    """
    rows = values.reshape(-1, values.shape[-1]) if values.ndim else values.reshape(1, 1)
    middle = block_middle(rows, max(1, (1 << 20) // max(1, rows.shape[1])))
    return math.nan if middle is None else np.median(middle)


def inverse_median(data):
    """Return 1 / the median of the finite pixels of an image (its `block_median`)."""
    values = as_float_array(data)
    # The exact median, found without sorting or copying the whole image.
    rows = values.reshape(-1, values.shape[-1]) if values.ndim else values.reshape(1, 1)
    median = block_median(rows, max(1, (1 << 20) // rows.shape[1]))
    if math.isnan(median):
        raise ValueError("cannot compute the inverse median: no pixel is finite")
    if median <= 0:
        raise ValueError(f"cannot compute the inverse median: the median is {median:g} (<= 0)")
    return 1.0 / median


def values_name_unit(image, index):
    """Return the pixel values, a name and the unit (or None) of a file, CCDData or array."""
    if isinstance(image, (str, os.PathLike)):
        data, header = read_image(image)
        return as_float_array(data), Path(image).name, header.get("BUNIT")
    meta = getattr(image, "meta", None) or {}
    return as_float_array(image), str(meta.get("FILENAME") or f"frame {index}"), unit_of(image)
