"""FITS access and atomic writing: the one way the course's modules read and write a file.

- `write_atomically` (with `remove_stale_temporaries`): a temporary file, an fsync and a
  rename, so a reader never sees half a file (temporaries are named after the process,
  `process_tag`, so that a run cleans up only what ended runs left, `process_ended`);
  `hdu_list`, `fits_text` build what it writes;
- `read_image`, `the_image`, `first_image_hdu`: the image of a FITS file of any compression
  (a mosaic's chip only when named: `MosaicFile`), its
  header completed from the primary's (`inherited_header`, FITS inheritance); `image_hdus`,
  `chips_of` and `chip_hdu`: the chips of a mosaic camera's file, one image extension each;
- `read_header`, `unit_from_header`, `raw_header_value`, `is_combined_output`: what a
  header says (BUNIT as cameras spell it, a keyword's raw bytes, whether a file is a
  combined flat of ours);
- `combined_flat_hdus`, `mosaic_flat_hdus`, `check_replaceable`, `write_combined`: a
  combined flat as the course writes it (one image extension per chip for a mosaic
  camera), never over a file that is not one.

The simulator (`example_data`) imports this module and nothing else of the engine.
"""

from __future__ import annotations

import bz2
import gzip
import os
import platform
import re
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits

# A temporary file is hidden, names its target, the machine and the process that writes it,
# and carries 12 random hex digits: ".combined_flat_filter_gp.fit.node7-4242-0123456789ab.tmp".
# Only names of exactly this form are ever deleted by `remove_stale_temporaries`, and only when
# their process has ended: a run going on at the same time keeps its temporary.  (Names
# without machine and process, ".combined_flat_filter_gp.fit.0123456789ab.tmp", come from
# the course's earlier versions and are always stale.)
_TEMPORARY_FORM = (
    r"\.{name}\.(?:(?P<host>[A-Za-z0-9]{{1,32}})-(?P<pid>[0-9]{{1,10}})-)?[0-9a-f]{{12}}\.tmp"
)


def process_tag():
    """Return ``"<host>-<pid>"``: this machine (letters and digits of its name) and process."""
    host = re.sub(r"[^A-Za-z0-9]", "", platform.node())[:32] or "host"
    return f"{host}-{os.getpid()}"


def process_ended(host, pid):
    """Return True if process ``pid`` of machine ``host`` has ended (None: an old name).

    A process of another machine (a folder shared between computers) is never known to have
    ended, nor one that this user may not signal.
    """
    if host is None:
        return True
    if host != process_tag().rsplit("-", 1)[0] or os.name != "posix":
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError, ValueError):
        return False
    return False


def _temporary_name(path):
    """Return a new hidden temporary path beside ``path``."""
    return path.parent / f".{path.name}.{process_tag()}-{os.urandom(6).hex()}.tmp"


def remove_stale_temporaries(path):
    """Delete temporary files that an interrupted write of ``path`` left behind.

    Only hidden files named like the temporaries of `write_atomically` for this very
    ``path`` are removed, and only those of a process that has ended (a run killed
    before it could clean up); a temporary of a run still writing is kept, and no other
    file is touched.

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
    return remove_left_by_ended(path.parent, _TEMPORARY_FORM.format(name=re.escape(path.name)))


def remove_left_by_ended(folder, form):
    """Delete the files a process that has ended left in ``folder``; return them.

    ``form`` is a regular expression of the whole file name, with the groups ``host`` and
    ``pid`` (`process_ended`).  Nothing else is touched; a folder that cannot be listed,
    or a file that cannot be removed, is passed over.
    """
    form = re.compile(form)
    removed = []
    try:
        candidates = list(Path(folder).iterdir())
    except OSError:
        return removed
    for candidate in candidates:
        match = form.fullmatch(candidate.name)
        if match and process_ended(match["host"], match["pid"]) and candidate.is_file():
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


# Whole-file compressions that astropy reads transparently: the first bytes tell them.
_COMPRESSED = ((b"\x1f\x8b", gzip.open), (b"BZh", bz2.open))


def compression_opener(path):
    """Return gzip.open or bz2.open if the file is compressed that way, else None."""
    with open(path, "rb") as handle:
        start = handle.read(3)
    for magic, opener in _COMPRESSED:
        if start.startswith(magic):
            return opener
    return None


# The extensions that go with an image, not chips of their own: an uncertainty, a mask, a
# weight or a quality map (CCDData's and the course's, and those of common pipelines).
_COMPANIONS = (
    "UNCERT", "MASK", "NUSED", "ERR", "DQ", "VAR", "VARIANCE", "IVAR", "SIGMA", "RMS",
    "WHT", "WEIGHT", "BPM", "FLAGS", "EXPMAP", "SAMP", "TIME", "CTX", "CON",
)  # fmt: skip


def _companion(name):
    """Return True if EXTNAME ``name`` is an image's companion (``ERR``, ``CCD1_MASK`` ...)."""
    name = name.upper()
    return any(name == c or name.endswith(("_" + c, "-" + c)) for c in _COMPANIONS)


