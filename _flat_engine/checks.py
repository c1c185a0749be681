"""Frame checks before combining: is each frame fit to enter the flat.

- `survey_frame`: one whole frame summed up on its first read: its inverse median (the
  scaling of `combine_flats`), its share of saturated pixels and a coarse map of it;
- `judge_frames`: each frame's coarse map against the median of all the frames' (a plane and
  a smooth residual), and a verdict with its reason;
- `check_table`: the verdicts as an astropy `Table`;
- `screen`: all of the above for the combiners, on the frames' first read;
- `leave_out`, `record_left_out`: the frames that fail left out (or kept) with a warning
  naming each, and the header cards that say which and why.

A frame wrong everywhere (a light leak, a gradient, an over-exposure, moonlight) is not an
outlier at any one pixel of few frames, so the clip of each pixel cannot see it; compared
whole with the other frames it stands out at once.
"""

from __future__ import annotations

import math
import textwrap
import warnings
import zlib
from typing import NamedTuple

import numpy as np
from astropy.stats import mad_std
from astropy.table import Table

from .frames import map_frames
from .pixels import inverse_median
from .rejection import parse_clip

NO_REJECTION = parse_clip(None, None, "median", "std", 0.0, None, None)
"""The `Clip` that `stack.check_frames` is given by `check_flats`: any number of frames."""

SATURATED_LIMIT = 0.01
"""A frame with more than this share of its pixels at or above SATURATE fails."""

PLANE_LIMIT = 0.03
"""A frame whose ratio to the median of all the frames tilts by more than this fails."""

RESIDUAL_LIMIT = 0.01
"""A frame whose ratio to that median, less the plane, strays by more than this fails."""

COARSE_BLOCKS = 32
"""The coarse map has about this many blocks along the shorter side of a frame."""


class Survey(NamedTuple):
    """What the first read of a frame keeps (see `survey_frame`)."""

    scale: float  # inverse median
    saturated: float  # share of the pixels at or above SATURATE (NaN: no SATURATE)
    coarse: np.ndarray | None  # median of each block of pixels, over the frame's median
    fingerprint: tuple | None  # shape and checksum of sampled rows (`fingerprint`)


