"""The machinery behind `convenience_functions`: not part of the course's public interface.

`convenience_functions` holds what a student reads (each public function as its steps);
this module holds what those steps stand on, in the order `combine_flats` uses it:

- `write_atomically`: the one way both course modules write a file;
- `Frame`, `open_frames`, `check_frames`: the input frames (FITS files of any compression,
  or `CCDData`), read in blocks of rows, and the checks that they can be combined;
- `parse_clip`: the ``cenfunc`` and ``stdfunc`` strings turned into functions once (as
  astropy's ``sigma_clipping`` does with ``_parse_cenfunc``);
- `plan_memory`: how many rows and threads fit in ``mem_limit``;
- `map_frames`, `noise_model`: each frame read whole once, for its level;
- `combine_block`, `combine_rows`: the centre, expected spread, rejection and average of
  each pixel's scaled values, block of rows by block of rows;
- `block_median`: the exact median of an image visited block by block;
- `flat_header`, `flats_by_filter`: the header of a combined flat, and the flats of a
  folder grouped by FILTER.

Nothing here imports `convenience_functions` or `example_data`; they import this.
"""

from __future__ import annotations

import bz2
import gzip
import math
import os
import re
import sys
import tempfile
import textwrap
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import NamedTuple

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData, StdDevUncertainty
from scipy.special import gammaincinv

# --------------------------------------------------------------------------------------
# Writing files
# --------------------------------------------------------------------------------------

# A temporary file is hidden, names its target and carries 12 random hex digits:
# ".combined_flat_filter_gp.fit.0123456789ab.tmp".  Only names of exactly this form are
# ever deleted by `remove_stale_temporaries`.
_TEMPORARY_FORM = r"\.{name}\.[0-9a-f]{{12}}\.tmp"


def _temporary_name(path):
    """Return a new hidden temporary path beside ``path``."""
    return path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp"


def remove_stale_temporaries(path):
    """Delete temporary files that an interrupted write of ``path`` left behind.

    Only hidden files named like the temporaries of `write_atomically` for this very
    ``path`` are removed; no other file is touched.

    Parameters
    ----------
    path : str or os.PathLike
        The file that is about to be written.

    Returns
    -------
    list of pathlib.Path
        The files removed.
    """
    path = Path(path)
    form = re.compile(_TEMPORARY_FORM.format(name=re.escape(path.name)))
    removed = []
    try:
        candidates = list(path.parent.iterdir())
    except OSError:
        return removed
    for candidate in candidates:
        if form.fullmatch(candidate.name) and candidate.is_file():
            try:
                candidate.unlink()
            except OSError:
                continue
            removed.append(candidate)
    return removed


def write_atomically(path, hdus, *, checksum=False):
    """Write an HDU list to ``path`` through a temporary file, an fsync and a rename.

    A reader never sees a half-written file: the data go to a hidden temporary file
    beside ``path`` (removed on any error), are flushed to disk, and the temporary file
    is then renamed onto ``path``, replacing any file of that name.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    hdus : astropy.io.fits.HDUList
        What to write.
    checksum : bool, optional
        Add the FITS CHECKSUM and DATASUM keywords, so that damage can be detected later.

    Raises
    ------
    OSError
        Of the same class as the error of the file system (``PermissionError``, a full
        disk's ``OSError`` with errno ENOSPC, ...), with a message that names ``path``.
    """
    path = Path(path)
    temporary = _temporary_name(path)
    try:
        # Written by name (not through a file descriptor) so that astropy can name the
        # file in its own messages and check the free space of its folder.
        hdus.writeto(temporary, checksum=checksum)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException as err:
        try:
            temporary.unlink()
        except OSError:
            pass
        if isinstance(err, OSError):
            message = f"cannot write {path}: {err.strerror or err}"
            code = err.errno
            cause = err.__cause__ or err.__context__
            while code is None and isinstance(cause, BaseException):  # astropy re-raises
                code = getattr(cause, "errno", None)  # a full disk without the errno
                cause = cause.__cause__ or cause.__context__
            try:
                named = type(err)(code, message, str(path))
            except Exception:  # a subclass with another signature
                named = OSError(code, message, str(path))
            raise named from err
        raise


def fits_text(value):
    """Return ``value`` as printable ASCII for a FITS header (other characters escaped)."""
    text = str(value).encode("ascii", "backslashreplace").decode("ascii")
    return "".join(c if " " <= c <= "~" else "?" for c in text)


def hdu_list(data, header):
    """Return a one-HDU list holding ``data`` with ``header`` (for `write_atomically`)."""
    return fits.HDUList([fits.PrimaryHDU(data=data, header=header)])


# --------------------------------------------------------------------------------------
# Pixel values of in-memory images
# --------------------------------------------------------------------------------------


