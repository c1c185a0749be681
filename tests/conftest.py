"""Fixtures and helpers shared by the tests.

The seeded data factories live in :mod:`example_data.synthetic`; they are imported here so
that the tests can keep writing ``from conftest import make_flats, SHAPE, ...``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from astropy.io import fits
from astropy.stats import sigma_clip

import example_data as ed
from example_data.synthetic import TEST_SHAPE as SHAPE
from example_data.synthetic import make_flats, make_sky_frames, vignetting

matplotlib.use("Agg")

__all__ = [
    "EXPECTED_KEYWORDS",
    "SHAPE",
    "astropy_reference",
    "bin_mean",
    "digest",
    "file_stats",
    "folders",
    "frames",
    "link_or_copy",
    "make_flats",
    "make_sky_frames",
    "night",
    "night_frames",
    "no_temp_files",
    "rng",
    "robust_std",
    "run_cli",
    "truth",
    "vignetting",
    "write_frames",
]


def write_frames(folder, frames, *, filt="r", imagetyp="FLAT", prefix="flat", extra=None):
    """Write frames as FITS files with IMAGETYP, FILTER and BUNIT; return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, data in enumerate(frames):
        header = fits.Header()
        header["IMAGETYP"] = imagetyp
        if filt is not None:
            header["FILTER"] = filt
        header["BUNIT"] = "adu"
        for key, value in (extra or {}).items():
            header[key] = value
        path = folder / f"{prefix}-{i + 1:03d}.fit"
        fits.writeto(path, data, header)
        paths.append(path)
    return paths


def digest(paths):
    """SHA-256 of each file, to show that inputs are not modified."""
    return {str(p): hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}


def astropy_reference(
    frames, sigmas=(5.0, 5.0), cenfunc="median", stdfunc="mad_std", dtype=np.float32
):
    """The scale-first method written with astropy's sigma_clip: (data, n_used).

    Each frame is scaled by the inverse median of its finite pixels; the scaled stack is
    clipped once (``maxiters=1``) along the frames with ``sigmas`` = (lower, upper)
    thresholds (None: that side is not clipped; both None: no clipping); the survivors
    are averaged and the result divided by its median.
    """
    stack = []
    for frame in frames:
        frame = np.asarray(frame, dtype=dtype)
        stack.append(frame * dtype(1 / np.median(frame[np.isfinite(frame)])))
    stack = np.ma.masked_invalid(np.array(stack))
    lower, upper = sigmas
    if lower is None and upper is None:
        clipped = stack
    else:
        clipped = sigma_clip(
            stack,
            sigma_lower=np.inf if lower is None else lower,
            sigma_upper=np.inf if upper is None else upper,
            maxiters=1,
            cenfunc=cenfunc,
            stdfunc=stdfunc,
            axis=0,
        )
    n_used = (~np.ma.getmaskarray(clipped)).sum(axis=0)
    mean = clipped.mean(axis=0).filled(np.nan)
    return mean / np.median(mean[np.isfinite(mean)]), n_used


@pytest.fixture
def system_tmp(tmp_path, monkeypatch):
    """A temporary folder of this test's own as `tempfile.gettempdir()`.

    Expanded copies of compressed inputs go there, so a copy left behind is seen exactly,
    and another test run sharing the machine's temporary folder cannot disturb the check.
    """
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    assert Path(tempfile.gettempdir()) == folder
    return folder


