"""Tests of example_data.writing: files, headers and safe writing."""

from __future__ import annotations

import errno
import re
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from conftest import EXPECTED_KEYWORDS, error_in_read_only
from conftest import file_stats as _stats
from conftest import link_or_copy as _link_or_copy
from conftest import no_temp_files as _no_temp_files
from conftest import run_cli as _run_cli

import example_data as ed
from example_data import writing


@pytest.mark.parametrize("example", [1, 2])
def test_files_shapes_dtypes_headers(folders, example):
    folder = folders[example]
    names = ed.example_files(example)
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)
    shape = ed.EXAMPLE1_SHAPE if example == 1 else ed.EXAMPLE2_SHAPE
    dates = []
    for index, name in enumerate(names):
        assert (folder / name).stat().st_mode & 0o111 == 0  # not executable
        # Both checksums are present and verify (a mismatch warns, and warnings are errors).
        with fits.open(folder / name, checksum=True) as hdul:
            assert len(hdul) == 1
            assert "CHECKSUM" in hdul[0].header
            assert "DATASUM" in hdul[0].header
            header = hdul[0].header
            assert hdul[0].data.shape == shape
            assert hdul[0].data.dtype == np.dtype(">f4")
        assert header["BITPIX"] == -32
        assert "BSCALE" not in header
        assert "BZERO" not in header
        for key in EXPECTED_KEYWORDS:
            assert key in header, key
        assert header["SIMULATE"] is True
        assert header["SIMVERS"] == ed.SIMULATION_VERSION
        assert header.comments["SIMULATE"]
        history = " ".join(str(h) for h in header["HISTORY"])
        assert "example_data" in history
        assert "bias" in history.lower()
        assert "dark" in history.lower()
        assert header["BUNIT"] == "adu"
        assert header["GAIN"] > 0
        assert header["RDNOISE"] > 0
        dates.append(header["DATE-OBS"])
        if example == 1:
            assert header["IMAGETYP"] == "FLATFIELD"
            assert header["FILTER"] == ed.EXAMPLE1_FILTERS[index]
            assert header["EXPTIME"] == ed.EXAMPLE1_EXPTIMES[index]
        else:
            assert header["IMAGETYP"] == "FLAT"
            assert header["FILTER"] == "r"
            assert header["EXPTIME"] == header["EXPOSURE"] == ed.EXAMPLE2_EXPTIMES[index]
            assert header["SATURATE"] == ed.EXAMPLE2_SATURATE
    assert dates == sorted(dates)
    assert len(set(dates)) == len(dates)


@pytest.mark.parametrize("example", [1, 2])
def test_frame_medians(frames, example):
    for index, target in enumerate(ed.example_medians(example)):
        median = float(np.median(frames(example, index)))
        assert abs(median / target - 1) < 0.002, (index, median, target)


def test_ensure_is_idempotent(folders, monkeypatch):
    before = {example: _stats(folder) for example, folder in folders.items()}

    def must_not_simulate(*args, **kwargs):
        raise AssertionError("ensure regenerated frames that were present")

    monkeypatch.setattr(writing, "_Simulation", must_not_simulate)
    assert ed.ensure_example1(folders[1]) == folders[1]
    assert ed.ensure_example2(str(folders[2])) == folders[2]
    assert ed.ensure_example_data(2, folders[2]) == folders[2]
    for example, folder in folders.items():
        assert _stats(folder) == before[example]


def test_missing_frame_is_regenerated_identically_and_user_files_survive(folders, tmp_path):
    source = folders[2]
    missing = ed.EXAMPLE2_FILES[7]  # a frame with stars
    for name in ed.EXAMPLE2_FILES:
        if name != missing:
            _link_or_copy(source / name, tmp_path / name)
    own_fits = tmp_path / "my_own_flat.fits"
    fits.PrimaryHDU(np.arange(12, dtype=np.int16).reshape(3, 4)).writeto(own_fits)
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    user_bytes = {p: p.read_bytes() for p in (own_fits, notes)}
    before = _stats(tmp_path)

    assert ed.ensure_example2(tmp_path) == tmp_path

    after = _stats(tmp_path)
    assert set(after) == set(before) | {missing}
    for name, stat in before.items():
        assert after[name] == stat, name
    assert (tmp_path / missing).read_bytes() == (source / missing).read_bytes()
    for path, content in user_bytes.items():
        assert path.read_bytes() == content
    assert _no_temp_files(tmp_path)


