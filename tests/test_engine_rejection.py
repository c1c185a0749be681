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


# ------------------------------------------------- the robust scale and IRAF's grow (issue 19)


def _measured_gain(frames, tolerance, monkeypatch):
    import convenience_functions as cf

    monkeypatch.setattr(rejection, "ROBUST_TOLERANCE", tolerance)
    with pytest.warns(UserWarning, match="kept"):
        return cf.combine_flats(frames, keep_bad_frames=True).meta["REJGAIN"]


def test_one_bad_frame_cannot_inflate_the_measured_scale(monkeypatch):
    import convenience_functions as cf
    from example_data.synthetic import RAY_FLATS_GAIN, make_flats_with_rays, spoil_frame

    frames = make_flats_with_rays(5, shape=(256, 256)).frames
    good = cf.combine_flats(frames).meta["REJGAIN"]  # dense rays: a little below the truth
    assert good == pytest.approx(RAY_FLATS_GAIN, rel=0.15)
    frames[1] = spoil_frame(frames[1], "leak", 0.5)
    robust = _measured_gain(frames, rejection.ROBUST_TOLERANCE, monkeypatch)
    naive = _measured_gain(frames, math.inf, monkeypatch)  # the scale of all frames
    assert robust == pytest.approx(good, rel=0.05)
    assert naive < 0.2 * good  # what the scale of all frames measures


def test_robust_scale_keeps_the_scale_of_all_frames_on_good_data():
    rng = np.random.default_rng(7)
    n, shape = 5, (64, 512)
    levels = np.linspace(20000.0, 30000.0, n)
    values = np.stack([1 + rng.normal(0, 1 / np.sqrt(1.5 * lv), shape) for lv in levels])
    squared = (values - np.average(values, axis=0, weights=levels)) ** 2
    per_pixel = np.einsum("i,ijk->jk", levels, squared) / rejection._chi2_median(n - 1.0)
    usable = np.ones(shape, dtype=bool)
    center = np.ones(shape)
    scale = rejection.robust_scale(per_pixel, usable, values, levels, center)
    assert scale == float(np.median(per_pixel))
    assert scale == pytest.approx(1 / 1.5, rel=0.02)
    spoilt = values.copy()
    spoilt[3] *= np.linspace(1.0, 1.1, shape[1])  # a gradient of 10 % in one frame
    squared = (spoilt - np.average(spoilt, axis=0, weights=levels)) ** 2
    inflated = np.einsum("i,ijk->jk", levels, squared) / rejection._chi2_median(n - 1.0)
    assert np.median(inflated) > 10 * scale
    robust = rejection.robust_scale(inflated, usable, spoilt, levels, center)
    assert robust == pytest.approx(scale, rel=0.05)
    assert math.isnan(rejection.robust_scale(per_pixel, ~usable, values, levels, center))


def test_grow_rejects_neighbours_within_the_radius_in_that_frame_only():
    keep = np.ones((3, 9, 9), dtype=bool)
    values = np.ones((3, 9, 9))
    keep[1, 4, 4] = False  # rejected
    values[2, 0, 0] = np.nan  # NaN, not a rejection: not grown
    keep[2, 0, 0] = False
    rejection.grow_rejections(keep, values, 1.5)
    rows, cols = np.nonzero(~keep[1])
    assert sorted(zip(rows.tolist(), cols.tolist(), strict=True)) == [
        (r, c) for r in (3, 4, 5) for c in (3, 4, 5)
    ]  # radius 1.5: the 8 neighbours, not (4, 2)
    assert keep[0].all()
    assert np.count_nonzero(~keep[2]) == 1


def test_grow_option_is_checked():
    clip = rejection.parse_clip(8.0, 5.0, "median", "avsigclip", 0.0, None, None, 2)
    assert clip.grow == 2.0
    with pytest.raises(ValueError, match="grow"):
        rejection.parse_clip(8.0, 5.0, "median", "avsigclip", 0.0, None, None, -1)
    with pytest.raises(ValueError, match="grow needs a rejection"):
        rejection.parse_clip(None, None, "median", "avsigclip", 0.0, None, None, 1)
