"""The costly steps of a night-sky frame's source search, done fast (issue 23).

`sky.find_sources` and `sky.sky_of_frame` spent most of their time in steps that have a
cheaper form giving the same answer:

- `median_filtered`: the 3 x 3 median filter of the sky's boxes, as photutils'
  `Background2D` (``filter_size=3``) filters them, but all boxes at once;
- `background_image`: the boxes interpolated up to the frame, as `Background2D.background`
  does (a cubic spline, `scipy.ndimage.zoom`), but one axis at a time as two small
  matrix products: the same values;
- `grow`: each source grown by its reach, decided for every pixel by the source nearest to
  it, as a Euclidean distance transform of the whole frame does, but on a window around
  each source only (`scipy.ndimage.find_objects`): the same masks;
- `clipped_median`: the 3-sigma clipped median of the sky pixels, as astropy's
  `sigma_clipped_stats` gives it, from one sort of the pixels: each clipping keeps a run
  of the sorted values, whose median is read off and whose standard deviation is summed
  in float64.  The same level unless a pixel lies within a rounding error of float32 of
  a clipping bound (astropy's standard deviation is summed in float32);
- `mad_std`: astropy's, from two sorts instead of two partitions with their copies.

The slow forms they replace are kept runnable in ``benchmarks/bench_sky_flats.py``
(`reference_search`), which times both on Example 3; the tests compare them.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np


def background_image(mesh, box, shape):
    """Return the full-size background of ``shape`` from the boxes' ``mesh``.

    ``mesh`` is `Background2D.background_mesh` for boxes of ``box`` pixels; the result
    is `Background2D.background`: the mesh's cubic spline (mode 'reflect', the samples
    at the boxes' centres) sampled at every pixel, cut to ``shape`` and clipped to the
    mesh's range, in the mesh's dtype.  The spline of a grid is a product of one spline
    per axis, so the image is ``rows @ mesh @ columns.T``, with each axis' weights
    those `scipy.ndimage.zoom` gives a unit vector (float64, as zoom computes).
    """
    mesh = np.asarray(mesh)
    low, high = mesh.min(), mesh.max()
    if low == high:  # photutils returns the constant as it is
        return np.full(shape, low, dtype=mesh.dtype)
    rows = _spline_weights(mesh.shape[0], box)[: shape[0]] @ mesh.astype(np.float64)
    columns = _spline_weights(mesh.shape[1], box)[: shape[1]].T
    image = np.empty(shape, dtype=mesh.dtype)
    for start in range(0, shape[0], _ROWS):  # float64 products of _ROWS rows at a time
        image[start : start + _ROWS] = rows[start : start + _ROWS] @ columns
    return np.clip(image, low, high, out=image)


_ROWS = 256  # rows of the background image made at a time (2 MB of float64 per 1000 columns)


def median_filtered(mesh):
    """Return ``mesh`` median-filtered over 3 x 3 boxes, as `Background2D` does.

    photutils' filter is `scipy.ndimage.generic_filter` calling `numpy.nanmedian` once
    per box (NaN beyond the edges); here the nine neighbours are stacked and their
    median taken at once, in float64 as the filter does, rounded to the mesh's dtype.
    """
    mesh = np.asarray(mesh)
    ny, nx = mesh.shape
    padded = np.pad(mesh.astype(np.float64), 1, constant_values=np.nan)
    around = [padded[y : y + ny, x : x + nx] for y in range(3) for x in range(3)]
    return np.nanmedian(np.stack(around), axis=0).astype(mesh.dtype)


@lru_cache(maxsize=16)
def _spline_weights(n, box):
    """Return the (n * box, n) weights of `scipy.ndimage.zoom` (cubic, grid mode) by ``box``."""
    from scipy import ndimage

    unit = np.eye(n)
    weights = [
        ndimage.zoom(unit[i], box, order=3, mode="reflect", grid_mode=True) for i in range(n)
    ]
    weights = np.stack(weights, axis=1)
    weights.setflags(write=False)  # shared by every call (cached)
    return weights


def grow(mask, grow, factor):
    """Grow each source of ``mask`` by ``grow`` pixels plus ``factor`` times its radius.

    A source (8-connected) has the radius of a disc of its area.  Every pixel takes the
    source nearest to it, and is masked when it lies within that source's reach: a
    bright star or a large galaxy, whose faint outskirts extend far beyond what the
    threshold finds, gets a mask in proportion.

    A pixel within reach ``r`` of source A lies within A's bounding box widened by
    ``floor(r)`` (the candidates), and its nearest source pixel is at most ``r`` away,
    so within the box widened by ``2 floor(r)`` (the window).  The distance transform of
    the window alone gives each candidate's nearest source pixel whenever that lies
    within ``r``: a window's answer is used only there.  Every pixel masked by the
    transform of the whole frame is a candidate of its nearest source, whose window
    decides it; the same pixels are masked.  A source alone in its window (counted on
    a summed-area table) is the nearest to each of its candidates within its reach:
    they are masked when within ``r`` of one of its pixels, that is within the disc of
    offsets ``dy**2 + dx**2 <= K`` (`_disc`) of one of its edge pixels (the pixel of a
    source nearest to a pixel outside has a neighbour outside, towards it): small
    sources alone are grown so, all at once (`_stamp`).  When the windows of the others
    would cover more than the frame (a crowded frame), one transform of the whole frame
    is cheaper (`_grow_whole`).  Sources of reach below one pixel add no pixel.
    """
    from scipy import ndimage

    if mask.all():  # nothing to grow into
        return mask.copy()
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3), bool))
    area = np.bincount(labels.ravel())
    reach = grow + factor * np.sqrt(area / math.pi)  # per source
    ny, nx = mask.shape
    objects = ndimage.find_objects(labels)
    boxes = [(r.start, r.stop, c.start, c.stop) for r, c in objects]
    boxes = np.array(boxes, dtype=np.int64).reshape(-1, 4)
    margin = reach[1:].astype(np.int64)
    y0, y1 = np.maximum(boxes[:, 0] - 2 * margin, 0), np.minimum(boxes[:, 1] + 2 * margin, ny)
    x0, x1 = np.maximum(boxes[:, 2] - 2 * margin, 0), np.minimum(boxes[:, 3] + 2 * margin, nx)
    table = _summed_area(mask)
    inside = table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]
    del table
    alone = inside == area[1:]
    stamped = alone & (margin > 0) & (margin <= _STAMP_MARGIN)
    windowed = np.flatnonzero(~stamped & (margin > 0))
    if np.sum((y1 - y0)[windowed] * (x1 - x0)[windowed]) > ny * nx:
        return _grow_whole(labels, reach)
    grown = _stamp(mask, labels, np.flatnonzero(stamped) + 1, reach)
    for index in windowed:
        label = index + 1
        rows, cols = objects[index]
        m = margin[index]
        cy0, cy1 = max(rows.start - m, 0), min(rows.stop + m, ny)
        cx0, cx1 = max(cols.start - m, 0), min(cols.stop + m, nx)
        if alone[index]:  # large and alone: the candidates' transform will do
            near = labels[cy0:cy1, cx0:cx1] == 0
            grown[cy0:cy1, cx0:cx1] |= ndimage.distance_transform_edt(near) <= reach[label]
            continue
        wy, wx = y0[index], x0[index]
        window = labels[wy : y1[index], wx : x1[index]]
        distance, (near_y, near_x) = ndimage.distance_transform_edt(
            window == 0, return_indices=True
        )
        within = distance <= np.minimum(reach[label], reach[window[near_y, near_x]])
        grown[cy0:cy1, cx0:cx1] |= within[cy0 - wy : cy1 - wy, cx0 - wx : cx1 - wx]
    return grown


def _summed_area(mask):
    """Return the (ny + 1, nx + 1) table of the pixels of ``mask`` above and left."""
    ny, nx = mask.shape
    table = np.zeros((ny + 1, nx + 1), np.int32 if mask.size < 2**31 else np.int64)
    np.cumsum(mask, axis=1, out=table[1:, 1:])
    for row in range(1, ny + 1):  # row by row: numpy's cumsum down the rows is slower
        table[row] += table[row - 1]
    return table


_STAMP_MARGIN = 16  # pixels: sources alone of reach below this are grown by stamping discs


def _stamp(mask, labels, stamped, reach):
    """Return ``mask`` with the sources ``stamped`` (labels) grown by their discs.

    Each source's edge pixels (with a 4-neighbour outside the source) are stamped with
    the disc of its reach (`_disc`), sources of the same disc together, on a copy of
    the mask padded by `_STAMP_MARGIN` so that flat offsets cannot wrap.
    """
    from scipy import ndimage

    pad = _STAMP_MARGIN
    padded = np.pad(mask, pad)
    if stamped.size:
        edge = mask & ~ndimage.binary_erosion(mask, border_value=1)
        ys, xs = np.nonzero(edge)
        label = labels[ys, xs]
        keep = np.zeros(reach.size, bool)
        keep[stamped] = True
        ys, xs, label = ys[keep[label]], xs[keep[label]], label[keep[label]]
        width = padded.shape[1]
        flat = (ys + pad) * width + (xs + pad)
        key = _disc_key(reach[label])
        order = np.argsort(key, kind="stable")
        flat, key = flat[order], key[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        out = padded.ravel()
        for start, stop in zip(starts, np.r_[starts[1:], key.size], strict=True):
            offsets = _disc(int(key[start]), width)
            out[(flat[start:stop, np.newaxis] + offsets).ravel()] = True
    return padded[pad:-pad, pad:-pad].copy()


def _disc_key(reach):
    """Return the largest integer ``K`` with ``sqrt(K) <= reach`` (the reach's disc)."""
    key = np.floor(reach * reach).astype(np.int64)
    key += np.sqrt(key + 1) <= reach  # r * r rounded: correct by one where needed
    key -= np.sqrt(key) > reach
    return key


@lru_cache(maxsize=256)
def _disc(key, width):
    """Return the flat offsets (in rows of ``width``) of ``dy**2 + dx**2 <= key``."""
    m = math.isqrt(key)
    dy, dx = np.mgrid[-m : m + 1, -m : m + 1]
    inside = dy * dy + dx * dx <= key
    offsets = (dy * width + dx)[inside]
    offsets.setflags(write=False)
    return offsets


def _grow_whole(labels, reach):
    """Return the growth from one distance transform of the whole frame (crowded frames)."""
    from scipy import ndimage

    distance, nearest = ndimage.distance_transform_edt(labels == 0, return_indices=True)
    source = labels[nearest[0], nearest[1]]
    del nearest
    return distance <= reach[source]


def clipped_median(values, sigma=3.0, maxiters=5):
    """Return the ``sigma``-clipped median of the finite 1-D ``values`` (float32 or 64).

    astropy's `sigma_clipped_stats(values, sigma=sigma, maxiters=maxiters)[1]`: each
    round keeps the values within ``sigma`` standard deviations of the median of those
    kept before, until none is clipped or ``maxiters`` rounds.  What a round keeps is a
    run of the sorted values, so one sort serves every round: the median is read off
    the run (the mean of its middle two, in the values' dtype, as numpy's), the bounds
    found by bisection, and the standard deviation from the sums, in float64, of the
    values' departures from the first median and of their squares (no loss of digits),
    less those of the values clipped, rounded to the values' dtype.  astropy sums in
    that dtype: a value within that rounding of a bound may be kept by one and clipped
    by the other, moving the median by one rank.
    """
    ordered = np.sort(values)
    dtype = ordered.dtype.type
    offset = np.float64(_middle(ordered))
    sums = _departures(ordered, offset)  # of d and d**2 over the run kept
    start, stop = 0, ordered.size
    for _ in range(maxiters):
        kept = ordered[start:stop]
        center = _middle(kept)
        mean, square = sums / kept.size
        spread = dtype(math.sqrt(max(square - mean * mean, 0.0)))
        low, high = center - spread * dtype(sigma), center + spread * dtype(sigma)
        first = start + int(np.searchsorted(kept, low, side="left"))  # first >= low
        last = start + int(np.searchsorted(kept, high, side="right"))  # past the last <= high
        if (first, last) == (start, stop):
            return center
        sums -= _departures(ordered[start:first], offset)  # the values clipped
        sums -= _departures(ordered[last:stop], offset)
        start, stop = first, last
        if start == stop:
            return dtype(np.nan)
    return _middle(ordered[start:stop])


def mad_std(values):
    """Return astropy's `mad_std` of the finite ``values``, from sorts (the same number)."""
    values = np.ravel(values)
    center = _middle(np.sort(values))
    return _middle(np.sort(np.abs(values - center))) * 1.482602218505602


def _departures(values, offset, chunk=1 << 18):
    """Return the sums of ``d`` and ``d**2`` (float64), ``d = values - offset``, by chunks."""
    sums = np.zeros(2)
    for start in range(0, values.size, chunk):
        part = np.subtract(values[start : start + chunk], offset, dtype=np.float64)
        sums += (part.sum(), np.square(part, out=part).sum())  # not BLAS: its threads contend
    return sums


def _middle(ordered):
    """Return the median of sorted values: the mean of the middle two, as `numpy.median`."""
    half = ordered.size // 2
    return np.mean(ordered[half - 1 + ordered.size % 2 : half + 1])
