"""Safe writing of an example's frames: :func:`ensure_example_data`, :func:`make_example`.

Each file is written under a temporary name in the destination folder and renamed into
place only when complete (with the engine's ``write_atomically``, the writer of the helper
module too), and a file with an expected name that this package did not write is never
overwritten (a :class:`ValueError` is raised instead). Every frame carries the FITS
checksums, so a frame of ours that was truncated or altered is recognised and written
again. Frames are simulated two at a time, in threads; the result does not depend on it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

from astropy.io import fits
from astropy.utils.exceptions import AstropyUserWarning

from _flat_engine.files import hdu_list, remove_stale_temporaries, write_atomically
from example_data.camera import _check_example, _check_tracked
from example_data.examples import _RECORDS, _Simulation, default_folder
from example_data.header import SIMULATION_VERSION

_WORKERS = 2  # frames generated in parallel; results do not depend on this


class _EnsureResult(NamedTuple):
    """What :func:`_ensure` did in a folder.

    Attributes
    ----------
    folder : pathlib.Path
        The folder.
    written : tuple of str
        Names of the files written.
    kept : tuple of str
        Names of the files that were already present and were left alone.
    """

    folder: Path
    written: tuple[str, ...]
    kept: tuple[str, ...]


def _data_bytes(shape: tuple[int, int]) -> int:
    """Return the size on disk of a float32 data unit of ``shape`` (padded to 2880 bytes)."""
    raw = shape[0] * shape[1] * 4
    return -(-raw // 2880) * 2880


def _frame_state(path: Path, example: int) -> str:
    """Return ``"intact"``, ``"damaged"`` or why ``path`` is not a frame of this module.

    A frame of ours carries SIMULATE = T, our HISTORY and the FITS checksums (CHECKSUM,
    DATASUM), which astropy verifies as it reads the file: a truncated or altered frame of
    ours is ``"damaged"`` and is written again; any other file is not ours.  An error of the
    file system (one with an errno, such as a permission denied) is raised as it is.
    """
    if not path.is_file():
        return "it is not a regular file"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            header = fits.getheader(path)
    except (OSError, ValueError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise
        return f"it cannot be read as a FITS file ({type(exc).__name__}: {exc})"
    if header.get("SIMULATE") is not True:
        return "it has no SIMULATE = T keyword"
    if not any("example_data" in str(line) for line in header.get("HISTORY", [])):
        return "its HISTORY does not say it was simulated by example_data"
    shape = _RECORDS[example].camera.shape
    if (header.get("NAXIS2"), header.get("NAXIS1")) != shape or header.get("BITPIX") != -32:
        return f"it is not a {shape[0]} x {shape[1]} float32 image"
    if header.get("SIMVERS") != SIMULATION_VERSION or "DATASUM" not in header:
        return "damaged"  # ours, from another version of the simulation: write it again
    if path.stat().st_size != 2880 * (len(header.tostring()) // 2880) + _data_bytes(shape):
        return "damaged"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with fits.open(path, checksum=True, memmap=False) as hdul:
                hdul[0].data  # noqa: B018 - reading the data verifies DATASUM
        except (OSError, ValueError) as exc:
            if isinstance(exc, OSError) and exc.errno is not None:
                raise
            return "damaged"
    # astropy warns "Checksum verification failed ..." or "Datasum verification failed ...".
    if any(
        issubclass(w.category, AstropyUserWarning)
        and ("checksum" in str(w.message).lower() or "datasum" in str(w.message).lower())
        for w in caught
    ):
        return "damaged"
    return "intact"


def _prepare_folder(folder: str | os.PathLike[str] | None, example: int) -> Path:
    """Resolve the destination folder and create it if needed."""
    if folder is not None and not str(os.fspath(folder)).strip():
        raise ValueError("folder is an empty name; give a folder, or None for the default")
    path = default_folder(example) if folder is None else Path(os.fspath(folder)).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError(f"folder {str(path)!r} exists but is not a folder")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _ensure(
    example: int,
    folder: str | os.PathLike[str] | None,
    *,
    overwrite_ours: bool,
    progress: Callable[[str], None] | None = None,
    tracked: bool = False,
) -> _EnsureResult:
    """Write an example's missing frames (or all of ours if ``overwrite_ours``)."""
    example = _check_example(example)
    tracked = _check_tracked(tracked)
    record = _RECORDS[example]
    if tracked and record.tracked_files is None:
        raise ValueError(f"tracked=True is for example 3 only, not example {example}")
    if tracked and folder is None:
        raise ValueError(
            "tracked=True needs an explicit folder: the tracked frames must not share the "
            "default folder of the dithered ones"
        )
    path = _prepare_folder(folder, example)
    names = record.tracked_files if tracked and record.tracked_files else record.files
    foreign: list[str] = []
    present: list[int] = []
    for i, name in enumerate(names):
        file = path / name
        remove_stale_temporaries(file)  # left by a run that was killed
        if not os.path.lexists(file):
            continue
        state = _frame_state(file, example)
        if state == "intact":
            present.append(i)
        elif state != "damaged":
            foreign.append(f"{str(file)!r} ({state})")
    if foreign:
        raise ValueError(
            "refusing to overwrite file(s) that example_data did not write: "
            + "; ".join(foreign)
            + ". Move or rename them, or choose another folder."
        )
    todo = (
        list(range(len(names)))
        if overwrite_ours
        else [i for i in range(len(names)) if i not in present]
    )
    kept = tuple(names[i] for i in range(len(names)) if i not in todo)
    if not todo:
        return _EnsureResult(path, (), kept)

    simulation = _Simulation(example, todo, tracked=tracked)

    def work(index: int) -> str:
        data, header = simulation.frame(index)
        hdus = hdu_list(data, header)
        # A fixed comment (astropy's default is the current time) keeps frames bit-identical.
        hdus[0].add_checksum(when="set by example_data")
        write_atomically(path / names[index], hdus)
        return names[index]

    written: list[str] = []
    with ThreadPoolExecutor(max_workers=min(_WORKERS, len(todo))) as pool:
        futures = [pool.submit(work, i) for i in todo]
        try:
            for future in futures:  # in order, so that progress reports are reproducible
                written.append(future.result())
                if progress is not None:
                    progress(written[-1])
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    return _EnsureResult(path, tuple(written), kept)


