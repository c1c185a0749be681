"""The rejection of outliers pixel by pixel: options, the CCD's noise model, the kernel.

- `parse_clip`: ``cenfunc``, ``stdfunc`` and the thresholds turned into a `Clip` once (as
  astropy's ``sigma_clipping`` does with ``_parse_cenfunc``); the gain and read noise
  options are checked there too, against ``stdfunc``;
- `frame_noise`, `noise_model`: each frame's gain and read noise (``ccdclip``) and level;
- `Block`, `combine_block`: the centre, expected spread, rejection and average of each
  pixel's scaled values in one block of rows, worked through in parts that the
  processor's cache holds;
- the centre ``median`` of each pixel from `network.stack_median`, a sorting network laid
  out across pixels;
- `robust_scale`: avsigclip's measured scale, which one globally wrong frame cannot inflate;
- `grow_rejections`: IRAF's ``grow``, the neighbours of each rejected value rejected too.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
from astropy import units as u
from scipy.ndimage import binary_dilation
from scipy.special import gammaincinv

from .network import stack_median
from .options import as_number, quantity_value

# astropy's mad_std factor: 1 / Phi^-1(3/4), so that mad_std estimates sigma for a Gaussian.
MAD_TO_STD = 1.482602218505602


CENFUNCS = ("median", "mean")


STDFUNCS = ("avsigclip", "ccdclip", "mad_std", "std")


NOISE_MODELS = ("avsigclip", "ccdclip")


class Clip(NamedTuple):
    """The rejection of `combine_flats`, with its string options turned into functions."""

    sigma_lower: float | None  # None: no rejection below the centre
    sigma_upper: float | None  # None: no rejection above the centre
    cenfunc: str
    stdfunc: str
    sensitivity_noise: float
    center: object  # center(block) -> centre of each pixel's scaled values
    spread: object  # spread(block, center, model) -> (expected std of each value, scale)
    gain: float | None = None  # e-/ADU, for ccdclip; None: each frame's GAIN
    read_noise: float | None = None  # e-, for ccdclip; None: each frame's RDNOISE
    grow: float = 0.0  # pixels: the neighbours of a rejected value within it are rejected

    @property
    def rejects(self):
        """True when values are rejected on at least one side of the centre."""
        return self.sigma_lower is not None or self.sigma_upper is not None

    def describe(self):
        """Return the thresholds in words, for the header: '8-sigma low, 5-sigma high'."""
        sides = [
            f"{sigma:g}-sigma {side}"
            for sigma, side in ((self.sigma_lower, "low"), (self.sigma_upper, "high"))
            if sigma is not None
        ]
        return ", ".join(sides)


class NoiseModel(NamedTuple):
    """What the noise-model spreads need: each frame's level (ADU), gain and read noise."""

    levels: np.ndarray
    gain: np.ndarray | None = None
    read_noise: np.ndarray | None = None
    sensitivity_noise: float = 0.0


def parse_clip(
    sigma_lower, sigma_upper, cenfunc, stdfunc, sensitivity_noise, gain, read_noise, grow=0.0
):
    """Check the rejection options, the noise model's among them, and return a `Clip`.

    Everything is checked here, before any frame is opened: a ``gain``, ``read_noise`` or
    ``sensitivity_noise`` given with a ``stdfunc`` that ignores them is refused, and so is
    a ``grow`` without rejection.
    """
    grow = as_number(grow, "grow", minimum=0)
    if grow and sigma_lower is None and sigma_upper is None:
        raise ValueError("grow needs a rejection: sigma_lower or sigma_upper must be given")
    sigma_lower = as_number(sigma_lower, "sigma_lower", allow_none=True, minimum=0, strict=True)
    sigma_upper = as_number(sigma_upper, "sigma_upper", allow_none=True, minimum=0, strict=True)
    if cenfunc not in CENFUNCS:
        raise ValueError(f"cenfunc must be one of {CENFUNCS}, got {cenfunc!r}")
    if stdfunc not in STDFUNCS:
        raise ValueError(f"stdfunc must be one of {STDFUNCS}, got {stdfunc!r}")
    sensitivity_noise = as_number(sensitivity_noise, "sensitivity_noise", minimum=0)
    if gain is not None:  # the arguments, checked under their own names
        gain = quantity_value(gain, u.electron / u.adu, "gain")
        gain = as_number(gain, "gain", minimum=0, strict=True)
    if read_noise is not None:
        read_noise = quantity_value(read_noise, u.electron, "read_noise")
        read_noise = as_number(read_noise, "read_noise", minimum=0)
    if stdfunc != "ccdclip" and (gain is not None or read_noise is not None or sensitivity_noise):
        raise ValueError(
            "gain, read_noise and sensitivity_noise are used by stdfunc='ccdclip' only, "
            f"not by stdfunc={stdfunc!r}"
        )
    center = _center_median if cenfunc == "median" else _center_mean
    spread = {
        "mad_std": _spread_mad_std,
        "std": _spread_std,
        "ccdclip": _spread_ccdclip,
        "avsigclip": _spread_avsigclip,
    }[stdfunc]
    return Clip(
        sigma_lower,
        sigma_upper,
        cenfunc,
        stdfunc,
        sensitivity_noise,
        center,
        spread,
        gain,
        read_noise,
        grow,
    )