def _median(values, axis=-1):
    """Median along ``axis`` of the finite values, NaN where there is none, without warnings.

    (numpy's ``nanmedian`` warns on an all-NaN slice, and silencing it with
    ``warnings.catch_warnings`` is not safe in the worker threads this runs in.)
    """
    ordered = np.moveaxis(np.asarray(values, dtype=np.float64), axis, -1)
    ordered = np.where(np.isfinite(ordered), ordered, np.nan)
    ordered.sort(axis=-1)  # NaN last
    count = np.isfinite(ordered).sum(axis=-1, keepdims=True)
    lo = np.take_along_axis(ordered, np.maximum(count - 1, 0) // 2, axis=-1)
    hi = np.take_along_axis(ordered, count // 2 - (count == 0), axis=-1)
    return np.where(count > 0, 0.5 * (lo + hi), np.nan)[..., 0]


def _coarse_map(data):
    """Return the median of each block of a regular subsample of ``data`` (float64).

    Blocks are about 1/`COARSE_BLOCKS` of the shorter side; every ``step``-th row and
    column is used, so that each block's median is of about 256 values.  None for a
    frame too small for 4 x 4 blocks of 8 x 8 pixels: its structure is not judged.
    """
    side = max(8, min(data.shape) // COARSE_BLOCKS)
    step = max(1, side // 16)
    n_y, n_x = data.shape[0] // side, data.shape[1] // side
    if min(n_y, n_x) < 4:
        return None
    sample = data[: n_y * side : step, : n_x * side : step]
    per = side // step
    blocks = sample.reshape(n_y, per, n_x, per).transpose(0, 2, 1, 3).reshape(n_y, n_x, -1)
    if np.isfinite(sample).all():
        return np.median(blocks, axis=-1).astype(np.float64)
    return _median(blocks)  # NaN (or inf) pixels left out; NaN where a block has none


def survey_frame(data, frame):
    """Return the `Survey` of one whole frame (``data``, read from ``frame``)."""
    scale = inverse_median(data)
    saturate = frame.header.get("SATURATE")
    saturated = math.nan
    if isinstance(saturate, (int, float)) and not isinstance(saturate, bool):
        step = max(1, (1 << 18) // data.shape[1])  # rows at a time: small temporaries
        finite = above = 0
        for start in range(0, data.shape[0], step):
            rows = data[start : start + step]
            finite += int(np.count_nonzero(np.isfinite(rows)))
            above += int(np.count_nonzero(rows >= saturate))
        saturated = above / max(1, finite)
    coarse = _coarse_map(data)
    coarse = None if coarse is None else coarse * scale
    return Survey(scale, saturated, coarse, fingerprint(data))


def fingerprint(data):
    """Return ``(shape, checksum)`` of about 64 rows spread over ``data``, or None.

    Two frames of the same pixel values (a copy, a ``.gz`` beside its ``.fits``, a link,
    one file named twice) have the same fingerprint; two exposures differ by their noise
    in every pixel of those rows, so theirs differ.  A frame whose sampled rows hold a
    single value (constant, saturated everywhere, all NaN) has none: such frames can be
    alike without being one exposure, and other checks judge them.  A copy whose values
    changed (a lossy compression) is not recognised.
    """
    rows = np.ascontiguousarray(data[:: max(1, data.shape[0] // 64)])
    finite = rows[np.isfinite(rows)]
    if finite.size == 0 or finite.min() == finite.max():
        return None
    return data.shape, zlib.crc32(memoryview(rows).cast("B"))


class Verdict(NamedTuple):
    """One frame's checks: the measures and, when it fails, why (empty when it passes)."""

    plane: float  # fraction: the tilt of the frame against the others, across the frame
    residual: float  # fraction: largest smooth departure from that plane
    reason: str
    twin: bool = False  # the same pixel values as an earlier frame: always left out


def _structure(ratio):
    """Return the plane's rise across the frame and the largest smooth residual of ``ratio``.

    The plane is fitted twice, the second time without the blocks more than 5 spreads
    (``mad_std``) from the first fit: a bright star's block does not tilt it.  The
    residual is the median of each of 4 x 4 regions of the map, so that neither a star
    nor the noise of single blocks counts, only structure over a sixteenth of the frame.
    """
    n_y, n_x = ratio.shape
    y, x = np.mgrid[0:n_y, 0:n_x]
    x, y = x / max(n_x - 1, 1), y / max(n_y - 1, 1)
    good = np.isfinite(ratio)
    for _ in range(2):
        if good.sum() < 3:
            return math.nan, math.nan
        design = np.column_stack([np.ones(good.sum()), x[good], y[good]])
        (a, b, c), *_ = np.linalg.lstsq(design, ratio[good], rcond=None)
        residual = ratio - (a + b * x + c * y)
        good &= np.abs(residual) <= 5 * mad_std(residual[good])
    residual = np.where(good, residual, np.nan)
    regions = [
        float(_median(part.ravel()))
        for rows in np.array_split(residual, 4, axis=0)
        for part in np.array_split(rows, 4, axis=1)
    ]
    return abs(b) + abs(c), float(np.nanmax(np.abs(regions)))


def judge_frames(surveys, names=None):
    """Return each frame's `Verdict`: its coarse map against the median of all the maps.

    The ratio of a frame's coarse map to the median of all the frames' maps (each over
    its own median) is 1 everywhere for frames of one illumination; up to half the frames
    less one may be wrong without moving that median.  A plane is fitted to
    it: its rise across the frame (``plane``) catches gradients and leaks; the largest
    departure from the plane of a region of the map (see `_structure`) catches the rest
    (``residual``).  Fewer than three
    frames, or frames too small for a coarse map, cannot be compared this way (NaN).  A
    frame with the same pixel values as an earlier one (`fingerprint`) fails too: the same
    data would count twice.  ``names`` name the frames in that reason.
    """
    comparable = len(surveys) >= 3 and surveys[0].coarse is not None
    maps = np.array([survey.coarse for survey in surveys]) if comparable else None
    # The median of all the frames, the frame judged among them: fewer than half the frames
    # cannot move it (the median of the others, for two bad frames of five, is the mean of
    # a good and a bad one, and every frame would seem to fail).
    reference = _median(maps, axis=0) if comparable else None
    verdicts = []
    for i, survey in enumerate(surveys):
        plane = residual = math.nan
        if comparable:
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = maps[i] / reference
            ratio /= _median(ratio.ravel())
            plane, residual = _structure(ratio)
        reasons = []
        twin = None
        if survey.fingerprint is not None:
            twin = next((j for j in range(i) if surveys[j].fingerprint == survey.fingerprint), None)
        if twin is not None:
            earlier = names[twin] if names else f"frame {twin + 1}"
            reasons.append(f"the same pixel values as {earlier} (a copy, a twin or a link)")
        if survey.saturated > SATURATED_LIMIT:
            reasons.append(f"{survey.saturated:.1%} of its pixels saturated")
        if plane > PLANE_LIMIT:
            reasons.append(f"a gradient of {plane:.1%} against the median frame")
        if residual > RESIDUAL_LIMIT:
            reasons.append(f"a smooth structure of {residual:.1%} against the median frame")
        verdicts.append(Verdict(plane, residual, "; ".join(reasons), twin is not None))
    return verdicts


def check_table(frames, surveys, verdicts):
    """Return the checks as an astropy `Table`, one row per frame."""

    def header_number(frame, *keys):
        for key in keys:
            value = frame.header.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
        return math.nan

    table = Table(
        {
            "file": [frame.name for frame in frames],
            "filter": [str(frame.header.get("FILTER", "")).strip() for frame in frames],
            "exptime": [header_number(frame, "EXPTIME", "EXPOSURE") for frame in frames],
            "level": [1.0 / survey.scale for survey in surveys],
            "saturated": [100 * survey.saturated for survey in surveys],
            "plane": [100 * verdict.plane for verdict in verdicts],
            "residual": [100 * verdict.residual for verdict in verdicts],
            "verdict": ["leave out" if v.reason else "ok" for v in verdicts],
            "reason": [verdict.reason for verdict in verdicts],
        }
    )
    table["exptime"].unit, table["level"].unit = "s", "adu"
    for name in ("saturated", "plane", "residual"):
        table[name].unit = "%"
        table[name].format = ".2f"
    table["level"].format = ".1f"
    return table


def leave_out(frames, verdicts, keep, minimum, method):
    """Return the indices of the frames to combine and the (name, reason) of those left out.

    Each frame that fails is named in a `UserWarning` with its reason; with ``keep`` it is
    combined all the same, except a twin (the same data as an earlier frame), which would
    count one exposure twice and is always left out.  ValueError when fewer than
    ``minimum`` frames would be left.
    """
    failed = [(f, v) for f, v in zip(frames, verdicts, strict=True) if v.reason]
    for frame, verdict in failed:
        kept_anyway = keep and not verdict.twin
        action = "kept (keep_bad_frames=True)" if kept_anyway else "left out"
        hint = (
            "" if keep or verdict.twin else "; pass keep_bad_frames=True to combine it all the same"
        )
        warnings.warn(f"{method}: {frame.label} {action}: {verdict.reason}{hint}", stacklevel=4)
    kept = [i for i, v in enumerate(verdicts) if not v.reason or (keep and not v.twin)]
    left = [(frame, v.reason) for frame, v in failed if not (keep and not v.twin)]
    if len(kept) < minimum:
        advice = (
            ". Pass keep_bad_frames=True to combine them all the same"
            if any(not v.twin for _, v in failed) and not keep
            else ""
        )
        raise ValueError(
            f"{method}: {len(left)} of {len(frames)} frames fail the frame checks, leaving "
            f"{len(kept)} (at least {minimum} needed): "
            + "; ".join(f"{frame.label}: {reason}" for frame, reason in left)
            + advice
        )
    return kept, [(frame.name, reason) for frame, reason in left]


def record_left_out(header, left_out):
    """Add to ``header`` the frames left out: NLEFTOUT, LEFTnnn (names) and HISTORY (why)."""
    header["NLEFTOUT"] = (len(left_out), "frames left out by the frame checks")
    for number, (name, reason) in enumerate(left_out[:999], start=1):
        header[f"LEFT{number:03d}"] = (name[:68], "frame left out (see HISTORY)")
        for line in textwrap.wrap(f"left out {name}: {reason}", 72):
            header.add_history(line)


class Screened(NamedTuple):
    """The frames that pass (see `screen`), their scales and noise, and those left out."""

    frames: list
    scales: list
    noise: tuple | None
    left_out: list
    kept: list  # the indices of the frames that pass


def parse_keep(keep):
    """Check ``keep_bad_frames``: True or False (TypeError otherwise)."""
    if not isinstance(keep, (bool, np.bool_)):
        raise TypeError(f"keep_bad_frames must be True or False, got {keep!r}")
    return bool(keep)


def screen(frames, plan, dtype, noise, keep, minimum, method):
    """Survey every frame (its first read), judge them, and leave out those that fail.

    ``noise`` is what `rejection.frame_noise` returned for all the frames; the `Screened`
    holds it for the frames kept.
    """
    surveys = map_frames(survey_frame, frames, plan, dtype, with_frame=True)
    verdicts = judge_frames(surveys, [frame.label for frame in frames])
    kept, left = leave_out(frames, verdicts, keep, minimum, method)
    if noise is not None:
        noise = tuple(values[kept] for values in noise)
    chosen = [frames[i] for i in kept]
    return Screened(chosen, [surveys[i].scale for i in kept], noise, left, kept)