def ensure_example_data(
    example: int, folder: str | os.PathLike[str] | None = None, *, tracked: bool = False
) -> Path:
    """Write the frames of example 1, 2 or 3 that are missing or damaged in ``folder``.

    Intact frames written earlier by this module are kept as they are; a frame of ours that
    was truncated or altered (its FITS checksum no longer matches) or that an older version
    of the simulation wrote is written again.  Temporary files that a killed run left (and
    only those) are removed.  A second call therefore reads the frames but writes nothing.

    Parameters
    ----------
    example : {1, 2, 3}
        Example number.
    folder : str or os.PathLike, optional
        Destination folder, created if needed.  Default: ``notebooks/exampleN-reduced``
        beside this module (N the example number).
    tracked : bool, optional
        Example 3 only: write the tracked (undithered) variant instead, files
        :data:`EXAMPLE3_TRACKED_FILES`, in which the sources stay on the same pixels (but
        for a drift of under a pixel).  It needs an explicit ``folder``: the default folder
        is for the dithered frames.

    Returns
    -------
    pathlib.Path
        The folder.

    Raises
    ------
    ValueError
        If ``example`` is not 1, 2 or 3, ``tracked`` is not a bool, is True for example 1
        or 2 or without a ``folder``, ``folder`` is an empty name or exists but is not a
        folder, or a file with one of the expected names exists that this module did not
        write (it is left untouched).
    OSError
        If a file could not be written, for example because the disk is full or permission
        is denied; the message names the file.  No partial file is left behind.
    """
    example = _check_example(example)
    return _ensure(example, folder, overwrite_ours=False, tracked=tracked).folder


def ensure_example1(folder: str | os.PathLike[str] | None = None) -> Path:
    """Write the missing example 1 frames into ``folder``: ``ensure_example_data(1, folder)``."""
    return ensure_example_data(1, folder)


def ensure_example2(folder: str | os.PathLike[str] | None = None) -> Path:
    """Write the missing example 2 frames into ``folder``: ``ensure_example_data(2, folder)``."""
    return ensure_example_data(2, folder)


def ensure_example3(folder: str | os.PathLike[str] | None = None, *, tracked: bool = False) -> Path:
    """Write the missing example 3 frames into ``folder``.

    Same as :func:`ensure_example_data` with ``example=3``; see there for Parameters,
    Returns, Raises. It writes the twelve dithered night frames (:data:`EXAMPLE3_FILES`) or,
    with ``tracked=True`` and an explicit ``folder``, the tracked variant
    (:data:`EXAMPLE3_TRACKED_FILES`).
    """
    return ensure_example_data(3, folder, tracked=tracked)


def make_example(example: int, folder: str | os.PathLike[str], *, tracked: bool = False) -> Path:
    """Write all frames of an example into ``folder``, replacing earlier copies of ours.

    Same as :func:`ensure_example_data`, but every frame of ours is written again, intact or
    not, and ``folder`` has no default; see there for Parameters, Returns, Raises (nothing
    is written when a foreign file is in the way).
    """
    example = _check_example(example)
    return _ensure(example, folder, overwrite_ours=True, tracked=tracked).folder


def make_example1(folder: str | os.PathLike[str]) -> Path:
    """Write all example 1 frames into ``folder``: ``make_example(1, folder)``."""
    return make_example(1, folder)


def make_example2(folder: str | os.PathLike[str]) -> Path:
    """Write all example 2 frames into ``folder``: ``make_example(2, folder)``."""
    return make_example(2, folder)


def make_example3(folder: str | os.PathLike[str], *, tracked: bool = False) -> Path:
    """Write all example 3 frames into ``folder``: ``make_example(3, folder, tracked=...)``.

    Same as :func:`make_example` with ``example=3``; see :func:`ensure_example_data` for
    Parameters, Returns, Raises (``tracked=True`` writes :data:`EXAMPLE3_TRACKED_FILES`).
    """
    return make_example(3, folder, tracked=tracked)
