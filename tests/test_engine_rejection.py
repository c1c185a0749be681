"""Tests of `_flat_engine.rejection`: options, noise model and kernel, on seeded data."""

import math

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits

from _flat_engine import frames, network, options, rejection


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


def _median_by_sort(stack, n_finite, source=None):
    """The median as combine_flats took it before the networks: np.sort, NaN last."""
    ordered = np.sort(stack if source is None else source, axis=0)
    count = np.broadcast_to(np.asarray(n_finite, dtype=np.intp), stack.shape[1:])
    lo = np.maximum((count - 1) // 2, 0)[np.newaxis]
    hi = (count // 2)[np.newaxis]
    return 0.5 * (
        np.take_along_axis(ordered, lo, axis=0)[0] + np.take_along_axis(ordered, hi, axis=0)[0]
    )


def _seeded_stack(rng, n, shape, pattern, dtype):
    stack = rng.normal(1, 0.05, (n, *shape)).astype(dtype)
    if pattern == "ties":
        stack = np.round(stack * 20).astype(dtype)
    elif pattern == "nan":
        stack[rng.random(stack.shape) < 0.3] = np.nan
    elif pattern == "nan_block":  # whole rows without any finite value
        stack[:, : max(1, shape[0] // 3)] = np.nan
    return stack


def test_sorting_network_sorts_every_order():
    rng = np.random.default_rng(11)
    for n in range(1, 41):
        pairs = network._sorting_network(n)
        assert all(0 <= i < j < n for i, j in pairs)
        values = rng.integers(0, 4, (200, n))  # many ties
        for i, j in pairs:
            low = np.minimum(values[:, i], values[:, j])
            values[:, j] = np.maximum(values[:, i], values[:, j])
            values[:, i] = low
        assert (np.diff(values, axis=1) >= 0).all()


def test_stack_median_is_the_sorted_median_bit_for_bit(monkeypatch):
    rng = np.random.default_rng(12)
    monkeypatch.setattr(network, "_NETWORK_PIXELS", 37)  # several passes per stack
    for n in (1, 2, 3, 4, 5, 9, 10, 16, 17, 40, 100):
        for pattern in ("plain", "ties", "nan", "nan_block"):
            for dtype in (np.float32, np.float64):
                stack = _seeded_stack(rng, n, (13, 11), pattern, dtype)
                n_finite = n if pattern in ("plain", "ties") else np.isfinite(stack).sum(axis=0)
                expected = _median_by_sort(stack, n_finite)
                got = network.stack_median(stack.copy(), n_finite)
                assert got.dtype == expected.dtype
                np.testing.assert_array_equal(got, expected)
                if pattern == "nan_block":
                    assert np.isnan(got[0]).all()


def test_chi2_median_table_equals_the_function_per_pixel():
    from scipy.special import gammaincinv

    dof = np.random.default_rng(13).integers(1, 30, (7, 9)).astype(np.float64)
    np.testing.assert_array_equal(rejection._chi2_median(dof), 2.0 * gammaincinv(dof / 2.0, 0.5))
    assert rejection._chi2_median(np.float64(4.0)) == 2.0 * gammaincinv(2.0, 0.5)


def _combine_all_ways(stack, levels):
    """combine_block of ``stack`` for every centre, spread and threshold pair."""
    results = {}
    for cenfunc in rejection.CENFUNCS:
        for stdfunc in rejection.STDFUNCS:
            for lower, upper in ((8.0, 5.0), (3.0, 3.0), (None, 3.0), (3.0, None), (None, None)):
                sensitivity = 0.01 if stdfunc == "ccdclip" else 0.0
                clip = rejection.parse_clip(lower, upper, cenfunc, stdfunc, sensitivity, None, None)
                noise = (np.full(len(levels), 2.0), np.full(len(levels), 5.0))
                model = rejection.noise_model(levels, clip, noise if stdfunc == "ccdclip" else None)
                values = stack.copy()
                block = rejection.Block(values, np.empty_like(values), np.empty(values.shape, bool))
                key = (cenfunc, stdfunc, lower, upper)
                results[key] = rejection.combine_block(block, clip, model)
    return results


def test_combine_block_with_networks_and_parts_equals_the_sorted_kernel(monkeypatch):
    rng = np.random.default_rng(14)
    for n in (3, 10, 21):
        levels = rng.uniform(5000, 30000, n)
        response = 1 + 0.01 * rng.standard_normal((16, 50))
        stack = np.array([rng.poisson(response * level * 2) / 2 / level for level in levels])
        stack = stack.astype(np.float32)
        stack[rng.random(stack.shape) < 0.003] *= 3  # outliers to reject
        for pattern in ("plain", "nan", "nan_block"):
            values = _seeded_stack(rng, n, (16, 50), pattern, np.float32)
            values[np.isfinite(values)] = stack[np.isfinite(values)]
            if pattern == "nan":
                values[0, 1, 1] = np.inf
            with monkeypatch.context() as patch:
                patch.setattr(rejection, "stack_median", _median_by_sort)
                expected = _combine_all_ways(values, levels)
            for rows in (None, 1, 7):  # the block whole, or in parts of 1 or 7 rows
                with monkeypatch.context() as patch:
                    if rows is not None:
                        patch.setattr(rejection, "_PART_VALUES", 1)
                        patch.setattr(rejection, "_PART_PIXELS", rows * 50)
                    got = _combine_all_ways(values, levels)
                for key, result in expected.items():
                    for field in ("mean", "uncertainty", "n_used"):
                        np.testing.assert_array_equal(
                            getattr(got[key], field), getattr(result, field)
                        )
                    assert got[key].n_rejected == result.n_rejected
                    np.testing.assert_equal(got[key].noise_scale, result.noise_scale)


def test_stack_median_of_a_source_leaves_it_unchanged_and_is_the_sorted_median(monkeypatch):
    rng = np.random.default_rng(15)
    monkeypatch.setattr(network, "_NETWORK_PIXELS", 37)  # several passes per stack
    for n in (1, 2, 3, 5, 10, 16, 17, 40, 100):
        for pattern in ("plain", "ties", "nan", "nan_block"):
            for dtype in (np.float32, np.float64):
                source = _seeded_stack(rng, n, (13, 11), pattern, dtype)
                before = source.copy()
                n_finite = n if pattern in ("plain", "ties") else np.isfinite(source).sum(axis=0)
                scratch = np.full_like(source, -1.0)
                got = network.stack_median(scratch, n_finite, source=source)
                np.testing.assert_array_equal(got, _median_by_sort(before, n_finite))
                assert source.tobytes() == before.tobytes()


def _stack_with_outliers(rng, n, shape, pattern):
    """Poisson flats at n levels with outliers, NaN, equal (saturated) values or zeros."""
    levels = rng.uniform(5000, 30000, n)
    response = 1 + 0.01 * rng.standard_normal(shape)
    stack = np.array([rng.poisson(response * level * 2) / 2 / level for level in levels])
    stack = stack.astype(np.float32)
    stack[rng.random(stack.shape) < 0.003] *= 3  # cosmic rays, and a few low values
    stack[rng.random(stack.shape) < 0.001] *= 0.2
    if pattern == "nan":
        stack[rng.random(stack.shape) < 0.05] = np.nan
        stack[0, 1, 1], stack[-1, 2, 3] = np.inf, -np.inf
    elif pattern == "nan_block":  # rows without any finite value
        stack[:, : shape[0] // 3] = np.nan
    elif pattern == "saturated":  # every frame at one value: no spread at all
        stack[:, 3:6, 5:20] = np.float32(64000 / 20000)
    elif pattern == "zero":  # a centre of 0
        stack[:, :2] = 0.0
    return stack, levels


def test_pixels_left_out_gathered_or_masked_give_the_same_bits(monkeypatch):
    """Only the pixels with a value left out are done with a mask: the same bits as all."""
    rng = np.random.default_rng(16)
    for n in (2, 3, 10, 100):
        for pattern in ("plain", "nan", "nan_block", "saturated", "zero")[: 1 if n == 2 else 5]:
            stack, levels = _stack_with_outliers(rng, n, (12, 40), pattern)
            results = []
            for few in (-1.0, 2.0):  # every pixel with its mask (as before), or none
                with monkeypatch.context() as patch:
                    patch.setattr(rejection, "_FEW_LEFT_OUT", few)
                    patch.setattr(rejection, "_PART_VALUES", 1)  # parts of 5 rows
                    patch.setattr(rejection, "_PART_PIXELS", 5 * 40)
                    got = _combine_all_ways(stack, levels)
                    clip = rejection.parse_clip(8.0, 5.0, "median", "avsigclip", 0, None, None, 1.5)
                    values = stack.copy()
                    block = rejection.Block(
                        values, np.empty_like(values), np.empty(values.shape, bool)
                    )
                    got["grow"] = rejection.combine_block(block, clip, rejection.NoiseModel(levels))
                results.append(got)
            for got in results[1:]:
                for key, result in results[0].items():
                    for field in ("mean", "uncertainty", "n_used"):
                        np.testing.assert_array_equal(
                            getattr(got[key], field), getattr(result, field), err_msg=str(key)
                        )
                    assert got[key].n_rejected == result.n_rejected
                    np.testing.assert_equal(got[key].noise_scale, result.noise_scale)
            if n >= 3:  # the outliers are there to be rejected (two frames cannot tell)
                assert results[0][("median", "avsigclip", 8.0, 5.0)].n_rejected > 0


def test_noise_model_variance_is_rounded_once_from_float64():
    """Each frame's variance: the float32 level times a float64 factor, rounded once."""
    rng = np.random.default_rng(17)
    values = rng.uniform(0.5, 1.5, (4, 6, 7)).astype(np.float32)
    block = rejection.Block(values, np.empty_like(values), np.empty(values.shape, bool))
    center = rng.uniform(-0.1, 1.5, (6, 7)).astype(np.float32)
    levels, gain, noise = np.array([1e4, 2e4, 3e4, 4e4]), np.full(4, 1.7), np.full(4, 9.0)
    model = rejection.NoiseModel(levels, gain, noise, 0.01)
    got = rejection._poisson_variance(block, center, model, gain, noise).copy()
    level = np.maximum(center, 0)
    for i in range(4):
        expected = (level * (1.0 / (gain[i] * levels[i]))).astype(np.float32)
        expected += (noise[i] / (gain[i] * levels[i])) ** 2
        expected += (0.01 * level) ** 2
        np.testing.assert_array_equal(got[i], expected)


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