def image_hdus(hdul):
    """Return ``[(index, name)]`` of the chips of ``hdul``: its images of 2 axes.

    A mosaic camera writes an empty primary HDU and one image extension per chip: those
    extensions are the chips.  A file whose primary HDU holds the image has that one
    image (its other extensions are its uncertainty, mask or quality); so does a file of
    one image extension (tile compression).  Extensions named as an image's companions
    (``ERR``, ``DQ``, ``VAR``, ``WHT``, ``*_MASK``, ``*UNCERT``, ``*NUSED`` ...) are never
    chips.  ``name`` is the EXTNAME (with ``,EXTVER`` when two chips share it), else the
    CCDNAME, else ``HDU<index>``.
    """
    primary = hdul[0]
    if primary.is_image and primary.header.get("NAXIS", 0) >= 2:
        return [(0, str(primary.header.get("CCDNAME") or "HDU0").strip())]
    found = []
    for index, hdu in enumerate(hdul[1:], start=1):
        extname = str(hdu.header.get("EXTNAME", "")).strip()
        if _companion(extname) or not (hdu.is_image and len(hdu.shape) == 2):
            continue
        found.append((index, extname or str(hdu.header.get("CCDNAME") or f"HDU{index}")))
    names = [name for _, name in found]
    return [
        (index, f"{name},{hdul[index].ver}" if names.count(name) > 1 else name)
        for index, name in found
    ]


def chips_of(path):
    """Return the chips of a FITS file (any compression), as `image_hdus` lists them."""
    with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
        return image_hdus(hdul)


def mosaic_chips(path, label):
    """Return the names of the chips of a mosaic camera's file, ``[]`` for one image.

    ValueError naming ``label`` and the file if it is not FITS; OSError if it cannot be read.
    """
    try:
        chips = chips_of(path)
    except (OSError, TypeError, ValueError) as error:
        if isinstance(error, OSError) and error.errno is not None:
            raise OSError(error.errno, f"{label}: {path}: {error.strerror}") from error
        raise ValueError(f"{label}: {path} is not a FITS file ({error})") from error
    return [name for _, name in chips] if len(chips) > 1 else []


def chip_hdu(hdul, chip):
    """Return ``(index, hdu)`` of the chip ``chip`` (a name from `image_hdus` or an index).

    Names are compared without case.  Raises ValueError listing the chips when there is
    no such chip.
    """
    chips = image_hdus(hdul)
    for index, name in chips:
        if (isinstance(chip, str) and name.casefold() == chip.strip().casefold()) or (
            not isinstance(chip, (str, bool)) and index == chip
        ):
            return index, hdul[index]
    listed = ", ".join(f"{name} (HDU {index})" for index, name in chips) or "none"
    raise ValueError(f"it has no chip {chip!r}; its chips: {listed}")


class MosaicFile(ValueError):
    """A file of several chips was given where one image was expected.

    ``label`` and ``chips`` (the file and its chips' names) let a caller say it again in
    its own words (`mosaic_error`).
    """

    label, chips = "", ()


