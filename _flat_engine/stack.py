"""The stack driver: checks, memory plan, the pass over blocks of rows, the header.

- `check_frames`: can the frames be combined (shapes, FILTER, count), with warnings;
- `plan_memory`: how many rows and threads fit in ``mem_limit``;
- `frame_scales`: each frame read whole once, for its inverse median;
- `combine_rows`: every block of rows of every frame scaled, clipped and averaged;
- `flat_header`, `finish_flat`: the header of a combined flat, and the flat normalised
  with its bad pixels masked (`badpix`).
"""

from __future__ import annotations

import math
import textwrap
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData, StdDevUncertainty

from .badpix import mask_defects
from .files import fits_text, raw_header_value
from .frames import BLOCK_PIXELS, map_frames
from .pixels import block_median, inverse_median
from .rejection import Block, combine_block


def check_frames(frames, clip, method):
    """Check that the frames can be combined with ``clip``; warn about suspicious input.

    Raises ValueError (no frame, too few to clip, shapes or FILTER values differ) and
    warns (`UserWarning`) when IMAGETYP or the units differ between frames.  (The same
    data given twice is left out by the frame checks, `checks.judge_frames`.)
    """
    if not frames:
        raise ValueError(f"{method}: no image given")
    labels = ", ".join(f.label for f in frames)
    if clip.rejects and len(frames) < 3:
        raise ValueError(
            f"{method}: rejection needs at least 3 frames, got {len(frames)} ({labels}); "
            "pass sigma_lower=None, sigma_upper=None to average without rejection"
        )
    if len(frames) > np.iinfo(np.uint16).max:
        raise ValueError(f"{method}: at most 65535 frames, got {len(frames)}")
    for frame in frames[1:]:
        if frame.shape != frames[0].shape:
            raise ValueError(
                f"{method}: {frame.label} has shape {frame.shape}, but "
                f"{frames[0].label} has shape {frames[0].shape}"
            )

    def values(key):  # FILTER names are compared as written, IMAGETYP without case
        return {str(f.header.get(key, "")).strip() for f in frames}

    raw_filters = {raw_header_value(f.path, "FILTER") for f in frames if f.path is not None}
    if len(values("FILTER")) > 1 or len(raw_filters - {None}) > 1:
        detail = "; ".join(f"{f.label}: {f.header.get('FILTER')!r}" for f in frames)
        raise ValueError(
            f"{method}: the frames have different FILTER values ({detail}); combine "
            "one filter at a time"
        )
    if len({value.casefold() for value in values("IMAGETYP")}) > 1:
        detail = ", ".join(f"{f.name}: {f.header.get('IMAGETYP')!r}" for f in frames)
        warnings.warn(f"{method}: the frames have different IMAGETYP ({detail})", stacklevel=3)
    units = {f.unit for f in frames}
    if len(units) > 1:
        warnings.warn(
            f"{method}: the frames are in different units ({', '.join(map(str, units))}); "
            "scaling by the median makes them comparable, but check the calibration",
            stacklevel=3,
        )


MAX_WORKERS = 2  # the course machines have two cores; numpy releases the GIL


# Bytes per pixel of a block row for the per-pixel arrays of `combine_block` (centre,
# spreads, counts, float64 sums ...), measured generously so that the bound holds.
_PER_PIXEL_SCRATCH = 160


# Room kept for the fixed cost of the calls themselves (Python, NumPy, astropy headers).
_OVERHEAD = 8 << 20


class Plan(NamedTuple):
    """How `combine_flats` shares ``mem_limit`` out (see `plan_memory`)."""

    frame_workers: int  # frames read whole at the same time (median pass)
    block_workers: int  # threads combining blocks of rows
    rows: int  # rows per block
    norm_rows: int  # rows per block of the final median