def frame_noise(frames, clip):
    """Return each frame's gain (e-/ADU) and read noise (e-) for ``ccdclip``, else None.

    They come from the options of the `Clip` when given, else from each frame's GAIN
    and RDNOISE keywords (its header only: no pixel is read); frames in electrons have a
    gain of 1.
    """
    if clip.stdfunc != "ccdclip":
        return None
    gains, noises = [], []
    for frame in frames:
        electrons = frame.unit == u.electron
        if electrons and clip.gain is not None:
            raise ValueError(f"{frame.label} is in electrons: a gain does not apply to it")
        given = {"GAIN": 1.0 if electrons else clip.gain, "RDNOISE": clip.read_noise}
        for key, value in given.items():
            if value is None:
                value = frame.header.get(key)
                if value is None:
                    raise ValueError(
                        f"{frame.label} has no {key} keyword, which stdfunc='ccdclip' needs; "
                        f"pass {'gain' if key == 'GAIN' else 'read_noise'}= or use "
                        "stdfunc='avsigclip'"
                    )
            try:
                value = as_number(value, f"{key} of {frame.label}", minimum=0, strict=key == "GAIN")
            except TypeError as err:
                raise ValueError(str(err)) from err
            (gains if key == "GAIN" else noises).append(value)
    return np.array(gains), np.array(noises)


def noise_model(levels, clip, noise):
    """Return the `NoiseModel` for ``clip`` (None for MAD and std).

    ``levels`` are the frames' levels (ADU), ``noise`` what `frame_noise` returned.
    """
    if clip.stdfunc not in NOISE_MODELS:
        return None
    levels = np.asarray(levels, dtype=np.float64)
    if noise is None:
        return NoiseModel(levels)
    return NoiseModel(levels, noise[0], noise[1], clip.sensitivity_noise)


