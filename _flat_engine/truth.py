"""Judging a flat against the response it should have recovered (simulated data only).

`ideal_noise` is the noise of a perfect combination, the Poisson and read noise of every
frame averaged with nothing rejected (`parse_noise_inputs` checks what `ideal_flat_noise`
is given); `no_outlier` marks the pixels where no frame deviates from the truth beyond a
threshold; `compare` and `comparison_table` are the measurements behind `compare_with_truth`
and `truth_table`.
"""

from __future__ import annotations

import math
import os
import weakref

import numpy as np
from astropy import units as u

from .files import read_image
from .options import as_number, quantity_value
from .pixels import as_float_array, plane_coefficients, plane_rows

_BLOCK_PIXELS = 1 << 22  # the pixels compared at a time: some 100 MB of temporaries


def ideal_noise(truth, levels, gain, read_noise, n_used=None):
    """Return the noise of a perfect combined flat at each pixel (relative to a level of 1).

    Frame i's scaled value at a pixel of response t has variance (t L_i / g + (r / g)**2)
    / L_i**2; the mean of N frames has the sum of those over N**2.  With ``n_used`` (the
    frames averaged at each pixel) the noise grows as sqrt(N / n_used); where ``n_used``
    is 0 it is infinite.
    """
    response = np.maximum(truth, 0)
    variance = sum((response * lv / gain + (read_noise / gain) ** 2) / lv**2 for lv in levels)
    ideal = np.sqrt(variance) / len(levels)
    if n_used is not None:
        with np.errstate(divide="ignore"):
            ideal = ideal * np.sqrt(len(levels) / np.asarray(n_used, dtype=np.float64))
    return ideal


_LAST_CLEAN = {}  # the last `no_outlier` answer: a table compares several flats of one set


def no_outlier(frames, truth, levels, gain, read_noise, threshold):
    """Return where no frame deviates from ``truth`` by more than ``threshold`` of its noise.

    ``frames`` are files, or arrays or CCDData in memory (a cut-out of each frame, say).

    The answer depends on the frames, not on the flat judged: the last one is kept (with a
    weak reference to ``truth``), so that `truth_table` reads the frames once, not per row.
    """
    files = all(_is_path(frame) for frame in frames)
    # a file rewritten since (another size or time of change) is read again
    stats = tuple((os.stat(f).st_mtime_ns, os.stat(f).st_size) for f in frames) if files else ()
    key = (tuple(map(str, frames)), stats, truth.shape, np.asarray(levels).tobytes(), gain)
    key += (read_noise, threshold, float(np.nansum(truth, dtype=np.float64)))
    if _LAST_CLEAN.get("key") == key and _LAST_CLEAN["truth"]() is truth:
        return _LAST_CLEAN["clean"]
    clean = _no_outlier(frames, truth, levels, gain, read_noise, threshold)
    _LAST_CLEAN.clear()
    if files:  # arrays could change in place unseen: only files are remembered
        _LAST_CLEAN.update(key=key, truth=weakref.ref(truth), clean=clean)
    return clean


