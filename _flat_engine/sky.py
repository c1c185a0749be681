"""Night-sky flats: the sources of each frame found, grown and masked.

- `parse_detection`, `Detection`: the options of the search;
- `find_sources`, `Sources`: sky boxes (photutils' `Background2D`), a smoothed threshold,
  segments (`detect_sources`), the image size measured on the stars (`measure_fwhm`), each
  source grown by that FWHM and in proportion to its size, plus faint outskirts found on
  16 x 16 blocks; `quiet_detection` silences the search's expected warnings;
- `sky_of_frame`, `Sky`: one frame's mask, sky level and FWHM; `MaskedFrame`: a frame whose
  masked pixels read as NaN; `mask_counts`, `no_data_counts`, `source_masks`: the masks
  added up, pixels without data (NaN or masked in the input) kept apart from sources;
  `check_sky_masks` and `fixed_sources`: did the sources move between frames;
  `check_final_masks`: frames masked too much, pixels no frame sees, pixels without
  data; `sky_header`: the sky flat's keywords.
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np

from .options import as_number, as_whole
from .searchsteps import (
    background_image,
    box_statistics,
    clipped_median,
    mad_std,
    median_filtered,
    smoothed,
)
from .searchsteps import grow as _grow


class Detection(NamedTuple):
    """How `source_mask` and `combine_sky_flats` find the sources of a frame.

    The one list of the detection's options, with their defaults (their docstrings say
    what each does); `parse_detection` checks them.
    """

    nsigma: float = 3.0
    n_pixels: int = 5
    grow: float = 0.5  # in units of the FWHM measured on the frame
    grow_factor: float = 0.5  # in units of each source's radius
    box_size: int = 64
    smooth: float = 1.0
    saturation: float | None = None


def parse_detection(options, passes=1):
    """Check the detection's keyword ``options`` (and ``passes``); return a `Detection`.

    Raises TypeError for an option that is not one of `Detection`'s fields.
    """
    unknown = sorted(set(options) - set(Detection._fields))
    if unknown:
        raise TypeError(
            f"unexpected keyword argument {unknown[0]!r}; the source detection's options "
            f"are {', '.join(Detection._fields)}"
        )
    nsigma, n_pixels, grow, grow_factor, box_size, smooth, saturation = Detection(**options)
    nsigma = as_number(nsigma, "nsigma", minimum=0, strict=True)
    grow = as_number(grow, "grow", minimum=0)
    grow_factor = as_number(grow_factor, "grow_factor", minimum=0)
    smooth = as_number(smooth, "smooth", minimum=0)
    saturation = as_number(saturation, "saturation", allow_none=True, minimum=0, strict=True)
    n_pixels, box_size = as_whole(n_pixels, "n_pixels", 1), as_whole(box_size, "box_size", 1)
    as_whole(passes, "passes", 1)
    return Detection(nsigma, n_pixels, grow, grow_factor, box_size, smooth, saturation)


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
    from photutils.background import Background2D

    invalid = ~np.isfinite(image)
    box = min(detection.box_size, *image.shape)
    clip, median = box_statistics()  # SigmaClip(sigma=3, maxiters=5), MedianBackground()
    try:
        background = Background2D(
            image,
            box,
            mask=invalid if invalid.any() else None,
            exclude_percentile=50,  # boxes half NaN (a frame's edge, a dead region) count
            filter_size=1,  # filtered below as photutils filters (filter_size=3), faster
            sigma_clip=clip,
            bkg_estimator=median,
        )
    except ValueError as error:  # photutils: no box has enough valid pixels
        raise ValueError(
            f"no box of {box} x {box} pixels is at least half finite "
            f"({np.count_nonzero(invalid)} of {invalid.size} pixels are NaN or masked): "
            "the sky cannot be measured"
        ) from error
    sky_map = background_image(median_filtered(background.background_mesh), box, image.shape)
    residual = np.where(invalid, 0, image - sky_map).astype(np.float32)
    del sky_map
    noise_factor, detected = 1.0, residual
    if detection.smooth > 0:
        detected = smoothed(residual, detection.smooth, truncate=3.0)
        # smoothing lowers the noise: by how much, measured (robustly) on the image itself,
        # on its pixels with data (the zeros put in for NaN would make the MAD 0 on a frame
        # half NaN, and the threshold with it)
        sample = np.s_[::2, ::2]
        ok = ~invalid[sample]
        noise_factor = _noise_ratio(detected[sample][ok], residual[sample][ok])
    # One noise for the whole frame (the median of the boxes'): the sky's level varies by
    # a few per cent across it, its noise by half that, and the map would cost a second
    # interpolation.
    noise = np.median(median_filtered(background.background_rms_mesh))
    threshold = detection.nsigma * noise_factor * noise
    segments = _detect(detected, threshold, detection.n_pixels, invalid)
    del detected
    mask = np.zeros(image.shape, bool) if segments is None else segments.data > 0
    fwhm = math.nan if segments is None else measure_fwhm(residual, segments.data, noise, saturated)
    del residual
    if saturated is not None:
        mask |= saturated
    found = float(mask.mean())
    if found and (detection.grow > 0 or detection.grow_factor > 0):
        width = fwhm if math.isfinite(fwhm) else FALLBACK_FWHM
        mask = _grow(mask, detection.grow * width, detection.grow_factor)
    if OUTSKIRT_BLOCK > 1:
        mask |= _outskirts(image, mask | invalid, OUTSKIRT_BLOCK, detection.nsigma)
    return Sources(mask | invalid, found, fwhm)


class Sources(NamedTuple):
    """What `find_sources` found in one image."""

    mask: np.ndarray  # bool: True on a source (grown) or a NaN
    found: float  # the fraction of the pixels found as sources, before growing
    fwhm: float  # pixels: the image size measured on the stars (NaN: too few stars)


FALLBACK_FWHM = 2.5  # pixels: the growth's unit when too few stars give a measure
MIN_FWHM_STARS = 5  # isolated, unsaturated stars needed to measure the image size


def measure_fwhm(residual, labels, noise, saturated=None):
    """Return the median FWHM (pixels) of the stars among the segments ``labels``.

    The size of a source is taken from the second moments of its pixels' light above
    the sky (``residual``), within its segment: for a round Gaussian image, the FWHM is
    ``2 sqrt(2 ln 2) sqrt((Mxx + Myy) / 2)``.  Only sources that are surely stars count:
    a peak 20 to 1000 times the ``noise`` (bright enough to be measured well beyond
    the threshold, too faint to saturate), and a segment no more elongated than 1.5:1
    (two blended stars or a galaxy is longer).  The segment cuts the image where it
    falls to the threshold, which removes about 4 % of the second moment of a star 20
    times the noise, less for brighter ones.  Returns NaN with fewer than
    `MIN_FWHM_STARS` such sources.
    """
    from scipy import ndimage

    inside = np.flatnonzero(labels)  # the segments' pixels only: a few per cent
    if inside.size == 0:
        return math.nan
    label = labels.ravel()[inside]
    weight = np.clip(residual.ravel()[inside], 0, None).astype(np.float64)
    yy, xx = np.divmod(inside, labels.shape[1])
    yy, xx = yy.astype(np.float64), xx.astype(np.float64)

    def per_source(values):
        return np.bincount(label, weights=weight * values)[1:]

    with np.errstate(divide="ignore", invalid="ignore"):
        total = per_source(1.0)
        my, mx = per_source(yy) / total, per_source(xx) / total
        vyy = per_source(yy * yy) / total - my * my
        vxx = per_source(xx * xx) / total - mx * mx
        vxy = per_source(yy * xx) / total - my * mx
        root = np.sqrt(((vyy - vxx) / 2) ** 2 + vxy**2)
        major, minor = (vyy + vxx) / 2 + root, (vyy + vxx) / 2 - root
        index = np.arange(1, total.size + 1)
        peak = ndimage.maximum(residual.ravel()[inside], label, index)
        star = (peak > 20 * noise) & (peak < 1000 * noise) & (minor > 0) & (major < 2.25 * minor)
    if saturated is not None:
        star &= ndimage.maximum(saturated.ravel()[inside], label, index) == 0
    if np.count_nonzero(star) < MIN_FWHM_STARS:
        return math.nan
    return float(2 * math.sqrt(2 * math.log(2)) * np.median(np.sqrt((major + minor)[star] / 2)))


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


class Sky(NamedTuple):
    """What `sky_of_frame` measured on one frame."""

    level: float  # ADU: sigma-clipped median of the unmasked pixels of frame / first flat
    mask: np.ndarray  # the source mask, packed 8 pixels to a byte along rows
    masked: float  # the fraction of the pixels masked
    found: float  # the fraction of the pixels found as sources, before growing
    fwhm: float  # pixels: the image size measured on the frame's stars (NaN: unmeasured)
    no_data: np.ndarray | None = None  # packed as mask: NaN or masked in the input; None: none


def sky_of_frame(data, flat, detection, saturation):
    """Find the sources of a frame and measure its sky; ``data`` is modified.

    With a ``flat`` the frame is divided by it first (its pixels and dust shadows gone,
    the sky is smooth and the sources stand out); without one, the sky's boxes of
    `find_sources` follow the vignetting.  The level is the 3-sigma clipped median of
    the unmasked pixels, in ADU.  The pixels without data (NaN or masked in the frame
    itself, a trimmed edge) are masked, but kept apart: the share masked as sources is
    that of the pixels with data, and `Sky.no_data` records them.
    """
    no_data = ~np.isfinite(data)  # before the flat's holes (last search's sources) add
    saturated = data >= saturation if saturation is not None else None
    if flat is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(data, flat, out=data, where=flat > 0)
        data[~(flat > 0)] = np.nan
    mask, found, fwhm = find_sources(data, detection, saturated)
    sky = data[~mask]
    if sky.size < 100:
        raise ValueError(f"only {sky.size} pixels are free of sources: no sky to measure")
    level = clipped_median(sky, sigma=3.0, maxiters=5)  # sigma_clipped_stats' median
    if not (math.isfinite(level) and level > 0):
        raise ValueError(f"the sky level is {level}: a night-sky frame needs a positive sky")
    if not no_data.any():
        return Sky(float(level), np.packbits(mask, axis=1), float(mask.mean()), found, fwhm)
    masked = np.count_nonzero(mask & ~no_data) / np.count_nonzero(~no_data)
    packed = np.packbits(no_data, axis=1)
    return Sky(float(level), np.packbits(mask, axis=1), float(masked), found, fwhm, packed)


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


def mask_counts(shape, skies):
    """Return the number of frames whose mask covers each pixel (uint16)."""
    counts = np.zeros(shape, dtype=np.uint16)
    for sky in skies:
        counts += np.unpackbits(sky.mask, axis=1, count=shape[1])
    return counts


def no_data_counts(shape, skies):
    """Return the number of frames without data at each pixel (uint16), or None if none."""
    if all(sky.no_data is None for sky in skies):
        return None
    counts = np.zeros(shape, dtype=np.uint16)
    for sky in skies:
        if sky.no_data is not None:
            counts += np.unpackbits(sky.no_data, axis=1, count=shape[1])
    return counts


def source_masks(shape, skies):
    """Return the sources' masks over the pixels with data in every frame.

    Returns ``(counts, shares, with_data)``: at each such pixel, the number of frames
    whose mask covers it (1-D, uint16), each frame's share of them masked, and the
    boolean map of those pixels (None when every frame has data everywhere: then the
    counts are `mask_counts` and the shares `Sky.masked`).  Pixels without data in
    some frame are left out, so that a trimmed edge or a dead region, the same in
    every frame, is not taken for a source that did not move.
    """
    lost = no_data_counts(shape, skies)
    if lost is None:
        return mask_counts(shape, skies), [sky.masked for sky in skies], None
    with_data = lost == 0
    counts = np.zeros(np.count_nonzero(with_data), dtype=np.uint16)
    shares = []
    for sky in skies:
        mask = np.unpackbits(sky.mask, axis=1, count=shape[1]).view(bool)[with_data]
        counts += mask
        shares.append(float(mask.mean()) if mask.size else 0.0)
    return counts, shares, with_data


def fixed_sources(counts, shares):
    """Return the mean correlation of the frames' masks, pixel by pixel (about 0 to 1).

    With ``m_i`` a frame's mask (1 masked) and ``p_i`` its share masked, the number of
    frames masked at a pixel, ``C = sum m_i``, has the variance over the pixels
    ``sum s_i**2 + sum_(i != j) r_ij s_i s_j``, with ``s_i = sqrt(p_i (1 - p_i))`` and
    ``r_ij`` the correlation of masks i and j.  Returns the common ``r`` that gives the
    measured variance: 0 when the masks fall at independent places (dithered frames,
    whatever share of a frame they cover), 1 when every frame's mask is the same
    (tracked frames, or a source larger than the dithers that covers the frame).
    """
    shares = np.asarray(shares, dtype=np.float64)
    spread = np.sqrt(shares * (1 - shares))
    pairs = spread.sum() ** 2 - np.sum(spread**2)
    if pairs <= 0:  # no frame's mask varies across the pixels: nothing to correlate
        return 0.0
    variance = float(np.var(counts, dtype=np.float64))
    return max(0.0, (variance - float(np.sum(spread**2))) / pairs)


def check_sky_masks(frames, skies):
    """Warn if the masks lie on the same pixels in most frames; refuse too few usable frames.

    Returns `fixed_sources` of the masks over the pixels with data in every frame (0
    when there is none); above 0.5 it warns.  The usable frames are counted on the
    pixels with data in some frame.
    """
    counts, shares, _ = source_masks(frames[0].shape, skies)
    fixed = fixed_sources(counts, shares) if counts.size else 0.0  # no pixel to judge by
    n_frames = len(frames)
    if fixed > 0.5:
        persistent = float(np.mean(counts >= math.ceil(n_frames / 2)))
        warnings.warn(
            f"combine_sky_flats: the sources did not move far enough between the frames: "
            f"their masks are correlated at {fixed:.2f} from frame to frame (0: at "
            f"independent places, 1: the same pixels), and {100 * persistent:.1f} % of the "
            f"pixels are masked in at least half of the {n_frames} frames.  Frames taken "
            "without dithering, or dithered (or drifting) by less than the size of their "
            "largest sources, cannot make a sky flat there, because the same pixels are "
            "under a source in most frames; dither the telescope by more than the largest "
            "source between exposures.",
            UserWarning,
            stacklevel=3,
        )
    if counts.size < np.prod(frames[0].shape):  # some pixels lack data in some frame
        counts = mask_counts(frames[0].shape, skies)  # masked as sources or without data
        counts = counts[no_data_counts(frames[0].shape, skies) < n_frames]
    usable = float(np.median(n_frames - counts))  # frames free of sources, with data
    if usable < 3:
        raise ValueError(
            f"combine_sky_flats: at half of the pixels or more, fewer than 3 of the "
            f"{n_frames} frames are free of sources (median {usable:g} frames); a sky flat "
            "needs more frames, dithered so that sources fall on different pixels"
        )
    return fixed


MAX_MASKED = 0.40  # a frame masked more than this warns
MAX_UNSEEN = 0.005  # a share of the pixels covered by no frame above this warns


def check_final_masks(frames, skies, detection):
    """Warn of frames masked over `MAX_MASKED`, of pixels no frame sees, of pixels without data.

    Both are measured on the masks of the last search, those the flat was made with, on
    the pixels with data in some frame: a pixel NaN or masked in every input frame (a
    trimmed edge) has no data, which is no fault of the masks; it is counted apart.
    Returns the shares of the pixels masked in every frame (of those with data) and of
    the pixels without data.
    """
    n_frames = len(frames)
    counts = mask_counts(frames[0].shape, skies)
    lost = no_data_counts(frames[0].shape, skies)
    empty = np.zeros(counts.shape, bool) if lost is None else lost >= n_frames
    n_data = counts.size - np.count_nonzero(empty)
    holes = (counts >= n_frames) & ~empty
    unseen = np.count_nonzero(holes) / n_data if n_data else 0.0
    heavy = [(sky.masked, frame.label, sky) for frame, sky in zip(frames, skies, strict=True)]
    heavy = sorted((item for item in heavy if item[0] > MAX_MASKED), key=lambda item: -item[0])
    if heavy:
        share, label, sky = heavy[0]
        warnings.warn(
            f"combine_sky_flats: {len(heavy)} of {n_frames} frames are more than "
            f"{100 * MAX_MASKED:.0f} % masked as sources (the most, {label}: {100 * share:.1f} "
            f"% of its pixels with data, of which {100 * sky.found:.1f} % found before "
            f"growing, FWHM {sky.fwhm:.2f} pixels).  A crowded field, a source that fills "
            "much of the frame or a growth too large for the images (grow is in units of the "
            "FWHM, grow_factor of each source's radius) leaves little sky in each frame.",
            UserWarning,
            stacklevel=3,
        )
    if unseen > MAX_UNSEEN:
        few = np.count_nonzero((counts > n_frames - 3) & (counts < n_frames) & ~empty)
        warnings.warn(
            f"combine_sky_flats: {100 * unseen:.2f} % of the pixels are masked in every frame "
            f"({np.count_nonzero(holes)} pixels): the flat is NaN there.  Around these holes "
            f"the pixels are seen by few frames ({100 * few / n_data:.2f} % of the pixels by "
            "only 1 or 2), whose sky there holds the sources' faint outskirts, which the masks "
            "miss: the flat is biased there, by per cent or more.  The sources moved less "
            "than their size between the frames (a large galaxy, bright stars, too little "
            "dithering), or the masks are too large.",
            UserWarning,
            stacklevel=3,
        )
    no_data = 1 - n_data / counts.size
    if no_data > MAX_UNSEEN:
        warnings.warn(
            f"combine_sky_flats: {100 * no_data:.2f} % of the pixels have no data in any "
            f"frame ({counts.size - n_data} pixels, NaN or masked in every frame given, as "
            "a trimmed edge): the flat is NaN there.  They are left out of the shares masked "
            "as sources (MASKFRAC, MAXMASK, NOFRAME) and of the masks' correlation (FIXEDSRC).",
            UserWarning,
            stacklevel=3,
        )
    return unseen, no_data


def sky_header(header, skies, fixed, unseen, no_data=0.0):
    """Add the sky flat's keywords to ``header``: sky levels, FWHM, masks, overlap, holes.

    NODATA (the pixels without data in any frame) is written only when some are.
    """
    for number, sky in enumerate(skies[:999], start=1):
        header[f"SKYLV{number:03d}"] = (round(sky.level, 3), "[adu] sky level of the frame")
    fwhm = [sky.fwhm for sky in skies if math.isfinite(sky.fwhm)]
    if fwhm:
        header["FWHM"] = (round(float(np.median(fwhm)), 3), "[pixel] median image size (moments)")
    header["MASKFRAC"] = (
        round(float(np.median([sky.masked for sky in skies])), 5),
        "median fraction of a frame masked as sources",
    )
    header["MAXMASK"] = (round(max(sky.masked for sky in skies), 5), "largest fraction masked")
    header["FIXEDSRC"] = (round(fixed, 4), "masks' correlation: 0 moved, 1 did not")
    header["NOFRAME"] = (round(unseen, 6), "fraction of pixels masked in every frame")
    if no_data:
        header["NODATA"] = (round(no_data, 6), "fraction of pixels without data in any frame")