class Block:
    """One block of rows of every frame, scaled, with its scratch buffers.

    ``values`` holds the scaled values (shape ``(n_frames, rows, nx)``, NaN where not
    finite); ``scratch`` is a buffer of the same shape and ``keep`` a boolean one.
    """

    def __init__(self, values, scratch, keep):
        self.values, self.scratch, self.keep = values, scratch, keep
        # A NaN or inf anywhere makes the sum non-finite (so does overflow, harmlessly).
        self.any_bad = not np.isfinite(values.sum(axis=0)).all()
        if self.any_bad:
            finite = np.isfinite(values, out=keep)
            self.n_finite = finite.sum(axis=0, dtype=np.uint16)
            np.copyto(values, np.nan, where=np.logical_not(finite, out=finite))  # inf -> NaN
        else:
            self.n_finite = values.shape[0]

    def parts(self):
        """Split the block into blocks of a few rows that the processor's cache holds.

        Each part is a view of the same buffers, with the whole block's ``any_bad`` (so
        each pixel's arithmetic is the same whichever part holds it).
        """
        n_frames, rows, nx = self.values.shape
        step = max(1, max(_PART_PIXELS, _PART_VALUES // max(n_frames, 1)) // nx)
        parts = []
        for start in range(0, rows, step):
            part = object.__new__(Block)
            window = np.s_[:, start : start + step]
            part.values, part.scratch = self.values[window], self.scratch[window]
            part.keep, part.any_bad = self.keep[window], self.any_bad
            part.n_finite = self.n_finite
            if not np.isscalar(self.n_finite):
                part.n_finite = self.n_finite[start : start + step]
            parts.append(part)
        return parts

    def median(self, deviation_from=None):
        """Median over the frames of each pixel's values, ignoring NaN (NaN if none).

        With ``deviation_from`` (a per-pixel centre), the median of ``|value - centre|``.
        ``scratch`` is overwritten.
        """
        stack = self.scratch
        if deviation_from is None:  # the network reads the values, writes the scratch
            return stack_median(stack, self.n_finite, source=self.values)
        np.abs(np.subtract(self.values, deviation_from, out=stack), out=stack)
        return stack_median(stack, self.n_finite)

    def mean_and_std(self, want_std):
        """Mean (and population std) over the frames, ignoring NaN."""
        if not self.any_bad:
            return self.values.mean(axis=0), (self.values.std(axis=0) if want_std else None)
        filled = np.nan_to_num(self.values, nan=0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = filled.sum(axis=0) / self.n_finite
            if not want_std:
                return mean, None
            filled -= mean
            np.copyto(filled, 0, where=np.isnan(self.values))
            return mean, np.sqrt(np.einsum("ijk,ijk->jk", filled, filled) / self.n_finite)


# A part of a block holds about _PART_VALUES values, and at least _PART_PIXELS pixels of
# each frame: a few MB in all with its scratch, within the processor's second-level cache,
# while each numpy call still has enough pixels to make its own cost small.
_PART_VALUES = 1 << 18
_PART_PIXELS = 1 << 13


def _center_median(block):
    return block.median()


def _center_mean(block):
    return block.mean_and_std(False)[0]


def _spread_mad_std(block, center, model):
    """Return astropy's ``mad_std`` of each pixel's values (about their median)."""
    return block.median(deviation_from=block.median()) * MAD_TO_STD, math.nan


def _spread_std(block, center, model):
    """Return the population standard deviation of each pixel's values."""
    return block.mean_and_std(True)[1], math.nan


def _poisson_variance(block, center, model, gain, read_noise):
    """Per-sample variance of the scaled values from the CCD noise model, in ``scratch``.

    In ADU, frame i's value at a pixel of true scaled level c is c L_i, with variance
    c L_i / g + (r / g)**2 + (s c L_i)**2; divided by L_i**2 for the scaled value.
    """
    level = np.maximum(center, 0)
    # The factors are float64: numpy multiplies in float64, so convert the level once.
    wide = level.astype(np.float64)
    variance = block.scratch
    for i, frame_level in enumerate(model.levels):
        np.multiply(wide, np.float64(1.0 / (gain[i] * frame_level)), out=variance[i])
        constant = (read_noise[i] / (gain[i] * frame_level)) ** 2
        if constant:  # adding 0 would be a pass over the block that changes nothing
            variance[i] += constant
        if model.sensitivity_noise:
            variance[i] += (model.sensitivity_noise * level) ** 2
    return variance


def _spread_ccdclip(block, center, model):
    variance = _poisson_variance(block, center, model, model.gain, model.read_noise)
    return np.sqrt(variance, out=variance), math.nan


@functools.cache
def _chi2_medians(n):
    """Return the medians of the chi-square distributions with 0 ... n degrees of freedom.

    A table indexed by the degrees of freedom: a block holds at most ``n_frames - 1`` of
    them, so the inverse incomplete gamma function is evaluated once per count, not once
    per pixel.
    """
    return 2.0 * gammaincinv(np.arange(n + 1) / 2.0, 0.5)


def _chi2_median(dof):
    """Return the median of the chi-square distribution with ``dof`` (>= 1) degrees of freedom."""
    dof = np.asarray(dof)
    return _chi2_medians(int(dof.max()))[dof.astype(np.intp)]


def _spread_avsigclip(block, center, model):
    """Return the noise model's spread with its scale measured from the block.

    This is IRAF's avsigclip idea.  For Poisson noise the scaled values of a pixel have
    variance k c / L_i, with k the inverse gain (ADU per electron).  Weighting each value
    by L_i, the sum of weighted squared deviations from the weighted mean, divided by c,
    is k times a chi-square variable with n - 1 degrees of freedom.  Divided by the
    median of that variable's distribution it is a per-pixel estimate of k whose median
    over the block's pixels is k itself; the median is barely moved by the few pixels
    that hold an outlier.
    """
    per_pixel, usable = _avsigclip_estimates(block, center, model)
    scale = robust_scale(per_pixel, usable, block.values, model.levels, center)
    return _avsigclip_spread(block, center, model, scale)


def _avsigclip_estimates(block, center, model):
    """Return each pixel's estimate of k (`_spread_avsigclip`) and whether it is usable."""
    values, levels = block.values, model.levels
    weights = levels.astype(values.dtype)
    deviation = block.scratch  # free once the centre is known
    with np.errstate(invalid="ignore", divide="ignore"):
        if block.any_bad:  # NaN values carry no weight
            filled = np.nan_to_num(values, nan=0.0)
            weight = np.einsum("i,ijk->jk", weights, np.isfinite(values).astype(values.dtype))
            weighted_mean = np.einsum("i,ijk->jk", weights, filled) / weight
            del filled
        else:
            weighted_mean = np.einsum("i,ijk->jk", weights, values) / weights.sum()
        np.subtract(values, weighted_mean, out=deviation)
        np.square(deviation, out=deviation)
        if block.any_bad:
            np.copyto(deviation, 0, where=np.isnan(deviation))
        spread = np.einsum("i,ijk->jk", weights, deviation, dtype=np.float64)
        dof = np.maximum(np.asarray(block.n_finite, dtype=np.float64) - 1, 0)
        per_pixel = spread / (center * _chi2_median(np.maximum(dof, 1)))
    usable = (dof >= 1) & (center > 0) & np.isfinite(per_pixel)
    return per_pixel, usable


def _avsigclip_spread(block, center, model, scale):
    """Return the spread of each value for the measured ``scale`` k, and k."""
    if not scale > 0:  # no usable pixel, or noiseless data: reject nothing
        block.scratch[...] = np.inf
        return block.scratch, math.nan
    count = len(model.levels)
    variance = _poisson_variance(block, center, model, np.full(count, 1.0 / scale), np.zeros(count))
    return np.sqrt(variance, out=variance), scale


ROBUST_TOLERANCE = 1.1
"""`robust_scale` prefers a leave-one-frame-out scale when the full one is this much larger."""


def robust_scale(per_pixel, usable, values, levels, center):
    """Return avsigclip's scale k, which one frame wrong everywhere cannot inflate.

    ``per_pixel`` and ``usable`` are each pixel's estimate of k and whether it counts (see
    `_spread_avsigclip`), ``values`` the block's scaled values (frames first), ``levels``
    the frames' levels and ``center`` each pixel's centre.  The scale of all the frames is
    the median of the usable estimates (a regular subsample of at most 2**16 of them,
    which gives it to a fraction of a per cent).  A frame that is wrong everywhere (a
    light leak, a gradient, an over-exposure) sits in every pixel's scatter and inflates
    that median, and the clip then rejects nothing.  So the same median is also taken
    with each frame left out in turn, from the same pixels' values.  When the smallest of
    these is more than `ROBUST_TOLERANCE` times smaller than the scale of all the frames,
    one frame is inflating it, and the smallest is the scale.  On good frames they agree
    to a few per cent, and the scale of all the frames, as before, is kept.  NaN when no
    pixel is usable or the scale is not positive (noiseless data: reject nothing).
    """
    where = np.flatnonzero(usable)
    where = where[:: max(1, where.size >> 16)]
    full = float(np.median(per_pixel.flat[where])) if where.size else math.nan
    count = len(levels)
    if not full > 0 or count < 3:  # with two frames, one left out leaves no scatter
        return full if full > 0 else math.nan

    def left_out(pixels, frames):  # the scale with each of ``frames`` left out in turn
        rows = values.reshape(count, -1)[:, pixels].astype(np.float64)
        seen = np.isfinite(rows)  # a NaN value carries no weight
        weight = np.where(seen, np.asarray(levels, dtype=np.float64)[:, np.newaxis], 0.0)
        rows = np.where(seen, rows, 0.0)
        total = weight.sum(axis=0)
        rows -= np.einsum("ij,ij->j", weight, rows) / total  # from the weighted mean
        rows *= rows
        spread = np.einsum("ij,ij->j", weight, rows)
        fewer = seen.sum(axis=0) - 2.0  # degrees of freedom with one frame left out
        ok = fewer >= 1
        if not ok.any():
            return np.full(len(frames), np.inf)
        norm = center.flat[pixels][ok] * _chi2_median(fewer[ok])
        return np.array(
            [
                np.median((spread - weight[j] * rows[j] * total / (total - weight[j]))[ok] / norm)
                for j in frames
            ]
        )

    # A first look on 4096 of the pixels finds the frame whose absence shrinks the scale
    # most; only then is its scale measured on all the sampled pixels.
    rough = left_out(where[:: max(1, where.size >> 12)], range(count))
    worst = int(np.argmin(rough))
    if not full > ROBUST_TOLERANCE * rough[worst]:
        return full
    smallest = float(left_out(where, [worst])[0])
    return smallest if full > ROBUST_TOLERANCE * smallest else full


def grow_rejections(keep, values, radius):
    """Reject the finite values within ``radius`` pixels of a rejected one, frame by frame.

    IRAF's ``grow``: the faint wings of a star or a cosmic ray next to a rejected value
    are rejected with it.  ``keep`` (frames, rows, columns) is updated in place; the
    growth stays within the block of rows.
    """
    reach = math.floor(radius)
    dy, dx = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    disk = dy**2 + dx**2 <= radius**2
    for kept, frame_values in zip(keep, values, strict=True):
        rejected = ~kept & np.isfinite(frame_values)
        if rejected.any():
            kept &= ~binary_dilation(rejected, structure=disk)


class BlockResult(NamedTuple):
    """What `combine_block` returns for one block of rows."""

    mean: np.ndarray
    uncertainty: np.ndarray
    n_used: np.ndarray
    n_rejected: int
    noise_scale: float  # avsigclip's measured k (inverse gain, ADU/e-); NaN otherwise


def _reject(values, spread, clip, keep):
    """Set ``keep`` True where a deviation (``values``) is within the thresholds (NaN: False).

    ``spread``: of each value (frames first) or pixel (thresholds computed once).
    """
    lower, upper = clip.sigma_lower, clip.sigma_upper
    shared = spread.ndim < values.ndim
    rows = spread if not shared else (spread,) * len(values)
    low, high = np.empty_like(values[0]), np.empty_like(values[0])
    inside, magnitude = np.empty(values[0].shape, bool), np.empty_like(values[0])
    for i, (deviation, frame_spread) in enumerate(zip(values, rows, strict=True)):
        if i == 0 or not shared:  # a per-pixel spread: the same thresholds for every frame
            if lower is not None and lower != upper:
                np.multiply(frame_spread, -lower, out=low)
            if upper is not None:
                np.multiply(frame_spread, upper, out=high)
        if lower == upper:
            np.less_equal(np.abs(deviation, out=magnitude), high, out=keep[i])
        elif lower is None:
            np.less_equal(deviation, high, out=keep[i])
        else:
            np.greater_equal(deviation, low, out=keep[i])
            if upper is not None:
                keep[i] &= np.less_equal(deviation, high, out=inside)


# Up to this fraction of a part's pixels with a value left out (rejected, NaN), only those
# are done with a mask (`_left_out`), else all are (faster at 11 %: sky frames, N = 100).
_FEW_LEFT_OUT = 0.02


def combine_block(block, clip, model):
    """Clip and average one `Block`: the heart of `combine_flats`.

    The centre of each pixel's scaled values is found, each value's expected spread
    estimated (from the values themselves for MAD and std, from the noise model
    otherwise), values more than ``sigma_lower`` spreads below or ``sigma_upper`` spreads
    above the centre rejected, and the survivors averaged.  With a noise model, a pixel
    whose values would all be rejected (possible where the centre is near zero) keeps
    them all.
    """
    parts = block.parts()  # each part in turn, while the cache holds it
    centers, results, scale = [], [], math.nan
    if clip.spread is _spread_avsigclip:  # two passes: k is measured over the whole block
        estimates = []
        for part in parts:
            centers.append(clip.center(part))
            estimates.append(_avsigclip_estimates(part, centers[-1], model))
        per_pixel, usable = (np.concatenate(e) for e in zip(*estimates, strict=True))
        center = np.concatenate(centers)  # the parts are the block's rows, in order
        scale = robust_scale(per_pixel, usable, block.values, model.levels, center)
        for part, center in zip(parts, centers, strict=True):
            spread = _avsigclip_spread(part, center, model, scale)[0]
            results.append(_clip_and_average(part, center, spread, clip))
    else:
        for part in parts:
            center, spread = clip.center(part), None
            if clip.rejects or clip.stdfunc in NOISE_MODELS:
                spread = clip.spread(part, center, model)[0]
            results.append(_clip_and_average(part, center, spread, clip))
    mean, uncertainty, n_used, n_rejected = zip(*results, strict=True)
    return BlockResult(
        np.concatenate(mean),
        np.concatenate(uncertainty),
        np.concatenate(n_used),
        sum(n_rejected),
        scale,
    )


def _clip_and_average(block, center, spread, clip):
    """Reject and average one part of a block: mean, uncertainty, n_used, n_rejected.

    Pixels that keep every value need no mask (`_left_out`): the same sums, the same bits.
    """
    values, keep = block.values, block.keep
    values -= center
    if not clip.rejects:
        np.isfinite(values, out=keep)
    else:
        _reject(values, spread, clip, keep)
        if clip.grow:
            grow_rejections(keep, values, clip.grow)
    noise_model = clip.stdfunc in NOISE_MODELS
    n_used, touched, kept = _left_out(block, clip.rejects and noise_model)

    # Sums in float64 (cheap next to the sorts), about the centre, for a precise variance.
    sum1 = values.sum(axis=0, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        count = n_used.astype(np.float64)
        mean = (center + sum1 / count).astype(values.dtype)
        if noise_model:  # the model's variance of the mean of the survivors
            total = _kept_variance(spread, keep, touched, kept)
            uncertainty = np.sqrt(total) / count
        else:  # the survivors' sample standard deviation over sqrt(n)
            sum2 = np.einsum("ijk,ijk->jk", values, values, dtype=np.float64)
            spread = np.maximum((sum2 - sum1 * sum1 / count) / (count - 1), 0)
            uncertainty = np.sqrt(spread / count)
            uncertainty[n_used <= 1] = np.nan
    uncertainty = uncertainty.astype(values.dtype)
    if touched is None or touched.size:  # a pixel without survivor is NaN
        none = n_used == 0
        mean[none] = uncertainty[none] = np.nan
    finite = block.n_finite * n_used.size if np.isscalar(block.n_finite) else block.n_finite.sum()
    return mean, uncertainty, n_used, int(finite) - int(n_used.sum(dtype=np.int64))


def _left_out(block, nkeep):
    """Count each pixel's kept values, set the others to 0; with ``nkeep``, IRAF's nkeep.

    Returns ``(n_used, touched, kept)``: the flat indices of the pixels with a value left
    out and their columns of ``keep``, or ``(n_used, None, None)`` if all were masked.
    """
    values, keep = block.values, block.keep
    n, pixels = values.shape[0], values[0].size
    touched = np.flatnonzero(~keep.all(axis=0))
    flat = values[0].flags.c_contiguous and keep[0].flags.c_contiguous  # views below
    if touched.size > _FEW_LEFT_OUT * pixels or not flat:  # every pixel with its mask
        if nkeep:
            none_left = ~keep.any(axis=0)
            if none_left.any():
                keep |= none_left & np.isfinite(values)
        n_used = keep.sum(axis=0, dtype=np.uint16)
        np.copyto(values, 0, where=~keep)
        return n_used, None, None
    n_used = np.full(values.shape[1:], n, dtype=np.uint16)
    if not touched.size:
        return n_used, touched, None
    flat_values, flat_keep = values.reshape(n, -1), keep.reshape(n, -1)
    kept = flat_keep[:, touched]
    if nkeep:
        none_left = ~kept.any(axis=0)
        if none_left.any():
            kept |= none_left & np.isfinite(flat_values[:, touched])
            flat_keep[:, touched] = kept
    flat_values[:, touched] = np.where(kept, flat_values[:, touched], 0)
    n_used.reshape(-1)[touched] = kept.sum(axis=0, dtype=np.uint16)
    return n_used, touched, kept


def _kept_variance(spread, keep, touched, kept):
    """Return each pixel's sum of ``spread**2`` over its kept values (float64, frame by frame).

    All unmasked, then ``touched`` (`_left_out`) with ``kept``; or all with ``keep``.
    """
    square = np.empty(spread.shape[1:], dtype=np.float64)
    total = np.zeros(spread.shape[1:], dtype=np.float64)
    for frame_spread, frame_keep in zip(spread, keep, strict=True):
        np.square(frame_spread, out=square, dtype=np.float64)  # where=True: no mask
        np.add(total, square, out=total, where=frame_keep if touched is None else True)
    if touched is not None and touched.size:
        flat = spread.reshape(len(spread), -1)
        part, square = np.zeros(touched.size), np.empty(touched.size)
        for frame_spread, frame_kept in zip(flat[:, touched], kept, strict=True):
            np.square(frame_spread, out=square, dtype=np.float64)
            np.add(part, square, out=part, where=frame_kept)
        total.reshape(-1)[touched] = part
    return total
