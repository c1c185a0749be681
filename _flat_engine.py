"""The machinery behind `convenience_functions`: not part of the course's public interface.

`convenience_functions` holds what a student reads (each public function as its steps);
this module holds what those steps stand on:

- `Frame`: one input frame (a FITS file or a `CCDData`) read in blocks of rows;
- option parsing, done once: ``cenfunc`` and ``stdfunc`` strings become functions
  (as astropy's ``sigma_clipping`` does with ``_parse_cenfunc``);
- `combine_block`: scale, clip and average one block of rows;
- `plan_memory`: how many rows and threads fit in ``mem_limit``;
- `block_median`: the exact median of an image visited block by block;
- `write_atomically`: the one way both course modules write a file.

Nothing here imports `convenience_functions` or `example_data`; they import this.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from astropy.io import fits

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
            try:
                named = type(err)(err.errno, message, str(path))
            except Exception:  # a subclass with another signature
                named = OSError(err.errno, message, str(path))
            raise named from err
        raise


def fits_text(value):
    """Return ``value`` as printable ASCII for a FITS header (other characters escaped)."""
    text = str(value).encode("ascii", "backslashreplace").decode("ascii")
    return "".join(c if " " <= c <= "~" else "?" for c in text)


def hdu_list(data, header):
    """Return a one-HDU list holding ``data`` with ``header`` (for `write_atomically`)."""
    return fits.HDUList([fits.PrimaryHDU(data=data, header=header)])
