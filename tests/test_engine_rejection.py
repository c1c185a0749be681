"""Tests of `_flat_engine.rejection`: options, noise model and kernel, on seeded data."""

import math

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits

from _flat_engine import frames, options, rejection


def test_noise_model_reads_frames_and_arguments(tmp_path):
    clip = rejection.parse_clip(5.0, 5.0, "median", "ccdclip", 0.0, None, None)
    header = fits.Header({"GAIN": 2.0, "RDNOISE": 5.0, "BUNIT": "adu"})
    path = tmp_path / "a.fit"
    fits.writeto(path, np.ones((4, 4), np.float32), header)
    with frames.frames_stack() as stack:
        opened = frames.open_frames([path] * 2, stack)
        model = rejection.noise_model([100.0, 200.0], clip, rejection.frame_noise(opened, clip))
        assert model.gain.tolist() == [2.0, 2.0]
        assert model.read_noise.tolist() == [5.0, 5.0]
        given = rejection.parse_clip(5.0, 5.0, "median", "ccdclip", 0.0, 3, 0)
        model = rejection.noise_model([100.0, 200.0], given, rejection.frame_noise(opened, given))
        assert model.gain.tolist() == [3.0, 3.0]
        assert model.read_noise.tolist() == [0.0, 0.0]
    mad = rejection.parse_clip(5.0, 5.0, "median", "mad_std", 0.0, None, None)
    assert rejection.frame_noise(opened, mad) is None
    assert rejection.noise_model([1.0], mad, None) is None


def test_noise_options_are_refused_with_a_stdfunc_that_ignores_them():
    for stdfunc in ("avsigclip", "mad_std", "std"):
        for gain, read_noise, sensitivity in (
            (1.5, None, 0.0),
            (None, 5.0, 0.0),
            (None, None, 0.1),
        ):
            with pytest.raises(ValueError, match="stdfunc='ccdclip' only"):
                rejection.parse_clip(5, 5, "median", stdfunc, sensitivity, gain, read_noise)
    with pytest.raises(ValueError, match="gain must be a finite number > 0"):
        rejection.parse_clip(5, 5, "median", "ccdclip", 0.0, -1.0, None)
    with pytest.raises(ValueError, match="read_noise must be in electron"):
        rejection.parse_clip(5, 5, "median", "ccdclip", 0.0, None, 5 * u.adu)


def test_avsigclip_measures_the_inverse_gain_of_poisson_data():
    rng = np.random.default_rng(3)
    gain, levels = 2.5, np.array([10000.0, 15000.0, 30000.0])
    response = 1 + 0.01 * rng.standard_normal((200, 300))
    values = np.array([rng.poisson(response * level * gain) / gain / level for level in levels])
    clip = rejection.parse_clip(5.0, 5.0, "median", "avsigclip", 0.0, None, None)
    block = rejection.Block(values, np.empty_like(values), np.empty(values.shape, bool))
    center = clip.center(block)
    spread, scale = clip.spread(block, center, rejection.NoiseModel(levels))
    assert 1 / scale == pytest.approx(gain, rel=0.02)
    expected = np.sqrt(center / (gain * levels[:, None, None]))
    np.testing.assert_allclose(spread, expected, rtol=0.02)


def test_avsigclip_on_noiseless_data_rejects_nothing():
    values = np.ones((3, 5, 5))
    values[1, 2, 2] = 2.0
    clip = rejection.parse_clip(5.0, 5.0, "median", "avsigclip", 0.0, None, None)
    block = rejection.Block(values, np.empty_like(values), np.empty(values.shape, bool))
    result = rejection.combine_block(block, clip, rejection.NoiseModel(np.ones(3)))
    assert math.isnan(result.noise_scale)
    assert result.n_rejected == 0
    assert result.n_used.min() == 3


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
            rejection.parse_clip(*args, None, None)
    with pytest.raises(ValueError, match="float32 or float64"):
        options.parse_dtype("int16")
    with pytest.raises(TypeError, match="mem_limit"):
        options.parse_mem_limit("1e9")