CHIP_ADVICE = "name the chip (chip=), or combine every chip (combine_flats_by_filter)"


def mosaic_error(label, chips, advice=CHIP_ADVICE, function=None):
    """Return the `MosaicFile` error for ``label``'s ``chips``, prefixed with ``function``."""
    prefix = f"{function}: " if function else ""
    error = MosaicFile(
        f"{prefix}{label} holds {len(chips)} chips ({', '.join(chips)}), one image "
        f"extension each: {advice}"
    )
    error.label, error.chips = label, tuple(chips)
    return error


def the_image(hdul, label, chip=None):
    """Return ``(index, hdu)`` of the image to read: the chip named, else the only one.

    A file of several chips (a mosaic camera's) without ``chip`` raises `MosaicFile`,
    naming ``label`` and the chips: never one chip read silently for the whole.
    """
    if chip is not None:
        return chip_hdu(hdul, chip)
    chips = image_hdus(hdul)
    if len(chips) > 1:
        raise mosaic_error(label, [name for _, name in chips])
    return first_image_hdu(hdul)


def first_image_hdu(hdul):
    """Return ``(index, hdu)`` of the first HDU of ``hdul`` holding an image of 2 or more axes."""
    for index, hdu in enumerate(hdul):
        if hdu.is_image and len(hdu.shape) >= 2:
            return index, hdu
    raise ValueError("it contains no image")


# Keywords that describe one HDU's own structure: never taken from the primary header.
_STRUCTURAL = re.compile(
    r"(SIMPLE|BITPIX|NAXIS\d*|EXTEND|XTENSION|PCOUNT|GCOUNT|EXTNAME|EXTVER|EXTLEVEL|INHERIT"
    r"|NEXTEND|BSCALE|BZERO|BLANK|CHECKSUM|DATASUM|Z\w*|TTYPE\d+|TFORM\d+|TFIELDS|END|)"
)


def inherited_header(hdul, index):
    """Return the header of HDU ``index`` with the keywords it lacks taken from the primary.

    This is FITS inheritance, as multi-extension cameras use it: a keyword the primary
    header holds for every extension (GAIN, FILTER, BUNIT, DATE-OBS ...) counts for an
    image extension that does not set its own, unless the extension says ``INHERIT = F``.
    Structural keywords, COMMENT and HISTORY are never inherited.  Returns a copy.
    """
    header = hdul[index].header.copy()
    if index == 0 or header.get("INHERIT", True) is False:
        return header
    for card in hdul[0].header.cards:
        key = card.keyword
        if key in ("COMMENT", "HISTORY") or _STRUCTURAL.fullmatch(key) or key in header:
            continue
        header.append(card)
    return header


def read_image(path, chip=None):
    """Return ``(data, header)`` of the image of a FITS file (any compression).

    The image is `the_image`: the chip named, else the file's only image.

    Raises
    ------
    ValueError
        If the file is not FITS, has no 2-D image, is truncated, or holds several chips
        and none is named (`MosaicFile`); the message names it.
    OSError
        If the file cannot be opened (missing, not readable).
    """
    try:
        with fits.open(path, memmap=False) as hdul:
            index, hdu = the_image(hdul, str(path), chip)
            if len(hdu.shape) != 2:
                raise ValueError(f"expected a 2-D image, got shape {hdu.shape}")
            return np.asarray(hdu.data), inherited_header(hdul, index)
    except (OSError, ValueError, TypeError) as err:
        if isinstance(err, (FileNotFoundError, PermissionError, IsADirectoryError, MosaicFile)):
            raise
        raise ValueError(f"cannot read {path} as a FITS image: {err}") from err


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


def read_header(path):
    """Return the header of the image of a FITS file (any compression), as `read_image`.

    Keywords it lacks are taken from the primary header (`inherited_header`).
    """
    try:
        with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
            return inherited_header(hdul, the_image(hdul, str(path))[0])
    except (OSError, ValueError, TypeError) as err:
        if isinstance(err, (FileNotFoundError, PermissionError, IsADirectoryError, MosaicFile)):
            raise
        raise ValueError(f"cannot read {path} as a FITS image: {err}") from err


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
        opener = compression_opener(path) or open
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