def as_float_array(data):
    """Return the pixel values of an ndarray, Quantity or CCDData as a float ndarray.

    Masked pixels (of a CCDData or a masked array) become NaN.  The result may share
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


def unit_of(data):
    """Return the unit of a CCDData or Quantity, or None."""
    if isinstance(data, (CCDData, u.Quantity)):
        return data.unit
    return None


def reduce_for_display(values, factor):
    """Block-average ``values`` by ``factor`` ignoring NaN; pad the edges with NaN."""
    if factor == 1:
        return np.asarray(values, dtype=np.float32)
    ny, nx = values.shape
    py, px = -ny % factor, -nx % factor
    has_nan = bool(np.isnan(values).any())
    if py or px:
        padded = np.full((ny + py, nx + px), np.nan, dtype=np.float32)
        padded[:ny, :nx] = values
        values, has_nan = padded, True
    blocks = values.reshape(values.shape[0] // factor, factor, values.shape[1] // factor, factor)
    if not has_nan:
        return blocks.mean(axis=(1, 3), dtype=np.float32)
    finite = np.isfinite(blocks)
    total = np.where(finite, blocks, 0).sum(axis=(1, 3), dtype=np.float32)
    count = finite.sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan).astype(np.float32)


def fit_plane(image, step=8):
    """Return the plane ``a + b x + c y`` that best fits the finite pixels of ``image``.

    Fitted by least squares to every ``step``-th row and column (outliers barely matter to
    a fit of three numbers over so many pixels); returned at full size, float32.
    """
    ny, nx = image.shape
    y, x = np.mgrid[0:ny:step, 0:nx:step]
    sample = image[::step, ::step]
    good = np.isfinite(sample)
    design = np.column_stack([np.ones(good.sum()), x[good], y[good]])
    (a, b, c), *_ = np.linalg.lstsq(design, sample[good].astype(np.float64), rcond=None)
    rows = (a + c * np.arange(ny, dtype=np.float64))[:, np.newaxis]
    return (rows + b * np.arange(nx, dtype=np.float64)[np.newaxis, :]).astype(np.float32)


def ideal_noise(truth, levels, gain, read_noise):
    """Return the noise of a perfect combined flat at each pixel (relative to a level of 1).

    Frame i's scaled value at a pixel of response t has variance (t L_i / g + (r / g)**2)
    / L_i**2; the mean of N frames has the sum of those over N**2.
    """
    response = np.maximum(truth, 0)
    variance = sum((response * lv / gain + (read_noise / gain) ** 2) / lv**2 for lv in levels)
    return np.sqrt(variance) / len(levels)


def no_outlier(frames, truth, levels, gain, read_noise, threshold):
    """Return where no frame deviates from ``truth`` by more than ``threshold`` of its noise."""
    response = np.maximum(truth, 0)
    clean = np.ones(truth.shape, dtype=bool)
    for frame, level in zip(frames, levels, strict=True):
        noise = np.sqrt(response * level / gain + (read_noise / gain) ** 2)
        deviation = np.abs(as_float_array(read_image(frame)[0]) - truth * level)
        clean &= deviation <= threshold * noise
    return clean


def parse_stretch(name):
    """Return the `astropy.visualization` stretch class called ``name``, else ValueError."""
    from astropy import visualization as vis

    stretches = {
        "linear": vis.LinearStretch,
        "sqrt": vis.SqrtStretch,
        "log": vis.LogStretch,
        "asinh": vis.AsinhStretch,
    }
    if name not in stretches:
        raise ValueError(f"unknown stretch {name!r}; choose one of {', '.join(stretches)}")
    return stretches[name]


def parse_percentiles(percentiles):
    """Return ``(low, high)`` with ``0 <= low < high <= 100``, else raise ValueError."""
    try:
        low, high = (float(p) for p in percentiles)
    except (TypeError, ValueError) as err:
        message = f"percentiles must be two numbers (low, high), got {percentiles!r}"
        raise ValueError(message) from err
    if not (0 <= low < high <= 100):
        raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {percentiles!r}")
    return low, high


def values_name_unit(image, index):
    """Return the pixel values, a name and the unit (or None) of a file, CCDData or array."""
    if isinstance(image, (str, os.PathLike)):
        data, header = read_image(image)
        return as_float_array(data), Path(image).name, header.get("BUNIT")
    meta = getattr(image, "meta", None) or {}
    return as_float_array(image), str(meta.get("FILENAME") or f"frame {index}"), unit_of(image)


def block_median(image, block_rows, step=16):
    """Exact median of the finite values of an image, visited in blocks of rows.

    Memory stays at a few blocks plus ``1/step`` of the image: a first pass counts the
    finite values and keeps every ``step``-th one; a bracket around the median of that
    sample is then refined by a second pass that counts the values below the bracket and
    keeps those inside it.  If the median falls outside the bracket (possible only for
    unusual images), the bracket is widened to that side and the second pass repeated.

    Parameters
    ----------
    image : numpy.ndarray
        A 2-D float image.
    block_rows : int
        Rows per block (at least 1).
    step : int, optional
        Sampling step of the first pass.

    Returns
    -------
    float
        The median, or NaN when no value is finite.
    """
    ny = image.shape[0]
    blocks = [image[start : start + block_rows] for start in range(0, ny, block_rows)]
    n_finite, samples = 0, []
    for block in blocks:
        finite = block[np.isfinite(block)]
        n_finite += finite.size
        samples.append(finite[::step].copy())
        del finite
    if n_finite == 0:
        return math.nan
    sample = np.concatenate(samples)
    del samples
    k_lo, k_hi = (n_finite - 1) // 2, n_finite // 2
    margin = max(64, sample.size // 50)
    ranks = (max(0, sample.size // 2 - margin), min(sample.size - 1, sample.size // 2 + margin))
    sample.partition(ranks)
    low, high = float(sample[ranks[0]]), float(sample[ranks[1]])
    del sample
    while True:
        below, inside = 0, []
        for block in blocks:
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


# --------------------------------------------------------------------------------------
# Input frames
# --------------------------------------------------------------------------------------

_RAW_FLOAT_DTYPES = {-32: np.dtype(">f4"), -64: np.dtype(">f8")}
# Whole-file compressions that astropy reads transparently: the first bytes tell them.
_COMPRESSED = ((b"\x1f\x8b", gzip.open), (b"BZh", bz2.open))
_BLOCK_PIXELS = 1 << 18  # pixels per read when a conversion buffer is needed


def as_image_list(images):
    """Turn the ``images`` argument into a list (a lone path or CCDData is one image)."""
    if isinstance(images, (str, os.PathLike)) and os.path.isdir(images):
        raise ValueError(
            f"{os.fspath(images)} is a folder: pass the frames' file names, for example "
            "ImageFileCollection(folder).files_filtered(..., include_path=True)"
        )
    if isinstance(images, (str, os.PathLike, CCDData, np.ndarray)):
        return [images]
    if not isinstance(images, Iterable):
        raise TypeError(f"images must be a sequence of file paths or CCDData, got {images!r}")
    return list(images)


def first_image_hdu(hdul):
    """Return ``(index, hdu)`` of the first HDU of ``hdul`` holding an image of 2 or more axes."""
    for index, hdu in enumerate(hdul):
        if hdu.is_image and len(hdu.shape) >= 2:
            return index, hdu
    raise ValueError("it contains no image")


def read_image(path):
    """Return ``(data, header)`` of the first image HDU of a FITS file (any compression).

    Raises
    ------
    ValueError
        If the file is not FITS, has no 2-D image or is truncated; the message names it.
    OSError
        If the file cannot be opened (missing, not readable).
    """
    try:
        with fits.open(path, memmap=False) as hdul:
            _, hdu = first_image_hdu(hdul)
            if len(hdu.shape) != 2:
                raise ValueError(f"expected a 2-D image, got shape {hdu.shape}")
            return np.asarray(hdu.data), hdu.header.copy()
    except (OSError, ValueError, TypeError) as err:
        if isinstance(err, (FileNotFoundError, PermissionError, IsADirectoryError)):
            raise
        raise ValueError(f"cannot read {path} as a FITS image: {err}") from err


def _compression_opener(path):
    """Return gzip.open or bz2.open if the file is compressed that way, else None."""
    with open(path, "rb") as handle:
        start = handle.read(3)
    for magic, opener in _COMPRESSED:
        if start.startswith(magic):
            return opener
    return None


# Spellings of BUNIT that cameras write but astropy does not parse (compared without case).
_UNIT_ALIASES = {
    **dict.fromkeys(("adu", "adus", "dn", "count", "counts"), u.adu),
    **dict.fromkeys(("e", "e-", "electron", "electrons"), u.electron),
}


def unit_from_header(header, label):
    """Return the unit of BUNIT in ``header`` (adu when missing), naming ``label`` if bad."""
    text = str(header.get("BUNIT", "")).strip()
    if not text:
        return u.adu
    if text.casefold() in _UNIT_ALIASES:
        return _UNIT_ALIASES[text.casefold()]
    try:
        return u.Unit(text)
    except ValueError as err:
        raise ValueError(f"{label}: BUNIT {text!r} is not a unit astropy knows") from err


class Frame:
    """One frame to combine: its name, shape and header, and a reader of row blocks.

    Files are read with explicit reads (never a memory map, whose pages would count as
    resident memory).  An uncompressed float image without scaling is read straight
    from its place in the file; any other image (integers, BZERO, tile compression)
    goes through astropy's ``section``, which reads only the rows asked for.  A file
    compressed as a whole (gzip, bzip2) is first expanded into a temporary file, which
    ``stack`` (a `contextlib.ExitStack`) removes when the combination is over.
    """

    def __init__(self, item, index, stack):
        self.index = index
        if isinstance(item, CCDData):
            self.path, self.ccd = None, item
            self.header = item.meta if item.meta is not None else {}
            self.name = str(self.header.get("FILENAME") or f"ccddata[{index}]")
            self.label = self.name
            if item.data is None or np.ndim(item.data) != 2:
                raise ValueError(f"{self.label}: expected a 2-D image, got {np.shape(item.data)}")
            self.shape = tuple(item.data.shape)
            self.unit = item.unit if item.unit is not None else u.adu
            return
        if not isinstance(item, (str, os.PathLike)):
            raise TypeError(
                f"images must be file paths or CCDData, got {type(item).__name__} at "
                f"position {index}"
            )
        self.ccd = None
        self.path = self.source = Path(item)
        self.name, self.label = self.path.name, str(self.path)
        opener = _compression_opener(self.path)
        if opener is not None:
            self.source = stack.enter_context(_expanded(self.path, opener))
        try:
            self._describe()
        except (OSError, ValueError, TypeError) as err:
            raise ValueError(f"cannot read {self.path} as a FITS image: {err}") from err
        self.unit = unit_from_header(self.header, self.label)

    def _describe(self):
        """Read the header of the first image HDU: shape, header, where the data are."""
        # astropy warns (rather than fails) about a truncated file: make that an error.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with fits.open(self.source, memmap=False, lazy_load_hdus=True) as hdul:
                self.hdu_index, hdu = first_image_hdu(hdul)
                if len(hdu.shape) != 2:
                    raise ValueError(f"expected a 2-D image, got shape {hdu.shape}")
                self.shape = tuple(int(n) for n in hdu.shape)
                self.header = hdu.header.copy()
                raw = _RAW_FLOAT_DTYPES.get(self.header.get("BITPIX"))
                plain = (
                    type(hdu) in (fits.PrimaryHDU, fits.ImageHDU)
                    and self.header.get("BSCALE", 1) == 1
                    and self.header.get("BZERO", 0) == 0
                )
                self.raw_dtype = raw if (raw is not None and plain) else None
                self.offset = int(hdu.fileinfo()["datLoc"]) if self.raw_dtype else None
        for warning in caught:
            if "truncated" in str(warning.message):
                raise ValueError(str(warning.message))
        for warning in caught:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
        if self.raw_dtype is not None:
            size = self.source.stat().st_size
            needed = self.offset + math.prod(self.shape) * self.raw_dtype.itemsize
            if size < needed:
                raise ValueError(f"the file is truncated ({size} bytes, the image needs {needed})")

    def read_rows(self, start, stop, out):
        """Fill ``out`` (float, C-contiguous, shape ``(stop - start, nx)``) with rows.

        Masked CCDData pixels become NaN.  Raises ValueError naming the file if it
        cannot be read.
        """
        if self.ccd is not None:
            out[...] = self.ccd.data[start:stop]
            if self.ccd.mask is not None:
                mask = np.asarray(self.ccd.mask)[start:stop]
                if mask.any():
                    out[mask] = np.nan
            return
        try:
            if self.raw_dtype is not None:
                self._read_raw(start, stop, out)
            else:
                with fits.open(self.source, memmap=False, lazy_load_hdus=True) as hdul:
                    out[...] = hdul[self.hdu_index].section[start:stop, :]
        except (OSError, ValueError) as err:
            raise ValueError(f"cannot read rows {start}:{stop} of {self.path}: {err}") from err

    def _read_raw(self, start, stop, out):
        """Read rows of an uncompressed, unscaled float image straight from the file."""
        nx = self.shape[1]
        same = self.raw_dtype.itemsize == out.dtype.itemsize
        step = stop - start if same else max(1, _BLOCK_PIXELS // nx)
        with open(self.source, "rb") as handle:
            handle.seek(self.offset + start * nx * self.raw_dtype.itemsize)
            for first in range(0, stop - start, step):
                rows = out[first : first + step]
                target = rows if same else np.empty(rows.shape, self.raw_dtype.newbyteorder("="))
                got = handle.readinto(memoryview(target).cast("B"))
                if got != target.nbytes:
                    raise ValueError(f"short read ({got} of {target.nbytes} bytes)")
                if sys.byteorder == "little":
                    target.byteswap(inplace=True)  # FITS is big-endian
                if target is not rows:
                    rows[...] = target


class _expanded:
    """Context manager: a temporary, uncompressed copy of a compressed FITS file."""

    def __init__(self, path, opener):
        self.path, self.opener = path, opener

    def __enter__(self):
        handle, name = tempfile.mkstemp(suffix=".fits", prefix="flat-")
        self.copy = Path(name)
        try:
            with os.fdopen(handle, "wb") as output, self.opener(self.path, "rb") as source:
                while chunk := self._read(source):
                    output.write(chunk)
        except BaseException as err:  # an interrupt too: the copy must not stay behind
            self.copy.unlink(missing_ok=True)
            if isinstance(err, OSError):  # writing or closing the copy: the folder is full
                message = (
                    f"cannot expand {self.path} into {self.copy.parent}: {err.strerror or err}"
                )
                raise OSError(err.errno, message, str(self.path)) from err
            raise
        return self.copy

    def _read(self, source):
        """Return the next chunk of the compressed input; a ValueError naming it if damaged."""
        try:
            return source.read(1 << 20)
        except (OSError, EOFError) as err:
            raise ValueError(f"cannot expand the compressed file {self.path}: {err}") from err

    def __exit__(self, *exc):
        self.copy.unlink(missing_ok=True)


def open_frames(images, stack):
    """Return a `Frame` for each item of ``images`` (paths or CCDData)."""
    return [Frame(item, index, stack) for index, item in enumerate(as_image_list(images))]


def check_frames(frames, clip):
    """Check that the frames can be combined with ``clip``; warn about suspicious input.

    Raises ValueError (no frame, too few to clip, shapes or FILTER values differ) and
    warns (`UserWarning`) when a file is given twice, IMAGETYP differs between frames,
    or the units differ.
    """
    if not frames:
        raise ValueError("combine_flats: no image given")
    labels = ", ".join(f.label for f in frames)
    if clip.rejects and len(frames) < 3:
        raise ValueError(
            f"combine_flats: rejection needs at least 3 frames, got {len(frames)} ({labels}); "
            "pass sigma_lower=None, sigma_upper=None to average without rejection"
        )
    if len(frames) > np.iinfo(np.uint16).max:
        raise ValueError(f"combine_flats: at most 65535 frames, got {len(frames)}")
    for frame in frames[1:]:
        if frame.shape != frames[0].shape:
            raise ValueError(
                f"combine_flats: {frame.label} has shape {frame.shape}, but "
                f"{frames[0].label} has shape {frames[0].shape}"
            )

    def values(key):  # FILTER names are compared as written, IMAGETYP without case
        return {str(f.header.get(key, "")).strip() for f in frames}

    raw_filters = {raw_header_value(f.path, "FILTER") for f in frames if f.path is not None}
    if len(values("FILTER")) > 1 or len(raw_filters - {None}) > 1:
        detail = "; ".join(f"{f.label}: {f.header.get('FILTER')!r}" for f in frames)
        raise ValueError(
            f"combine_flats: the frames have different FILTER values ({detail}); combine "
            "one filter at a time"
        )
    paths = [f.path.resolve() for f in frames if f.path is not None]
    twice = sorted({str(p) for p in paths if paths.count(p) > 1})
    if twice:
        warnings.warn(
            f"combine_flats: the same file is given more than once: {twice}", stacklevel=3
        )
    if len({value.casefold() for value in values("IMAGETYP")}) > 1:
        detail = ", ".join(f"{f.name}: {f.header.get('IMAGETYP')!r}" for f in frames)
        warnings.warn(f"combine_flats: the frames have different IMAGETYP ({detail})", stacklevel=3)
    units = {f.unit for f in frames}
    if len(units) > 1:
        warnings.warn(
            f"combine_flats: the frames are in different units ({', '.join(map(str, units))}); "
            "scaling by the median makes them comparable, but check the calibration",
            stacklevel=3,
        )


def map_frames(function, frames, plan, dtype, *, with_frame=False):
    """Read each frame whole and return ``[function(data) for each frame]``.

    With ``with_frame=True`` the call is ``function(data, frame)``.  ``data`` is a
    buffer of the frame's own, which ``function`` may modify.  ``plan.frame_workers``
    frames are read at a time.  A ValueError from ``function`` is raised again naming
    the frame.
    """

    def one(frame):
        data = np.empty(frame.shape, dtype=dtype)
        step = max(1, _BLOCK_PIXELS // frame.shape[1])  # bounded temporaries when reading
        for start in range(0, frame.shape[0], step):
            frame.read_rows(start, min(start + step, frame.shape[0]), data[start : start + step])
        try:
            return function(data, frame) if with_frame else function(data)
        except ValueError as err:
            raise ValueError(f"{frame.label}: {err}") from err

    if plan.frame_workers == 1:  # in this thread, whose freed memory the outputs reuse
        return [one(frame) for frame in frames]
    with ThreadPoolExecutor(plan.frame_workers) as pool:
        return list(pool.map(one, frames))


# --------------------------------------------------------------------------------------
# Options, parsed once
# --------------------------------------------------------------------------------------

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


def _number(value, name, *, allow_none=False, minimum=None, strict=False):
    """Return ``value`` as a finite float, with a TypeError/ValueError naming ``name``."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    below = minimum is not None and (value <= minimum if strict else value < minimum)
    if not math.isfinite(value) or below:
        relation = ">" if strict else ">="
        raise ValueError(f"{name} must be a finite number {relation} {minimum}, got {value!r}")
    return value


