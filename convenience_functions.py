"""Display and flat-combination helpers shared by the course notebooks.

The public functions are:

- `show_image`: display a frame with a percentile interval and a stretch, fast even for
  4096 x 4096 frames.
- `inv_median`: the inverse of the median over finite pixels, the usual flat scaling.
- `plot_frame_levels`: plot the mean and median of each frame and return the medians.
- `combine_flats`: scale each flat by its inverse median, sigma-clip the scaled samples
  pixel by pixel, average the survivors and normalise, in bounded memory.
- `combine_flats_by_filter`: one combined flat per FILTER for the flats in a folder.
- `safe_filter_name`: a file-name-safe form of a filter name (``g'`` becomes ``gp``).

`combine_flats` exists because the usual ``ccdproc.combine`` call has silent faults: a
misspelt keyword (``signma_clip_dev_func``) is ignored, and ccdproc sigma-clips the
*unscaled* frames, so a spread of flat levels hides outliers.  Here every frame is scaled
*before* rejection.
"""

from __future__ import annotations

import logging
import math
import os
import re
import sys
import threading
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData, StdDevUncertainty

__all__ = [
    "combine_flats",
    "combine_flats_by_filter",
    "inv_median",
    "noise_budget",
    "pixel_scatter",
    "plot_frame_levels",
    "safe_filter_name",
    "show_image",
]

# ccdproc's ImageFileCollection logs through the root logger (module-level logging.debug),
# which makes Python attach a stderr handler to the root logger. astropy's log messages
# (ccdproc's "splitting each image into N chunks" among them), which astropy already prints
# through its own handler, would then appear twice in every notebook. Keep them to one.
logging.getLogger("astropy").propagate = False

# astropy's mad_std factor: 1 / Phi^-1(3/4), so that mad_std estimates sigma for a Gaussian.
_MAD_TO_STD = 1.482602218505602

_STRETCHES = ("linear", "sqrt", "log", "asinh")
_CENFUNCS = ("median", "mean")
_STDFUNCS = ("mad_std", "std")

# Screen resolution that `show_image` reduces large frames to (long side, in pixels).
_DISPLAY_MAX_PIXELS = 1024

# Number of worker threads; the course machines have two cores and numpy releases the GIL.
_MAX_WORKERS = 2

# Bytes of per-pixel scratch (medians, bounds, counts, sums) per row pixel, on top of the
# per-sample arrays; measured generously so that the memory bound holds.
_PER_PIXEL_SCRATCH = 128


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def _finite_median_inplace(values):
    """Return the median of the finite values of ``values``, reordering it in place.

    Parameters
    ----------
    values : numpy.ndarray
        A floating-point array that may be overwritten (its values are reordered and
        non-finite values may be replaced by NaN).

    Returns
    -------
    float
        The median, or NaN when no value is finite.
    """
    flat = values.reshape(-1)
    bad = ~np.isfinite(flat)
    if bad.any():
        flat[bad] = np.nan  # NaN sorts after every number, including +inf
        n_finite = flat.size - int(np.count_nonzero(bad))
    else:
        n_finite = flat.size
    del bad
    if n_finite == 0:
        return math.nan
    k_lo, k_hi = (n_finite - 1) // 2, n_finite // 2
    flat.partition((k_lo, k_hi) if k_lo != k_hi else k_lo)
    return 0.5 * (float(flat[k_lo]) + float(flat[k_hi]))


