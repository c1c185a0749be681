"""A mask of the bad pixels of a combined flat, found in the flat itself.

- `pixel_spread`: the pixel-to-pixel spread of a flat about its neighbourhood;
- `defect_mask`: the pixels whose response departs from their neighbours' (dead, hot and
  low pixels, low or trapped columns), and every pixel below `FLOOR` or not finite;
- `mask_defects`: that mask added to a combined flat's ``mask``, and its rule to the header.

The rule.  Each pixel's value is divided by the median of its four neighbours along its
row (two on each side): the ratio minus one, ``r``, is the pixel's departure from its
neighbourhood, free of the flat's smooth structure, vignetting and dust donuts.  Its
spread ``s`` over the image (astropy's ``mad_std``, so that the defects do not count) is
the pixel-to-pixel response and noise.  A pixel is bad when ``|r| > PIXEL_SIGMA * s``.
A column is bad over a segment of `SEGMENT` rows when the mean of ``r`` (each value cut
to ``5 s``, so that one dead pixel does not count) departs from 0 by more than both
``COLUMN_SIGMA * s / sqrt(SEGMENT)`` and `COLUMN_MIN`; the segments next to a bad one are
masked too, because a trap's first row is anywhere in its segment.  Neighbours along the
row leave a bad column out of its own neighbourhood, which a square window would not.
`ccdproc.ccdmask` is the standard tool built on the same idea (a ratio to a median
filter, pixels and columns judged in sigmas), made for the ratio of two flats.
"""

from __future__ import annotations

import math

import numpy as np
from astropy.stats import mad_std

FLOOR = 0.1
"""A combined flat's pixel below this (a tenth of the median response) is always masked."""

PIXEL_SIGMA = 6.0
"""A pixel this many spreads from its neighbours is bad."""

COLUMN_SIGMA = 6.0
"""A column segment whose mean departs this many of its spreads from 0 is bad..."""

COLUMN_MIN = 0.015
"""... when its mean also departs by more than this fraction."""

SEGMENT = 32
"""Rows of a column segment."""

_ROWS = 2 * SEGMENT  # rows per block of work, a multiple of SEGMENT


def _departure(rows):
    """Return each pixel over the median of its 4 row neighbours, minus one (float32)."""
    padded = np.pad(rows, ((0, 0), (2, 2)), mode="reflect")
    nx = rows.shape[1]
    a, b, c, d = (padded[:, k : k + nx] for k in (0, 1, 3, 4))
    # The median of four is the mean of the middle two: the larger of the two pairs'
    # smaller values and the smaller of their larger values.
    low, high = np.minimum(a, b), np.maximum(a, b)
    np.maximum(low, np.minimum(c, d), out=low)
    np.minimum(high, np.maximum(c, d), out=high)
    low += high  # twice the median
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(rows, low, out=low)
    low *= np.float32(2)
    low -= np.float32(1)
    return low


def defect_mask(data, out=None, spread=None):
    """Return the bad pixels of a combined flat ``data`` (median 1) by the module's rule.

    With ``out`` (a boolean array of the flat's shape) the bad pixels are set True in it
    and their number returned instead: the work goes by blocks of rows, so that no
    temporary array is as large as the flat.  ``spread`` is ``pixel_spread(data)`` when
    the caller has it already (found here otherwise).
    """
    ny, nx = np.shape(data)
    mask = np.zeros((ny, nx), dtype=bool) if out is None else out
    spread = pixel_spread(data) if spread is None else spread
    judged = spread > 0
    cut = np.float32(5 * spread) if judged else None
    starts = np.arange(0, ny, SEGMENT)
    means = np.zeros((starts.size, nx), dtype=np.float32)
    before = int(np.count_nonzero(mask))
    for start in range(0, ny, _ROWS):
        rows = np.asarray(data[start : start + _ROWS], dtype=np.float32)
        bad = ~(rows >= FLOOR)  # below the floor, or NaN
        if judged:
            departure = _departure(rows)
            bad |= np.abs(departure) > PIXEL_SIGMA * spread
            np.clip(np.nan_to_num(departure, copy=False), -cut, cut, out=departure)
            first = start // SEGMENT
            local = starts[first : first + _ROWS // SEGMENT] - start
            means[first : first + local.size] = np.add.reduceat(departure, local, axis=0)
        mask[start : start + _ROWS] |= bad
    if judged:
        sizes = np.diff(np.append(starts, ny)).astype(np.float32)[:, np.newaxis]
        means /= sizes
        segments = np.abs(means) > np.maximum(COLUMN_SIGMA * spread / np.sqrt(sizes), COLUMN_MIN)
        segments[1:] |= segments[:-1].copy()  # the segments on either side of a bad one
        segments[:-1] |= segments[1:].copy()
        for segment, column in zip(*np.nonzero(segments), strict=True):
            rows = slice(segment * SEGMENT, (segment + 1) * SEGMENT)
            mask[rows, column] = True
    return mask if out is None else int(np.count_nonzero(mask)) - before


def mask_defects(flat):
    """Add `defect_mask` to ``flat.mask`` (in place) and its rule to the header.

    NBADPIX counts the pixels masked as bad that the mask did not hold already.
    """
    if flat.mask is None:
        flat.mask = np.zeros(flat.shape, dtype=bool)
    spread = pixel_spread(flat.data)  # once, for the mask and for the header
    count = defect_mask(flat.data, out=flat.mask, spread=spread)
    flat.meta["NBADPIX"] = (count, "pixels masked as defects or below BPFLOOR")
    flat.meta["BPFLOOR"] = (FLOOR, "a flat value below this is always masked")
    flat.meta["BPSIGMA"] = (PIXEL_SIGMA, "[spreads] pixel vs its row neighbours: bad")
    if math.isfinite(spread):
        flat.meta["BPSPREAD"] = (round(spread, 6), "pixel-to-pixel spread of the flat (mad_std)")
    return flat


def pixel_spread(data):
    """Return ``s``: the mad_std of the pixels' departures from their row neighbours."""
    if np.shape(data)[1] < 5:
        return math.nan
    sample = _departure(np.asarray(data[:: max(1, data.shape[0] // 256)], dtype=np.float32))
    return float(mad_std(sample, ignore_nan=True))