def plan_memory(shape, n_frames, dtype, mem_limit):
    """Plan the work of `combine_flats` within ``mem_limit`` bytes.

    The median pass holds one whole frame per worker (with a mask and a copy of its
    finite values); the combining pass holds the outputs (data, uncertainty, mask,
    counts) and, per worker, three buffers of ``n_frames`` row blocks.
    """
    ny, nx = shape
    pixels, item = ny * nx, dtype.itemsize
    outputs = pixels * (2 * item + 1 + 2)
    frame = pixels * (2 * item + 1) + min(pixels, BLOCK_PIXELS) * 8
    row = nx * (n_frames * (3 * item + 2) + _PER_PIXEL_SCRATCH)
    norm = pixels * item // 8 + min(ny, (1 << 20) // nx + 1) * nx * 2
    budget = mem_limit - _OVERHEAD
    needed = max(frame, outputs + max(row, norm))
    if budget < needed:
        raise ValueError(
            f"mem_limit={mem_limit:.4g} bytes is too small for {n_frames} frames of "
            f"{ny} x {nx} pixels in {dtype}: it needs at least {needed + _OVERHEAD:.4g} "
            f"bytes (the outputs take {outputs:.4g}, one whole frame {frame:.4g})"
        )
    frame_workers = max(1, min(MAX_WORKERS, n_frames, int(budget // frame)))
    block_workers = max(1, min(MAX_WORKERS, int((budget - outputs) // row), ny))
    rows = int((budget - outputs) // (block_workers * row))
    # Blocks of about a quarter million pixels per frame (combine_block works through them
    # in parts that fit the processor's cache; avsigclip pools its k over the whole block),
    # and at least two blocks per worker keep both workers busy.
    rows = min(rows, max(1, (1 << 18) // nx), max(1, math.ceil(ny / (2 * block_workers))))
    return Plan(frame_workers, block_workers, max(1, rows), max(1, min(ny, (1 << 20) // nx)))


class Combined(NamedTuple):
    """The output arrays of `combine_rows` and what rejection did."""

    data: np.ndarray
    uncertainty: np.ndarray
    n_used: np.ndarray
    n_rejected: int
    noise_scales: list


def combine_rows(frames, scales, clip, model, plan, dtype):
    """Read the frames in blocks of rows, scale, clip and average each block.

    ``plan.block_workers`` threads take every ``block_workers``-th block; each reads its
    block of every frame into buffers of its own, so no lock is needed, and the result
    does not depend on the threads' timing.
    """
    ny, nx = frames[0].shape
    n_frames = len(frames)
    data = np.empty((ny, nx), dtype=dtype)
    uncertainty = np.empty((ny, nx), dtype=dtype)
    n_used = np.empty((ny, nx), dtype=np.uint16)
    scales = np.asarray(scales, dtype=dtype)[:, np.newaxis, np.newaxis]
    starts = range(0, ny, plan.rows)

    def worker(first):
        size = n_frames * plan.rows * nx
        buffers = np.empty(size, dtype), np.empty(size, dtype), np.empty(size, bool)
        results = []
        for start in starts[first :: plan.block_workers]:
            stop = min(ny, start + plan.rows)
            shape = (n_frames, stop - start, nx)
            values, scratch, keep = (b[: math.prod(shape)].reshape(shape) for b in buffers)
            for frame, rows, scale in zip(frames, values, scales, strict=True):
                frame.read_rows(start, stop, rows)
                rows *= scale  # scaled while the cache still holds the rows just read
            result = combine_block(Block(values, scratch, keep), clip, model)
            data[start:stop], uncertainty[start:stop] = result.mean, result.uncertainty
            n_used[start:stop] = result.n_used
            results.append((result.n_rejected, result.noise_scale))
        return results

    with ThreadPoolExecutor(plan.block_workers) as pool:
        per_worker = list(pool.map(worker, range(plan.block_workers)))
    counts = [result for results in per_worker for result in results]
    return Combined(
        data,
        uncertainty,
        n_used,
        sum(n for n, _ in counts),
        [k for _, k in counts if math.isfinite(k)],
    )


def frame_scales(frames, plan, dtype):
    """Return each frame's inverse median, each frame read whole once (the first read)."""
    return map_frames(inverse_median, frames, plan, dtype)


def flat_header(frames, clip, model, result, *, method="combine_flats", scaling=None):
    """Return the header of a combined flat: inputs, rejection and its parameters.

    ``method`` names the function in COMBINED's comment and the HISTORY; ``scaling``
    says how the frames were scaled (default: each by its inverse median).
    """
    header = fits.Header()
    for key in ("IMAGETYP", "FILTER"):
        if frames[0].header.get(key) is not None:
            header[key] = fits_text(frames[0].header[key])
    header["NCOMBINE"] = (len(frames), "number of frames combined")
    for number, frame in enumerate(frames[:999], start=1):  # IMCMBnnn has room for 999
        header[f"IMCMB{number:03d}"] = fits_text(frame.name)
    header["COMBINED"] = (True, f"by {method} (convenience_functions)")
    header["NREJECT"] = (result.n_rejected, "number of samples rejected")
    header["REJECT"] = (clip.stdfunc if clip.rejects else "none", "rejection method")
    if clip.rejects:
        for key, sigma, side in (
            ("REJLSIG", clip.sigma_lower, "below"),
            ("REJHSIG", clip.sigma_upper, "above"),
        ):
            if sigma is not None:
                header[key] = (sigma, f"rejection threshold {side} centre, in spreads")
        header["REJCEN"] = (clip.cenfunc, "centre of each pixel's scaled values")
        if clip.grow:
            header["REJGROW"] = (clip.grow, "[pixel] radius of growth of each rejection")
    clip_text = "no rejection"
    if clip.stdfunc == "ccdclip":
        gains, noises = set(model.gain.tolist()), set(model.read_noise.tolist())
        if len(gains) == 1 and len(noises) == 1:
            header["REJGAIN"] = (gains.pop(), "[electron/adu] gain of the noise model")
            header["REJRDN"] = (noises.pop(), "[electron] read noise of the noise model")
        header["REJSNOIS"] = (model.sensitivity_noise, "sensitivity noise (fraction)")
    elif clip.stdfunc == "avsigclip" and result.noise_scales:
        gain = 1.0 / float(np.median(result.noise_scales))
        header["REJGAIN"] = (round(gain, 4), "[electron/adu] measured from the scatter")
    if clip.rejects:
        clip_text = (
            f"one-pass {clip.describe()} rejection around the {clip.cenfunc} of the "
            f"scaled values, spread from {clip.stdfunc}"
        )
    scaling = scaling or "each scaled by its inverse median"
    history = (
        f"{method}: {len(frames)} frames, {scaling}; {clip_text}; mean of the survivors; "
        "result divided by its median"
    )
    for line in textwrap.wrap(history, 72):  # whole words on each card, not cut at 72
        header.add_history(line)
    return header


def finish_flat(result, header, plan, dtype, method):
    """Normalise a `Combined` to median 1; return it as a dimensionless CCDData.

    Its ``mask`` is True where no frame survived and at the bad pixels (`mask_defects`).
    """
    norm = block_median(result.data, plan.norm_rows)
    if not (math.isfinite(norm) and norm > 0):
        raise ValueError(f"{method}: the combined image has median {norm}; cannot normalise")
    data, uncertainty = result.data, result.uncertainty
    data /= dtype.type(norm)
    uncertainty /= dtype.type(norm)
    flat = CCDData(
        data,
        unit=u.dimensionless_unscaled,
        uncertainty=StdDevUncertainty(uncertainty, copy=False),
        mask=result.n_used == 0,
        meta=header,
        copy=False,
    )
    return mask_defects(flat)
