"""The costly steps of a night-sky frame's source search, done fast (issue 23).

`sky.find_sources` and `sky.sky_of_frame` spent most of their time in steps that have a
cheaper form giving the same answer:

- `median_filtered`: the 3 x 3 median filter of the sky's boxes, as photutils'
  `Background2D` (``filter_size=3``) filters them, but all boxes at once;
- `background_image`: the boxes interpolated up to the frame, as `Background2D.background`
  does (a cubic spline, `scipy.ndimage.zoom`), but one axis at a time as two small
  matrix products: the same values;
- `grow`: each source grown by its reach, decided for every pixel by the source nearest to
  it, as a Euclidean distance transform of the whole frame does, but the small sources
  with no smaller one near stamped with their disc all at once, the others on a window
  around each (`scipy.ndimage.find_objects`), a crowded frame whole: the same masks;
- `box_statistics`: the sky boxes' 3-sigma clipping and medians for `Background2D`,
  from one sort of each box: the same medians (bounds within float64 rounding);
- `clipped_median`: the 3-sigma clipped median of the sky pixels, as astropy's
  `sigma_clipped_stats` gives it, from one sort of the pixels: each clipping keeps a run
  of the sorted values, whose median is read off and whose standard deviation is summed
  in float64.  The same level unless a pixel lies within a rounding error of float32 of
  a clipping bound (astropy's standard deviation is summed in float32);
- `mad_std`: astropy's, from two sorts instead of two partitions with their copies;
- `smoothed`: `scipy.ndimage.gaussian_filter`, its pass down the columns done on rows
  of the image at a time (scipy's runs down each column, striding through memory): the
  same arithmetic in the same order, the same values.

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
    weights = _spline_weights(mesh.shape[0], box)[: shape[0]]
    rows = _matmul(weights, mesh.astype(np.float64), np.empty((shape[0], mesh.shape[1])))
    columns = _spline_weights(mesh.shape[1], box)[: shape[1]].T
    image = np.empty(shape, dtype=mesh.dtype)
    products = np.empty((min(_ROWS, shape[0]), shape[1]))
    for start in range(0, shape[0], _ROWS):  # float64 products of _ROWS rows at a time
        part = rows[start : start + _ROWS]
        image[start : start + _ROWS] = _matmul(part, columns, products[: part.shape[0]])
    return np.clip(image, low, high, out=image)


_ROWS = 256  # rows of the background image made at a time (2 MB of float64 per 1000 columns)


def _matmul(a, b, out):
    """Return ``a @ b`` in ``out``, in products small enough for one BLAS thread.

    OpenBLAS shares a product of more than `_ONE_THREAD` multiply-adds among threads
    that keep spinning after it, taking the cores from the search's worker threads
    (twice the CPU time on small frames).  The product is cut into rows and, when one
    row alone is more (frames wider than 4096 pixels at boxes of 64), into columns too;
    each value is still the sum over the same ``a.shape[1]`` terms.
    """
    terms = max(1, a.shape[1])
    width = max(1, min(b.shape[1], _ONE_THREAD // terms))
    step = max(1, _ONE_THREAD // (terms * width))
    for left in range(0, b.shape[1], width):
        part = b[:, left : left + width]
        for start in range(0, a.shape[0], step):
            rows = slice(start, start + step)
            np.matmul(a[rows], part, out=out[rows, left : left + width])
    return out


_ONE_THREAD = 1 << 18  # OpenBLAS: SMP_THRESHOLD_MIN (65536) x GEMM_MULTITHREAD_THRESHOLD (4)


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
    source nearest to a pixel outside has a neighbour outside, towards it).  So is a
    source whose window holds no source of a smaller disc: a pixel within its disc is
    within the (larger) disc of its nearest source, which lies in the window.  Small
    sources so are grown all at once (`_stamp`).  When the windows of the others
    would cover more than the frame (a crowded frame), one transform of the whole frame
    is cheaper (`_grow_whole`); it is decided before the loop over the small sources
    with neighbours (`_no_smaller_disc_near`) when their windows' sizes alone settle it.
    Sources of reach below one pixel add no pixel.
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
    small = (margin > 0) & (margin <= _STAMP_MARGIN)
    stamped = alone & small
    windows = (y1 - y0) * (x1 - x0)
    # decided before the loop below (a crowded frame has tens of thousands of sources):
    # windows that would cover more than the frame even if every small source were
    # stamped, or more than twice the frame if none that has a neighbour were
    if np.sum(windows[margin > _STAMP_MARGIN]) > ny * nx:
        return _grow_whole(labels, reach)
    if np.sum(windows[~stamped & (margin > 0)]) > 2 * ny * nx:
        return _grow_whole(labels, reach)
    crowded = np.flatnonzero(small & ~alone)
    stamped[crowded] = _no_smaller_disc_near(labels, reach, crowded, (y0, y1, x0, x1))
    windowed = np.flatnonzero(~stamped & (margin > 0))
    if np.sum(windows[windowed]) > ny * nx:
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


def _no_smaller_disc_near(labels, reach, indices, windows):
    """Return, for each source of ``indices`` (label - 1), if no smaller disc is in its window."""
    y0, y1, x0, x1 = windows
    disc = _disc_key(reach)
    disc[0] = np.iinfo(disc.dtype).max  # no source
    stamped = np.zeros(indices.size, bool)
    for i, index in enumerate(indices):
        window = labels[y0[index] : y1[index], x0[index] : x1[index]]
        stamped[i] = disc[window].min() >= disc[index + 1]
    return stamped


def _summed_area(mask):
    """Return the (ny + 1, nx + 1) table of the pixels of ``mask`` above and left."""
    ny, nx = mask.shape
    table = np.zeros((ny + 1, nx + 1), np.int32 if mask.size < 2**31 else np.int64)
    np.cumsum(mask, axis=1, out=table[1:, 1:])
    for row in range(1, ny + 1):  # row by row: numpy's cumsum down the rows is slower
        table[row] += table[row - 1]
    return table


_STAMP_MARGIN = 16  # pixels: sources alone of reach below this are grown by stamping discs
_STAMP_CHUNK = 1 << 20  # pixel indices (int64) stamped at a time


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
            step = max(1, _STAMP_CHUNK // offsets.size)  # edge pixels at a time: bounded
            for first in range(start, stop, step):
                out[(flat[first : min(first + step, stop), np.newaxis] + offsets).ravel()] = True
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
    """Return the growth from one distance transform of the whole frame (crowded frames).

    Each pixel's nearest source pixel from the transform (its indices only), the squared
    distance to it in integers, compared with the disc of that source's reach
    (`_disc_key`): ``d**2 <= K`` exactly when ``sqrt(d**2) <= reach``.
    """
    from scipy import ndimage

    ny, nx = labels.shape
    rows, cols = ndimage.distance_transform_edt(
        labels == 0, return_distances=False, return_indices=True
    )
    # flat indices and squared distances must not overflow (32 bits: 46,340 pixels apart)
    if max(labels.size, (ny - 1) ** 2 + (nx - 1) ** 2) > np.iinfo(rows.dtype).max:
        rows, cols = rows.astype(np.int64), cols.astype(np.int64)
    source = labels.ravel()[(rows * nx + cols).ravel()].reshape(labels.shape)
    rows -= np.arange(ny, dtype=rows.dtype)[:, np.newaxis]
    cols -= np.arange(nx, dtype=cols.dtype)
    np.square(rows, out=rows)
    rows += np.square(cols, out=cols)
    del cols
    return rows <= _disc_key(reach)[source]


def clipped_median(values, sigma=3.0, maxiters=5):
    """Return the ``sigma``-clipped median of the finite 1-D ``values`` (float32 or 64).

    astropy's `sigma_clipped_stats(values, sigma=sigma, maxiters=maxiters)[1]`: each
    round keeps the values within ``sigma`` standard deviations of the median of those
    kept before, until none is clipped or ``maxiters`` rounds.  What a round keeps is a
    run of the sorted values, so one sort serves every round: the median is read off
    the run (the mean of its middle two, in the values' dtype, as numpy's), the bounds
    found by bisection, and the standard deviation from the sums, in float64, of the
    values' departures from the first median and of their squares (no loss of digits),
    less those of the values clipped (summed again when a value clipped lies so far out that
    its square would swamp them), rounded to the values' dtype.  astropy sums in
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
        clipped = _departures(ordered[start:first], offset) + _departures(
            ordered[last:stop], offset
        )
        sums -= clipped
        start, stop = first, last
        if start == stop:
            return dtype(np.nan)
        if clipped[1] > _LOSSY * sums[1]:  # a value far out: its square swamped the others'
            sums = _departures(ordered[start:stop], offset)
    return _middle(ordered[start:stop])