def _mount_namespaces_work() -> bool:
    """Whether util-linux ``unshare`` can give a child process its own mounts."""
    try:
        subprocess.run(["unshare", "--mount", "true"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


@contextlib.contextmanager
def read_only(folder):
    """Make ``folder`` read-only for child processes; yield the prefix of their command.

    For a normal user, the folder's write permission is taken away (and given back after).
    Root writes through permissions, so there the child runs in a mount namespace of its own
    where the folder is bind-mounted read-only: it fails with EROFS, as on a read-only disk
    or a ``:ro`` container volume.  The test is skipped where neither is possible.
    """
    folder = Path(folder)
    if os.geteuid() != 0:
        mode = folder.stat().st_mode
        folder.chmod(0o555)
        try:
            yield []
        finally:
            folder.chmod(mode)
    elif _mount_namespaces_work():
        script = 'mount --bind -o ro "$1" "$1" && shift && exec "$@"'
        yield ["unshare", "--mount", "sh", "-c", script, "read-only", str(folder)]
    else:
        pytest.skip("root writes to read-only folders, and mount namespaces are not allowed")


def error_in_read_only(folder, call):
    """Run ``example_data.<call>`` (an expression of ``folder``) in a child process that
    sees the folder read-only (`read_only`); return the last line of the error the call
    must end with."""
    code = f"import sys, example_data; folder = sys.argv[1]; example_data.{call}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    with read_only(folder) as prefix:
        command = [*prefix, sys.executable, "-c", code, str(folder)]
        result = subprocess.run(command, capture_output=True, text=True, env=env)
    assert result.returncode == 1, result.stdout
    return result.stderr.strip().splitlines()[-1]


@pytest.fixture
def rng():
    """A seeded random generator."""
    return np.random.default_rng(12345)


# --------------------------------------------------------------------------------------------
# The example data: each example is generated once per session, for all its test files
# --------------------------------------------------------------------------------------------

EXPECTED_KEYWORDS = (
    "IMAGETYP",
    "FILTER",
    "EXPTIME",
    "DATE-OBS",
    "INSTRUME",
    "TELESCOP",
    "GAIN",
    "RDNOISE",
    "BUNIT",
    "SIMULATE",
)


# Under pytest-xdist (``make test``) the controller writes the example data once, before
# the workers run a test: the session fixtures' copies into a shared temporary folder, and,
# when the notebooks run, their own folders too.  Two workers never write the same folder,
# and no data is simulated twice.  The workers start and collect the tests meanwhile, on
# the cores the writing leaves idle, and wait for it before their first test.


def _xdist_controller(config) -> bool:
    numprocesses = getattr(config.option, "numprocesses", None)
    return not hasattr(config, "workerinput") and bool(numprocesses)


def _write_shared_examples(root: Path, notebooks: bool) -> None:
    from concurrent.futures import ThreadPoolExecutor

    # Example 2 (the largest) first, beside Examples 1 and 3; the tracked variant of
    # Example 3, read by one test file only, is written by the worker that runs it (`night`).
    jobs = [
        lambda: ed.ensure_example_data(2, root / "example2"),
        lambda: ed.ensure_example_data(1, root / "example1"),
        lambda: ed.ensure_example3(root / "dithered"),
    ]
    with ThreadPoolExecutor(2) as pool:
        for job in [pool.submit(job) for job in jobs]:
            job.result()
    if notebooks:  # the notebooks' folders: frames linked from the shared ones
        for example, source in ((1, "example1"), (2, "example2"), (3, "dithered")):
            target = ed.default_folder(example)
            new = not target.exists() or not any(target.iterdir())  # make workspace: empty
            target.mkdir(parents=True, exist_ok=True)
            for name in ed.example_files(example):
                if not (target / name).exists():
                    link_or_copy(root / source / name, target / name)
            # A folder made here (or found empty, as `make workspace` leaves it) holds only
            # links to frames just written and checked (and each notebook checks its frames
            # again); one that held files may hold a reader's frames of an older simulation
            # or a killed run's temporaries: checked here.
            if not new:
                ed.ensure_example_data(example)


READY, FAILED = ".ready", ".failed"


def _write_in_background(root: Path, notebooks: bool) -> threading.Thread:
    """Start `_write_shared_examples` in a thread; return it.  When it is done it leaves the
    file `READY` in ``root``, or `FAILED` holding the error."""

    pending = root / f"{FAILED}.new"
    pending.touch()  # made while there is room: on a full disk the rename below still works

    def write() -> None:
        try:
            _write_shared_examples(root, notebooks)
        except BaseException:
            with contextlib.suppress(OSError):  # the traceback, if it still fits
                pending.write_text(traceback.format_exc())
            os.rename(pending, root / FAILED)
        else:
            pending.unlink()
            (root / READY).touch()

    thread = threading.Thread(target=write, name="example data", daemon=True)
    thread.start()
    return thread


def _wait_for_examples(root: Path, timeout: float = 1800) -> None:
    """Return once the example data in ``root`` is written; raise if it could not be, or
    if it is not written within ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while not (root / READY).exists():
        if (root / FAILED).exists():
            raise RuntimeError(f"The example data was not written:\n{(root / FAILED).read_text()}")
        if time.monotonic() > end:
            raise RuntimeError(f"The example data was not written in {timeout:.0f} s into {root}")
        time.sleep(0.05)


# The shared folder is removed when the run ends (`pytest_unconfigure`); a run that is
# killed leaves it (1.1 GB).  Each run holds a lock on a file in its folder for as long as
# it lives, and the next run on the same machine removes the folders whose lock nobody
# holds.  The machine's name is in the folder's: a lock taken on one machine may not be
# seen from another that shares the temporary folder (NFS mounted without locks).
SHARED_PREFIX = f"pytest-examples-{socket.gethostname()}-"
OWNER = ".owner"


def _hold(root: Path):
    """Return an open file of ``root`` locked for this process, or None (no locks here).

    The lock is taken before the file gets its name `OWNER`, so that no other run can
    find the name unlocked while this run lives.
    """
    try:
        import fcntl
    except ImportError:  # Windows has no fcntl: there a killed run's folder stays
        return None
    handle = open(root / f"{OWNER}.new", "wb")  # held open, and locked, for the whole run
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
    except OSError:  # a file system without locks: a killed run's folder stays
        handle.close()
        return None
    os.rename(root / f"{OWNER}.new", root / OWNER)
    return handle


def _remove(folder: Path) -> None:
    """Remove ``folder``, its `OWNER` last: a removal cut short is left to the next run."""
    for entry in folder.iterdir():
        if entry.name == OWNER:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    shutil.rmtree(folder)


def _remove_abandoned(parent: Path) -> list[Path]:
    """Remove this machine's shared folders in ``parent`` whose run has ended; return them.

    Only folders of this user with an `OWNER` file that no process holds locked: a
    folder without one (being made, or of an older version of these tests) is left.
    """
    try:
        import fcntl
    except ImportError:
        return []
    removed = []
    for folder in parent.glob(f"{SHARED_PREFIX}*"):
        try:
            if folder.is_symlink() or folder.stat().st_uid != os.getuid():
                continue
            with open(folder / OWNER, "r+b") as handle:  # writable: NFS's locks need it
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                _remove(folder)
        except OSError:  # no OWNER, a living run holds it, or no locks here: left
            continue
        removed.append(folder)
    return removed


# dask's workers (test_engine_groups.py's cluster, notebook 04's) make a scratch folder in
# dask's temporary folder, by default ``dask-scratch-space`` in the machine's, and leave it
# there: the run gives them a folder of its own, removed at its end (under pytest-xdist
# inside the shared folder, which the next run removes if this one is killed).  Set before
# dask is imported and before the workers and the kernels start, which inherit it.
DASK_SCRATCH = "DASK_TEMPORARY_DIRECTORY"


def _dask_scratch(config, parent: Path | None = None) -> None:
    if hasattr(config, "workerinput") or DASK_SCRATCH in os.environ:  # inherited, or the user's
        return
    if parent is None:
        folder = Path(tempfile.mkdtemp(prefix="pytest-dask-"))
    else:
        folder = parent / "dask"
        folder.mkdir()
    config.stash[_DASK] = folder
    os.environ[DASK_SCRATCH] = str(folder)


def pytest_configure(config):
    if not _xdist_controller(config):
        _dask_scratch(config)
    else:
        _remove_abandoned(Path(tempfile.gettempdir()))
        root = Path(tempfile.mkdtemp(prefix=SHARED_PREFIX))
        config.stash[_SHARED] = root
        config.stash[_OWNER] = _hold(root)
        _dask_scratch(config, root)
        notebooks = bool(config.getoption("nbval", False))
        config.stash[_WRITER] = _write_in_background(root, notebooks)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtestloop(session):
    """A worker runs its first test once the controller has written the example data."""
    shared = _shared_examples(session)
    if shared is not None:
        _wait_for_examples(shared)
    return (yield)


# The files that take longest, longest first (``--durations``, 2026-12-06, two workers,
# summed per file: notebook 03 65 s, the notebooks on readers' folders 47 s, notebooks 02
# and 01 43 and 38 s, then 24 s and less): started first, they cannot be the last file
# left on one worker while the other idles.  Every other file follows in the order given;
# a file missing here only loses its place (test_sky_flats.py, missing until then, was the
# last file of a run: 48 s on one worker while the other had been idle for 37).
LONGEST_FIRST = (
    "03-sky-flats-from-science-frames.ipynb",
    "test_notebooks_own_data.py",
    "02-combining-twilight-flats.ipynb",
    "01-combining-dome-flats.ipynb",
    "test_sky_flats.py",
    "test_example_data_writing.py",
    "test_example_data_example3.py",
    "test_files.py",
    "00-the-example-data.ipynb",
    "test_example_data_examples.py",
    "test_engine_groups.py",
    "04-a-season-of-flats.ipynb",
    "test_engine_rejection.py",
    "test_example_data_night.py",
)


def pytest_collection_modifyitems(config, items):
    """Put the files of `LONGEST_FIRST` first, in its order; each file's items stay in order.

    With ``--dist loadfile`` each file goes whole to the next free worker in this order
    (pyproject's ``--no-loadscope-reorder`` keeps xdist from sorting files by their number
    of tests, which put the notebooks, the longest files, after six files of quick tests).
    """
    rank = {name: place for place, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable


def pytest_configure_node(node):
    node.workerinput["shared_examples"] = str(node.config.stash[_SHARED])


def pytest_unconfigure(config):
    scratch = config.stash.get(_DASK, None)
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)
        if os.environ.get(DASK_SCRATCH) == str(scratch):
            del os.environ[DASK_SCRATCH]
    writer = config.stash.get(_WRITER, None)
    if writer is not None:
        writer.join()  # done unless the run ended early
    root = config.stash.get(_SHARED, None)
    if root is not None:
        with contextlib.suppress(OSError):  # what is left, the next run removes
            _remove(root)
    owner = config.stash.get(_OWNER, None)
    if owner is not None:
        owner.close()


_SHARED = pytest.StashKey[Path]()
_OWNER = pytest.StashKey["io.BufferedWriter | None"]()
_DASK = pytest.StashKey[Path]()
_WRITER = pytest.StashKey[threading.Thread]()


def _shared_examples(request) -> Path | None:
    shared = getattr(request.config, "workerinput", {}).get("shared_examples")
    return None if shared is None else Path(shared)


@pytest.fixture(scope="session")
def folders(tmp_path_factory, request) -> dict[int, Path]:
    shared = _shared_examples(request)
    if shared is not None:
        return {example: shared / f"example{example}" for example in (1, 2)}
    root = tmp_path_factory.mktemp("example_data")
    out = {}
    for example in (1, 2):
        folder = ed.ensure_example_data(example, root / f"example{example}")
        assert isinstance(folder, Path)
        out[example] = folder
    return out


class _Frames:
    """Native-endian float32 pixel data of the generated frames, loaded on first use."""

    def __init__(self, folders: dict[int, Path]) -> None:
        self.folders = folders
        self.cache: dict[tuple[int, int], np.ndarray] = {}

    def __call__(self, example: int, index: int) -> np.ndarray:
        key = (example, index)
        if key not in self.cache:
            path = self.folders[example] / ed.example_files(example)[index]
            self.cache[key] = fits.getdata(path).astype(np.float32)
        return self.cache[key]


@pytest.fixture(scope="session")
def frames(folders) -> _Frames:
    return _Frames(folders)


def file_stats(folder: Path) -> dict[str, tuple[int, int, int]]:
    return {
        p.name: (p.stat().st_mtime_ns, p.stat().st_ino, p.stat().st_size) for p in folder.iterdir()
    }


def robust_std(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64).ravel()
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def bin_mean(a: np.ndarray, b: int) -> np.ndarray:
    r, c = a.shape
    return a[: r // b * b, : c // b * b].reshape(r // b, b, c // b, b).mean(axis=(1, 3))


def link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.endswith(".tmp") or p.name.startswith(".")]


@pytest.fixture(scope="session")
def truth():
    cache: dict[tuple[int, str], np.ndarray] = {}

    def get(example: int, filter_name: str) -> np.ndarray:
        key = (example, filter_name)
        if key not in cache:
            cache[key] = ed.true_flat(example, filter_name)
        return cache[key]

    return get


def run_cli(*args: str, process: bool = False) -> subprocess.CompletedProcess:
    """Run ``python -m example_data`` with ``args``: in this process unless ``process``.

    In this process the command line's ``main`` is called with its output captured; the
    exit status is what it returned, or the code of the SystemExit that argparse raised.
    A process of its own costs a second of start-up: only the test of ``-m`` needs one.
    """
    command = [sys.executable, "-m", "example_data", *args]
    if process:
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    from example_data.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(list(args))
        except SystemExit as exit_:
            status = exit_.code
    return subprocess.CompletedProcess(command, status, out.getvalue(), err.getvalue())


class _Night(dict):
    """Example 3's folders by kind, each written on first use: ``"dithered"`` (under
    pytest-xdist the controller's shared copy) and ``"tracked"`` (in this process's own
    temporary folder, so two workers never write the same folder)."""

    def __init__(self, tmp_path_factory, shared: Path | None) -> None:
        super().__init__()
        self.factory = tmp_path_factory
        if shared is not None:
            self["dithered"] = shared / "dithered"

    def __missing__(self, kind: str) -> Path:
        if kind not in ("dithered", "tracked"):
            raise KeyError(kind)
        folder = self.factory.mktemp(f"example3-{kind}")
        if kind == "tracked":
            self[kind] = ed.make_example3(folder, tracked=True)
        else:
            self[kind] = ed.ensure_example3(folder)
        return self[kind]


@pytest.fixture(scope="session")
def night(tmp_path_factory, request) -> _Night:
    """Example 3 once per session, each kind written on first use: the dithered frames
    (under pytest-xdist the controller's) and the tracked variant."""
    return _Night(tmp_path_factory, _shared_examples(request))


@pytest.fixture(scope="session")
def night_frames(night):
    cache: dict[tuple[str, int], np.ndarray] = {}

    def get(kind: str, index: int) -> np.ndarray:
        if (kind, index) not in cache:
            names = ed.EXAMPLE3_TRACKED_FILES if kind == "tracked" else ed.EXAMPLE3_FILES
            cache[kind, index] = fits.getdata(night[kind] / names[index]).astype(np.float32)
        return cache[kind, index]

    return get