def parse_clip(sigma_lower, sigma_upper, cenfunc, stdfunc, sensitivity_noise):
    """Check the rejection options and turn them into a `Clip`."""
    sigma_lower = _number(sigma_lower, "sigma_lower", allow_none=True, minimum=0, strict=True)
    sigma_upper = _number(sigma_upper, "sigma_upper", allow_none=True, minimum=0, strict=True)
    if cenfunc not in CENFUNCS:
        raise ValueError(f"cenfunc must be one of {CENFUNCS}, got {cenfunc!r}")
    if stdfunc not in STDFUNCS:
        raise ValueError(f"stdfunc must be one of {STDFUNCS}, got {stdfunc!r}")
    sensitivity_noise = _number(sensitivity_noise, "sensitivity_noise", minimum=0)
    center = _center_median if cenfunc == "median" else _center_mean
    spread = {
        "mad_std": _spread_mad_std,
        "std": _spread_std,
        "ccdclip": _spread_ccdclip,
        "avsigclip": _spread_avsigclip,
    }[stdfunc]
    return Clip(sigma_lower, sigma_upper, cenfunc, stdfunc, sensitivity_noise, center, spread)


def parse_dtype(dtype):
    """Return ``dtype`` as numpy float32 or float64, else raise ValueError."""
    try:
        dtype = np.dtype(dtype)
    except TypeError as err:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}") from err
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def _quantity_value(value, unit, name):
    """Return ``value`` (a number or an astropy Quantity) as a float in ``unit``."""
    if isinstance(value, u.Quantity):
        try:
            return float(value.to_value(unit))
        except u.UnitConversionError as err:
            raise ValueError(f"{name} must be in {unit}, got {value.unit}") from err
    return value