#: When the squares of the values clipped exceed this many times those kept, the kept ones'
#: sums are taken again rather than found by subtraction, which would lose their digits.
_LOSSY = 2.0**20


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


def smoothed(image, sigma, truncate=3.0):
    """Return `scipy.ndimage.gaussian_filter(image, sigma, truncate=truncate)` (2-D, float).

    scipy filters down the columns, then along the rows, each in float64 rounded to the
    image's dtype, with mode 'reflect': at each pixel the centre's weighted value plus,
    from the farthest pair inwards, the sum of each pair of pixels at the same distance
    times their weight.  Down the columns that is done here on `_SMOOTH_ROWS` rows at a time
    (the image padded as numpy's 'symmetric', scipy's 'reflect'); along the rows by
    scipy.  The weights are scipy's, read off its filter of a unit impulse.
    """
    from scipy import ndimage

    if float(sigma) <= 1e-15:  # scipy leaves an axis of so small a sigma unfiltered
        return image.copy()
    half = int(truncate * float(sigma) + 0.5)
    impulse = np.zeros(2 * half + 1)
    impulse[half] = 1.0
    weights = ndimage.gaussian_filter1d(impulse, sigma, truncate=truncate, mode="constant")
    padded = np.pad(image, ((half, half), (0, 0)), mode="symmetric")
    out = np.empty(image.shape, image.dtype)
    total = np.empty((_SMOOTH_ROWS, image.shape[1]))
    pair = np.empty_like(total)
    for start in range(0, image.shape[0], _SMOOTH_ROWS):
        stop = min(start + _SMOOTH_ROWS, image.shape[0])
        t, p = total[: stop - start], pair[: stop - start]
        np.multiply(padded[start + half : stop + half], weights[half], out=t, dtype=np.float64)
        for j in range(half, 0, -1):
            below, above = (
                padded[start + half - j : stop + half - j],
                padded[start + half + j : stop + half + j],
            )
            np.add(below, above, out=p, dtype=np.float64)
            t += np.multiply(p, weights[half - j], out=p)
        out[start:stop] = t
    return ndimage.gaussian_filter1d(out, sigma, axis=1, truncate=truncate, output=out)


