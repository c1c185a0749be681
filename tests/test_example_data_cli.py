"""Tests of example_data.cli: python -m example_data."""

from __future__ import annotations

from conftest import file_stats as _stats
from conftest import run_cli as _run_cli

import example_data as ed


def test_cli_help():
    result = _run_cli("--help", process=True)  # python -m example_data, as a reader types it
    assert result.returncode == 0, result.stderr
    assert "--example" in result.stdout
    assert "--folder" in result.stdout


def test_cli_keeps_existing_frames(folders):
    before = _stats(folders[1])
    result = _run_cli("--example", "1", "--folder", str(folders[1]))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("kept") == len(ed.EXAMPLE1_FILES)
    assert "0 frame(s) written" in result.stdout
    assert _stats(folders[1]) == before


def test_cli_errors(tmp_path):
    result = _run_cli("--folder", str(tmp_path))
    assert result.returncode == 2
    assert "--folder needs --example" in result.stderr
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    result = _run_cli("--example", "2", "--folder", str(not_a_folder))
    assert result.returncode == 1
    assert "not a folder" in result.stderr
    assert not_a_folder.read_text() == "x"


def test_cli_example3_options(tmp_path):
    result = _run_cli("--example", "2", "--tracked", "--folder", str(tmp_path))
    assert result.returncode == 2
    assert "--tracked needs --example 3 and --folder" in result.stderr
    result = _run_cli("--example", "3", "--tracked")
    assert result.returncode == 2
    assert list(tmp_path.iterdir()) == []