def noise_model(frames, levels, clip, *, gain, read_noise):
    """Return the `NoiseModel` of the frames for ``clip`` (None for MAD and std).

    For ``ccdclip`` the gain (e-/ADU) and read noise (e-) come from the arguments when
    given, else from each frame's GAIN and RDNOISE keywords; frames in electrons have a
    gain of 1.
    """
    if clip.stdfunc != "ccdclip" and (
        gain is not None or read_noise is not None or clip.sensitivity_noise
    ):
        raise ValueError(
            "gain, read_noise and sensitivity_noise are used by stdfunc='ccdclip' only, "
            f"not by stdfunc={clip.stdfunc!r}"
        )
    if gain is not None:  # the arguments, checked under their own names
        gain = _number(
            _quantity_value(gain, u.electron / u.adu, "gain"), "gain", minimum=0, strict=True
        )
    if read_noise is not None:
        read_noise = _number(
            _quantity_value(read_noise, u.electron, "read_noise"), "read_noise", minimum=0
        )
    if clip.stdfunc not in NOISE_MODELS:
        return None
    levels = np.asarray(levels, dtype=np.float64)
    if clip.stdfunc == "avsigclip":
        return NoiseModel(levels)
    gains, noises = [], []
    for frame in frames:
        electrons = frame.unit == u.electron
        if electrons and gain is not None:
            raise ValueError(f"{frame.label} is in electrons: a gain does not apply to it")
        given = {
            "GAIN": 1.0 if electrons else _quantity_value(gain, u.electron / u.adu, "gain"),
            "RDNOISE": _quantity_value(read_noise, u.electron, "read_noise"),
        }
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
                value = _number(value, f"{key} of {frame.label}", minimum=0, strict=key == "GAIN")
            except TypeError as err:
                raise ValueError(str(err)) from err
            (gains if key == "GAIN" else noises).append(value)
    return NoiseModel(levels, np.array(gains), np.array(noises), clip.sensitivity_noise)


