"""Each pixel's median over the frames by a sorting network laid out across pixels.

`stack_median` applies Batcher's odd-even merge sort (`_sorting_network`), cut to the
comparators the two middle values need (`_median_network`), to whole rows of every frame at
once: each comparator is one `numpy.minimum` and one `numpy.maximum`, the same work for every
pixel, and the median is bit for bit the one ``numpy.sort`` gives.  The rejection kernel
(`rejection`) takes each pixel's centre from it.
"""

from __future__ import annotations

import functools

import numpy as np


@functools.cache
def _sorting_network(n):
    """Return the comparators ``(i, j)``, ``i < j``, of Batcher's odd-even merge sort.

    Applied in order, each putting the smaller of wires i and j on i, they sort any n
    values.  Built for the next power of two; comparators that reach a wire >= n are
    dropped, which is the same as padding with +inf (those never move).
    """
    pairs, p = [], 1
    while p < n:
        k = p
        while k >= 1:
            for j in range(k % p, n - k, 2 * k):
                for i in range(min(k, n - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return tuple(pairs)


@functools.cache
def _median_network(n):
    """Return the comparators of `_sorting_network` that the two middle wires need.

    Each as ``(i, j, low, high)``: whether the smaller (wire i) and the larger (wire j)
    result is needed later.  Read from the last comparator backwards.
    """
    needed, kept = {(n - 1) // 2, n // 2}, []
    for i, j in reversed(_sorting_network(n)):
        low, high = i in needed, j in needed
        if low or high:
            kept.append((i, j, low, high))
            needed |= {i, j}
    return tuple(reversed(kept))


# Pixels per frame that one pass of the networks handles at a time: the values of every
# frame then stay in the processor's cache from one comparator to the next.
_NETWORK_PIXELS = 1 << 16


def stack_median(stack, n_finite, source=None):
    """Median along axis 0 of ``stack`` (NaN ignored; NaN where none), overwriting it.

    A sorting network laid out across pixels: each comparator is a `numpy.minimum` and a
    `numpy.maximum` of two whole frames' rows, so the work is the same for every pixel
    and runs at the speed of memory.  Without NaN (``n_finite`` a number) only the
    comparators the two middle values depend on are applied.  With NaN (``n_finite``
    each pixel's count of finite values), NaN becomes +inf, the whole stack is sorted in
    place, and each pixel's median is taken at its own count.  The values are the ones a
    sort would give, so the median is bit for bit that of ``numpy.sort``.

    With ``source`` (an array of the shape of ``stack``, left unchanged), the median is
    that of ``source`` and ``stack`` is only a scratch buffer: the network's first
    comparators read ``source`` and write into ``stack``, which saves copying it.
    """
    n = stack.shape[0]
    flat = stack.reshape(n, -1)
    step = _NETWORK_PIXELS
    out = np.empty(flat.shape[1], dtype=stack.dtype)
    spare = np.empty(min(step, flat.shape[1]), dtype=stack.dtype)
    counts = None if np.isscalar(n_finite) else np.asarray(n_finite).reshape(-1)
    if source is not None and counts is not None:  # sorted in place: a copy to sort
        np.copyto(stack, source)
        source = None
    origin = None if source is None else source.reshape(n, -1)
    for start in range(0, flat.shape[1], step):
        part = flat[:, start : start + step]
        size = part.shape[1]
        if counts is None:
            read = part if origin is None else origin[:, start : start + step]
            out[start : start + size] = _middle(read, part, spare[:size])
        else:
            out[start : start + size] = _sorted_median(part, counts[start : start + size], spare)
    return out.reshape(stack.shape[1:])


def _middle(source, scratch, spare):
    """Mean of the two middle values of each column of ``source`` (no NaN), by the network.

    ``scratch`` (the shape of ``source``, or ``source`` itself) and ``spare`` (one row)
    take the comparators' results: a wire is read from ``source`` until a comparator
    writes it, into a row of ``scratch`` or the spare row no longer in use.
    """
    n = source.shape[0]
    wires = list(source)
    # Rows free to be written: every row of scratch whose wire still reads source (when
    # scratch is source, none), and the spare row.  A wire that owns a row writes in place.
    owned = [scratch is source] * n
    free = [spare] if scratch is source else [spare, *scratch]
    for i, j, low, high in _median_network(n):
        a, b = wires[i], wires[j]
        if low and high:  # the minimum goes to a free row, which becomes wire i
            smaller = free.pop()
            np.minimum(a, b, out=smaller)
            if not owned[j]:
                wires[j], owned[j] = free.pop(), True
            np.maximum(a, b, out=wires[j])
            if owned[i]:
                free.append(a)
            wires[i], owned[i] = smaller, True
        elif low:
            if not owned[i]:
                wires[i], owned[i] = free.pop(), True
            np.minimum(a, b, out=wires[i])
        else:
            if not owned[j]:
                wires[j], owned[j] = free.pop(), True
            np.maximum(a, b, out=wires[j])
    return 0.5 * (wires[(n - 1) // 2] + wires[n // 2])


def _sorted_median(part, count, spare):
    """Median of each column of ``part`` (NaN ignored, NaN if none), sorting it in place."""
    np.copyto(part, np.inf, where=np.isnan(part))
    spare = spare[: part.shape[1]]
    for i, j in _sorting_network(part.shape[0]):
        np.minimum(part[i], part[j], out=spare)
        np.maximum(part[i], part[j], out=part[j])
        part[i] = spare
    count = count.astype(np.intp)
    lo = np.maximum((count - 1) // 2, 0)[np.newaxis]
    hi = (count // 2)[np.newaxis]
    median = 0.5 * (
        np.take_along_axis(part, lo, axis=0)[0] + np.take_along_axis(part, hi, axis=0)[0]
    )
    median[count == 0] = np.nan
    return median
