"""Tests of the test run's own set-up (conftest.py): the shared folders of killed runs."""

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import types
from pathlib import Path

import conftest
import pytest

pytest.importorskip("fcntl")  # POSIX: on Windows the folders of killed runs stay

# Another process, as another run is: it locks the file it is given, or tries to.
HOLD = """import fcntl, sys
handle = open(sys.argv[1], "r+b")
fcntl.flock(handle, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""
TRY = """import fcntl, sys
handle = open(sys.argv[1], "r+b")
try:
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    print("refused")
else:
    print("taken")
"""


@contextlib.contextmanager
def held_by_another_process(path):
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout.readline() == "held\n"
        try:
            yield
        finally:
            child.stdin.close()


def lock_for_another_process(path):
    run = subprocess.run([sys.executable, "-c", TRY, str(path)], capture_output=True, text=True)
    return run.stdout.strip()


def shared_folder(parent, name, *, owner=True):
    folder = parent / f"{conftest.SHARED_PREFIX}{name}"
    (folder / "example2").mkdir(parents=True)
    (folder / "example2" / "flat-r-001.fit").write_bytes(b"frame")
    if owner:
        (folder / conftest.OWNER).touch()
    return folder


def test_the_folders_of_runs_that_ended_are_removed_and_no_other(tmp_path, monkeypatch):
    killed = shared_folder(tmp_path, "killed")  # its run died: nobody holds the lock
    living = shared_folder(tmp_path, "living")
    older = shared_folder(tmp_path, "older", owner=False)  # no lock file: left
    elsewhere = shared_folder(tmp_path / "elsewhere", "target")
    (tmp_path / f"{conftest.SHARED_PREFIX}link").symlink_to(elsewhere)
    other_machine = tmp_path / "pytest-examples-another-machine-x"
    other_machine.mkdir()
    (other_machine / conftest.OWNER).touch()
    with held_by_another_process(living / conftest.OWNER):
        assert conftest._remove_abandoned(tmp_path) == [killed]
    assert not killed.exists()
    for kept in (living, older, elsewhere):
        assert (kept / "example2" / "flat-r-001.fit").exists()
    assert other_machine.exists()
    monkeypatch.setattr(os, "getuid", lambda: os.stat(living).st_uid + 1)  # another user's
    assert conftest._remove_abandoned(tmp_path) == []
    monkeypatch.undo()
    assert conftest._remove_abandoned(tmp_path) == [living]  # its run has ended


def test_a_run_holds_its_folder_from_configure_to_unconfigure(tmp_path, monkeypatch):
    killed = shared_folder(tmp_path, "killed")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(conftest, "_write_shared_examples", lambda root, notebooks: None)
    config = types.SimpleNamespace(
        option=types.SimpleNamespace(numprocesses=2),
        stash=pytest.Stash(),
        getoption=lambda name, default=None: False,
    )
    conftest.pytest_configure(config)
    root = config.stash[conftest._SHARED]
    try:
        assert not killed.exists()
        conftest._wait_for_examples(root)
        assert sorted(p.name for p in root.iterdir()) == [conftest.OWNER, conftest.READY]
        assert lock_for_another_process(root / conftest.OWNER) == "refused"
    finally:
        conftest.pytest_unconfigure(config)
    assert not root.exists()
    assert config.stash[conftest._OWNER].closed


def test_a_folder_is_removed_with_its_owner_file_last(tmp_path, monkeypatch):
    folder = shared_folder(tmp_path, "killed")
    (folder / "a file").write_bytes(b"x")
    seen = []
    real_rmtree = conftest.shutil.rmtree

    def rmtree(path, *args, **kwargs):
        seen.append((path.name, (folder / conftest.OWNER).exists()))
        real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(conftest.shutil, "rmtree", rmtree)
    conftest._remove(folder)
    assert seen == [("example2", True), (folder.name, True)]  # the owner file went last
    assert not folder.exists()


def test_dasks_scratch_folder_is_the_runs_own_and_removed_at_its_end(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv(conftest.DASK_SCRATCH, raising=False)
    config = types.SimpleNamespace(
        option=types.SimpleNamespace(numprocesses=None),  # a run without workers
        stash=pytest.Stash(),
        getoption=lambda name, default=None: False,
    )
    conftest.pytest_configure(config)
    try:
        scratch = config.stash[conftest._DASK]
        assert os.environ[conftest.DASK_SCRATCH] == str(scratch)
        assert scratch.parent == tmp_path
        code = "import dask; print(dask.config.get('temporary-directory'))"
        child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert child.stdout.strip() == str(scratch)  # seen by processes started after
        (scratch / "dask-scratch-space").mkdir()  # as dask's workers leave it
    finally:
        conftest.pytest_unconfigure(config)
    assert not scratch.exists()
    assert conftest.DASK_SCRATCH not in os.environ
    monkeypatch.setenv(conftest.DASK_SCRATCH, str(tmp_path / "mine"))  # the user's: kept
    config.stash = pytest.Stash()
    conftest.pytest_configure(config)
    conftest.pytest_unconfigure(config)
    assert os.environ[conftest.DASK_SCRATCH] == str(tmp_path / "mine")
    assert conftest._DASK not in config.stash
    # under pytest-xdist: inside the shared folder, which the next run removes if this
    # one is killed
    monkeypatch.delenv(conftest.DASK_SCRATCH)
    monkeypatch.setattr(conftest, "_write_shared_examples", lambda root, notebooks: None)
    config.option.numprocesses, config.stash = 2, pytest.Stash()
    conftest.pytest_configure(config)
    try:
        root = config.stash[conftest._SHARED]
        assert os.environ[conftest.DASK_SCRATCH] == str(root / "dask")
        assert (root / "dask").is_dir()
    finally:
        conftest.pytest_unconfigure(config)
    assert not root.exists()
    assert conftest.DASK_SCRATCH not in os.environ


def test_the_workers_wait_for_the_example_data_and_see_its_error(tmp_path, monkeypatch):
    started, finish = threading.Event(), threading.Event()

    def write(root, notebooks):
        started.set()
        assert finish.wait(10)
        (root / "example2").mkdir()

    monkeypatch.setattr(conftest, "_write_shared_examples", write)
    writer = conftest._write_in_background(tmp_path, notebooks=False)
    assert started.wait(10)
    waiting = threading.Thread(
        target=conftest._wait_for_examples, args=(tmp_path,), kwargs={"timeout": 20}, daemon=True
    )
    waiting.start()
    waiting.join(0.3)
    assert waiting.is_alive()  # still writing: the worker waits
    finish.set()
    waiting.join(10)
    writer.join(10)
    assert not waiting.is_alive()
    assert (tmp_path / "example2").is_dir()

    def fail(root, notebooks):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(conftest, "_write_shared_examples", fail)
    (tmp_path / "full").mkdir()
    conftest._write_in_background(tmp_path / "full", notebooks=False).join(10)
    with pytest.raises(RuntimeError, match=r"not written:\n(.|\n)*No space left on device"):
        conftest._wait_for_examples(tmp_path / "full", timeout=10)
    with pytest.raises(RuntimeError, match=r"not written in 0 s into .*empty"):
        conftest._wait_for_examples(tmp_path / "empty", timeout=0.2)  # no writer

    def no_room(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    # a disk too full even for the traceback: the error is still seen, at once
    (tmp_path / "fuller").mkdir()
    monkeypatch.setattr(Path, "write_text", no_room)
    conftest._write_in_background(tmp_path / "fuller", notebooks=False).join(10)
    with pytest.raises(RuntimeError, match=r"not written:"):
        conftest._wait_for_examples(tmp_path / "fuller", timeout=0.5)