_SMOOTH_ROWS = 64  # rows smoothed at a time: two float64 buffers of 0.5 MB per 1000 columns


def _middle(ordered):
    """Return the median of sorted values: the mean of the middle two, as `numpy.median`."""
    half = ordered.size // 2
    return np.mean(ordered[half - 1 + ordered.size % 2 : half + 1])


def box_statistics():
    """Return (sigma_clip, bkg_estimator) for `Background2D`: 3-sigma clipped medians.

    The same boxes' medians as ``SigmaClip(sigma=3.0, maxiters=5)`` with
    `MedianBackground`, from one sort of each box (`BoxClip`) instead of astropy's
    selections at every round and numpy's median of each box.  Made for one
    `Background2D` (they share the sorted boxes).
    """
    from photutils.background import MedianBackground

    clip = BoxClip()

    class _Median(MedianBackground):
        def calc_background(self, data, axis=None, masked=False):
            medians = clip.medians(data, axis)
            if medians is None:
                return super().calc_background(data, axis=axis, masked=masked)
            return medians

    return clip, _Median(sigma_clip=None)


def _box_clip_class():
    from astropy.stats import SigmaClip

    class BoxClip(SigmaClip):
        """`SigmaClip(sigma=3.0, maxiters=5)` of boxes (the last axis), from one sort.

        Called by `Background2D` with ``axis=-1, masked=False, copy=False`` on boxes
        whose masked pixels are NaN, it returns them with the clipped pixels NaN too,
        as astropy does: each round keeps the values within 3 standard deviations of
        the median of those kept before, a run of the sorted values (`clip_bounds`).
        The bounds are astropy's within float64 rounding (its C code sums the squares
        in another order): the same pixels are clipped unless one lies within about
        1e-15 of its value from a bound.  Other calls are astropy's own.
        """

        def __init__(self):
            super().__init__(sigma=3.0, maxiters=5)
            self._last = None

        def __call__(self, data, axis=None, masked=True, return_bounds=False, copy=True):
            fits = axis == -1 and not (masked or return_bounds or copy)
            if not (fits and isinstance(data, np.ndarray) and data.dtype.kind == "f"):
                return super().__call__(data, axis, masked, return_bounds, copy)
            if np.isinf(data).any():
                return super().__call__(data, axis, masked, return_bounds, copy)
            ordered = np.sort(data, axis=-1).reshape(-1, data.shape[-1])  # NaN last
            low, high, first, last = clip_bounds(ordered, self.sigma, self.maxiters)
            shape = (*data.shape[:-1], 1)
            with np.errstate(invalid="ignore"):
                data[(data < low.reshape(shape)) | (data > high.reshape(shape))] = np.nan
            self._last = (data, ordered, first, last)
            return data

        def medians(self, data, axis):
            """Return numpy's medians of the boxes last clipped, if ``data`` is them."""
            if self._last is None or self._last[0] is not data or axis != -1:
                return None
            _, ordered, first, last = self._last
            self._last = None  # the sorted boxes are not kept beyond their medians
            count = last - first
            rows = np.arange(ordered.shape[0])
            upper = ordered[rows, np.minimum(first + count // 2, ordered.shape[1] - 1)]
            lower = ordered[rows, np.maximum(first + (count - 1) // 2, 0)]
            median = np.where(count % 2, upper, (lower + upper) / ordered.dtype.type(2))
            median[count == 0] = np.nan
            return median.astype(data.dtype).reshape(data.shape[:-1])

    return BoxClip


def clip_bounds(ordered, sigma, maxiters):
    """Return astropy's sigma-clipping bounds of each row of ``ordered`` (sorted, NaN last).

    Returns (low, high, first, last): astropy's bounds of the last round (float64, NaN
    for a row without values) and the run ``first:last`` of each row they keep.  Each
    round as astropy's C code: the median of the run (the mean of the middle two in
    float64), its mean and standard deviation (population), bounds at ``sigma`` of it
    on each side; a row stops when a round clips nothing or everything, all after
    ``maxiters``.  The sums come from prefix sums along the rows, in float64, of the
    values (exact for float32 values above 1 in a row of up to 2**20: the same mean)
    and of their squared departures from the row's first median (the standard
    deviation within float64 rounding of astropy's), made for
    `_CLIP_ROWS` rows at a time (8 MB of float64 per 256 rows of 4096 values).
    """
    parts = [
        _clip_rows(ordered[start : start + _CLIP_ROWS], sigma, maxiters)
        for start in range(0, ordered.shape[0], _CLIP_ROWS)
    ]
    return tuple(np.concatenate(column) for column in zip(*parts, strict=True))


_CLIP_ROWS = 256


def _clip_rows(ordered, sigma, maxiters):
    """Return `clip_bounds` of the rows of ``ordered``."""
    n_rows, size = ordered.shape
    first = np.zeros(n_rows, np.int64)
    last = np.count_nonzero(np.isfinite(ordered), axis=1).astype(np.int64)
    low, high = np.full(n_rows, np.nan), np.full(n_rows, np.nan)
    values = ordered.astype(np.float64)
    shift = _row_median(values, np.arange(n_rows), first, last)
    sums = np.zeros((n_rows, size + 1))  # NaN past each row's values: never read there
    np.cumsum(values, axis=1, out=sums[:, 1:])
    squares = np.zeros((n_rows, size + 1))
    values -= shift[:, np.newaxis]
    np.cumsum(np.square(values, out=values), axis=1, out=squares[:, 1:])
    del values
    active = last > 0
    for _ in range(maxiters):
        if not active.any():
            break
        at = np.flatnonzero(active)
        f, la = first[at], last[at]
        count = la - f
        center = _row_median(ordered, at, f, la)
        total, square = sums[at, la] - sums[at, f], squares[at, la] - squares[at, f]
        for i in np.flatnonzero(squares[at, f] > _LOSSY * square):  # see _LOSSY
            run = ordered[at[i], f[i] : la[i]].astype(np.float64)
            total[i] = run.sum()
            square[i] = np.square(run - shift[at[i]]).sum()
        mean = total / count
        square -= count * (mean - shift[at]) ** 2
        spread = np.sqrt(np.maximum(square, 0.0) / count)
        low[at], high[at] = center - sigma * spread, center + sigma * spread
        new_first = _count_below(ordered, at, f, la, low[at], inclusive=False)
        new_last = _count_below(ordered, at, f, la, high[at], inclusive=True)
        done = ((new_first == f) & (new_last == la)) | (new_first == new_last)
        first[at], last[at] = new_first, new_last
        active[at[done]] = False
    return low, high, first, last


def _row_median(ordered, rows, first, last):
    """Return the medians (float64) of the runs ``first:last`` of ``rows``, as astropy's C."""
    count = last - first
    upper = ordered[rows, first + count // 2].astype(np.float64)
    lower = ordered[rows, first + np.maximum(count - 1, 0) // 2].astype(np.float64)
    return np.where(count % 2, upper, 0.5 * (upper + lower))


def _count_below(ordered, rows, start, stop, bound, inclusive):
    """Return, per row, ``start`` + the values of ``start:stop`` below (or at) ``bound``."""
    low, high = start.copy(), stop.copy()
    while True:
        open_ = np.flatnonzero(low < high)
        if open_.size == 0:
            return low
        middle = (low[open_] + high[open_]) // 2
        value = ordered[rows[open_], middle].astype(np.float64)
        below = value <= bound[open_] if inclusive else value < bound[open_]
        low[open_] = np.where(below, middle + 1, low[open_])
        high[open_] = np.where(below, high[open_], middle)


BoxClip = _box_clip_class()
