"""The input frames: files (any compression) or CCDData, read in blocks of rows.

- `Chip`: one chip of a mosaic camera's file;
- `Frame`, `open_frames`, `frames_stack`: one frame's name, shape, header and a reader of
  row blocks, and the `contextlib.ExitStack` that removes expanded copies of gzip files
  (`remove_orphaned_copies` those a killed run left);
- `map_frames`: a function of each whole frame (its level, its sources), two at a time;
- `flats_by_filter`: the flats of a folder, grouped by FILTER; `fits_names` its FITS files
  whatever their names, `visible_files` its files that are not hidden.
"""

from __future__ import annotations

import math
import os
import queue
import sys
import tempfile
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import NamedTuple

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData

from .files import (
    MosaicFile,
    compression_opener,
    first_image_hdu,
    inherited_header,
    mosaic_error,
    process_tag,
    raw_header_value,
    remove_left_by_ended,
    the_image,
    unit_from_header,
)

_RAW_FLOAT_DTYPES = {-32: np.dtype(">f4"), -64: np.dtype(">f8")}


BLOCK_PIXELS = 1 << 18  # pixels per read when a conversion buffer is needed


class Chip(NamedTuple):
    """One chip of a mosaic camera's file: the file, and the chip's EXTNAME or HDU index."""

    path: str | os.PathLike
    chip: str | int