def test_frames_of_another_simulation_version_are_written_again(folders, tmp_path):
    stale = tmp_path / ed.EXAMPLE1_FILES[1]
    for name in ed.EXAMPLE1_FILES:  # links, but a copy of the frame that is changed
        if name == stale.name:
            stale.write_bytes((folders[1] / name).read_bytes())
        else:
            _link_or_copy(folders[1] / name, tmp_path / name)
    fits.setval(stale, "SIMVERS", value=ed.SIMULATION_VERSION - 1)
    before = _stats(tmp_path)
    ed.ensure_example1(tmp_path)
    after = _stats(tmp_path)
    assert fits.getval(stale, "SIMVERS") == ed.SIMULATION_VERSION
    assert stale.read_bytes() == (folders[1] / stale.name).read_bytes()
    assert {n for n in after if after[n] != before[n]} == {stale.name}


def test_make_rewrites_our_files_identically(folders, tmp_path):
    for name in ed.EXAMPLE1_FILES:
        _link_or_copy(folders[1] / name, tmp_path / name)
    (tmp_path / "readme.txt").write_text("mine")
    before = _stats(tmp_path)
    assert ed.make_example1(tmp_path) == tmp_path
    after = _stats(tmp_path)
    assert after["readme.txt"] == before["readme.txt"]
    for name in ed.EXAMPLE1_FILES:
        assert after[name][1] != before[name][1]  # a new file was renamed into place
        assert (tmp_path / name).read_bytes() == (folders[1] / name).read_bytes()
    assert _no_temp_files(tmp_path)


def _foreign_plain_fits(path: Path) -> None:
    fits.PrimaryHDU(np.zeros((10, 10), dtype=np.float32)).writeto(path)


def _foreign_wrong_shape(path: Path) -> None:
    header = fits.Header()
    header["SIMULATE"] = True
    header.add_history("Simulated by the example_data module")
    fits.PrimaryHDU(np.zeros((10, 10), dtype=np.float32), header=header).writeto(path)


def _foreign_text(path: Path) -> None:
    path.write_text("this is not a FITS file\n")


def _foreign_empty(path: Path) -> None:
    path.write_bytes(b"")


def _foreign_directory(path: Path) -> None:
    path.mkdir()
    (path / "inside.txt").write_text("x")