def _no_outlier(frames, truth, levels, gain, read_noise, threshold):
    clean = np.ones(truth.shape, dtype=bool)
    step = max(1, _BLOCK_PIXELS // max(truth.shape[1], 1))  # rows at a time: bounded memory
    for i, (frame, level) in enumerate(zip(frames, levels, strict=True)):
        data = as_float_array(read_image(frame)[0] if _is_path(frame) else frame)
        if data.shape != truth.shape:
            name = frame if _is_path(frame) else f"frames[{i}]"
            raise ValueError(f"{name} has shape {data.shape}, the truth {truth.shape}")
        for start in range(0, truth.shape[0], step):
            rows = slice(start, start + step)
            noise = np.sqrt(np.maximum(truth[rows], 0) * level / gain + (read_noise / gain) ** 2)
            clean[rows] &= np.abs(data[rows] - truth[rows] * level) <= threshold * noise
        del data
    return clean


def _is_path(frame):
    """Whether ``frame`` names a file (else it is an array or a CCDData in memory)."""
    return isinstance(frame, (str, os.PathLike))


def parse_noise_inputs(levels, gain, read_noise, response, n_used):
    """Check the inputs of `ideal_noise` as `ideal_flat_noise` takes them; return them.

    ``levels`` become a 1-D float array of positive numbers, ``gain`` and ``read_noise``
    floats (Quantities in e-/ADU and e- accepted), ``response`` a float array, ``n_used``
    (if given) an integer array of counts from 0 to the number of levels, broadcastable
    with ``response``.  Raises ValueError otherwise.
    """
    try:
        levels = np.atleast_1d(np.asarray(levels, dtype=np.float64))
        response = np.asarray(response, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"levels and response must be numbers: {err}") from err
    if levels.ndim != 1 or levels.size == 0 or not np.all(np.isfinite(levels) & (levels > 0)):
        raise ValueError(f"levels must be positive numbers, got {levels}")
    gain = as_number(
        quantity_value(gain, u.electron / u.adu, "gain"), "gain", minimum=0, strict=True
    )
    read_noise = as_number(
        quantity_value(read_noise, u.electron, "read_noise"), "read_noise", minimum=0
    )
    if n_used is not None:
        n_used = np.asarray(n_used)
        if n_used.dtype.kind not in "ui" or n_used.min(initial=0) < 0:
            raise ValueError("n_used must hold counts of frames (integers >= 0)")
        if n_used.max(initial=0) > levels.size:
            raise ValueError(f"n_used exceeds the {levels.size} frames of levels")
    try:
        np.broadcast_shapes(response.shape, () if n_used is None else n_used.shape)
    except ValueError as err:
        raise ValueError(f"response and n_used have different shapes: {err}") from err
    return levels, gain, read_noise, response, n_used


def compare(flat, truth, noise, threshold, remove_plane, counts):
    """Return what `compare_with_truth` reports, as a tuple of its five fields.

    ``noise`` holds the frames' ``levels``, ``gain`` and ``read_noise``; ``counts`` the
    ``frames`` combined, the flat's ``n_used`` and ``ideal_from_counts``.  Residuals are
    counted where the truth is positive (dead pixels have no ratio); the spread is measured
    within ``threshold`` ideal sigmas.  Raises ValueError for mismatched shapes, a level or
    gain that is not positive, or ``ideal_from_counts`` without ``n_used``.
    """
    if flat.shape != truth.shape:
        raise ValueError(f"shapes differ: {flat.shape} and {truth.shape}")
    levels, gain = np.asarray(noise["levels"], dtype=np.float64), noise["gain"]
    if levels.size == 0 or not (levels > 0).all() or not gain > 0:
        raise ValueError(f"levels {levels} and gain {gain} must be > 0")
    n_used = counts["n_used"]
    if counts["ideal_from_counts"] and n_used is None:
        raise ValueError("ideal_from_counts needs n_used")
    plane = None
    if remove_plane:  # fitted to every 8th pixel's ratio, made row by row below
        with np.errstate(invalid="ignore", divide="ignore"):
            plane = plane_coefficients(flat[::8, ::8] / truth[::8, ::8], 8)
    read_noise = noise["read_noise"]
    good_rejected, clean = math.nan, None
    if counts["frames"] is not None and n_used is not None:
        clean = no_outlier(counts["frames"], truth, levels, gain, read_noise, threshold)
        good_rejected = float(np.sum(len(levels) - n_used[clean]) / (clean.sum() * len(levels)))
    del clean
    counted = n_used if counts["ideal_from_counts"] else None
    sums = np.zeros(3)  # the residuals within the threshold: their number, sum, sum of squares
    n_high = n_low = 0
    largest = -math.inf
    step = max(1, _BLOCK_PIXELS // max(flat.shape[1], 1))  # rows at a time: bounded memory
    for start in range(0, flat.shape[0], step):
        rows = slice(start, start + step)
        piece, true = flat[rows], truth[rows]
        if plane is not None:
            end = min(start + step, flat.shape[0])
            with np.errstate(invalid="ignore", divide="ignore"):
                piece = piece / plane_rows(plane, slice(start, end), flat.shape[1])
        ideal = ideal_noise(
            true, levels, gain, read_noise, None if counted is None else counted[rows]
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            residual = (piece - true) / ideal
            excess = piece / true - 1
        good = np.isfinite(residual) & (true > 0)
        inside = residual[good & (np.abs(residual) <= threshold)]
        sums += (inside.size, inside.sum(), np.square(inside).sum())
        n_high += int(np.count_nonzero(good & (residual > threshold)))
        n_low += int(np.count_nonzero(good & (residual < -threshold)))
        largest = max(largest, float(np.max(excess[good], initial=-math.inf)))
    mean = sums[1] / sums[0] if sums[0] else math.nan
    spread = math.sqrt(max(sums[2] / sums[0] - mean**2, 0.0)) if sums[0] else math.nan
    return spread, n_high, n_low, largest if largest > -math.inf else math.nan, good_rejected


def comparison_table(rows, threshold, known):
    """Return the table of `truth_table`: one row per method of ``rows`` (name: comparison).

    ``known`` (name: whether the flat came with its ``n_used``) adds the column of good
    values rejected, masked where it is unknown; None leaves the column out.
    """
    from astropy.table import MaskedColumn, Table

    table = Table({"method": list(rows)})
    table["noise / ideal"] = [q.noise_ratio for q in rows.values()]
    table["noise / ideal"].format = ".3f"
    table[f"> {threshold:g} sigma above"] = [q.n_high for q in rows.values()]
    table[f"> {threshold:g} sigma below"] = [q.n_low for q in rows.values()]
    if known is not None:
        rejected = [100 * q.good_rejected for q in rows.values()]
        unknown = [not known[name] for name in rows]
        table["good rejected (%)"] = MaskedColumn(rejected, mask=unknown, format=".3f")
    return table