def as_image_list(images):
    """Turn the ``images`` argument into a list (a lone path or CCDData is one image)."""
    if isinstance(images, (str, os.PathLike)) and os.path.isdir(os.path.expanduser(images)):
        raise ValueError(
            f"{os.fspath(images)} is a folder: pass the frames' file names, for example "
            "ImageFileCollection(folder).files_filtered(..., include_path=True)"
        )
    if isinstance(images, (str, os.PathLike, CCDData, np.ndarray, Chip)):
        return [images]
    if not isinstance(images, Iterable):
        raise TypeError(f"images must be a sequence of file paths or CCDData, got {images!r}")
    return list(images)


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
        item, self.chip = item if isinstance(item, Chip) else (item, None)
        if not isinstance(item, (str, os.PathLike)):
            raise TypeError(
                f"images must be file paths or CCDData, got {type(item).__name__} at "
                f"position {index}"
            )
        self.ccd = None
        self.path = self.source = Path(item).expanduser()
        self.name, self.label = self.path.name, str(self.path)
        if self.chip is not None:
            self.name, self.label = f"{self.name}[{self.chip}]", f"{self.label}[{self.chip}]"
        opener = compression_opener(self.path)
        if opener is not None:
            self.source = stack.enter_context(_expanded(self.path, opener))
        try:
            self._describe()
        except MosaicFile:
            raise
        except (OSError, ValueError, TypeError) as err:
            raise ValueError(f"cannot read {self.label} as a FITS image: {err}") from err
        self.unit = unit_from_header(self.header, self.label)

    def _describe(self):
        """Read the header of the first image HDU: shape, header, where the data are."""
        # astropy warns (rather than fails) about a truncated file: make that an error.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with fits.open(self.source, memmap=False, lazy_load_hdus=True) as hdul:
                self.hdu_index, hdu = the_image(hdul, self.label, self.chip)
                if len(hdu.shape) != 2:
                    raise ValueError(f"expected a 2-D image, got shape {hdu.shape}")
                self.shape = tuple(int(n) for n in hdu.shape)
                self.header = inherited_header(hdul, self.hdu_index)
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
        step = stop - start if same else max(1, BLOCK_PIXELS // nx)
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


# Expanded copies are named "flat-<host>-<pid>-<random>.fits" in the system's temporary folder:
# a copy whose process has ended (killed before it could remove it) is an orphan.
_COPY_FORM = r"flat-(?P<host>[A-Za-z0-9]{1,32})-(?P<pid>[0-9]{1,10})-[^/]+\.fits"
_FOLDERS_CLEANED = set()


def remove_orphaned_copies(folder):
    """Delete the expanded copies that killed runs left in ``folder``; return them.

    Only files named as `_expanded` names its copies, of a process of this machine that
    has ended, are removed; each folder is looked at once per process.
    """
    folder = Path(folder)
    if folder in _FOLDERS_CLEANED:
        return []
    _FOLDERS_CLEANED.add(folder)
    return remove_left_by_ended(folder, _COPY_FORM)


class _expanded:
    """Context manager: a temporary, uncompressed copy of a compressed FITS file."""

    def __init__(self, path, opener):
        self.path, self.opener = path, opener

    def __enter__(self):
        remove_orphaned_copies(tempfile.gettempdir())
        handle, name = tempfile.mkstemp(suffix=".fits", prefix=f"flat-{process_tag()}-")
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


def open_frames(images, stack, chip=None, function=None):
    """Return a `Frame` for each item of ``images`` (paths or CCDData).

    With ``chip`` (an EXTNAME or an HDU index, `parse_chip`), each file's frame is that
    chip of it (`Chip`).  With ``function`` (a public function's name), a file of several
    chips without ``chip`` raises `MosaicFile` prefixed with it.
    """
    items = as_image_list(images)
    if chip is not None:
        items = [
            Chip(item, chip) if isinstance(item, (str, os.PathLike)) else item for item in items
        ]
    try:
        return [Frame(item, index, stack) for index, item in enumerate(items)]
    except MosaicFile as error:
        if function is None:
            raise
        raise mosaic_error(error.label, error.chips, function=function) from error


def parse_chip(chip):
    """Return ``chip`` if it is None, a non-empty name or an HDU index >= 0; else raise.

    An index follows the whole-number rule (`options.as_whole`): a float, even 2.0, or a
    bool is a TypeError, never truncated; an empty name or a negative index a ValueError.
    """
    if chip is None or (isinstance(chip, str) and chip.strip()):
        return chip
    if isinstance(chip, str) or (isinstance(chip, (int, np.integer)) and chip < 0):
        raise ValueError(f"chip must be an EXTNAME or an HDU index (>= 0), got {chip!r}")
    if isinstance(chip, bool) or not isinstance(chip, (int, np.integer)):
        raise TypeError(f"chip must be an EXTNAME (a str) or an HDU index (an int), got {chip!r}")
    return int(chip)


def frames_stack():
    """Return the `contextlib.ExitStack` that holds the temporary files of one call."""
    return ExitStack()


def map_frames(function, frames, plan, dtype, *, with_frame=False):
    """Read each frame whole and return ``[function(data) for each frame]``.

    With ``with_frame=True`` the call is ``function(data, frame)``.  ``data`` is a
    read buffer, which ``function`` may modify but must not return or keep: the next
    frame is read into it.  ``plan.frame_workers`` frames are read at a time.  A
    ValueError from ``function`` is raised again naming the frame.

    The buffers are made here, in the calling thread, once: memory that a worker thread
    allocates and frees stays with that thread's malloc arena (glibc), where the arrays
    made afterwards by the calling thread cannot reuse it, and the peak would pass
    ``mem_limit``.
    """
    shapes = {frame.shape for frame in frames}
    buffers = queue.SimpleQueue()
    for _ in range(plan.frame_workers if len(shapes) == 1 else 0):
        buffers.put(np.empty(frames[0].shape, dtype=dtype))

    def one(frame):
        try:
            data = buffers.get_nowait()
        except queue.Empty:  # frames of different shapes: a buffer of its own
            data = np.empty(frame.shape, dtype=dtype)
        try:
            step = max(1, BLOCK_PIXELS // frame.shape[1])  # bounded temporaries when reading
            for start in range(0, frame.shape[0], step):
                stop = min(start + step, frame.shape[0])
                frame.read_rows(start, stop, data[start:stop])
            return function(data, frame) if with_frame else function(data)
        except ValueError as err:
            raise ValueError(f"{frame.label}: {err}") from err
        finally:
            if len(shapes) == 1:
                buffers.put(data)

    if plan.frame_workers == 1:
        return [one(frame) for frame in frames]
    with ThreadPoolExecutor(plan.frame_workers) as pool:
        return list(pool.map(one, frames))


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
                with (compression_opener(path) or open)(path, "rb") as handle:
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


_SELECTION_KEYS = ("IMAGETYP", "FILTER", "COMBINED", "NCOMBINE")


def visible_files(folder):
    """Return the names of the files of ``folder`` that are not hidden, sorted.

    Hidden files (the course's own temporaries among them) are never frames.
    """
    return sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def fits_names(folder):
    """Return the names of the FITS files of ``folder`` that are not combined flats, sorted.

    A file counts when astropy opens it as FITS, whatever its name: ``FLAT_001.FIT``,
    ``flat.fits.gz``, ``FLAT.FITS.BZ2`` or no extension at all.  Combined flats (COMBINED
    = True; or NCOMBINE above 1, with a warning) are left out.  A FITS file that cannot be
    read raises a ValueError naming it.
    """
    names = []
    for name in visible_files(folder):
        header = _selection_header(folder / name)
        if header is None or header["COMBINED"] is True:
            continue
        if _combined_elsewhere(header["NCOMBINE"]):
            warnings.warn(
                f"{folder / name} has NCOMBINE = {header['NCOMBINE']}, a combination of "
                "frames (a master flat made by another program?): left out",
                stacklevel=3,
            )
            continue
        names.append(name)
    return names


def _combined_elsewhere(ncombine):
    """Return True if an NCOMBINE value says the file combines two or more frames."""
    try:
        return not isinstance(ncombine, bool) and float(ncombine) > 1
    except (TypeError, ValueError):
        return False


def flats_by_filter(folder_or_collection, imagetyp, method):
    """Return ``(folder, {FILTER: [paths]})`` of the flats to combine in a folder.

    Every file of the folder (or of the collection) that astropy opens as FITS counts,
    whatever its extension or compression (``FLAT_001.FIT``, ``flat.fits.gz``); the
    keywords are read from each file's image header.  Left out: files that are not FITS,
    the course's combined flats (COMBINED = True) and, with a warning, other programs'
    (NCOMBINE above 1, as ccdproc and IRAF write it).  FILTER may be any value but a
    missing or blank one (``0`` is a filter).  ``~`` in a folder's name is the home
    folder.  Errors start with ``method``, the name of the public function called.
    """
    from ccdproc import ImageFileCollection

    if isinstance(folder_or_collection, ImageFileCollection):
        collection = folder_or_collection
        folder = Path(collection.location)
    else:
        folder = Path(folder_or_collection).expanduser()
        if not folder.is_dir():
            raise ValueError(f"{method}: {folder} is not a folder")
        collection = None
    if collection is not None:
        names = [str(name) for name in collection.files or []]
    else:
        names = visible_files(folder)
    wanted = imagetyp.strip().casefold()
    seen_types, seen_filters, groups = set(), set(), {}
    for name in sorted(names):
        path = folder / name
        header = _selection_header(path)
        if header is None or header["COMBINED"] is True:
            continue  # not readable as FITS, or an earlier combined flat of the course's
        typ, filt = header["IMAGETYP"], header["FILTER"]
        seen_types |= {str(typ)} if typ is not None else set()
        seen_filters |= {str(filt)} if filt is not None else set()
        if typ is None or str(typ).strip().casefold() != wanted:
            continue
        if filt is None or not str(filt).strip():  # FILTER 0 is a filter, a blank one none
            continue
        if _combined_elsewhere(header["NCOMBINE"]):
            warnings.warn(
                f"{method}: {path} has NCOMBINE = {header['NCOMBINE']}, a combination of "
                "frames (a master flat made by another program?): left out",
                stacklevel=3,
            )
            continue
        groups.setdefault(str(filt).strip(), []).append(path)
    if not groups:
        raise ValueError(
            f"{method}: no frame in {folder} has IMAGETYP {imagetyp!r} and "
            f"a FILTER; IMAGETYP values seen: {sorted(seen_types) or 'none'}; FILTER values "
            f"seen: {sorted(seen_filters) or 'none'}"
        )
    for filt, paths in groups.items():  # astropy reads characters FITS forbids as '?'
        raw = {raw_header_value(path, "FILTER") for path in paths} - {None}
        if "?" in filt and len(raw) > 1:
            raise ValueError(
                f"{method}: FILTER values that differ only in characters FITS "
                f"does not allow all read as {filt!r} ({', '.join(sorted(map(str, raw)))}); "
                "rename the filters in plain ASCII"
            )
    return folder, groups