def _blockwise_median(get_rows, ny, block_rows, step=16):
    """Exact median of the finite values of an image read in blocks of rows.

    Memory stays at a few blocks: a first pass counts the finite values and keeps every
    ``step``-th one; a bracket around the median of that sample is then refined by a
    second pass that counts the values below the bracket and keeps those inside it.  If
    the median falls outside the bracket (possible only for unusual images), the
    bracket is widened to that side and the second pass repeated.

    Parameters
    ----------
    get_rows : callable
        ``get_rows(start, stop)`` returns rows ``start:stop`` as a float array; the
        array may be reused by the next call.
    ny : int
        Number of rows.
    block_rows : int
        Rows per block.
    step : int, optional
        Sampling step of the first pass.

    Returns
    -------
    float
        The median, or NaN when no value is finite.
    """
    starts = range(0, ny, block_rows)
    n_finite, samples = 0, []
    for start in starts:
        block = get_rows(start, min(ny, start + block_rows))
        finite_mask = np.isfinite(block)
        finite = block.reshape(-1) if finite_mask.all() else block[finite_mask]
        n_finite += finite.size
        samples.append(finite[::step].copy())
        del finite, finite_mask
    if n_finite == 0:
        return math.nan
    sample = np.concatenate(samples)
    del samples
    k_lo, k_hi = (n_finite - 1) // 2, n_finite // 2
    size = sample.size
    margin = max(64, size // 50)
    ranks = (max(0, size // 2 - margin), min(size - 1, size // 2 + margin))
    sample.partition(ranks)
    low, high = float(sample[ranks[0]]), float(sample[ranks[1]])
    del sample
    while True:
        below, inside = 0, []
        for start in starts:
            block = get_rows(start, min(ny, start + block_rows))
            finite = np.isfinite(block)  # +-inf must not count (NaN compares False anyway)
            below += int(np.count_nonzero((block < low) & finite))
            inside.append(block[(block >= low) & (block <= high) & finite])
        inside = np.concatenate(inside)
        if below > k_lo:  # the median is below the bracket: widen downwards
            low, high = -math.inf, low
        elif below + inside.size <= k_hi:  # above the bracket: widen upwards
            low, high = high, math.inf
        else:
            lo_rank, hi_rank = k_lo - below, k_hi - below
            inside.partition((lo_rank, hi_rank) if lo_rank != hi_rank else lo_rank)
            return 0.5 * (float(inside[lo_rank]) + float(inside[hi_rank]))


def _as_float_array(data):
    """Return the pixel values of an ndarray, Quantity or CCDData as a float ndarray.

    Masked CCDData pixels (and masked-array pixels) become NaN.  The result may share
    memory with the input when no conversion is needed; callers must not modify it.
    """
    mask = None
    if isinstance(data, CCDData):
        mask = data.mask
        values = np.asarray(data.data)
    elif isinstance(data, u.Quantity):
        values = data.value
    elif isinstance(data, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(data)
        values = np.asarray(data.data)
    else:
        values = np.asarray(data)
    if values.dtype.kind not in "fiub":
        raise TypeError(f"expected numeric pixel values, got an array of dtype {values.dtype}")
    if values.dtype.kind != "f":
        values = values.astype(np.float64)
    if mask is not None and np.any(mask):
        values = values.astype(np.result_type(values.dtype, np.float32), copy=True)
        values[np.broadcast_to(mask, values.shape)] = np.nan
    return values


def _unit_of(data):
    """Return the unit of a CCDData or Quantity, or None."""
    if isinstance(data, (CCDData, u.Quantity)):
        return data.unit
    return None


def inv_median(data):
    """Return the inverse of the median of the finite pixels of an image.

    This is the usual scaling for flat frames: multiplying a flat by ``inv_median(flat)``
    brings its median to 1.

    Parameters
    ----------
    data : numpy.ndarray, astropy.units.Quantity or astropy.nddata.CCDData
        The image.  Masked CCDData pixels and non-finite pixels are ignored.

    Returns
    -------
    float
        ``1 / median`` over the finite pixels.

    Raises
    ------
    ValueError
        If no pixel is finite, or the median is zero or negative.
    """
    values = _as_float_array(data)
    median = _finite_median_inplace(np.array(values, copy=True))
    if math.isnan(median):
        raise ValueError("cannot compute the inverse median: no pixel is finite")
    if median <= 0:
        raise ValueError(f"cannot compute the inverse median: the median is {median:g} (<= 0)")
    return 1.0 / median


def pixel_scatter(image, *, region=None):
    """Return the pixel-to-pixel scatter of an image, free of its smooth structure.

    The scatter is the robust standard deviation (`astropy.stats.mad_std`) of the
    differences between horizontally neighbouring pixels, divided by sqrt(2).  Anything
    that changes slowly across the image (illumination, vignetting, a sky gradient)
    cancels in those differences, so what is measured is the part of the image that
    differs from one pixel to the next: noise, plus any pixel-to-pixel pattern such as
    differences in sensitivity.  Outliers (cosmic rays, stars) do not count.

    Two uses in the course: the scatter of the difference of two scaled flats, divided by
    sqrt(2), is the noise of one flat (the pattern cancels); and since pattern and noise
    add in quadrature, ``scatter**2 - pattern**2`` is the noise of a combined flat.

    Parameters
    ----------
    image : numpy.ndarray, astropy.units.Quantity or astropy.nddata.CCDData
        A 2-D image.  Non-finite and masked pixels are ignored.
    region : tuple of slice, optional
        The part of the image to use, e.g. ``np.s_[1500:2500, 500:1500]``; default all.

    Returns
    -------
    float
        The scatter, in the units of the image.

    Raises
    ------
    ValueError
        If the image (or region) is not 2-D or has fewer than 10 finite neighbour pairs.
    """
    from astropy.stats import mad_std

    values = _as_float_array(image)
    if region is not None:
        shape = values.shape
        values = values[region]
        if values.size == 0:
            raise ValueError(f"region {region} selects no pixel of an image of shape {shape}")
    if values.ndim != 2:
        raise ValueError(f"pixel_scatter needs a 2-D image, got {values.ndim} dimension(s)")
    differences = np.diff(values.astype(np.float64), axis=1)
    differences = differences[np.isfinite(differences)]
    if differences.size < 10:
        raise ValueError(
            f"pixel_scatter needs at least 10 finite neighbour pairs, got {differences.size}"
        )
    return float(mad_std(differences)) / math.sqrt(2)


class NoiseBudget(NamedTuple):
    """Result of `noise_budget`: relative pixel noise of one flat, pattern, combined flat."""

    frame_noise: float
    pattern: float
    combined_noise: float


def noise_budget(first, second, *, combined=None, region=None):
    """Split the pixel-to-pixel scatter of flats into sensitivity pattern and noise.

    The scatter from one pixel to the next in a flat (`pixel_scatter`) has two parts that
    add in quadrature: the pixel-to-pixel differences in sensitivity, which the flat is
    meant to record (the *pattern*), and noise.  Two flats of the same filter, each scaled
    to a median of 1, share the pattern, so their difference holds only noise, sqrt(2)
    times that of one flat.  The pattern is what one flat's scatter has beyond that noise,
    and the noise of a combined flat is what its scatter has beyond the pattern.

    Parameters
    ----------
    first, second : numpy.ndarray, astropy.units.Quantity or astropy.nddata.CCDData
        Two flats of the same filter and shape, at any level: each is scaled by
        `inv_median` over its whole area.
    combined : numpy.ndarray, astropy.units.Quantity or astropy.nddata.CCDData, optional
        A combined flat of the same filter, scaled the same way.
    region : tuple of slice, optional
        The part of the images to measure, e.g. ``np.s_[1500:2500, 500:1500]``; best
        away from the edges.  Default: the whole image.

    Returns
    -------
    NoiseBudget
        ``frame_noise`` (noise of one flat), ``pattern`` and ``combined_noise`` (NaN
        without ``combined``), all relative to a level of 1.  A part that the measurement
        cannot tell from zero (negative difference of squares) is returned as 0.

    Raises
    ------
    ValueError
        If the images differ in shape, or from `inv_median` and `pixel_scatter`.

    Notes
    -----
    The subtraction of squares is precise only while the noise is not much smaller than
    the pattern: the combined noise of many frames is better measured from two flats
    combined from independent halves of the frames.
    """
    region = region if region is not None else (slice(None), slice(None))
    shape = np.shape(_as_float_array(first))
    if np.shape(_as_float_array(second)) != shape:
        raise ValueError(
            f"noise_budget: the two flats differ in shape: {shape} and "
            f"{np.shape(_as_float_array(second))}"
        )

    def scaled(image):
        values = _as_float_array(image)
        if values.shape != shape:
            raise ValueError(
                f"noise_budget: the combined flat has shape {values.shape}, not {shape}"
            )
        return values[region].astype(np.float64) * inv_median(values)

    a, b = scaled(first), scaled(second)
    frame_noise = pixel_scatter(a - b) / math.sqrt(2)
    pattern = math.sqrt(max(pixel_scatter(a) ** 2 - frame_noise**2, 0.0))
    combined_noise = math.nan
    if combined is not None:
        combined_noise = math.sqrt(max(pixel_scatter(scaled(combined)) ** 2 - pattern**2, 0.0))
    return NoiseBudget(frame_noise, pattern, combined_noise)


def safe_filter_name(name):
    """Return a form of a filter name that is a safe file name on every operating system.

    A prime (``'``) becomes ``p`` (so ``g'`` becomes ``gp``); every other character
    outside ``A-Z a-z 0-9 _ -`` becomes ``_``.

    Parameters
    ----------
    name : str
        The filter name, e.g. the FITS FILTER value.

    Returns
    -------
    str
        The safe name.

    Raises
    ------
    ValueError
        If the name is empty (or only white space).
    TypeError
        If the name is not a string.
    """
    if not isinstance(name, str):
        raise TypeError(f"filter name must be a string, got {type(name).__name__}")
    stripped = name.strip()
    if not stripped:
        raise ValueError("filter name is empty; cannot build a file name from it")
    stripped = stripped.replace("'", "p").replace("\u2032", "p")  # ASCII and Unicode prime
    return re.sub(r"[^A-Za-z0-9_-]", "_", stripped)


# --------------------------------------------------------------------------------------
# Display
# --------------------------------------------------------------------------------------


def _block_reduce_for_display(values, factor):
    """Block-average ``values`` by ``factor`` (NaN-aware); pad the edges with NaN."""
    if factor == 1:
        return np.asarray(values, dtype=np.float32)
    ny, nx = values.shape
    py, px = -ny % factor, -nx % factor
    has_nan = bool(np.isnan(values).any()) if values.dtype.kind == "f" else False
    if py or px:
        padded = np.full((ny + py, nx + px), np.nan, dtype=np.float32)
        padded[:ny, :nx] = values
        values, has_nan = padded, True
    by, bx = values.shape[0] // factor, values.shape[1] // factor
    blocks = values.reshape(by, factor, bx, factor)
    if not has_nan:
        return blocks.mean(axis=(1, 3), dtype=np.float32)
    finite = np.isfinite(blocks)
    total = np.where(finite, blocks, 0).sum(axis=(1, 3), dtype=np.float32)
    count = finite.sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan).astype(np.float32)


def show_image(
    image,
    *,
    ax=None,
    percentiles=(1, 99),
    stretch="linear",
    cmap="gray",
    colorbar=True,
    title=None,
):
    """Display an image with a percentile interval and a stretch.

    Large frames are block-averaged (ignoring NaN) to at most about 1024 pixels on the
    long side before drawing, so a 4096 x 4096 frame draws in well under a second; the
    axis coordinates stay in the original pixel units.  The interval is computed from the
    finite pixels of the (reduced) image that is drawn.

    Parameters
    ----------
    image : numpy.ndarray, astropy.units.Quantity or astropy.nddata.CCDData
        A 2-D image.  Masked CCDData pixels are shown as NaN (the colour map's "bad"
        colour).
    ax : matplotlib.axes.Axes, optional
        The axes to draw on, e.g. one panel of a subplot grid.  A new figure is made when
        not given.
    percentiles : tuple of two floats, optional
        Lower and upper percentile of the display interval, ``0 <= low < high <= 100``.
    stretch : {'linear', 'sqrt', 'log', 'asinh'}, optional
        The astropy.visualization stretch applied within the interval.
    cmap : str or matplotlib.colors.Colormap, optional
        The colour map.
    colorbar : bool, optional
        Add a colour bar beside the axes (its ticks are in data values).
    title : str, optional
        Title of the axes.

    Returns
    -------
    matplotlib.image.AxesImage
        The image artist.

    Raises
    ------
    ValueError
        If the image is not 2-D, has no finite pixel, the stretch is unknown or the
        percentiles are invalid.
    """
    import matplotlib.pyplot as plt
    from astropy import visualization as vis

    if stretch not in _STRETCHES:
        raise ValueError(f"unknown stretch {stretch!r}; choose one of {', '.join(_STRETCHES)}")
    try:
        low, high = (float(p) for p in percentiles)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"percentiles must be two numbers (low, high), got {percentiles!r}"
        ) from err
    if not (0 <= low < high <= 100):
        raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {percentiles!r}")

    values = _as_float_array(image)
    if values.ndim != 2:
        raise ValueError(f"show_image needs a 2-D image, got shape {values.shape}")
    ny, nx = values.shape
    factor = max(1, math.ceil(max(ny, nx) / _DISPLAY_MAX_PIXELS))
    shown = _block_reduce_for_display(values, factor)
    finite = shown[np.isfinite(shown)]
    if finite.size == 0:
        raise ValueError("show_image: the image has no finite pixel")

    vmin, vmax = vis.AsymmetricPercentileInterval(low, high).get_limits(finite)
    if not vmax > vmin:  # a constant image: widen the interval so the stretch is defined
        half_width = 0.5 * max(abs(vmin), 1.0)
        vmin, vmax = vmin - half_width, vmax + half_width
    stretches = {
        "linear": vis.LinearStretch,
        "sqrt": vis.SqrtStretch,
        "log": vis.LogStretch,
        "asinh": vis.AsinhStretch,
    }
    norm = vis.ImageNormalize(vmin=vmin, vmax=vmax, stretch=stretches[stretch](), clip=True)

    if ax is None:
        _, ax = plt.subplots()
    height, width = shown.shape[0] * factor, shown.shape[1] * factor
    artist = ax.imshow(
        shown,
        cmap=cmap,
        norm=norm,
        origin="lower",
        interpolation="nearest",
        extent=(-0.5, width - 0.5, -0.5, height - 0.5),
    )
    # Show the image's own extent, not the padding added to make whole blocks.
    ax.set_xlim(-0.5, nx - 0.5)
    ax.set_ylim(-0.5, ny - 0.5)
    ax.set_xlabel("x (pixel)")
    ax.set_ylabel("y (pixel)")
    ax.grid(False)  # grid lines (on in the course style) would hide fine detail
    if title is not None:
        ax.set_title(title)
    if colorbar:
        bar = ax.figure.colorbar(artist, ax=ax)
        # With a clipping norm the colour bar draws ticks outside [vmin, vmax] at its ends,
        # on top of the first tick inside: keep only the ticks that are really in range.
        bar.set_ticks([tick for tick in bar.get_ticks() if vmin <= tick <= vmax])
        unit = _unit_of(image)
        if unit is not None and unit != u.dimensionless_unscaled:
            bar.set_label(unit.to_string())
    return artist


# --------------------------------------------------------------------------------------
# Frame levels
# --------------------------------------------------------------------------------------


def _read_first_image(path):
    """Return (data, header) of the first 2-D image HDU in a FITS file (no memmap)."""
    try:
        with fits.open(path, memmap=False) as hdul:
            for hdu in hdul:
                if hdu.is_image and hdu.header.get("NAXIS", 0) >= 2 and hdu.data is not None:
                    return np.asarray(hdu.data), hdu.header.copy()
    except Exception as err:
        raise ValueError(f"cannot read {path} as a FITS image: {err}") from err
    raise ValueError(f"{path} contains no 2-D image")


def plot_frame_levels(images, *, ax=None, labels=None, title=None):
    """Plot the mean and median of each frame, and return the medians.

    Parameters
    ----------
    images : sequence of str, os.PathLike, astropy.nddata.CCDData or numpy.ndarray
        The frames, e.g. the flats of one filter.  Files are read one at a time.
    ax : matplotlib.axes.Axes, optional
        The axes to draw on; a new figure is made when not given.
    labels : sequence of str, optional
        Tick labels, one per frame.  By default the file base names (for CCDData the
        FILENAME in its meta, for arrays the frame number).
    title : str, optional
        Title of the axes.

    Returns
    -------
    numpy.ndarray
        The median of each frame over its finite pixels (float64), in input order.

    Raises
    ------
    ValueError
        If no frame is given, the number of labels differs from the number of frames, a
        file cannot be read, or a frame has no finite pixel.
    """
    import matplotlib.pyplot as plt

    images = _as_image_list(images)
    if not images:
        raise ValueError("plot_frame_levels: no frame given")
    if labels is not None:
        labels = [str(label) for label in labels]
        if len(labels) != len(images):
            raise ValueError(f"got {len(labels)} labels for {len(images)} frames")

    means, medians, names, unit = [], [], [], None
    for index, image in enumerate(images):
        if isinstance(image, (str, os.PathLike)):
            data, header = _read_first_image(image)
            name = Path(image).name
            frame_unit = header.get("BUNIT")
            values = _as_float_array(data)
        else:
            name = _ccd_name(image, index) if isinstance(image, CCDData) else f"frame {index}"
            frame_unit = _unit_of(image)
            values = _as_float_array(image)
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            raise ValueError(f"frame {name} has no finite pixel")
        means.append(float(np.mean(finite, dtype=np.float64)))
        medians.append(_finite_median_inplace(finite))
        names.append(name)
        if unit is None and frame_unit is not None:
            unit = str(frame_unit)
        del values, finite

    if ax is None:
        _, ax = plt.subplots()
    x = np.arange(len(images))
    ax.plot(x, means, "o-", label="mean")
    ax.plot(x, medians, "s--", label="median")
    ax.set_xticks(x)
    ax.set_xticklabels(labels if labels is not None else names, rotation=45, ha="right")
    ax.set_xlabel("frame")
    ax.set_ylabel(f"level ({unit})" if unit else "level")
    ax.legend()
    if title is not None:
        ax.set_title(title)
    return np.asarray(medians, dtype=float)


# --------------------------------------------------------------------------------------
# Frames to combine: row-block readers for files and CCDData
# --------------------------------------------------------------------------------------


def _as_image_list(images):
    """Turn the ``images`` argument into a list (a lone path or CCDData is one image)."""
    if isinstance(images, (str, os.PathLike, CCDData, np.ndarray)):
        return [images]
    if not isinstance(images, Iterable):
        raise TypeError(f"images must be a sequence of file paths or CCDData, got {images!r}")
    return list(images)


def _ccd_name(ccd, index):
    """Return the name used for a CCDData input (its FILENAME, else a placeholder)."""
    name = ccd.meta.get("FILENAME") if ccd.meta is not None else None
    return str(name) if name else f"ccddata[{index}]"


_RAW_FLOAT_DTYPES = {-32: np.dtype(">f4"), -64: np.dtype(">f8")}


class _Frame:
    """One input frame: its description and a reader of row blocks.

    Files are read with explicit reads (never a memory map, whose pages would count as
    resident memory): an uncompressed float image without BSCALE/BZERO is read straight
    from its data offset into the caller's buffer; anything else goes through astropy's
    ``section``, which reads only the requested rows.
    """

    def __init__(self, item, index):
        self.index = index
        if isinstance(item, CCDData):
            self.path = None
            self.name = _ccd_name(item, index)
            self.label = self.name
            self.ccd = item
            if item.data is None or np.ndim(item.data) != 2:
                raise ValueError(
                    f"{self.label}: expected a 2-D image, got shape {np.shape(item.data)}"
                )
            self.shape = tuple(item.data.shape)
            meta = item.meta if item.meta is not None else {}
            self.filter = meta.get("FILTER")
            self.imagetyp = meta.get("IMAGETYP")
            return
        if not isinstance(item, (str, os.PathLike)):
            raise TypeError(
                f"images must be file paths or CCDData, got {type(item).__name__} at "
                f"position {index}"
            )
        self.ccd = None
        self.path = Path(item)
        self.name = self.path.name
        self.label = str(self.path)
        try:
            self._describe()
        except Exception as err:
            raise ValueError(f"cannot read {self.path} as a FITS image: {err}") from err
        if self.raw_dtype is not None:
            size = self.path.stat().st_size
            needed = self.offset + math.prod(self.shape) * self.raw_dtype.itemsize
            if size < needed:
                raise ValueError(
                    f"cannot read {self.path} as a FITS image: the file is truncated "
                    f"({size} bytes, the image needs {needed})"
                )

    def _describe(self):
        """Read the header of the first 2-D image HDU: shape, FILTER, where the data are."""
        # astropy warns (rather than fails) about a truncated file; a warning turned into an
        # error inside fits.open would leave the file open, so warnings are recorded here and
        # a truncation becomes a ValueError.  Runs in the calling thread only.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self._describe_header()
        for warning in caught:
            if "truncated" in str(warning.message):
                raise ValueError(str(warning.message))
        for warning in caught:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )

    def _describe_header(self):
        """Open the file and fill in the description (see `_describe`)."""
        with fits.open(self.path, memmap=False, lazy_load_hdus=True) as hdul:
            images = [(i, h) for i, h in enumerate(hdul) if h.is_image and len(h.shape) >= 2]
            if not images:
                raise ValueError("it contains no image")
            hdu_index, hdu = images[0]
            header = hdu.header
            if len(hdu.shape) != 2:
                raise ValueError(f"expected a 2-D image, got shape {hdu.shape}")
            self.shape = tuple(int(n) for n in hdu.shape)
            self.hdu_index = hdu_index
            self.filter = header.get("FILTER")
            self.imagetyp = header.get("IMAGETYP")
            raw = _RAW_FLOAT_DTYPES.get(header.get("BITPIX"))
            plain = (
                type(hdu) in (fits.PrimaryHDU, fits.ImageHDU)
                and header.get("BSCALE", 1) == 1
                and header.get("BZERO", 0) == 0
            )
            self.raw_dtype = raw if (raw is not None and plain) else None
            self.offset = int(hdu.fileinfo()["datLoc"]) if self.raw_dtype else None

    def read_rows(self, start, stop, out):
        """Fill ``out`` (float, C-contiguous, shape ``(stop - start, nx)``) with rows."""
        if self.ccd is not None:
            out[...] = self.ccd.data[start:stop]
            if self.ccd.mask is not None:
                mask = np.asarray(self.ccd.mask)[start:stop]
                if mask.any():
                    out[mask] = np.nan
            return
        try:
            if self.raw_dtype is not None:
                nx = self.shape[1]
                with open(self.path, "rb") as handle:
                    handle.seek(self.offset + start * nx * self.raw_dtype.itemsize)
                    if self.raw_dtype.itemsize == out.dtype.itemsize:
                        target = out
                    else:
                        target = np.empty(out.shape, dtype=self.raw_dtype.newbyteorder("="))
                    wanted = target.nbytes
                    got = handle.readinto(memoryview(target).cast("B"))
                    if got != wanted:
                        raise ValueError(f"short read ({got} of {wanted} bytes)")
                    if sys.byteorder == "little":
                        target.byteswap(inplace=True)  # FITS is big-endian
                    if target is not out:
                        out[...] = target
            else:
                with fits.open(self.path, memmap=False, lazy_load_hdus=True) as hdul:
                    out[...] = hdul[self.hdu_index].section[start:stop, :]
        except Exception as err:
            raise ValueError(f"cannot read rows {start}:{stop} of {self.path}: {err}") from err

    def median(self, buffer):
        """Return the median of the frame's finite pixels, reading blocks into ``buffer``.

        ``buffer`` is a 1-D array; its size sets the rows per block.
        """
        ny, nx = self.shape
        block_rows = max(1, min(ny, buffer.size // nx))

        def get_rows(start, stop):
            rows = buffer[: (stop - start) * nx].reshape(stop - start, nx)
            self.read_rows(start, stop, rows)
            return rows

        return _blockwise_median(get_rows, ny, block_rows)


# --------------------------------------------------------------------------------------
# The per-block combination kernel
# --------------------------------------------------------------------------------------


def _sorted_median(ordered, n_finite):
    """Median along axis 0 of an array sorted along axis 0 with NaN last.

    ``n_finite`` is the number of finite values per pixel: an int (all the same) or an
    array.  Pixels without a finite value get NaN.
    """
    if np.isscalar(n_finite):
        lo, hi = (n_finite - 1) // 2, n_finite // 2
        return 0.5 * (ordered[lo] + ordered[hi])
    count = n_finite.astype(np.intp)
    lo = np.maximum((count - 1) // 2, 0)[np.newaxis]
    hi = (count // 2)[np.newaxis]
    return 0.5 * (
        np.take_along_axis(ordered, lo, axis=0)[0] + np.take_along_axis(ordered, hi, axis=0)[0]
    )


def _nan_mean_std(stack, n_finite, want_std):
    """Mean (and population std) along axis 0 ignoring NaN, without warnings."""
    filled = np.nan_to_num(stack, nan=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=0) / n_finite
        if not want_std:
            return mean, None
        filled -= mean
        np.copyto(filled, 0, where=np.isnan(stack))
        return mean, np.sqrt(np.einsum("ijk,ijk->jk", filled, filled) / n_finite)


def _combine_block(stack, scales, sigma, cenfunc, stdfunc, ordered, keep):
    """Scale, clip and average one block of rows.

    Parameters
    ----------
    stack : numpy.ndarray
        Shape ``(n_frames, rows, nx)``; overwritten.
    scales : numpy.ndarray
        One factor per frame (the inverse medians), same dtype as ``stack``.
    sigma, cenfunc, stdfunc
        As in `combine_flats`.
    ordered, keep : numpy.ndarray
        Scratch buffers shaped like ``stack`` (same dtype, and bool), reused between
        blocks so that memory does not fragment.

    Returns
    -------
    mean, uncertainty : numpy.ndarray
        Average of the survivors and the standard error of that average.
    n_used : numpy.ndarray of uint16
        Number of survivors per pixel.
    n_rejected : int
        Number of finite samples rejected by the clip.
    """
    n_frames = stack.shape[0]
    stack *= scales[:, np.newaxis, np.newaxis]
    # A NaN or inf anywhere makes the sum non-finite (so does overflow, harmlessly).
    any_bad = not np.isfinite(stack.sum(axis=0)).all()
    if any_bad:
        finite = np.isfinite(stack, out=keep)
        n_finite = finite.sum(axis=0, dtype=np.uint16)
        np.copyto(stack, np.nan, where=np.logical_not(finite, out=finite))  # inf -> NaN
    else:
        n_finite = n_frames

    if sigma is not None and (cenfunc == "median" or stdfunc == "mad_std"):
        ordered[...] = stack
        ordered.sort(axis=0)  # NaN sort last
        median = _sorted_median(ordered, n_finite)
    spread = None
    if sigma is None or cenfunc == "mean":
        want_std = sigma is not None and stdfunc == "std"
        if any_bad:
            center, spread = _nan_mean_std(stack, n_finite, want_std)
        else:
            center = stack.mean(axis=0)
            spread = stack.std(axis=0) if want_std else None
    else:
        center = median

    if sigma is None:
        stack -= center
        use_all = not any_bad
        if any_bad:
            np.isfinite(stack, out=keep)
    else:
        use_all = False
        if stdfunc == "mad_std":
            ordered -= median
            np.abs(ordered, out=ordered)
            ordered.sort(axis=0)
            spread = _sorted_median(ordered, n_finite) * _MAD_TO_STD
        elif spread is None:  # 'std' about the mean (population std, as in astropy)
            _, spread = (
                _nan_mean_std(stack, n_finite, True) if any_bad else (None, stack.std(axis=0))
            )
        half_width = spread * sigma
        del spread
        stack -= center
        absdev = np.abs(stack, out=ordered)
        np.less_equal(absdev, half_width, out=keep)  # NaN compares False: never kept
        del absdev, half_width

    if use_all:
        n_used = np.full(stack.shape[1:], n_frames, dtype=np.uint16)
    else:
        n_used = keep.sum(axis=0, dtype=np.uint16)
        if any_bad:
            np.copyto(stack, 0, where=np.logical_not(keep, out=keep))  # NaN * 0 stays NaN
        else:
            np.multiply(stack, keep, out=stack)
    n_rejected = int(np.sum(n_finite - n_used.astype(np.int64)))

    # The sums are accumulated in float64 (cheap next to the sorts) for a precise variance.
    sum1 = stack.sum(axis=0, dtype=np.float64)
    sum2 = np.einsum("ijk,ijk->jk", stack, stack, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        count = n_used.astype(np.float64)
        mean = (center + sum1 / count).astype(stack.dtype)
        variance = (sum2 - sum1 * sum1 / count) / (count - 1)
        np.maximum(variance, 0, out=variance)
        uncertainty = np.sqrt(variance / count).astype(stack.dtype)
    uncertainty[n_used <= 1] = np.nan
    mean[n_used == 0] = np.nan
    return mean, uncertainty, n_used, n_rejected


# --------------------------------------------------------------------------------------
# combine_flats
# --------------------------------------------------------------------------------------


def _check_options(sigma, cenfunc, stdfunc, mem_limit, dtype):
    """Validate the combination options; return (sigma, dtype) normalised."""
    if sigma is not None:
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float, np.number)):
            raise TypeError(f"sigma must be a number or None, got {sigma!r}")
        if not (math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"sigma must be a positive finite number or None, got {sigma!r}")
        sigma = float(sigma)
    if cenfunc not in _CENFUNCS:
        raise ValueError(f"cenfunc must be one of {_CENFUNCS}, got {cenfunc!r}")
    if stdfunc not in _STDFUNCS:
        raise ValueError(f"stdfunc must be one of {_STDFUNCS}, got {stdfunc!r}")
    if isinstance(mem_limit, bool) or not isinstance(mem_limit, (int, float, np.number)):
        raise TypeError(f"mem_limit must be a number of bytes, got {mem_limit!r}")
    if not (math.isfinite(mem_limit) and mem_limit > 0):
        raise ValueError(f"mem_limit must be a positive number of bytes, got {mem_limit!r}")
    try:
        dtype = np.dtype(dtype)
    except TypeError as err:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}") from err
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return sigma, dtype


def _plan_memory(shape, n_frames, dtype, mem_limit):
    """Plan the work within ``mem_limit`` bytes.

    Returns
    -------
    median_workers, median_rows, block_workers, rows : int
        Workers and rows per block for the median pass and for the combination pass.
    """
    ny, nx = shape
    pixels = ny * nx
    item = dtype.itemsize
    outputs = pixels * (2 * item + 1 + 2)  # data, uncertainty, mask, uint16 counts
    # The median pass keeps, per worker, a block, the block's finite values and a
    # boolean mask; plus a sample of 1/16 of the frame and the values in the bracket.
    median_row = nx * (2 * item + 2)
    median_fixed = pixels * item // 8
    row = nx * (n_frames * (3 * item + 2) + _PER_PIXEL_SCRATCH)
    minimum = max(median_fixed + median_row, outputs + median_fixed + median_row, outputs + row)
    if mem_limit < minimum:
        raise ValueError(
            f"mem_limit={mem_limit:.4g} bytes is too small for {n_frames} frames of "
            f"{ny} x {nx} pixels in {dtype}: it needs at least {minimum:.4g} bytes "
            f"(the outputs take {outputs:.4g}, one row block {row:.4g})"
        )
    median_workers = max(1, min(_MAX_WORKERS, n_frames))
    median_rows = int((mem_limit - outputs - median_fixed) // (median_workers * median_row))
    median_rows = max(1, min(ny, median_rows, max(1, (1 << 20) // nx)))
    budget = mem_limit - outputs
    block_workers = max(1, min(_MAX_WORKERS, int(budget // row), ny))
    rows = int(budget // (block_workers * row))
    # Blocks of about a quarter million pixels per frame keep the sorts cache friendly,
    # and at least two blocks per worker keep both workers busy.
    rows = min(rows, max(1, (1 << 18) // nx), max(1, math.ceil(ny / (2 * block_workers))))
    return median_workers, median_rows, block_workers, max(1, rows)


def _method_history(sigma, cenfunc, stdfunc, n_frames):
    """Return the HISTORY text describing the combination."""
    if sigma is None:
        clip = "no rejection"
    else:
        clip = (
            f"one-pass symmetric {sigma:g}-sigma clip of the scaled samples around the "
            f"{cenfunc} with {stdfunc} spread"
        )
    return (
        f"combine_flats: {n_frames} frames, each scaled by its inverse median; {clip}; "
        "mean of the survivors; result divided by its median; uncertainty = std of "
        "survivors / sqrt(n)"
    )


def combine_flats(
    images,
    *,
    sigma=5.0,
    cenfunc="median",
    stdfunc="mad_std",
    mem_limit=350e6,
    dtype=np.float32,
    return_counts=False,
):
    """Combine flat frames of one filter: scale, sigma-clip, average, normalise.

    For every pixel, each frame's value is multiplied by the frame's inverse median
    (`inv_median`, over the whole frame's finite pixels), *then* values farther than
    ``sigma`` spreads from the centre of the scaled values are rejected in one pass, and
    the survivors are averaged.  The combined image is divided by its own median, so its
    median is 1.  Scaling before rejection matters: ccdproc clips the unscaled frames,
    where the spread of flat levels hides outliers.

    The frames are read in blocks of rows, so memory stays bounded by ``mem_limit``
    (which includes the output arrays); two threads share the work and the result does
    not depend on their timing.

    Parameters
    ----------
    images : sequence of str, os.PathLike or astropy.nddata.CCDData
        The flats, all of one filter and one shape.  Files are never modified; for files
        the first 2-D image HDU is used.  NaN (and masked CCDData) pixels are ignored.
    sigma : float or None, optional
        Rejection threshold in spreads (symmetric).  ``None`` turns rejection off.
    cenfunc : {'median', 'mean'}, optional
        Centre of the scaled values of a pixel.
    stdfunc : {'mad_std', 'std'}, optional
        Spread of the scaled values of a pixel: the median absolute deviation scaled to a
        Gaussian sigma (robust), or the standard deviation (ddof=0), as in
        `astropy.stats.sigma_clip`.
    mem_limit : float, optional
        Memory budget in bytes for the arrays this function allocates, outputs included.
    dtype : numpy dtype, optional
        float32 or float64: the working precision and the output precision.
    return_counts : bool, optional
        Also return the number of surviving frames per pixel.

    Returns
    -------
    combined : astropy.nddata.CCDData
        Dimensionless, median 1.  ``uncertainty`` is a StdDevUncertainty: the sample
        standard deviation (ddof=1) of the survivors divided by sqrt(number of
        survivors), normalised like the data; it is NaN where only one frame survived.
        ``mask`` is True where no frame survived (there the data are NaN).  The header
        has IMAGETYP and FILTER from the first frame, NCOMBINE, IMCMB001... (input
        names), COMBINED = True, NREJECT (number of rejected samples) and a HISTORY line.
    n_used : numpy.ndarray of uint16
        Only with ``return_counts=True``: number of surviving frames per pixel.

    Raises
    ------
    ValueError
        No image, fewer than three with rejection on, mixed FILTER values, different
        shapes, an unreadable or non-FITS file, a frame whose median is not positive or
        not defined (all NaN), option values out of range (a negative ``sigma``, an
        unknown ``cenfunc``, a non-float ``dtype``), or a ``mem_limit`` too small (the
        message gives the minimum).
    TypeError
        Unknown keywords, options of the wrong type (``sigma=True``, ``mem_limit='1e9'``),
        or inputs that are neither paths nor CCDData.

    Notes
    -----
    With few frames the MAD of the values at a pixel is a rough estimate of their spread,
    now and then much too small, so a 5-spread clip also rejects good values: about 7 %
    of the samples of pure Gaussian noise with three frames, 3 % with five, 0.5 % with
    ten.  The noise of the result is then a little above ``1 / sqrt(N)`` of one frame's
    (about 10 % above with three frames).  The standard deviation (``stdfunc='std'``)
    cannot do better: among N <= 20 values none can lie 5 standard deviations from their
    median, so nothing, not even a cosmic ray, is rejected.  For the same reason the
    uncertainty, computed from the survivors only, tends to be low when N is small.

    The memory bound covers the arrays this function allocates; for a ``mem_limit`` of
    only a few megabytes, the fixed cost of the Python and NumPy calls (about 2 MB) is
    comparable and the bound can be exceeded.

    Examples
    --------
    >>> flat = combine_flats(["flat-001.fit", "flat-002.fit", "flat-003.fit"])  # doctest: +SKIP
    >>> flat, n_used = combine_flats(files, sigma=3.0, return_counts=True)  # doctest: +SKIP
    """
    sigma, dtype = _check_options(sigma, cenfunc, stdfunc, mem_limit, dtype)
    items = _as_image_list(images)
    if not items:
        raise ValueError("combine_flats: no image given")
    frames = [_Frame(item, index) for index, item in enumerate(items)]
    n_frames = len(frames)
    if sigma is not None and n_frames < 3:
        raise ValueError(
            f"combine_flats: sigma clipping needs at least 3 frames, got {n_frames} "
            f"({', '.join(f.label for f in frames)}); pass sigma=None to average without "
            "rejection"
        )
    if n_frames > np.iinfo(np.uint16).max:
        raise ValueError(f"combine_flats: at most 65535 frames, got {n_frames}")
    filters = {str(f.filter).strip() if f.filter is not None else None for f in frames}
    if len(filters) > 1:
        detail = "; ".join(f"{f.label}: {f.filter!r}" for f in frames)
        raise ValueError(
            f"combine_flats: the frames have different FILTER values "
            f"{sorted(str(x) for x in filters)} ({detail}); combine one filter at a time"
        )
    shape = frames[0].shape
    for frame in frames[1:]:
        if frame.shape != shape:
            raise ValueError(
                f"combine_flats: {frame.label} has shape {frame.shape}, but "
                f"{frames[0].label} has shape {shape}"
            )

    median_workers, median_rows, block_workers, rows = _plan_memory(
        shape, n_frames, dtype, mem_limit
    )

    # Pass 1: the median of each frame (at most `median_workers` frames in memory).
    frame_buffers = threading.local()  # one block buffer per worker, freed with the workers

    def frame_median(frame):
        if not hasattr(frame_buffers, "buffer"):
            frame_buffers.buffer = np.empty(median_rows * shape[1], dtype=dtype)
        return frame.median(frame_buffers.buffer)

    with ThreadPoolExecutor(median_workers) as pool:
        medians = list(pool.map(frame_median, frames))
    for frame, median in zip(frames, medians, strict=True):
        if math.isnan(median):
            raise ValueError(f"combine_flats: {frame.label} has no finite pixel (all NaN)")
        if median <= 0:
            raise ValueError(
                f"combine_flats: the median of {frame.label} is {median:g}; a flat needs a "
                "positive median"
            )
    scales = np.array([1.0 / m for m in medians], dtype=dtype)

    # Pass 2: blocks of rows.
    ny, nx = shape
    data = np.empty(shape, dtype=dtype)
    uncertainty = np.empty(shape, dtype=dtype)
    n_used = np.empty(shape, dtype=np.uint16)
    rejected = []
    lock = threading.Lock()

    local = threading.local()  # per-worker buffers, reused so memory does not fragment

    def work(start):
        stop = min(ny, start + rows)
        size = n_frames * (stop - start) * nx
        if not hasattr(local, "buffers"):
            full = n_frames * rows * nx
            local.buffers = (
                np.empty(full, dtype=dtype),
                np.empty(full, dtype=dtype),
                np.empty(full, dtype=bool),
            )
        stack, ordered, keep = (b[:size].reshape(n_frames, stop - start, nx) for b in local.buffers)
        for index, frame in enumerate(frames):
            frame.read_rows(start, stop, stack[index])
        mean, unc, count, n_rej = _combine_block(
            stack, scales, sigma, cenfunc, stdfunc, ordered, keep
        )
        data[start:stop] = mean
        uncertainty[start:stop] = unc
        n_used[start:stop] = count
        with lock:
            rejected.append(n_rej)

    with ThreadPoolExecutor(block_workers) as pool:
        for _ in pool.map(work, range(0, ny, rows)):
            pass

    # Normalise to median 1.
    norm = _blockwise_median(lambda start, stop: data[start:stop], ny, median_rows)
    if not (math.isfinite(norm) and norm > 0):
        raise ValueError(f"combine_flats: the combined image has median {norm}; cannot normalise")
    data /= dtype.type(norm)
    uncertainty /= dtype.type(norm)
    mask = n_used == 0

    header = fits.Header()
    for key, value in (("IMAGETYP", frames[0].imagetyp), ("FILTER", frames[0].filter)):
        if value is not None:
            header[key] = _fits_text(value)
    header["NCOMBINE"] = (n_frames, "number of frames combined")
    # IMCMBnnn has room for 999 names; FITS header values must be printable ASCII.
    for number, frame in enumerate(frames[:999], start=1):
        header[f"IMCMB{number:03d}"] = _fits_text(frame.name)
    header["COMBINED"] = (True, "combined by convenience_functions.combine_flats")
    header["NREJECT"] = (int(sum(rejected)), "number of samples rejected")
    header["HISTORY"] = _method_history(sigma, cenfunc, stdfunc, n_frames)

    combined = CCDData(
        data,
        unit=u.dimensionless_unscaled,
        uncertainty=StdDevUncertainty(uncertainty, copy=False),
        mask=mask,
        meta=header,
        copy=False,
    )
    if return_counts:
        return combined, n_used
    return combined


# --------------------------------------------------------------------------------------
# combine_flats_by_filter
# --------------------------------------------------------------------------------------

_BY_FILTER_OPTIONS = ("sigma", "cenfunc", "stdfunc", "mem_limit", "dtype")


def _fits_text(value):
    """Return ``value`` as printable ASCII for a FITS header (other characters escaped)."""
    text = str(value).encode("ascii", "backslashreplace").decode("ascii")
    return "".join(c if " " <= c <= "~" else "?" for c in text)


def _is_combined_output(path):
    """Return True if ``path`` is a FITS file whose primary header has COMBINED = True."""
    try:
        header = fits.getheader(path, 0)
    except Exception:
        return False
    return header.get("COMBINED") is True


def _write_atomically(ccd, path, extra_hdus=()):
    """Write ``ccd`` (and ``extra_hdus``) to ``path`` via a temporary file and a rename."""
    while True:
        temporary = path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp"
        try:
            # O_EXCL makes the name ours; mode 0o666 lets the umask apply, as to any new file.
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
            handle = os.open(temporary, flags, 0o666)
            break
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
    try:
        with os.fdopen(handle, "wb") as output:
            hdus = ccd.to_hdu()
            if ccd.unit == u.dimensionless_unscaled:
                # astropy writes a dimensionless unit as BUNIT = '', which CCDData.read cannot
                # turn back into a unit; '1' is the FITS standard's spelling and reads back.
                hdus[0].header["BUNIT"] = ("1", "dimensionless: a normalised flat")
            hdus.extend(extra_hdus)
            hdus.writeto(output)
            output.flush()
            os.fsync(output.fileno())  # on disk before the rename makes it the output
        os.replace(temporary, path)
    except BaseException:
        try:
            os.remove(temporary)
        except OSError:
            pass
        raise


def combine_flats_by_filter(folder_or_collection, *, imagetyp, output_dir=None, **options):
    """Combine the flats in a folder into one flat per FILTER.

    Frames are chosen with `ccdproc.ImageFileCollection`: IMAGETYP must equal
    ``imagetyp`` (ignoring case and surrounding spaces), and frames with COMBINED = True
    (earlier combined flats) are never used.  Frames without a FILTER keyword are
    ignored.  Each group is combined with `combine_flats` and written as
    ``combined_flat_filter_<name>.fit`` (``<name>`` from `safe_filter_name`), through a
    temporary file and a rename, so an interrupted run never leaves a half-written file.
    An earlier output of this function is replaced; any other file with that name is
    refused.

    Each file holds the combined flat as `astropy.nddata.CCDData` writes it (the data,
    with extensions ``UNCERT`` and ``MASK``), so ``CCDData.read(path)`` reads it back, plus
    an image extension ``NUSED`` with the number of frames that survived rejection at each
    pixel (the ``n_used`` of `combine_flats`), for judging where rejection happened.

    Parameters
    ----------
    folder_or_collection : str, os.PathLike or ccdproc.ImageFileCollection
        The folder with the flats, or a collection of it.
    imagetyp : str
        The IMAGETYP value of the flats, e.g. ``'flat'``.
    output_dir : str or os.PathLike, optional
        Where to write; created if missing.  Defaults to the collection's folder.
    **options
        ``sigma``, ``cenfunc``, ``stdfunc``, ``mem_limit`` and ``dtype``, passed to
        `combine_flats`.

    Returns
    -------
    dict of str to pathlib.Path
        The path of the combined flat for each FILTER value.

    Raises
    ------
    ValueError
        No frame matched (the message lists the IMAGETYP and FILTER values seen), the
        folder does not exist, the output folder cannot be written, two filters give the
        same file name, an existing file would be overwritten that is not an earlier
        combined flat, or any error of `combine_flats`.
    TypeError
        Unknown keyword arguments.
    """
    from ccdproc import ImageFileCollection

    unknown = sorted(set(options) - set(_BY_FILTER_OPTIONS))
    if unknown:
        raise TypeError(
            f"combine_flats_by_filter() got unexpected keyword argument(s) {unknown}; "
            f"allowed: {', '.join(_BY_FILTER_OPTIONS)}"
        )
    if not isinstance(imagetyp, str) or not imagetyp.strip():
        raise ValueError(f"imagetyp must be a non-empty string, got {imagetyp!r}")

    if isinstance(folder_or_collection, ImageFileCollection):
        collection = folder_or_collection
        folder = Path(collection.location)
    else:
        folder = Path(folder_or_collection)
        if not folder.is_dir():
            raise ValueError(f"combine_flats_by_filter: {folder} is not a folder")
        collection = ImageFileCollection(folder, keywords=["imagetyp", "filter", "combined"])

    out_folder = Path(output_dir) if output_dir is not None else folder
    try:
        out_folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"the output folder {out_folder} cannot be created: {err}") from err
    if not os.access(out_folder, os.W_OK | os.X_OK):
        raise ValueError(f"the output folder {out_folder} cannot be written")

    wanted = imagetyp.strip().casefold()
    seen_types, seen_filters = set(), set()
    groups = {}
    summary = collection.summary
    if summary is not None and len(summary):
        columns = set(summary.colnames)

        def column(name):
            if name not in columns:
                return [None] * len(summary)
            values = summary[name]
            mask = np.ma.getmaskarray(values)
            return [None if m else v for v, m in zip(values, mask, strict=True)]

        for name, typ, filt, done in zip(
            summary["file"], column("imagetyp"), column("filter"), column("combined"), strict=True
        ):
            if done is True or (isinstance(done, np.bool_) and bool(done)):
                continue
            if "combined" not in columns and _is_combined_output(folder / str(name)):
                continue  # a collection made without the COMBINED keyword: read the header
            if typ is not None:
                seen_types.add(str(typ))
            if filt is not None:
                seen_filters.add(str(filt))
            if typ is None or str(typ).strip().casefold() != wanted:
                continue
            if filt is None or not str(filt).strip():
                continue
            groups.setdefault(str(filt).strip(), []).append(folder / str(name))
    if not groups:
        raise ValueError(
            f"combine_flats_by_filter: no frame in {folder} has IMAGETYP {imagetyp!r} and "
            f"a FILTER; IMAGETYP values seen: {sorted(seen_types) or 'none'}; FILTER values "
            f"seen: {sorted(seen_filters) or 'none'}"
        )

    targets = {}
    for filt in sorted(groups):
        target = out_folder / f"combined_flat_filter_{safe_filter_name(filt)}.fit"
        # compared without case: on macOS and Windows "R" and "r" name the same file
        clash = [f for f, t in targets.items() if str(t).casefold() == str(target).casefold()]
        if clash:
            raise ValueError(f"filters {clash[0]!r} and {filt!r} would both be written to {target}")
        if target.exists() and not _is_combined_output(target):
            raise ValueError(
                f"{target} exists and is not a combined flat (no COMBINED = True); "
                "refusing to overwrite it"
            )
        targets[filt] = target

    written = {}
    for filt, target in targets.items():
        combined, n_used = combine_flats(groups[filt], return_counts=True, **options)
        counts = fits.ImageHDU(n_used, name="NUSED")
        counts.header["COMMENT"] = "Number of frames that survived rejection at each pixel"
        try:
            _write_atomically(combined, target, extra_hdus=[counts])
        except OSError as err:
            raise ValueError(f"cannot write {target}: {err}") from err
        written[filt] = target
    return written
