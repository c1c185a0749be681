"""Tests of the test run's own set-up in conftest.py: where its temporary folders go."""

import os
import tempfile
import types

import conftest
import pytest


@pytest.fixture
def config(tmp_path, monkeypatch):
    """A controller's config as `_temporary_folder_in_ram` sees it; TMPDIR unset (the
    temporary folder of this test made before `tempfile.tempdir` is changed)."""
    monkeypatch.delenv("TMPDIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", "/before")
    return types.SimpleNamespace(stash=pytest.Stash())


def test_temporary_folders_go_to_a_tmpfs_with_room_and_come_back(config, tmp_path, monkeypatch):
    monkeypatch.setattr(conftest, "RAM_TMP", tmp_path)
    monkeypatch.setattr(conftest, "RAM_TMP_ROOM", 1)
    conftest._temporary_folder_in_ram(config)
    assert os.environ["TMPDIR"] == tempfile.tempdir == str(tmp_path)
    conftest._temporary_folder_in_ram(config)  # a second call keeps the first's record
    conftest.pytest_unconfigure(config)
    assert "TMPDIR" not in os.environ
    assert tempfile.tempdir == "/before"


@pytest.mark.parametrize(
    "case", ["TMPDIR set", "no room", "little memory", "no meminfo", "missing", "worker"]
)
def test_temporary_folders_stay_where_they_are(config, tmp_path, monkeypatch, case):
    monkeypatch.setattr(conftest, "RAM_TMP", tmp_path)
    monkeypatch.setattr(conftest, "RAM_TMP_ROOM", 1)
    if case == "TMPDIR set":
        monkeypatch.setenv("TMPDIR", "/mine")
    elif case == "no room":
        room = os.statvfs(tmp_path)
        monkeypatch.setattr(conftest, "RAM_TMP_ROOM", room.f_blocks * room.f_frsize + 1)
    elif case == "little memory":  # the tmpfs has room, the memory not
        meminfo = tmp_path / "meminfo"
        meminfo.write_text("MemTotal:  16000000 kB\nMemAvailable:     100 kB\n")
        monkeypatch.setattr(conftest, "MEMINFO", meminfo)
        monkeypatch.setattr(conftest, "RAM_TMP_ROOM", 100 * 1024 + 1)
    elif case == "no meminfo":
        monkeypatch.setattr(conftest, "MEMINFO", tmp_path / "no meminfo")
    elif case == "missing":
        monkeypatch.setattr(conftest, "RAM_TMP", tmp_path / "missing")
    else:
        config.workerinput = {}
    conftest._temporary_folder_in_ram(config)
    assert os.environ.get("TMPDIR") == ("/mine" if case == "TMPDIR set" else None)
    assert tempfile.tempdir == "/before"
    conftest.pytest_unconfigure(config)  # nothing to undo
    assert tempfile.tempdir == "/before"