@pytest.mark.parametrize(
    "make_foreign",
    [_foreign_plain_fits, _foreign_wrong_shape, _foreign_text, _foreign_empty, _foreign_directory],
)
@pytest.mark.parametrize("function", [ed.ensure_example1, ed.make_example1])
def test_foreign_file_with_expected_name_is_refused(tmp_path, make_foreign, function):
    name = ed.EXAMPLE1_FILES[1]
    target = tmp_path / name
    make_foreign(target)
    snapshot = target.read_bytes() if target.is_file() else (target / "inside.txt").read_bytes()
    with pytest.raises(ValueError, match=name.replace(".", r"\.")):
        function(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [name]  # nothing else was written
    current = target.read_bytes() if target.is_file() else (target / "inside.txt").read_bytes()
    assert current == snapshot


@pytest.mark.parametrize("damage", ["truncate", "flip a data byte", "flip a header byte"])
def test_damaged_frame_of_ours_is_written_again(folders, tmp_path, damage):
    name = ed.EXAMPLE1_FILES[0]
    data = bytearray((folders[1] / name).read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip a data byte":
        data[len(data) // 2] ^= 0x40  # same size, one pixel altered
    else:
        position = data.index(b"OBJECT  = 'dome flat'") + 12
        data[position] = ord("D")  # same size, the header altered
    (tmp_path / name).write_bytes(bytes(data))
    for other in ed.EXAMPLE1_FILES[1:]:  # intact frames beside it: kept, not written again
        _link_or_copy(folders[1] / other, tmp_path / other)
    before = _stats(tmp_path)
    ed.ensure_example1(tmp_path)
    assert (tmp_path / name).read_bytes() == (folders[1] / name).read_bytes()
    after = _stats(tmp_path)
    assert {n for n in after if after[n] != before[n]} == {name}


def test_stale_temporaries_are_removed_but_not_users_files(folders, tmp_path):
    name = ed.EXAMPLE2_FILES[3]
    stale = tmp_path / f".{name}.0123456789ab.tmp"
    stale.write_bytes(b"half a frame")
    keep = [tmp_path / ".notes.tmp", tmp_path / f".{name}.backup.tmp", tmp_path / f"{name}.tmp"]
    for path in keep:
        path.write_text("mine")
    for other in ed.EXAMPLE2_FILES:  # links: ensure only reads the frames it finds
        _link_or_copy(folders[2] / other, tmp_path / other)
    before = _stats(tmp_path)
    ed.ensure_example2(tmp_path)
    del before[stale.name]
    assert _stats(tmp_path) == before  # the stale temporary gone, nothing else touched
    assert all(path.read_text() == "mine" for path in keep)


@pytest.mark.parametrize("function", [ed.ensure_example1, ed.make_example2])
def test_empty_folder_name_is_refused(tmp_path, monkeypatch, function):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="empty name"):
        function("")
    with pytest.raises(ValueError, match="empty name"):
        function("  ")
    assert list(tmp_path.iterdir()) == []
    result = _run_cli("--example", "1", "--folder", "")
    assert result.returncode == 1
    assert "empty name" in result.stderr


@pytest.mark.parametrize(
    "function",
    [ed.ensure_example1, ed.ensure_example2, ed.make_example1, ed.make_example2],
)
def test_folder_that_is_a_file(tmp_path, function):
    path = tmp_path / "not_a_folder"
    path.write_text("user data")
    with pytest.raises(ValueError, match="not a folder"):
        function(path)
    assert path.read_text() == "user data"


def test_folder_below_a_file_cannot_be_created(tmp_path):
    parent = tmp_path / "file.txt"
    parent.write_text("x")
    with pytest.raises(OSError, match=r"file\.txt"):
        ed.ensure_example2(parent / "sub")


@pytest.mark.parametrize(
    ("code", "message"),
    [(errno.ENOSPC, "No space left on device"), (errno.EACCES, "Permission denied")],
)
def test_write_error_names_the_file_and_leaves_no_partial_file(
    folders, tmp_path, monkeypatch, code, message
):
    real_writeto = fits.HDUList.writeto
    calls = []

    def fail_on_third(self, name, **kwargs):
        calls.append(self[0].header["SIMFRAME"])
        # Writing goes to a hidden temporary file in the same folder, never to the final name.
        assert Path(name).name.startswith(".")
        assert Path(name).suffix == ".tmp"
        if self[0].header["SIMFRAME"] == 2:
            Path(name).write_bytes(b"SIMPLE  =                    T" + b" " * 2000)
            raise OSError(code, message)
        real_writeto(self, name, **kwargs)

    monkeypatch.setattr(fits.HDUList, "writeto", fail_on_third)
    (tmp_path / "mine.txt").write_text("keep")
    with pytest.raises(OSError, match=message) as info:
        ed.ensure_example1(tmp_path)
    error = info.value
    assert error.errno == code
    assert error.filename == str(tmp_path / ed.EXAMPLE1_FILES[2])
    assert ed.EXAMPLE1_FILES[2] in str(error)
    assert 2 in calls
    assert _no_temp_files(tmp_path)
    names = {p.name for p in tmp_path.iterdir()}
    assert ed.EXAMPLE1_FILES[2] not in names
    assert "mine.txt" in names
    for path in tmp_path.iterdir():  # whatever was written is complete and identical
        if path.name != "mine.txt":
            assert path.read_bytes() == (folders[1] / path.name).read_bytes()


def test_unreadable_frame_is_an_os_error_naming_it(folders, tmp_path, monkeypatch):
    name = ed.EXAMPLE1_FILES[4]
    for other in ed.EXAMPLE1_FILES:
        _link_or_copy(folders[1] / other, tmp_path / other)
    real_getheader = fits.getheader

    def unreadable(path, *args, **kwargs):
        if Path(path).name == name:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_getheader(path, *args, **kwargs)

    monkeypatch.setattr(fits, "getheader", unreadable)
    before = _stats(tmp_path)
    with pytest.raises(PermissionError, match=name.replace(".", r"\.")):
        ed.ensure_example1(tmp_path)
    assert _stats(tmp_path) == before  # neither called foreign nor written again


def test_read_only_folder(tmp_path):
    last = error_in_read_only(tmp_path, "ensure_example1(folder)")
    # a folder without write permission, or a read-only file system (for root)
    assert re.match(r"(PermissionError: .*Permission denied|OSError: .*Read-only file sys)", last)
    assert str(tmp_path) in last
    assert list(tmp_path.iterdir()) == []


def test_open_data_folder_writes_only_into_the_course_folder(tmp_path, monkeypatch):
    from example_data import folders

    written = []
    course = tmp_path / "example2-reduced"
    monkeypatch.setattr(folders, "default_folder", lambda example: course.resolve())
    monkeypatch.setattr(folders, "ensure_example_data", lambda *args: written.append(args))
    assert ed.open_data_folder(course, example=2) == (course, True)
    assert written == [(2, course)]
    own = tmp_path / "mine"
    own.mkdir()
    assert ed.open_data_folder(str(own), example=2) == (own, False)
    assert written == [(2, course)]  # the reader's folder is never written to
    with pytest.raises(FileNotFoundError, match="missing is not a folder"):
        ed.open_data_folder(tmp_path / "missing", example=2)
    with pytest.raises(ValueError, match="example"):
        ed.open_data_folder(own, example=4)
