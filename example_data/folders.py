"""The first step of every notebook: the course's example folder, or the reader's own.

`open_data_folder` opens the frames' folder (writing the course's frames that are missing);
`open_output_folder` the folder the combined flats go to, checked to be writable.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from example_data.camera import _check_example
from example_data.examples import default_folder
from example_data.writing import ensure_example_data


def open_data_folder(folder: str | os.PathLike[str], *, example: int) -> tuple[Path, bool]:
    """Return a notebook's data folder, and whether it holds the course's simulated frames.

    A notebook's parameters cell names its data folder.  When that is the course's own
    folder of ``example`` (:func:`default_folder`), the frames that are missing there are
    written (:func:`ensure_example_data`; nothing is written when all are present); any
    other folder is the reader's, which is only checked, never written to.

    Parameters
    ----------
    folder : str or os.PathLike
        The folder, absolute or relative to the working folder (a notebook's own folder).
    example : {1, 2, 3}
        The example whose frames the notebook uses when it runs on the course's data.

    Returns
    -------
    folder : pathlib.Path
        The folder, as given.
    course_data : bool
        True for the course's folder of ``example``, whose frames come with a truth
        (:func:`true_flat`); False for the reader's own.

    Raises
    ------
    ValueError
        If ``example`` is not 1, 2 or 3, or as :func:`ensure_example_data`.
    FileNotFoundError
        If the reader's folder does not exist or is not a folder.
    OSError
        If the course's frames cannot be written (the message names the file).

    Examples
    --------
    >>> import tempfile
    >>> folder, course_data = open_data_folder(tempfile.gettempdir(), example=2)
    >>> course_data
    False
    """
    example = _check_example(example)
    folder = Path(folder).expanduser()
    if folder.resolve() == default_folder(example):
        ensure_example_data(example, folder)  # writes only the frames that are missing
        return folder, True
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    return folder, False


def open_output_folder(
    output_folder: str | os.PathLike[str] | None, *, data_folder: str | os.PathLike[str]
) -> Path:
    """Return the folder a notebook writes its combined flats to, checked to be writable.

    A notebook's parameters cell names it; ``None`` means beside the frames, in
    ``data_folder``.  A folder named but missing is made (the reader asked for it) when
    the folder it is in exists: a mistyped path is an error, not a new tree of folders.  The
    check is made at once, by writing and removing a hidden empty file, so that a folder
    that cannot be written to (a read-only archive, a DVD, another user's) is reported in
    the notebook's first cells, not after all the work.

    Parameters
    ----------
    output_folder : str, os.PathLike or None
        The folder for the combined flats (``~`` is the home folder), or None.
    data_folder : str or os.PathLike
        The folder of the frames (:func:`open_data_folder`).

    Returns
    -------
    pathlib.Path
        The output folder.

    Raises
    ------
    OSError
        If the folder cannot be made or written to; the message names it and says to set
        ``output_folder``.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> open_output_folder(None, data_folder=folder) == folder
    True
    >>> open_output_folder(folder / "flats", data_folder=folder).is_dir()
    True
    >>> import shutil; shutil.rmtree(folder)
    """
    folder = Path(data_folder if output_folder is None else output_folder).expanduser()
    advice = "set output_folder in the parameters cell to a folder you can write to"
    try:
        folder.mkdir(exist_ok=True)  # the folder named, in a folder that exists: not a tree
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as err:
        message = f"cannot write the combined flats into {folder}: {err.strerror or err}; {advice}"
        raise type(err)(err.errno, message, str(folder)) from err
    return folder
