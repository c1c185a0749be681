"""The first step of every notebook: the course's example folder, or the reader's own."""

from __future__ import annotations

import os
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
