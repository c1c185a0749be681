"""Tests of the test run's own set-up (conftest.py): the shared folders of killed runs."""

import conftest
import pytest

fcntl = pytest.importorskip("fcntl")  # POSIX: on Windows the folders of killed runs stay


def _shared_folder(parent, name, *, owner=True):
    folder = parent / f"{conftest.SHARED_PREFIX}{name}"
    (folder / "example2").mkdir(parents=True)
    (folder / "example2" / "flat-r-001.fit").write_bytes(b"frame")
    if owner:
        (folder / conftest.OWNER).touch()
    return folder


def test_the_folders_of_runs_that_ended_are_removed_and_no_other(tmp_path):
    killed = _shared_folder(tmp_path, "killed")  # its run died: nobody holds the lock
    living = _shared_folder(tmp_path, "living")
    older = _shared_folder(tmp_path, "older", owner=False)  # no lock file: left
    mine = tmp_path / "my-examples"
    mine.mkdir()
    (mine / conftest.OWNER).touch()
    held = conftest._hold(living)  # as a living run holds its own
    try:
        assert conftest._remove_abandoned(tmp_path) == [killed]
        assert not killed.exists()
        assert (living / "example2" / "flat-r-001.fit").exists()
        assert (older / "example2" / "flat-r-001.fit").exists()
        assert mine.exists()
    finally:
        held.close()
    assert conftest._remove_abandoned(tmp_path) == [living]  # its run has ended


def test_a_run_holds_its_folder_under_the_owners_name(tmp_path):
    held = conftest._hold(tmp_path)
    try:
        assert sorted(p.name for p in tmp_path.iterdir()) == [conftest.OWNER]
        with open(tmp_path / conftest.OWNER, "rb") as other:
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pass
            else:
                raise AssertionError("another process could take the lock of a living run")
    finally:
        held.close()
