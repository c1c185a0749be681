"""Tests of `_flat_engine.files`: FITS access and atomic writing, on seeded synthetic data."""

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits

from _flat_engine import files


def test_raw_header_value_tells_apart_what_astropy_reads_as_the_same(tmp_path):
    path = tmp_path / "a.fits"
    fits.writeto(path, np.zeros((2, 2), np.float32), fits.Header({"FILTER": "Ha"}))
    raw = path.read_bytes().replace(b"'Ha      '", b"'H\xe1      '")
    path.write_bytes(raw)
    assert files.raw_header_value(path, "FILTER") == b"H\xe1"
    assert files.raw_header_value(path, "OBJECT") is None
    assert files.raw_header_value(tmp_path / "missing.fits", "FILTER") is None


def test_write_atomically_removes_its_temporary_on_error(tmp_path, monkeypatch):
    target = tmp_path / "out.fits"
    hdus = files.hdu_list(np.zeros((2, 2), np.float32), fits.Header())
    files.write_atomically(target, hdus, checksum=True)
    assert fits.getheader(target)["CHECKSUM"]

    def no_room(self, name, **kwargs):
        with open(name, "wb") as handle:
            handle.write(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fits.HDUList, "writeto", no_room)
    with pytest.raises(OSError, match=r"cannot write .*out\.fits") as info:
        files.write_atomically(target, hdus)
    assert info.value.errno == 28
    assert info.value.filename == str(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.fits"]


def test_units_as_cameras_write_them():
    for text, unit in (("", u.adu), ("ADU", u.adu), ("Counts", u.adu), ("e-", u.electron)):
        assert files.unit_from_header(fits.Header({"BUNIT": text}), "f.fits") == unit
    assert files.unit_from_header(fits.Header(), "f.fits") == u.adu
    assert files.unit_from_header(fits.Header({"BUNIT": "electron / s"}), "f") == u.electron / u.s
    with pytest.raises(ValueError, match=r"f\.fits: BUNIT 'furlongs'"):
        files.unit_from_header(fits.Header({"BUNIT": "furlongs"}), "f.fits")