def is_combined_output(path):
    """Return True if ``path`` is a FITS file whose primary header has COMBINED = True."""
    try:
        return fits.getheader(path, 0).get("COMBINED") is True
    except (OSError, ValueError):
        return False


def combined_flat_hdus(flat, n_used=None):
    """Return the HDU list of a combined flat (a CCDData) as the course writes it.

    ``CCDData.to_hdu`` gives the data with UNCERT and MASK extensions; COMBINED = True is
    set (so that a later write may replace the file); a dimensionless BUNIT ('') is
    written '1', the FITS standard's spelling, which ``CCDData.read`` turns
    back into a unit; ``n_used`` (frames averaged per pixel) becomes an extension NUSED.
    """
    hdus = flat.to_hdu()
    if hdus[0].header.get("COMBINED") is not True:  # what write_combined may replace later
        hdus[0].header["COMBINED"] = (True, "a combined flat")
    if flat.unit is not None and flat.unit.is_equivalent(u.dimensionless_unscaled):
        hdus[0].header["BUNIT"] = ("1", "dimensionless: a normalised flat")
    if n_used is not None:
        hdus.append(fits.ImageHDU(np.asarray(n_used), name="NUSED"))
        hdus[-1].header["COMMENT"] = "Number of frames averaged at each pixel"
    return hdus


def mosaic_flat_hdus(chips):
    """Return the HDU list of a mosaic camera's combined flat: one image HDU per chip.

    ``chips`` is a list of ``(name, flat, n_used)``, ``flat`` a CCDData as `combined_flat_hdus`
    takes it.  The primary HDU holds no data, only what is common (COMBINED = True, the
    IMAGETYP and FILTER of the first chip, the number of chips); each chip follows as
    ``<name>`` (its flat and header), ``<name>_UNCERT``, ``<name>_MASK`` and, with
    ``n_used``, ``<name>_NUSED``, so that ``CCDData.read(path, hdu=name,
    hdu_uncertainty=name + "_UNCERT", hdu_mask=name + "_MASK")`` reads one chip.
    """
    primary = fits.PrimaryHDU()
    primary.header["COMBINED"] = (True, "a combined flat, one image extension per chip")
    for key in ("IMAGETYP", "FILTER"):
        if chips and chips[0][1].meta.get(key) is not None:
            primary.header[key] = chips[0][1].meta[key]
    primary.header["NCHIPS"] = (len(chips), "number of chips, one image extension each")
    hdus = fits.HDUList([primary])
    for name, flat, n_used in chips:
        parts = combined_flat_hdus(flat.copy(), None)
        data, mask, uncert = parts[0], parts["MASK"], parts["UNCERT"]
        hdus.append(fits.ImageHDU(data.data, data.header, name=name))
        hdus.append(fits.ImageHDU(uncert.data, uncert.header, name=f"{name}_UNCERT"))
        hdus.append(fits.ImageHDU(mask.data, mask.header, name=f"{name}_MASK"))
        if n_used is not None:
            hdus.append(fits.ImageHDU(np.asarray(n_used), name=f"{name}_NUSED"))
            hdus[-1].header["COMMENT"] = f"Number of frames averaged at each pixel of {name}"
    return hdus


def check_replaceable(path, label):
    """Raise ValueError unless ``path`` is missing or a combined flat (COMBINED = True)."""
    if Path(path).exists() and not is_combined_output(path):
        raise ValueError(
            f"{label}: {path} exists and is not a combined flat (no COMBINED = True); "
            "refusing to overwrite it: move or rename that file, or choose another output "
            "folder"
        )


def write_combined(path, hdus, label):
    """Write a combined flat's ``hdus`` to ``path`` atomically, never over a foreign file.

    Only a missing file or an earlier combined flat (COMBINED = True) is replaced; the
    temporaries of an interrupted earlier write are removed first.
    """
    check_replaceable(path, label)
    remove_stale_temporaries(path)
    write_atomically(path, hdus)