# --------------------------------------------------------------------------------------
# The per-block kernel
# --------------------------------------------------------------------------------------


class Block:
    """One block of rows of every frame, scaled, with its scratch buffers.

    ``values`` holds the scaled values (shape ``(n_frames, rows, nx)``, NaN where not
    finite); ``scratch`` is a buffer of the same shape and ``keep`` a boolean one.
    """

    def __init__(self, values, scratch, keep):
        self.values, self.scratch, self.keep = values, scratch, keep
        self.sorted = False  # True while scratch holds the values sorted along axis 0
        # A NaN or inf anywhere makes the sum non-finite (so does overflow, harmlessly).
        self.any_bad = not np.isfinite(values.sum(axis=0)).all()
        if self.any_bad:
            finite = np.isfinite(values, out=keep)
            self.n_finite = finite.sum(axis=0, dtype=np.uint16)
            np.copyto(values, np.nan, where=np.logical_not(finite, out=finite))  # inf -> NaN
        else:
            self.n_finite = values.shape[0]

    def sort(self):
        """Put the values, sorted along the frames (NaN last), into ``scratch``."""
        if not self.sorted:
            self.scratch[...] = self.values
            self.scratch.sort(axis=0)
            self.sorted = True
        return self.scratch

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


def _sorted_median(ordered, n_finite):
    """Median along axis 0 of values sorted along axis 0 with NaN last (NaN if none)."""
    if np.isscalar(n_finite):
        return 0.5 * (ordered[(n_finite - 1) // 2] + ordered[n_finite // 2])
    count = n_finite.astype(np.intp)
    lo = np.maximum((count - 1) // 2, 0)[np.newaxis]
    hi = (count // 2)[np.newaxis]
    return 0.5 * (
        np.take_along_axis(ordered, lo, axis=0)[0] + np.take_along_axis(ordered, hi, axis=0)[0]
    )


def _center_median(block):
    return _sorted_median(block.sort(), block.n_finite)


def _center_mean(block):
    return block.mean_and_std(False)[0]


def _spread_mad_std(block, center, model):
    """Return astropy's ``mad_std`` of each pixel's values (about their median)."""
    ordered = block.sort()
    ordered -= _sorted_median(ordered, block.n_finite)
    np.abs(ordered, out=ordered)
    ordered.sort(axis=0)
    block.sorted = False
    return _sorted_median(ordered, block.n_finite) * MAD_TO_STD, math.nan


def _spread_std(block, center, model):
    """Return the population standard deviation of each pixel's values."""
    return block.mean_and_std(True)[1], math.nan


def _poisson_variance(block, center, model, gain, read_noise):
    """Per-sample variance of the scaled values from the CCD noise model, in ``scratch``.

    In ADU, frame i's value at a pixel of true scaled level c is c L_i, with variance
    c L_i / g + (r / g)**2 + (s c L_i)**2; divided by L_i**2 for the scaled value.
    """
    level = np.maximum(center, 0)
    variance = block.scratch
    block.sorted = False
    for i, frame_level in enumerate(model.levels):
        np.multiply(level, 1.0 / (gain[i] * frame_level), out=variance[i])
        variance[i] += (read_noise[i] / (gain[i] * frame_level)) ** 2
        if model.sensitivity_noise:
            variance[i] += (model.sensitivity_noise * level) ** 2
    return variance


def _spread_ccdclip(block, center, model):
    variance = _poisson_variance(block, center, model, model.gain, model.read_noise)
    return np.sqrt(variance, out=variance), math.nan


def _chi2_median(dof):
    """Return the median of the chi-square distribution with ``dof`` degrees of freedom."""
    return 2.0 * gammaincinv(dof / 2.0, 0.5)


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
    values, levels = block.values, model.levels
    weights = levels.astype(values.dtype)
    deviation = block.scratch  # free once the centre is known
    block.sorted = False
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
    sample = per_pixel[usable]
    # A regular subsample of at most 2**16 pixels gives the median to a fraction of a per cent.
    sample = sample[:: max(1, sample.size >> 16)]
    scale = float(np.median(sample)) if sample.size else math.nan
    if not scale > 0:  # no usable pixel, or noiseless data: reject nothing
        block.scratch[...] = np.inf
        block.sorted = False
        return block.scratch, math.nan
    count = len(levels)
    variance = _poisson_variance(block, center, model, np.full(count, 1.0 / scale), np.zeros(count))
    return np.sqrt(variance, out=variance), scale


class BlockResult(NamedTuple):
    """What `combine_block` returns for one block of rows."""

    mean: np.ndarray
    uncertainty: np.ndarray
    n_used: np.ndarray
    n_rejected: int
    noise_scale: float  # avsigclip's measured k (inverse gain, ADU/e-); NaN otherwise


def _within(deviation, spread, clip, out):
    """Set ``out`` True where ``deviation`` lies within the thresholds (NaN: False)."""
    lower, upper = clip.sigma_lower, clip.sigma_upper
    if lower == upper:
        np.less_equal(np.abs(deviation), upper * spread, out=out)
    elif lower is None:
        np.less_equal(deviation, upper * spread, out=out)
    else:
        np.greater_equal(deviation, -lower * spread, out=out)
        if upper is not None:
            out &= deviation <= upper * spread


def combine_block(block, clip, model):
    """Clip and average one `Block`: the heart of `combine_flats`.

    The centre of each pixel's scaled values is found, each value's expected spread
    estimated (from the values themselves for MAD and std, from the noise model
    otherwise), values more than ``sigma_lower`` spreads below or ``sigma_upper`` spreads
    above the centre rejected, and the survivors averaged.  With a noise model, a pixel
    whose values would all be rejected (possible where the centre is near zero) keeps
    them all.
    """
    values, keep = block.values, block.keep
    center = clip.center(block)
    spread, scale = None, math.nan
    if clip.rejects or clip.stdfunc in NOISE_MODELS:
        spread, scale = clip.spread(block, center, model)
    values -= center
    if not clip.rejects:
        np.isfinite(values, out=keep)
    else:  # frame by frame, so that the temporary arrays are one frame's block
        for i, deviation in enumerate(values):
            frame_spread = spread if spread.ndim == 2 else spread[i]
            _within(deviation, frame_spread, clip, keep[i])
        none_left = ~keep.any(axis=0) if clip.stdfunc in NOISE_MODELS else None
        if none_left is not None and none_left.any():  # IRAF's nkeep: keep some value
            for i, deviation in enumerate(values):
                keep[i] |= none_left & np.isfinite(deviation)
    n_used = keep.sum(axis=0, dtype=np.uint16)
    for i, kept in enumerate(keep):
        np.copyto(values[i], 0, where=~kept)  # rejected and NaN values count as 0
    n_rejected = int(np.sum(block.n_finite - n_used.astype(np.int64)))

    # Sums in float64 (cheap next to the sorts), about the centre, for a precise variance.
    sum1 = values.sum(axis=0, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        count = n_used.astype(np.float64)
        mean = (center + sum1 / count).astype(values.dtype)
        if clip.stdfunc in NOISE_MODELS:  # the model's variance of the mean of the survivors
            total = np.zeros(count.shape)
            for kept, frame_spread in zip(keep, spread, strict=True):
                total += np.where(kept, frame_spread.astype(np.float64) ** 2, 0)
            uncertainty = np.sqrt(total) / count
        else:  # the survivors' sample standard deviation over sqrt(n)
            sum2 = np.einsum("ijk,ijk->jk", values, values, dtype=np.float64)
            spread = np.maximum((sum2 - sum1 * sum1 / count) / (count - 1), 0)
            uncertainty = np.sqrt(spread / count)
            uncertainty[n_used <= 1] = np.nan
    mean[n_used == 0] = np.nan
    uncertainty = uncertainty.astype(values.dtype)
    uncertainty[n_used == 0] = np.nan
    return BlockResult(mean, uncertainty, n_used, n_rejected, scale)


# --------------------------------------------------------------------------------------
# Memory plan and the pass over blocks of rows
# --------------------------------------------------------------------------------------

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


def parse_mem_limit(mem_limit):
    """Return ``mem_limit`` as a positive float number of bytes, else raise."""
    return _number(mem_limit, "mem_limit", minimum=0, strict=True)


def plan_memory(shape, n_frames, dtype, mem_limit):
    """Plan the work of `combine_flats` within ``mem_limit`` bytes.

    The median pass holds one whole frame per worker (with a mask and a copy of its
    finite values); the combining pass holds the outputs (data, uncertainty, mask,
    counts) and, per worker, three buffers of ``n_frames`` row blocks.
    """
    ny, nx = shape
    pixels, item = ny * nx, dtype.itemsize
    outputs = pixels * (2 * item + 1 + 2)
    frame = pixels * (2 * item + 1) + min(pixels, _BLOCK_PIXELS) * 8
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
    # Blocks of about a quarter million pixels per frame keep the sorts cache friendly,
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
            for frame, rows in zip(frames, values, strict=True):
                frame.read_rows(start, stop, rows)
            values *= scales
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


def frames_stack():
    """Return the `contextlib.ExitStack` that holds the temporary files of one call."""
    return ExitStack()


def raw_header_value(path, keyword):
    """Return the raw bytes of ``keyword``'s value in the primary header of a FITS file.

    astropy replaces characters that FITS does not allow (such as the alpha of
    ``H\u03b1``) by ``?`` when it reads a header; the raw bytes still tell them apart.
    The value is what stands between the quotes of a string card (else up to a ``/``),
    without the comment.  Returns None when the card is not in the primary header or the
    file cannot be read.
    """
    path = Path(path)
    key = keyword.upper().encode("ascii").ljust(8)
    try:
        opener = _compression_opener(path) or open
        with opener(path, "rb") as handle:
            while True:
                block = handle.read(2880)
                if len(block) < 2880:
                    return None
                for start in range(0, 2880, 80):
                    card = block[start : start + 80]
                    if card[:8] == key and card[8:10] == b"= ":
                        text = card[10:].strip()
                        if text.startswith(b"'"):
                            return text[1:].split(b"'")[0].rstrip()
                        return text.split(b"/")[0].strip()
                    if card[:8] == b"END     ":
                        return None
    except (OSError, EOFError):
        return None


# --------------------------------------------------------------------------------------
# Night-sky flats: sources found and masked, frame by frame
# --------------------------------------------------------------------------------------


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
    nsigma = _number(nsigma, "nsigma", minimum=0, strict=True)
    grow = _number(grow, "grow", minimum=0)
    grow_factor = _number(grow_factor, "grow_factor", minimum=0)
    smooth = _number(smooth, "smooth", minimum=0)
    saturation = _number(saturation, "saturation", allow_none=True, minimum=0, strict=True)
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


@contextmanager
def quiet_detection():
    """Silence the expected warnings of source detection, for this block of code.

    photutils warns when it finds no source (a valid answer: None), astropy's sigma
    clipping when the boxes of `Background2D` hold masked (NaN) pixels, which is what
    masks are for, and numpy when the clipping leaves a box without pixels to measure.
    The warning filters are the whole process's, and `warnings.catch_warnings` is not
    thread-safe: so they are set once, by the calling thread, around the work of all
    the worker threads, never inside a worker.  While the block runs, other threads of
    the process do not see these three warnings either.
    """
    from photutils.utils.exceptions import NoDetectionsWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoDetectionsWarning)
        warnings.filterwarnings("ignore", "Input data contains invalid values", UserWarning)
        # numpy, when a box's pixels are all masked (under a flat's NaN holes)
        warnings.filterwarnings("ignore", "Degrees of freedom <= 0", RuntimeWarning)
        yield


def _detect(image, threshold, n_pixels, mask):
    """Return `photutils.segmentation.detect_sources`' segments (None: nothing found)."""
    from photutils.segmentation import detect_sources

    # n_pixels by position: photutils 3 calls it n_pixels, earlier versions npixels
    return detect_sources(image, threshold, n_pixels, mask=mask)


def _noise_ratio(smoothed, original):
    """Return how much smoothing lowered the noise (1 for an image without noise)."""
    before = _mad_std(original)
    return _mad_std(smoothed) / before if before > 0 else 1.0


def _mad_std(values):
    """Return the MAD of ``values`` scaled to a Gaussian's standard deviation."""
    return MAD_TO_STD * float(np.median(np.abs(values - np.median(values))))


def _grow(mask, grow, factor):
    """Grow each source of ``mask`` by ``grow`` pixels plus ``factor`` times its radius.

    A source's radius is that of a disc of its area.  Every pixel takes the source
    nearest to it (a Euclidean distance transform), and is masked when it lies within
    that source's reach: a bright star or a large galaxy, whose faint outskirts extend
    far beyond what the threshold finds, gets a mask in proportion.
    """
    from scipy import ndimage

    labels, _ = ndimage.label(mask, structure=np.ones((3, 3), bool))
    radius = np.sqrt(np.bincount(labels.ravel()) / math.pi)
    distance, (rows, cols) = ndimage.distance_transform_edt(~mask, return_indices=True)
    reach = grow + factor * radius[labels[rows, cols]]
    return distance <= reach


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


# --------------------------------------------------------------------------------------
# The header of a combined flat, and the flats of a folder by filter
# --------------------------------------------------------------------------------------


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
    """Normalise a `Combined` to median 1 and return it as a dimensionless CCDData."""
    norm = block_median(result.data, plan.norm_rows)
    if not (math.isfinite(norm) and norm > 0):
        raise ValueError(f"{method}: the combined image has median {norm}; cannot normalise")
    data, uncertainty = result.data, result.uncertainty
    data /= dtype.type(norm)
    uncertainty /= dtype.type(norm)
    return CCDData(
        data,
        unit=u.dimensionless_unscaled,
        uncertainty=StdDevUncertainty(uncertainty, copy=False),
        mask=result.n_used == 0,
        meta=header,
        copy=False,
    )


def _selection_header(path):
    """Return IMAGETYP, FILTER and COMBINED of a file, from its first image HDU or primary.

    A tile-compressed file keeps its keywords in the extension that holds the image, where
    an `ImageFileCollection` reading the primary header does not look.  Returns None for a
    file that is not FITS; raises ValueError for a FITS file that cannot be read.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # non-ASCII cards: handled by raw_header_value
        try:
            hdul = fits.open(path, memmap=False, lazy_load_hdus=True)
            primary = hdul[0].header
        except (OSError, ValueError, TypeError, EOFError) as err:
            try:  # a FITS file that cannot be read cannot be left out silently
                with (_compression_opener(path) or open)(path, "rb") as handle:
                    is_fits = handle.read(6) == b"SIMPLE"
            except (OSError, EOFError):
                is_fits = False
            if is_fits:
                raise ValueError(f"cannot read {path} as a FITS image: {err}") from err
            return None  # not FITS at all
        try:  # a damaged file is kept, so that combining it names it in an error
            image = first_image_hdu(hdul)[1].header
        except (OSError, ValueError, TypeError, EOFError, IndexError):
            image = primary
        finally:
            hdul.close()
    return {key: image.get(key, primary.get(key)) for key in _SELECTION_KEYS}


_SELECTION_KEYS = ("IMAGETYP", "FILTER", "COMBINED")


def flats_by_filter(folder_or_collection, imagetyp):
    """Return ``(folder, {FILTER: [paths]})`` of the flats to combine in a folder.

    Every file of the folder (or of the collection) that astropy opens as FITS counts,
    whatever its extension or compression (``FLAT_001.FIT``, ``flat.fits.gz``); the
    keywords are read from each file's image header.
    """
    from ccdproc import ImageFileCollection

    if isinstance(folder_or_collection, ImageFileCollection):
        collection = folder_or_collection
        folder = Path(collection.location)
    else:
        folder = Path(folder_or_collection)
        if not folder.is_dir():
            raise ValueError(f"combine_flats_by_filter: {folder} is not a folder")
        collection = None
    if collection is not None:
        names = [str(name) for name in collection.files or []]
    else:  # hidden files (our own temporaries among them) are not frames
        names = [p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    wanted = imagetyp.strip().casefold()
    seen_types, seen_filters, groups = set(), set(), {}
    for name in sorted(names):
        path = folder / name
        header = _selection_header(path)
        if header is None or header["COMBINED"] is True:
            continue  # not readable as FITS, or an earlier combined flat
        typ, filt = header["IMAGETYP"], header["FILTER"]
        seen_types |= {str(typ)} if typ is not None else set()
        seen_filters |= {str(filt)} if filt is not None else set()
        if typ is None or str(typ).strip().casefold() != wanted or not str(filt or "").strip():
            continue
        groups.setdefault(str(filt).strip(), []).append(path)
    if not groups:
        raise ValueError(
            f"combine_flats_by_filter: no frame in {folder} has IMAGETYP {imagetyp!r} and "
            f"a FILTER; IMAGETYP values seen: {sorted(seen_types) or 'none'}; FILTER values "
            f"seen: {sorted(seen_filters) or 'none'}"
        )
    for filt, paths in groups.items():  # astropy reads characters FITS forbids as '?'
        raw = {raw_header_value(path, "FILTER") for path in paths} - {None}
        if "?" in filt and len(raw) > 1:
            raise ValueError(
                f"combine_flats_by_filter: FILTER values that differ only in characters FITS "
                f"does not allow all read as {filt!r} ({', '.join(sorted(map(str, raw)))}); "
                "rename the filters in plain ASCII"
            )
    return folder, groups


def is_combined_output(path):
    """Return True if ``path`` is a FITS file whose primary header has COMBINED = True."""
    try:
        return fits.getheader(path, 0).get("COMBINED") is True
    except (OSError, ValueError):
        return False
