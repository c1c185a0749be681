"""Tests of the private machinery in _flat_engine, on seeded synthetic data."""

import math

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits

import _flat_engine as engine


def test_block_median_equals_numpy_over_random_shapes_blocks_and_nan():
    rng = np.random.default_rng(1)
    for _ in range(300):
        shape = tuple(int(n) for n in rng.integers(1, 60, 2))
        image = rng.normal(0, 1, shape) * rng.choice([1, 1e4])
        if rng.random() < 0.3:
            image = np.round(image)  # many ties
        pattern = rng.random()
        if pattern < 0.2:
            image[rng.random(shape) < 0.5] = np.nan
        elif pattern < 0.3:
            image[rng.random(shape) < 0.1] = rng.choice([np.inf, -np.inf])
        block_rows = int(rng.integers(1, shape[0] + 2))
        finite = image[np.isfinite(image)]
        expected = np.median(finite) if finite.size else math.nan
        got = engine.block_median(image, block_rows, step=int(rng.integers(1, 20)))
        assert got == expected or (math.isnan(got) and math.isnan(expected))


def test_block_median_widens_its_bracket_both_ways():
    # Every 16th value (the sample) lies far from the others, so the first bracket
    # misses the median: below it in one image, above it in the other.
    base = np.arange(4096, dtype=float).reshape(64, 64)
    high_sample = base.copy()
    high_sample.flat[::16] = 1e9
    low_sample = base.copy()
    low_sample.flat[::16] = -1e9
    for image in (high_sample, low_sample):
        assert engine.block_median(image, 7) == np.median(image)
    assert math.isnan(engine.block_median(np.full((3, 3), np.nan), 2))


def test_noise_model_reads_frames_and_arguments(tmp_path):
    clip = engine.parse_clip(5.0, 5.0, "median", "ccdclip", 0.0)
    header = fits.Header({"GAIN": 2.0, "RDNOISE": 5.0, "BUNIT": "adu"})
    path = tmp_path / "a.fit"
    fits.writeto(path, np.ones((4, 4), np.float32), header)
    with engine.frames_stack() as stack:
        frames = engine.open_frames([path] * 2, stack)
        model = engine.noise_model(frames, [100.0, 200.0], clip, gain=None, read_noise=None)
        assert model.gain.tolist() == [2.0, 2.0]
        assert model.read_noise.tolist() == [5.0, 5.0]
        model = engine.noise_model(frames, [100.0, 200.0], clip, gain=3, read_noise=0)
        assert model.gain.tolist() == [3.0, 3.0]
        assert model.read_noise.tolist() == [0.0, 0.0]
    mad = engine.parse_clip(5.0, 5.0, "median", "mad_std", 0.0)
    assert engine.noise_model(frames, [1.0], mad, gain=None, read_noise=None) is None


def test_avsigclip_measures_the_inverse_gain_of_poisson_data():
    rng = np.random.default_rng(3)
    gain, levels = 2.5, np.array([10000.0, 15000.0, 30000.0])
    response = 1 + 0.01 * rng.standard_normal((200, 300))
    values = np.array([rng.poisson(response * level * gain) / gain / level for level in levels])
    clip = engine.parse_clip(5.0, 5.0, "median", "avsigclip", 0.0)
    block = engine.Block(values, np.empty_like(values), np.empty(values.shape, bool))
    center = clip.center(block)
    spread, scale = clip.spread(block, center, engine.NoiseModel(levels))
    assert 1 / scale == pytest.approx(gain, rel=0.02)
    expected = np.sqrt(center / (gain * levels[:, None, None]))
    np.testing.assert_allclose(spread, expected, rtol=0.02)


def test_avsigclip_on_noiseless_data_rejects_nothing():
    values = np.ones((3, 5, 5))
    values[1, 2, 2] = 2.0
    clip = engine.parse_clip(5.0, 5.0, "median", "avsigclip", 0.0)
    block = engine.Block(values, np.empty_like(values), np.empty(values.shape, bool))
    result = engine.combine_block(block, clip, engine.NoiseModel(np.ones(3)))
    assert math.isnan(result.noise_scale)
    assert result.n_rejected == 0
    assert result.n_used.min() == 3


def test_plan_memory_fits_the_limit_and_reports_the_minimum():
    dtype = np.dtype(np.float32)
    plan = engine.plan_memory((4096, 4096), 10, dtype, 350e6)
    assert plan.frame_workers == 2
    assert plan.block_workers == 2
    assert 1 <= plan.rows <= 64
    with pytest.raises(ValueError, match=r"at least 2\.0\d*e\+08 bytes"):
        engine.plan_memory((4096, 4096), 10, dtype, 150e6)
    small = engine.plan_memory((4096, 4096), 10, dtype, 210e6)
    assert small.frame_workers == 1


def test_parse_options_errors():
    for args, error in (
        ((0, 5, "median", "mad_std", 0), ValueError),
        ((5, math.nan, "median", "mad_std", 0), ValueError),
        (("5", 5, "median", "mad_std", 0), TypeError),
        ((5, 5, "mode", "mad_std", 0), ValueError),
        ((5, 5, "median", "biweight", 0), ValueError),
        ((5, 5, "median", "ccdclip", math.inf), ValueError),
    ):
        with pytest.raises(error):
            engine.parse_clip(*args)
    with pytest.raises(ValueError, match="float32 or float64"):
        engine.parse_dtype("int16")
    with pytest.raises(TypeError, match="mem_limit"):
        engine.parse_mem_limit("1e9")


def test_raw_header_value_tells_apart_what_astropy_reads_as_the_same(tmp_path):
    path = tmp_path / "a.fits"
    fits.writeto(path, np.zeros((2, 2), np.float32), fits.Header({"FILTER": "Ha"}))
    raw = path.read_bytes().replace(b"'Ha      '", b"'H\xe1      '")
    path.write_bytes(raw)
    assert engine.raw_header_value(path, "FILTER") == b"H\xe1"
    assert engine.raw_header_value(path, "OBJECT") is None
    assert engine.raw_header_value(tmp_path / "missing.fits", "FILTER") is None


def test_write_atomically_removes_its_temporary_on_error(tmp_path, monkeypatch):
    target = tmp_path / "out.fits"
    hdus = engine.hdu_list(np.zeros((2, 2), np.float32), fits.Header())
    engine.write_atomically(target, hdus, checksum=True)
    assert fits.getheader(target)["CHECKSUM"]

    def no_room(self, name, **kwargs):
        with open(name, "wb") as handle:
            handle.write(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fits.HDUList, "writeto", no_room)
    with pytest.raises(OSError, match=r"cannot write .*out\.fits") as info:
        engine.write_atomically(target, hdus)
    assert info.value.errno == 28
    assert info.value.filename == str(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.fits"]


def test_units_as_cameras_write_them():
    for text, unit in (("", u.adu), ("ADU", u.adu), ("Counts", u.adu), ("e-", u.electron)):
        assert engine.unit_from_header(fits.Header({"BUNIT": text}), "f.fits") == unit
    assert engine.unit_from_header(fits.Header(), "f.fits") == u.adu
    assert engine.unit_from_header(fits.Header({"BUNIT": "electron / s"}), "f") == u.electron / u.s
    with pytest.raises(ValueError, match=r"f\.fits: BUNIT 'furlongs'"):
        engine.unit_from_header(fits.Header({"BUNIT": "furlongs"}), "f.fits")
