"""Night-sky flats: the sources of each frame found, grown and masked.

- `parse_detection`, `Detection`: the options of the search;
- `find_sources`: sky boxes (photutils' `Background2D`), a smoothed threshold, segments
  (`detect_sources`), grown in proportion to each source, plus faint outskirts found on
  16 x 16 blocks; `quiet_detection` silences the search's expected warnings;
- `sky_of_frame`, `Sky`: one frame's mask and sky level; `MaskedFrame`: a frame whose
  masked pixels read as NaN; `check_sky_masks`: did the sources move between frames.
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np
from astropy.stats import mad_std

from .options import as_number


class Detection(NamedTuple):
    """How `combine_sky_flats` finds the sources of a frame (see its docstring)."""

    nsigma: float
    n_pixels: int
    grow: float
    grow_factor: float
    box_size: int
    smooth: float
    saturation: float | None


def parse_detection(nsigma, n_pixels, grow, grow_factor, box_size, smooth, saturation):
    """Check the source-detection options and return a `Detection`."""
    nsigma = as_number(nsigma, "nsigma", minimum=0, strict=True)
    grow = as_number(grow, "grow", minimum=0)
    grow_factor = as_number(grow_factor, "grow_factor", minimum=0)
    smooth = as_number(smooth, "smooth", minimum=0)
    saturation = as_number(saturation, "saturation", allow_none=True, minimum=0, strict=True)
    for value, name in ((n_pixels, "n_pixels"), (box_size, "box_size")):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an integer, got {value!r}")
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    return Detection(nsigma, int(n_pixels), grow, grow_factor, int(box_size), smooth, saturation)


def saturation_of(frame, detection):
    """Return the saturation level (ADU) for ``frame``: the option, else SATURATE, else None."""
    if detection.saturation is not None:
        return detection.saturation
    value = frame.header.get("SATURATE")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def find_sources(image, detection, saturated=None):
    """Return the boolean mask of the sources in ``image`` (a frame divided by a flat).

    The sky and its noise are measured in boxes of ``detection.box_size`` pixels
    (`photutils.background.Background2D`, 3-sigma clipped medians, smoothed over 3 x 3
    boxes), so a slow gradient of the sky is followed.  The image minus the sky is
    smoothed with a Gaussian of ``detection.smooth`` pixels (sigma), which favours
    sources as wide as a star over single noisy pixels, and every group of at least
    ``detection.n_pixels`` connected pixels above ``detection.nsigma`` times the noise
    *of the smoothed image* is a source (`photutils.segmentation.detect_sources`).  The
    sources, and the ``saturated`` pixels, are grown (`_grow`) to cover the faint
    outskirts the threshold misses.  NaN pixels count as masked.

    Returns the mask and the fraction of the pixels found as sources before growing.
    """
    from astropy.stats import SigmaClip
    from photutils.background import Background2D, MedianBackground
    from scipy import ndimage

    invalid = ~np.isfinite(image)
    box = min(detection.box_size, *image.shape)
    try:
        background = Background2D(
            image,
            box,
            mask=invalid if invalid.any() else None,
            exclude_percentile=50,  # boxes half NaN (a frame's edge, a dead region) count
            filter_size=3,
            sigma_clip=SigmaClip(sigma=3.0, maxiters=5),
            bkg_estimator=MedianBackground(),
        )
    except ValueError as error:  # photutils: no box has enough valid pixels
        raise ValueError(
            f"no box of {box} x {box} pixels is at least half finite "
            f"({np.count_nonzero(invalid)} of {invalid.size} pixels are NaN or masked): "
            "the sky cannot be measured"
        ) from error
    residual = np.where(invalid, 0, image - background.background).astype(np.float32)
    noise_factor = 1.0
    if detection.smooth > 0:
        smoothed = ndimage.gaussian_filter(residual, detection.smooth, truncate=3.0)
        # smoothing lowers the noise: by how much, measured (robustly) on the image itself
        sample = np.s_[::2, ::2]
        noise_factor = _noise_ratio(smoothed[sample], residual[sample])
        residual = smoothed
    # One noise for the whole frame (the median of the boxes'): the sky's level varies by
    # a few per cent across it, its noise by half that, and the map would cost a second
    # interpolation.
    threshold = detection.nsigma * noise_factor * background.background_rms_median
    segments = _detect(residual, threshold, detection.n_pixels, invalid)
    mask = np.zeros(image.shape, bool) if segments is None else segments.data > 0
    if saturated is not None:
        mask |= saturated
    found = float(mask.mean())
    if found and (detection.grow > 0 or detection.grow_factor > 0):
        mask = _grow(mask, detection.grow, detection.grow_factor)
    if OUTSKIRT_BLOCK > 1:
        mask |= _outskirts(image, mask | invalid, OUTSKIRT_BLOCK, detection.nsigma)
    return mask | invalid, found


OUTSKIRT_BLOCK = 16


def _outskirts(image, mask, block, nsigma):
    """Return the mask of faint extended light left around the masked sources.

    The outskirts of a large galaxy or the halo of a bright star lie below the noise of
    single pixels, yet they add up over the frames.  Averaged over blocks of ``block``
    x ``block`` pixels (the masked ones left out) the noise falls ``block`` times, and
    light a few hundredths of a per cent of the sky stands out.  The sky of the block
    image is measured in boxes of about 512 pixels; every group of 4 blocks more than
    ``nsigma`` times the (smoothed) noise above it is masked whole.
    """
    from astropy.stats import SigmaClip
    from photutils.background import Background2D, MedianBackground
    from scipy import ndimage

    ny, nx = image.shape
    work = np.where(mask, np.nan, image)
    work = np.pad(work, ((0, -ny % block), (0, -nx % block)), constant_values=np.nan)
    work = work.reshape(work.shape[0] // block, block, work.shape[1] // block, block)
    valid = np.isfinite(work).sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        binned = np.nansum(work, axis=(1, 3)) / valid
    empty = valid < block * block // 4  # mostly masked: no measure of the sky there
    if np.count_nonzero(~empty) < 16:
        return np.zeros(image.shape, bool)
    binned[empty] = np.nan
    box = max(2, min(512 // block, *binned.shape))
    background = Background2D(
        binned,
        box,
        mask=empty,
        exclude_percentile=90,  # boxes with a tenth of their blocks measured still count
        filter_size=3,
        sigma_clip=SigmaClip(sigma=3.0, maxiters=5),
        bkg_estimator=MedianBackground(),
    )
    residual = np.where(empty, 0, binned - background.background)
    smoothed = ndimage.gaussian_filter(residual, 1.0, truncate=3.0)
    factor = _noise_ratio(smoothed[~empty], residual[~empty])
    threshold = nsigma * factor * background.background_rms_median
    segments = _detect(smoothed, threshold, 4, empty)
    if segments is None:
        return np.zeros(image.shape, bool)
    found = np.repeat(np.repeat(segments.data > 0, block, axis=0), block, axis=1)
    return found[:ny, :nx]


# What numpy's NaN functions say of a box with no finite pixel (nanmedian, nanmean, nanstd).
_ALL_NAN_WARNINGS = (
    "All-NaN (slice|axis) encountered",
    "Mean of empty slice",
    "Degrees of freedom <= 0",
    "invalid value encountered in (scalar )?divide",
)


@contextmanager
def quiet_detection():
    """Silence the expected warnings of source detection, for this block of code.

    photutils warns when it finds no source (a valid answer: None), astropy's sigma
    clipping when the boxes of `Background2D` hold masked (NaN) pixels, which is what
    masks are for, and numpy when the clipping leaves a box without pixels to measure.
    The warning filters are the whole process's, and `warnings.catch_warnings` is not
    thread-safe: so they are set once, by the calling thread, around the work of all
    the worker threads, never inside a worker.  While the block runs, other threads of
    the process do not see these warnings either.

    numpy's warnings of all-NaN boxes are silenced here too, although astropy and
    photutils silence them themselves: they do it with `warnings.catch_warnings` inside
    each call, and when two worker threads run such calls at once, one thread's exit
    restores the filters while the other is still inside, and the other's warning gets
    out (2 runs in 25 of notebook 03's Exercise 2 printed "All-NaN slice encountered").
    """
    from photutils.utils.exceptions import NoDetectionsWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoDetectionsWarning)
        warnings.filterwarnings("ignore", "Input data contains invalid values", UserWarning)
        # numpy, when a box's pixels are all masked (under a flat's NaN holes)
        for message in _ALL_NAN_WARNINGS:
            warnings.filterwarnings("ignore", message, RuntimeWarning)
        yield


def _detect(image, threshold, n_pixels, mask):
    """Return `photutils.segmentation.detect_sources`' segments (None: nothing found)."""
    from photutils.segmentation import detect_sources

    # n_pixels by position: photutils 3 calls it n_pixels, earlier versions npixels
    return detect_sources(image, threshold, n_pixels, mask=mask)


def _noise_ratio(smoothed, original):
    """Return how much smoothing lowered the noise (1 for an image without noise)."""
    before = float(mad_std(original))
    return float(mad_std(smoothed)) / before if before > 0 else 1.0


def _grow(mask, grow, factor):
    """Grow each source of ``mask`` by ``grow`` pixels plus ``factor`` times its radius.

    A source's radius is that of a disc of its area.  Every pixel takes the source
    nearest to it (a Euclidean distance transform), and is masked when it lies within
    that source's reach: a bright star or a large galaxy, whose faint outskirts extend
    far beyond what the threshold finds, gets a mask in proportion.
    """
    from scipy import ndimage

    labels, _ = ndimage.label(mask, structure=np.ones((3, 3), bool))
    reach = grow + factor * np.sqrt(np.bincount(labels.ravel()) / math.pi)  # per source
    nearest = ndimage.distance_transform_edt(~mask, return_distances=False, return_indices=True)
    ny, nx = mask.shape
    if ny * nx > np.iinfo(nearest.dtype).max:  # flat indices need more than 32 bits
        nearest = nearest.astype(np.int64)
    rows, cols = nearest  # of each pixel's nearest source pixel; worked on in place below
    # The squared distance in integers (exact), then its root in float64: the distance
    # scipy's transform returns, without its float64 copies of the indices.
    squared = rows - np.arange(ny, dtype=rows.dtype)[:, np.newaxis]
    np.square(squared, out=squared)
    across = cols - np.arange(nx, dtype=cols.dtype)
    squared += np.square(across, out=across)
    del across
    np.multiply(rows, nx, out=rows)  # rows * nx + cols: the flat index of the source pixel
    rows += cols
    source_reach = reach[labels.ravel()[rows.ravel()]].reshape(mask.shape)
    del nearest, rows, cols, labels
    return np.sqrt(squared, dtype=np.float64) <= source_reach


class Sky(NamedTuple):
    """What `sky_of_frame` measured on one frame."""

    level: float  # ADU: sigma-clipped median of the unmasked pixels of frame / first flat
    mask: np.ndarray  # the source mask, packed 8 pixels to a byte along rows
    masked: float  # the fraction of the pixels masked
    found: float  # the fraction of the pixels found as sources, before growing


def sky_of_frame(data, flat, detection, saturation):
    """Find the sources of a frame and measure its sky; ``data`` is modified.

    With a ``flat`` the frame is divided by it first (its pixels and dust shadows gone,
    the sky is smooth and the sources stand out); without one, the sky's boxes of
    `find_sources` follow the vignetting.  The level is the 3-sigma clipped median of
    the unmasked pixels, in ADU.
    """
    from astropy.stats import sigma_clipped_stats

    saturated = data >= saturation if saturation is not None else None
    if flat is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(data, flat, out=data, where=flat > 0)
        data[~(flat > 0)] = np.nan
    mask, found = find_sources(data, detection, saturated)
    sky = data[~mask]
    if sky.size < 100:
        raise ValueError(f"only {sky.size} pixels are free of sources: no sky to measure")
    _, level, _ = sigma_clipped_stats(sky, sigma=3.0, maxiters=5)
    if not (math.isfinite(level) and level > 0):
        raise ValueError(f"the sky level is {level}: a night-sky frame needs a positive sky")
    return Sky(float(level), np.packbits(mask, axis=1), float(mask.mean()), found)


class MaskedFrame:
    """A `Frame` whose masked pixels (a packed mask, as in `Sky`) read as NaN."""

    def __init__(self, frame, packed_mask):
        self.frame, self.packed = frame, packed_mask
        for name in ("index", "header", "name", "label", "shape", "unit", "path"):
            setattr(self, name, getattr(frame, name))

    def read_rows(self, start, stop, out):
        """Fill ``out`` with rows ``start:stop`` of the frame, NaN where masked."""
        self.frame.read_rows(start, stop, out)
        rows = np.unpackbits(self.packed[start:stop], axis=1, count=self.shape[1])
        out[rows.view(bool)] = np.nan


def check_sky_masks(frames, skies):
    """Warn if the sources did not move between frames; refuse too few usable frames.

    Let p be the median share of a frame that is masked, and k half the frames (rounded
    up).  If each frame's sources fell on pixels of their own (dithered frames), a pixel
    would be masked in at least k of the N frames by chance, with the binomial
    probability e = P(X >= k) for X ~ B(N, p); if they fall on the same pixels in every
    frame (tracked frames), the share masked in k frames or more is p itself.  Returns
    the measured share s placed on that scale, (s - e) / (p - e): about 0 for dithered
    frames (more where sources larger than the dithers cover the same pixels in most
    frames), about 1 for tracked ones; above 0.5 it warns.
    """
    counts = np.zeros(frames[0].shape, dtype=np.uint16)
    for sky in skies:
        counts += np.unpackbits(sky.mask, axis=1, count=counts.shape[1])
    n_frames = len(frames)
    half = math.ceil(n_frames / 2)
    persistent = float(np.mean(counts >= half))
    per_frame = float(np.median([sky.masked for sky in skies]))
    by_chance = sum(
        math.comb(n_frames, j) * per_frame**j * (1 - per_frame) ** (n_frames - j)
        for j in range(half, n_frames + 1)
    )
    if per_frame - by_chance > 1e-9:
        fixed = max(0.0, (persistent - by_chance) / (per_frame - by_chance))
    else:  # masks so large (or frames so few) that chance alone covers them
        fixed = 0.0
    if fixed > 0.5:
        warnings.warn(
            f"combine_sky_flats: the sources did not move far enough between the frames: "
            f"{100 * persistent:.1f} % of the pixels are masked in at least half of the "
            f"frames, where {100 * by_chance:.1f} % would be if they had moved "
            f"({100 * per_frame:.1f} % is masked in one frame).  Frames taken without "
            "dithering, or dithered by less than the size of their largest sources, cannot "
            "make a sky flat there, because the same pixels are under a source in most "
            "frames; dither the telescope by more than the largest source between exposures.",
            UserWarning,
            stacklevel=3,
        )
    counts = n_frames - counts  # frames free of sources
    usable = float(np.median(counts))
    if usable < 3:
        raise ValueError(
            f"combine_sky_flats: at half of the pixels or more, fewer than 3 of the "
            f"{len(frames)} frames are free of sources (median {usable:g} frames); a sky flat "
            "needs more frames, dithered so that sources fall on different pixels"
        )
    return fixed
