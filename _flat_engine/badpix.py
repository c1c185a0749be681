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

_ROWS = 8 * SEGMENT  # rows per block of work, a multiple of SEGMENT


def _departure(rows):
    """Return each pixel over the median of its 4 row neighbours, minus one (float32)."""
    padded = np.pad(rows, ((0, 0), (2, 2)), mode="reflect")
    nx = rows.shape[1]
    near = [padded[:, k : k + nx] for k in (0, 1, 3, 4)]
    total = near[0] + near[1] + near[2] + near[3]
    high = np.maximum(np.maximum(near[0], near[1]), np.maximum(near[2], near[3]))
    low = np.minimum(np.minimum(near[0], near[1]), np.minimum(near[2], near[3]))
    median = 0.5 * (total - high - low)  # the median of four: the mean of the middle two
    with np.errstate(invalid="ignore", divide="ignore"):
        return rows / median - np.float32(1)


def defect_mask(data):
    """Return the bad pixels of a combined flat ``data`` (median 1) by the module's rule."""
    data = np.asarray(data, dtype=np.float32)
    ny, nx = data.shape
    mask = ~(data >= FLOOR)  # below the floor, or NaN
    if nx < 5:
        return mask
    spread = pixel_spread(data)
    if not spread > 0:
        return mask
    cut = np.float32(5 * spread)
    starts = np.arange(0, ny, SEGMENT)
    means = np.empty((starts.size, nx), dtype=np.float32)
    for start in range(0, ny, _ROWS):
        departure = _departure(data[start : start + _ROWS])
        mask[start : start + _ROWS] |= np.abs(departure) > PIXEL_SIGMA * spread
        np.clip(np.nan_to_num(departure), -cut, cut, out=departure)
        first = start // SEGMENT
        local = starts[first : first + _ROWS // SEGMENT] - start
        means[first : first + local.size] = np.add.reduceat(departure, local, axis=0)
    counts = np.diff(np.append(starts, ny)).astype(np.float32)[:, np.newaxis]
    means /= counts
    limit = np.maximum(COLUMN_SIGMA * spread / np.sqrt(counts), COLUMN_MIN)
    bad = np.abs(means) > limit
    bad[1:] |= bad[:-1].copy()  # the segments on either side of a bad one
    bad[:-1] |= bad[1:].copy()
    mask |= np.repeat(bad, SEGMENT, axis=0)[:ny]
    return mask


def mask_defects(flat):
    """Add `defect_mask` to ``flat.mask`` (in place) and its rule to the header."""
    defects = defect_mask(flat.data)
    flat.mask = defects if flat.mask is None else (flat.mask | defects)
    flat.meta["NBADPIX"] = (int(defects.sum()), "pixels masked as defects or below BPFLOOR")
    flat.meta["BPFLOOR"] = (FLOOR, "a flat value below this is always masked")
    flat.meta["BPSIGMA"] = (PIXEL_SIGMA, "[spreads] pixel vs its row neighbours: bad")
    spread = pixel_spread(flat.data)
    if math.isfinite(spread):
        flat.meta["BPSPREAD"] = (round(spread, 6), "pixel-to-pixel spread of the flat (mad_std)")
    return flat


def pixel_spread(data):
    """Return ``s``: the mad_std of the pixels' departures from their row neighbours."""
    data = np.asarray(data, dtype=np.float32)
    if data.shape[1] < 5:
        return math.nan
    sample = _departure(data[:: max(1, data.shape[0] // 256)])
    return float(mad_std(sample, ignore_nan=True))
