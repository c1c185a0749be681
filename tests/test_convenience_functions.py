"""Tests of the public functions of convenience_functions, on seeded synthetic data."""

import errno
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData, StdDevUncertainty
from conftest import SHAPE, astropy_reference, digest, make_flats, vignetting, write_frames

import convenience_functions as cf
from _flat_engine import frames as engine_frames
from _flat_engine import stack as engine_stack


def rel_diff(a, b):
    both = np.isfinite(a) & np.isfinite(b)
    assert np.array_equal(np.isfinite(a), np.isfinite(b))
    return np.max(np.abs(a[both] - b[both]) / np.abs(b[both]))


# ---------------------------------------------------------------- combine_flats: numbers


@pytest.mark.parametrize(
    ("cenfunc", "stdfunc", "sigmas"),
    [
        ("median", "mad_std", (5.0, 5.0)),
        ("median", "mad_std", (8.0, 3.0)),
        ("mean", "std", (2.0, 2.0)),
        ("median", "std", (None, 2.5)),
        ("mean", "mad_std", (3.0, None)),
        ("median", "mad_std", (None, None)),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_astropy_sigma_clip_on_the_scaled_stack(tmp_path, cenfunc, stdfunc, sigmas, dtype):
    frames = make_flats(7, spread=0.15, seed=1)
    rng = np.random.default_rng(2)
    for frame in frames:  # cosmic rays and dead pixels
        idx = rng.integers(0, frame.size, 20)
        frame.flat[idx[:15]] += 5000
        frame.flat[idx[15:]] = np.nan
    frames[3][5, 5] = np.nan
    paths = write_frames(tmp_path, frames)
    combined, n_used = cf.combine_flats(
        paths,
        sigma_lower=sigmas[0],
        sigma_upper=sigmas[1],
        cenfunc=cenfunc,
        stdfunc=stdfunc,
        dtype=dtype,
        return_counts=True,
    )
    ref, ref_n = astropy_reference(frames, sigmas, cenfunc, stdfunc, dtype=dtype)
    if sigmas != (None, None):  # the data do exercise rejection
        assert np.count_nonzero(ref_n < 7) > np.count_nonzero(~np.isfinite(frames).all(axis=0))
    np.testing.assert_array_equal(n_used, ref_n)
    assert rel_diff(combined.data, ref) <= (1e-5 if dtype == np.float32 else 1e-12)


def poisson_flats(n, *, gain=1.5, read_noise=8.0, shape=(200, 300), seed=0, rays=0):
    """Flats with Poisson noise of a known gain and read noise, and known cosmic rays.

    Returns the CCDData frames (GAIN, RDNOISE in their meta), the true response (median
    1), the per-frame ray masks, and the ideal noise of the combined flat.
    """
    rng = np.random.default_rng(seed)
    response = vignetting(shape) * (1 + 0.004 * rng.standard_normal(shape))
    response /= np.median(response)
    levels = np.linspace(20000, 40000, n)
    frames, hits = [], np.zeros((n, *shape), bool)
    for i, level in enumerate(levels):
        electrons = rng.poisson(response * level * gain) + rng.normal(0, read_noise, shape)
        data = electrons / gain
        where = rng.choice(data.size, rays, replace=False)
        sigma = np.sqrt(level / gain + (read_noise / gain) ** 2)
        data.flat[where] += rng.uniform(8, 40, rays) * sigma
        hits[i].flat[where] = True
        meta = {"GAIN": gain, "RDNOISE": read_noise, "FILTER": "r"}
        frames.append(CCDData(data.astype(np.float32), unit="adu", meta=meta))
    ideal = np.sqrt(np.sum(1 / (gain * levels))) / n
    return frames, response, hits, ideal


@pytest.mark.parametrize("n", [3, 10])
@pytest.mark.parametrize("stdfunc", ["avsigclip", "ccdclip"])
def test_noise_models_catch_rays_and_keep_good_values(n, stdfunc):
    frames, truth, hits, ideal = poisson_flats(n, rays=150, seed=n)
    combined, n_used = cf.combine_flats(frames, stdfunc=stdfunc, return_counts=True)
    residual = (combined.data - truth) / ideal
    clean = ~hits.any(axis=0)
    twice = hits.sum(axis=0) > 1  # two rays at one pixel of three frames: the median is hit
    assert np.count_nonzero(residual[hits.any(axis=0) & ~twice] > 5) == 0
    assert np.sum(n - n_used[clean]) / (clean.sum() * n) < 5e-4
    assert abs(np.std(residual[clean]) - 1) < 0.03
    # the uncertainty comes from the model: not biased low with three frames
    assert np.median(combined.uncertainty.array / ideal) == pytest.approx(1, abs=0.03)
    assert combined.header["REJECT"] == stdfunc
    assert combined.header["REJGAIN"] == pytest.approx(1.5, rel=0.05)


def test_default_thresholds_reject_high_outliers_and_spare_low_noise():
    # Three noiseless frames with hand-placed deviations, in units of the model's spread.
    gain, read_noise, level = 1.5, 10.0, 20000.0
    sigma = np.sqrt(level / gain + (read_noise / gain) ** 2)
    deviations = np.zeros((3, 4, 5))
    deviations[:, 0, 0] = [3.8, 3.8, -3.1]  # chance: two high values, one low
    deviations[:, 1, 1] = [0.0, 0.0, 6.0]  # a faint cosmic ray
    deviations[:, 2, 2] = [0.0, -9.0, 0.0]  # a broken readout
    meta = {"GAIN": gain, "RDNOISE": read_noise}
    frames = [CCDData(level + d * sigma, unit="adu", meta=meta) for d in deviations]
    _, n_default = cf.combine_flats(frames, stdfunc="ccdclip", return_counts=True)
    _, n_symmetric = cf.combine_flats(
        frames, stdfunc="ccdclip", sigma_lower=5.0, sigma_upper=5.0, return_counts=True
    )
    assert n_default[0, 0] == 3  # the low value is kept: the pixel is not biased high
    assert n_symmetric[0, 0] == 2  # rejected 6.9 spreads below the median
    assert n_default[1, 1] == n_symmetric[1, 1] == 2
    assert n_default[2, 2] == n_symmetric[2, 2] == 2
    assert np.sum(n_default != 3) == 2


def test_mad_clip_of_three_frames_rejects_good_values_the_noise_model_keeps():
    # The failure that motivated the noise models, measured on the same data.
    frames, _, _, _ = poisson_flats(3, seed=30)
    _, n_mad = cf.combine_flats(frames, stdfunc="mad_std", return_counts=True)
    _, n_model = cf.combine_flats(frames, return_counts=True)
    assert np.mean(n_mad < 3) > 0.05
    assert np.mean(n_model < 3) < 5e-4


def test_ccdclip_matches_a_per_pixel_reference():
    frames, _, _, _ = poisson_flats(4, rays=100, shape=(30, 40), seed=31)
    frames[2].meta["GAIN"] = 1.2  # each frame's own gain is used
    combined, n_used = cf.combine_flats(
        frames,
        stdfunc="ccdclip",
        sensitivity_noise=0.001,
        sigma_lower=4.0,
        sigma_upper=4.0,
        return_counts=True,
    )
    levels = [np.median(f.data) for f in frames]
    expected = np.zeros(n_used.shape, int)
    for y, x in np.ndindex(n_used.shape):
        values = [f.data[y, x] / level for f, level in zip(frames, levels, strict=True)]
        center = np.median(values)
        for value, level, f in zip(values, levels, frames, strict=True):
            g, r = f.meta["GAIN"], f.meta["RDNOISE"]
            var = center * level / g + (r / g) ** 2 + (0.001 * center * level) ** 2
            expected[y, x] += abs(value - center) <= 4.0 * np.sqrt(var) / level
        if expected[y, x] == 0:  # every value rejected: all are kept (IRAF's nkeep)
            expected[y, x] = len(frames)
    np.testing.assert_array_equal(n_used, expected)
    assert combined.header["REJSNOIS"] == 0.001
    assert "REJGAIN" not in combined.header  # the gains differ between frames


def test_ccdclip_gain_and_read_noise_from_arguments_units_and_electrons():
    frames, _, _, _ = poisson_flats(3, rays=50, seed=32)
    from_header = cf.combine_flats(frames, stdfunc="ccdclip")
    for frame in frames:
        del frame.meta["GAIN"], frame.meta["RDNOISE"]
    given = cf.combine_flats(
        frames, stdfunc="ccdclip", gain=1.5 * u.electron / u.adu, read_noise=8 * u.electron
    )
    np.testing.assert_array_equal(given.data, from_header.data)
    in_electrons = [CCDData(f.data * 1.5, unit="electron", meta={"RDNOISE": 8.0}) for f in frames]
    electrons = cf.combine_flats(in_electrons, stdfunc="ccdclip")
    assert electrons.header["REJGAIN"] == 1.0
    assert rel_diff(electrons.data, from_header.data) < 1e-5


def test_ccdclip_errors_name_the_frame_and_keyword():
    frames, _, _, _ = poisson_flats(3, shape=(20, 20), seed=33)
    frames[1].meta["FILENAME"] = "second.fit"
    del frames[1].meta["RDNOISE"]
    with pytest.raises(ValueError, match=r"second\.fit has no RDNOISE"):
        cf.combine_flats(frames, stdfunc="ccdclip")
    assert cf.combine_flats(frames).header["REJECT"] == "avsigclip"  # needs no keyword
    frames[1].meta["RDNOISE"] = 8.0
    for key, bad, message in (
        ("GAIN", 0.0, "GAIN of second.fit"),
        ("GAIN", -1.5, "GAIN of second.fit"),
        ("GAIN", float("nan"), "GAIN of second.fit"),
        ("RDNOISE", -1.0, "RDNOISE of second.fit"),
        ("GAIN", "fast", "GAIN of second.fit"),
    ):
        good = frames[1].meta[key]
        frames[1].meta[key] = bad
        with pytest.raises(ValueError, match=message):
            cf.combine_flats(frames, stdfunc="ccdclip")
        frames[1].meta[key] = good
    for options, message in (
        ({"gain": 0}, "gain must be"),
        ({"read_noise": -2}, "read_noise must be"),
        ({"gain": 2 * u.adu}, "gain must be in"),
    ):
        with pytest.raises(ValueError, match=message):
            cf.combine_flats(frames, stdfunc="ccdclip", **options)
    electrons = [CCDData(f.data, unit="electron", meta=f.meta) for f in frames]
    with pytest.raises(ValueError, match="in electrons"):
        cf.combine_flats(electrons, stdfunc="ccdclip", gain=1.5)
    for options in ({"gain": 1.5}, {"read_noise": 8.0}, {"sensitivity_noise": 0.01}):
        with pytest.raises(ValueError, match="stdfunc='ccdclip' only"):
            cf.combine_flats(frames, **options)  # the default avsigclip would ignore them
    with pytest.raises(TypeError, match="gain must be a number"):
        cf.combine_flats(frames, stdfunc="ccdclip", gain="2")
    with pytest.raises(ValueError, match="read_noise must be"):
        cf.combine_flats(frames, stdfunc="ccdclip", read_noise=float("nan"))


def test_float64_and_ccddata_inputs_match_files(tmp_path):
    frames = make_flats(5, seed=4)
    paths = write_frames(tmp_path, frames)
    ccds = [CCDData(f, unit="adu", meta={"FILTER": "r", "IMAGETYP": "FLAT"}) for f in frames]
    from_files = cf.combine_flats(paths, dtype=np.float64)
    from_ccds = cf.combine_flats(ccds, dtype=np.float64)
    assert from_files.data.dtype == np.float64
    np.testing.assert_array_equal(from_files.data, from_ccds.data)
    np.testing.assert_array_equal(from_files.uncertainty.array, from_ccds.uncertainty.array)


def test_result_independent_of_chunking_and_threads(tmp_path, monkeypatch):
    frames = make_flats(6, shape=(300, 200), seed=5)
    frames[2][50:60, :] = np.nan  # the NaN-aware path too
    paths = write_frames(tmp_path, frames)
    small = cf.combine_flats(paths, mem_limit=10.0e6)  # many small row blocks
    monkeypatch.setattr(engine_stack, "MAX_WORKERS", 1)
    one_thread = cf.combine_flats(paths, mem_limit=10.0e6)
    assert engine_stack.plan_memory((300, 200), 6, np.dtype(np.float32), 10.0e6).rows < 30
    np.testing.assert_array_equal(small.data, one_thread.data)
    for options in ({"stdfunc": "mad_std"}, {"stdfunc": "ccdclip", "gain": 1.0, "read_noise": 5.0}):
        big = cf.combine_flats(paths, mem_limit=1e9, **options)
        for other in (cf.combine_flats(paths, mem_limit=10.0e6, **options),):
            np.testing.assert_array_equal(big.data, other.data)
            np.testing.assert_array_equal(big.uncertainty.array, other.uncertainty.array)
            assert big.header["NREJECT"] == other.header["NREJECT"]


def test_cosmic_ray_in_one_of_three_dome_flats_is_rejected():
    frames = make_flats(3, level=20000.0, seed=6)
    frames[1][10, 20] += 20000.0
    ccds = [CCDData(f, unit="adu", meta={"FILTER": "r"}) for f in frames]
    combined, n_used = cf.combine_flats(ccds, return_counts=True)
    assert n_used[10, 20] == 2
    assert abs(combined.data[10, 20] - vignetting(SHAPE)[10, 20]) < 0.01  # the ray: +33 %


def twilight_with_outlier(seed=7):
    """Ten flats with a 16 % level spread; a 20-sigma outlier in the faintest one."""
    frames = make_flats(10, level=20000.0, spread=0.16 / 1.16, seed=seed)
    faintest = 9
    sigma_pix = np.sqrt(20000.0 * (1 - 0.16 / 1.16))
    frames[faintest][30, 40] += 20 * sigma_pix
    return frames


def test_twenty_sigma_outlier_in_faintest_twilight_flat_is_rejected():
    frames = twilight_with_outlier()
    combined, n_used = cf.combine_flats(
        [CCDData(f, unit="adu") for f in frames], return_counts=True
    )
    assert n_used[30, 40] == 9
    ratio = combined.data / vignetting(SHAPE)
    assert abs(ratio[30, 40] - 1) < 4 * np.nanstd(ratio)


def test_ccdproc_clipping_unscaled_frames_keeps_that_outlier():
    # Companion of the test above: the notebook's claim that ccdproc.combine leaves the
    # outlier is backed here.  ccdproc clips the unscaled frames; `scale` acts only on the
    # average, so the 16 % spread of levels hides a 20-sigma outlier.
    import ccdproc

    frames = twilight_with_outlier()
    ccds = [CCDData(f, unit="adu") for f in frames]
    result = ccdproc.combine(
        ccds,
        method="average",
        scale=cf.inv_median,
        sigma_clip=True,
        sigma_clip_low_thresh=5,
        sigma_clip_high_thresh=5,
        sigma_clip_func="median",
        sigma_clip_dev_func="mad_std",
    )
    data = result.data / np.median(result.data)
    ratio = data / vignetting(SHAPE)
    noise = np.std(ratio)
    assert (ratio[30, 40] - 1) > 5 * noise


def test_noise_is_single_frame_noise_over_sqrt_n():
    n = 10
    frames = make_flats(n, shape=(200, 200), noise=0.01, spread=0.1, seed=8)
    combined = cf.combine_flats([CCDData(f, unit="adu") for f in frames], stdfunc="mad_std")
    residual = combined.data / vignetting((200, 200))
    expected = 0.01 / np.sqrt(n)
    assert abs(np.std(residual) / expected - 1) < 0.10
    assert abs(np.median(combined.uncertainty.array) / expected - 1) < 0.10


def test_mask_uncertainty_nan_and_header(tmp_path):
    frames = make_flats(4, seed=9)
    for frame in frames:
        frame[0, 0] = np.nan  # no frame survives
    for frame in frames[1:]:
        frame[1, 1] = np.nan  # one survivor
    frames[2][2, 2] = np.nan  # an isolated NaN must not spread
    paths = write_frames(tmp_path, frames, filt="g'", imagetyp="Flat Field")
    combined, n_used = cf.combine_flats(
        paths, stdfunc="mad_std", sigma_lower=5.0, return_counts=True
    )
    assert combined.unit == u.dimensionless_unscaled
    assert isinstance(combined.uncertainty, StdDevUncertainty)
    assert n_used.dtype == np.uint16
    assert abs(np.nanmedian(combined.data) - 1) <= 1e-3
    assert combined.mask[0, 0]
    assert np.isnan(combined.data[0, 0])
    assert n_used[0, 0] == 0
    assert combined.mask.sum() == 1
    assert n_used[1, 1] == 1
    assert np.isfinite(combined.data[1, 1])
    assert np.isnan(combined.uncertainty.array[1, 1])
    ref, ref_n = astropy_reference(frames)
    assert np.array_equal(n_used, ref_n)
    assert rel_diff(combined.data, ref) <= 1e-6
    others = np.ones(SHAPE, bool)
    others[:2, :2] = False
    assert np.isfinite(combined.data[others]).all()
    assert np.isfinite(combined.uncertainty.array[others]).all()
    header = combined.header
    assert header["IMAGETYP"] == "Flat Field"
    assert header["FILTER"] == "g'"
    assert header["NCOMBINE"] == 4
    assert [header[f"IMCMB{i:03d}"] for i in range(1, 5)] == [p.name for p in paths]
    assert "IMCMB005" not in header
    assert header["COMBINED"] is True
    assert isinstance(header["NREJECT"], int)
    assert header["REJECT"] == "mad_std"
    assert header["REJLSIG"] == 5.0
    assert header["REJHSIG"] == 5.0
    assert header["REJCEN"] == "median"
    history = " ".join(str(h) for h in header["HISTORY"])
    assert "inverse median" in history
    assert "mad_std" in history
    assert "mean" in history


def test_ccddata_names_mask_and_inputs_unchanged():
    frames = make_flats(3, seed=10)
    ccds = [CCDData(f.copy(), unit="adu") for f in frames]
    ccds[0].meta["FILENAME"] = "first.fit"
    ccds[1].mask = np.zeros(SHAPE, bool)
    ccds[1].mask[4, 4] = True
    ccds[1].data[4, 4] = 1e6  # hidden under the mask: must not reach the result
    originals = [ccd.data.copy() for ccd in ccds]
    combined, n_used = cf.combine_flats(ccds, return_counts=True)
    assert combined.header["IMCMB001"] == "first.fit"
    assert combined.header["IMCMB002"] == "ccddata[1]"
    assert n_used[4, 4] == 2
    assert abs(combined.data[4, 4] - 1) < 0.1
    assert np.flatnonzero(ccds[1].mask).tolist() == [4 * SHAPE[1] + 4]
    for ccd, original in zip(ccds, originals, strict=True):
        np.testing.assert_array_equal(ccd.data, original)


# ------------------------------------------------------------- combine_flats: bad input


def test_errors_of_combine_flats(tmp_path):
    frames = make_flats(3, seed=12)
    paths = write_frames(tmp_path / "ok", frames)
    with pytest.raises(ValueError, match="no image"):
        cf.combine_flats([])
    with pytest.raises(ValueError, match="at least 3 frames"):
        cf.combine_flats(paths[:2])
    assert cf.combine_flats(paths[:1], sigma_lower=None, sigma_upper=None).shape == SHAPE
    with pytest.raises(TypeError):
        cf.combine_flats(paths, sigma_clip=True)
    with pytest.raises(TypeError):
        cf.combine_flats(paths, 5.0)
    with pytest.raises(TypeError, match="file paths or CCDData"):
        cf.combine_flats([paths[0], 3, paths[1]])
    for bad, message in (
        ({"sigma_upper": -1}, "sigma_upper"),
        ({"sigma_lower": np.inf}, "sigma_lower"),
        ({"cenfunc": "mode"}, "cenfunc"),
        ({"stdfunc": "iqr"}, "stdfunc"),
        ({"sensitivity_noise": -0.1}, "sensitivity_noise"),
        ({"dtype": np.int16}, "dtype"),
        ({"mem_limit": 0}, "mem_limit"),
    ):
        with pytest.raises(ValueError, match=message):
            cf.combine_flats(paths, **bad)
    with pytest.raises(ValueError, match="at least"):
        cf.combine_flats(paths, mem_limit=1e4)
    with pytest.raises(ValueError, match="mem_limit"):
        cf.combine_flats(paths, mem_limit=float("nan"))
    for bad, message in (
        ({"sigma_lower": True}, "sigma_lower"),
        ({"sigma_upper": "5"}, "sigma_upper"),
        ({"mem_limit": "1e9"}, "mem_limit"),
    ):
        with pytest.raises(TypeError, match=message):
            cf.combine_flats(paths, **bad)
    cube = CCDData(np.ones((2, *SHAPE)), unit="adu")
    with pytest.raises(ValueError, match="2-D image"):
        cf.combine_flats([cube] * 3)
    table_only = tmp_path / "table.fits"
    fits.HDUList(
        [fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("a", "E", array=[1.0])])]
    ).writeto(table_only)
    with pytest.raises(ValueError, match=f"{table_only.name}.*no image"):
        cf.combine_flats([table_only, *paths[:2]])


def test_error_mixed_filters(tmp_path):
    r = write_frames(tmp_path, make_flats(2, seed=13), filt="r", prefix="r")
    g = write_frames(tmp_path, make_flats(1, seed=14), filt="g'", prefix="g")
    with pytest.raises(ValueError, match="different FILTER") as info:
        cf.combine_flats(r + g)
    assert "g'" in str(info.value)
    assert str(g[0]) in str(info.value)


def test_error_shapes(tmp_path):
    paths = write_frames(tmp_path, make_flats(2, seed=15))
    odd = write_frames(tmp_path, make_flats(1, shape=(32, 96), seed=16), prefix="odd")[0]
    with pytest.raises(ValueError, match=r"\(32, 96\)") as info:
        cf.combine_flats([*paths, odd])
    assert str(odd) in str(info.value)
    assert "(64, 96)" in str(info.value)


def test_error_bad_medians(tmp_path):
    frames = make_flats(3, seed=17)
    negative = [f.copy() for f in frames]
    negative[1] = -negative[1]
    paths = write_frames(tmp_path / "neg", negative)
    with pytest.raises(ValueError, match="<= 0") as info:
        cf.combine_flats(paths)
    assert str(paths[1]) in str(info.value)
    nan = [f.copy() for f in frames]
    nan[2][:] = np.nan
    paths = write_frames(tmp_path / "nan", nan)
    with pytest.raises(ValueError, match="no pixel is finite") as info:
        cf.combine_flats(paths)
    assert str(paths[2]) in str(info.value)


def test_error_unreadable_files(tmp_path):
    paths = write_frames(tmp_path, make_flats(2, seed=18))
    text = tmp_path / "notes.fit"
    text.write_text("this is not a FITS file\n" * 100)
    with pytest.raises(ValueError, match=r"notes\.fit") as info:
        cf.combine_flats([*paths, text])
    assert info.value.__cause__ is not None
    missing = tmp_path / "missing.fit"
    with pytest.raises(FileNotFoundError, match=r"missing\.fit"):
        cf.combine_flats([*paths, missing])
    truncated = tmp_path / "truncated.fit"
    truncated.write_bytes(paths[0].read_bytes()[:10000])
    with pytest.raises(ValueError, match=r"truncated\.fit"):
        cf.combine_flats([*paths, truncated])


def test_scaled_integer_files_are_read_through_astropy(tmp_path):
    frames = make_flats(3, seed=19)
    paths = []
    for i, frame in enumerate(frames):
        hdu = fits.PrimaryHDU(np.round(frame).astype(np.float32))
        hdu.scale("int16", bzero=32768)
        path = tmp_path / f"int-{i}.fit"
        hdu.writeto(path)
        paths.append(path)
    combined = cf.combine_flats(paths, stdfunc="mad_std", sigma_lower=5.0)
    ref, _ = astropy_reference([fits.getdata(p) for p in paths])
    assert rel_diff(combined.data, ref) <= 1e-6


# ------------------------------------------------------------------- by filter, safe name


@pytest.mark.parametrize(
    ("name", "safe"),
    [("g'", "gp"), ("r", "r"), ("H-alpha", "H-alpha"), ("B/V 2", "B_V_2"), (" i' ", "ip")],
)
def test_safe_filter_name(name, safe):
    assert cf.safe_filter_name(name) == safe


def test_safe_filter_name_errors():
    with pytest.raises(ValueError, match="empty"):
        cf.safe_filter_name("  ")
    with pytest.raises(TypeError):
        cf.safe_filter_name(None)


def flat_folder(tmp_path):
    folder = tmp_path / "night"
    inputs = write_frames(folder, make_flats(3, seed=20), filt="g'", prefix="g")
    inputs += write_frames(folder, make_flats(4, seed=21), filt="r", prefix="r")
    inputs += write_frames(folder, make_flats(2, seed=22), imagetyp="DARK", prefix="dark")
    return folder, inputs


def test_combine_flats_by_filter(tmp_path):
    folder, inputs = flat_folder(tmp_path)
    before = digest(inputs)
    result = cf.combine_flats_by_filter(folder, imagetyp="flat")
    assert result == {
        "g'": folder / "combined_flat_filter_gp.fit",
        "r": folder / "combined_flat_filter_r.fit",
    }
    assert digest(inputs) == before
    for filt, path in result.items():
        header = fits.getheader(path)
        assert header["COMBINED"] is True
        assert header["FILTER"] == filt
    first = fits.getheader(result["r"])["NCOMBINE"]
    assert first == 4
    # Second run: earlier outputs (COMBINED = True) are not inputs, and are replaced.
    again = cf.combine_flats_by_filter(folder, imagetyp="FLAT", sigma_upper=3.0)
    assert again == result
    assert fits.getheader(result["r"])["NCOMBINE"] == 4
    assert "8-sigma low, 3-sigma high" in " ".join(
        str(h) for h in fits.getheader(result["r"])["HISTORY"]
    )
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]
    # The flat reads back as a dimensionless CCDData with its uncertainty and mask.
    ccd = CCDData.read(result["g'"])
    assert ccd.unit == u.dimensionless_unscaled
    assert ccd.uncertainty is not None
    assert ccd.mask is not None
    # NUSED holds the per-pixel survivor counts of the same combination.
    g_inputs = [p for p in inputs if p.name.startswith("g")]  # the same combination:
    expected, n_used = cf.combine_flats(g_inputs, sigma_upper=3.0, return_counts=True)
    stored = fits.getdata(result["g'"], "NUSED")
    np.testing.assert_array_equal(stored, n_used)
    np.testing.assert_array_equal(ccd.data, expected.data)


def test_combine_flats_by_filter_collection_and_output_dir(tmp_path):
    from ccdproc import ImageFileCollection

    folder, _ = flat_folder(tmp_path)
    out = tmp_path / "out" / "deeper"
    result = cf.combine_flats_by_filter(
        ImageFileCollection(folder),
        imagetyp="flat",
        output_dir=out,
        sigma_lower=None,
        sigma_upper=None,
    )
    assert set(result.values()) == {
        out / "combined_flat_filter_gp.fit",
        out / "combined_flat_filter_r.fit",
    }


def test_combine_flats_by_filter_errors(tmp_path):
    folder, _ = flat_folder(tmp_path)
    with pytest.raises(ValueError, match="BIAS") as info:
        cf.combine_flats_by_filter(folder, imagetyp="BIAS")
    assert "DARK" in str(info.value)
    assert "g'" in str(info.value)
    assert str(folder) in str(info.value)
    with pytest.raises(TypeError, match="frobnicate"):
        cf.combine_flats_by_filter(folder, imagetyp="flat", frobnicate=1)
    with pytest.raises(TypeError, match="return_counts"):
        cf.combine_flats_by_filter(folder, imagetyp="flat", return_counts=True)
    with pytest.raises(TypeError):
        cf.combine_flats_by_filter(folder, "flat")
    for empty in ("", "  "):
        with pytest.raises(ValueError, match="imagetyp"):
            cf.combine_flats_by_filter(folder, imagetyp=empty)
    with pytest.raises(ValueError, match="not a folder"):
        cf.combine_flats_by_filter(tmp_path / "nowhere", imagetyp="flat")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(OSError, match="a-file"):
        cf.combine_flats_by_filter(folder, imagetyp="flat", output_dir=blocker / "sub")
    foreign = folder / "combined_flat_filter_r.fit"
    fits.writeto(foreign, np.zeros((2, 2), np.float32))
    foreign_bytes = foreign.read_bytes()
    with pytest.raises(ValueError, match="refusing to overwrite") as info:
        cf.combine_flats_by_filter(folder, imagetyp="flat")
    assert str(foreign) in str(info.value)
    assert foreign.read_bytes() == foreign_bytes


def test_interrupted_write_keeps_the_previous_output(tmp_path, monkeypatch):
    folder, _inputs = flat_folder(tmp_path)
    result = cf.combine_flats_by_filter(folder, imagetyp="flat")
    old = {p: p.read_bytes() for p in result.values()}

    def broken_writeto(self, fileobj, **kwargs):
        Path(fileobj).write_bytes(b"SIMPLE  = half-written")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fits.HDUList, "writeto", broken_writeto)
    with pytest.raises(OSError, match=r"combined_flat_filter_gp\.fit") as info:
        cf.combine_flats_by_filter(folder, imagetyp="flat")
    assert info.value.errno == errno.ENOSPC
    assert {p: p.read_bytes() for p in result.values()} == old
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_outputs_follow_the_umask_and_skip_combined_files_without_the_keyword(tmp_path):
    from ccdproc import ImageFileCollection

    folder, _inputs = flat_folder(tmp_path)
    old_umask = os.umask(0o022)
    try:
        result = cf.combine_flats_by_filter(folder, imagetyp="flat")
    finally:
        os.umask(old_umask)
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in result.values())
    # A collection made without the COMBINED keyword must still not take the earlier
    # outputs (which keep IMAGETYP and FILTER) as inputs.
    collection = ImageFileCollection(folder, keywords=["imagetyp", "filter"])
    cf.combine_flats_by_filter(collection, imagetyp="flat")
    header = fits.getheader(result["r"])
    assert header["NCOMBINE"] == 4
    assert not any(
        str(v).startswith("combined") for k, v in header.items() if k.startswith("IMCMB")
    )


def test_filters_differing_only_in_case_are_refused(tmp_path):
    folder = tmp_path / "night"
    write_frames(folder, make_flats(3, seed=40), filt="R", prefix="upper")
    write_frames(folder, make_flats(3, seed=41), filt="r", prefix="lower")
    with pytest.raises(ValueError, match="would both be written"):
        cf.combine_flats_by_filter(folder, imagetyp="flat")


def test_non_ascii_names_are_escaped_in_the_header(tmp_path):
    paths = write_frames(tmp_path, make_flats(3, seed=42), prefix="flat-\u00fc")
    combined = cf.combine_flats(paths)
    names = [combined.header[f"IMCMB{i:03d}"] for i in (1, 2, 3)]
    assert all(name.isascii() and "\\xfc" in name for name in names)
    combined.write(tmp_path / "out.fits")  # a header astropy can write


# ---------------------------------------------------------------- inv_median, display


def test_pixel_scatter_measures_noise_not_smooth_structure():
    rng = np.random.default_rng(30)
    yy, xx = np.mgrid[0:300, 0:400]
    smooth = 1 + 0.05 * np.sin(xx / 40) + 0.1 * yy / 300
    noisy = smooth + rng.normal(0, 0.01, smooth.shape)
    noisy[100, 100] = 50.0  # a cosmic ray does not count
    noisy[200, :7] = np.nan  # nor do NaN pixels
    assert cf.pixel_scatter(noisy) == pytest.approx(0.01, rel=0.03)
    assert cf.pixel_scatter(smooth) < 0.002
    # region selects a part of the image, CCDData and Quantity work
    half = cf.pixel_scatter(CCDData(noisy, unit="adu"), region=np.s_[:150, :])
    assert half == pytest.approx(0.01, rel=0.05)
    assert cf.pixel_scatter(noisy * u.adu) == pytest.approx(cf.pixel_scatter(noisy))
    # pattern and noise add in quadrature: the difference of two frames cancels the pattern
    pattern = rng.normal(0, 0.02, smooth.shape)
    a = smooth + pattern + rng.normal(0, 0.01, smooth.shape)
    b = smooth + pattern + rng.normal(0, 0.01, smooth.shape)
    assert cf.pixel_scatter(a - b) / np.sqrt(2) == pytest.approx(0.01, rel=0.05)


def test_noise_budget_separates_pattern_and_noise():
    rng = np.random.default_rng(31)
    shape = (300, 400)
    pattern = 1 + rng.normal(0, 0.02, shape)
    frames = [
        level * pattern * (1 + rng.normal(0, 0.01, shape)) for level in (900, 1000, 1100, 1200)
    ]
    combined = np.mean([f / np.median(f) for f in frames], axis=0)
    budget = cf.noise_budget(frames[0], CCDData(frames[1], unit="adu"), combined=combined)
    assert budget.frame_noise == pytest.approx(0.01, rel=0.05)
    assert budget.pattern == pytest.approx(0.02, rel=0.05)
    assert budget.combined_noise == pytest.approx(0.005, rel=0.15)
    part = cf.noise_budget(frames[0], frames[1], region=np.s_[:150, :200])
    assert part.frame_noise == pytest.approx(0.01, rel=0.08)
    assert np.isnan(part.combined_noise)
    # no pattern at all: reported as zero, not as a NaN from a negative difference of squares
    flat = [1 + rng.normal(0, 0.01, shape) for _ in range(2)]
    assert cf.noise_budget(*flat).pattern < 0.002


def test_noise_budget_errors():
    with pytest.raises(ValueError, match="second flat has shape"):
        cf.noise_budget(np.ones((20, 20)), np.ones((20, 21)))
    with pytest.raises(ValueError, match="combined flat has shape"):
        cf.noise_budget(np.ones((20, 20)), np.ones((20, 20)), combined=np.ones((5, 5)))
    with pytest.raises(ValueError, match="median"):
        cf.noise_budget(-np.ones((20, 20)), np.ones((20, 20)))
    with pytest.raises(TypeError):
        cf.noise_budget(np.ones((20, 20)), np.ones((20, 20)), None)


def test_pixel_scatter_errors():
    with pytest.raises(ValueError, match="2-D"):
        cf.pixel_scatter(np.ones(100))
    with pytest.raises(ValueError, match="finite neighbour pairs"):
        cf.pixel_scatter(np.full((10, 10), np.nan))
    with pytest.raises(ValueError, match="finite neighbour pairs"):
        cf.pixel_scatter(np.ones((3, 3)))
    with pytest.raises(ValueError, match="selects no pixel"):
        cf.pixel_scatter(np.ones((10, 10)), region=np.s_[20:30, :])
    with pytest.raises(TypeError):
        cf.pixel_scatter(np.ones((10, 10)), np.s_[:5, :5])


def test_inv_median():
    data = np.array([[1.0, 2.0, np.nan], [4.0, np.inf, 8.0]])
    assert cf.inv_median(data) == pytest.approx(1 / 3.0)
    ccd = CCDData(
        np.array([[1.0, 2.0], [3.0, 100.0]]),
        unit="adu",
        mask=np.array([[False, False], [False, True]]),
    )
    assert cf.inv_median(ccd) == pytest.approx(0.5)
    assert cf.inv_median(np.array([1, 2, 3]) * u.adu) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="no pixel is finite"):
        cf.inv_median(np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match="<= 0"):
        cf.inv_median(np.array([-1.0, 0.0, 1.0]))


def test_show_image_large_frame_is_reduced_and_keeps_pixel_coordinates():
    rng = np.random.default_rng(23)
    image = rng.normal(1000, 10, (4096, 4096)).astype(np.float32)
    image[1000, 2000] = 1e6  # a single hot pixel: averaged away at 4x reduction
    fig, axes = plt.subplots(1, 2)
    artist = cf.show_image(image, ax=axes[1], stretch="asinh", title="big")
    fig.canvas.draw()
    assert artist.axes is axes[1]
    assert artist.get_array()[250, 500] == pytest.approx((1e6 + 15 * 1000) / 16, rel=0.01)
    assert artist.origin == "lower"
    assert max(artist.get_array().shape) <= 1024
    assert artist.get_extent() == [-0.5, 4095.5, -0.5, 4095.5]
    assert axes[1].get_title() == "big"
    plt.close(fig)


@pytest.mark.parametrize("stretch", ["linear", "sqrt", "log", "asinh"])
def test_show_image_inputs_and_stretches(stretch):
    data = np.arange(50 * 70, dtype=float).reshape(50, 70)
    ccd = CCDData(data, unit="adu", mask=data == 10)
    artist = cf.show_image(ccd, stretch=stretch, percentiles=(5, 95), colorbar=True)
    assert np.ma.is_masked(artist.get_array()[0, 10])
    assert artist.get_extent() == [-0.5, 69.5, -0.5, 49.5]
    ticks = artist.colorbar.get_ticks()
    assert artist.colorbar.ax.get_ylabel() == "adu"
    assert len(ticks) >= 2
    assert all(artist.norm.vmin <= tick <= artist.norm.vmax for tick in ticks)
    plt.close(artist.figure)
    artist = cf.show_image(data * u.electron, colorbar=False)
    assert artist.colorbar is None
    plt.close(artist.figure)
    flat = CCDData(data / np.median(data), unit=u.dimensionless_unscaled)
    assert cf.show_image(flat).colorbar.ax.get_ylabel() == "relative response"
    assert cf.show_image(data, label="ADU").colorbar.ax.get_ylabel() == "ADU"
    assert cf.show_image(data).colorbar.ax.get_ylabel() == "pixel value"
    plt.close("all")


def test_show_image_reduces_odd_sizes_with_nan():
    data = np.ones((1500, 3001), dtype=np.float32)
    data[:, -1] = 5.0
    data[100:200, 100:200] = np.nan
    artist = cf.show_image(data)
    shown = artist.get_array()
    assert shown.shape == (500, 1001)
    ax = artist.axes
    assert ax.get_xlim() == (-0.5, 3000.5)
    assert ax.get_ylim() == (-0.5, 1499.5)
    assert artist.get_extent() == [-0.5, 3002.5, -0.5, 1499.5]
    plt.close(artist.figure)


def test_show_image_errors():
    with pytest.raises(ValueError, match="2-D"):
        cf.show_image(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="stretch"):
        cf.show_image(np.zeros((4, 4)), stretch="gamma")
    for bad in ((99, 1), (-1, 50), (1, 101), (5,), "ab"):
        with pytest.raises(ValueError, match="percentiles"):
            cf.show_image(np.zeros((4, 4)), percentiles=bad)
    with pytest.raises(ValueError, match="finite"):
        cf.show_image(np.full((4, 4), np.nan))
    with pytest.raises(TypeError):
        cf.show_image(np.zeros((4, 4)), vmin=0)
    plt.close("all")


def test_plot_frame_levels(tmp_path):
    frames = make_flats(4, spread=0.2, seed=24)
    frames[0][0, 0] = np.nan
    paths = write_frames(tmp_path, frames)
    fig, ax = plt.subplots()
    medians = cf.plot_frame_levels(paths, ax=ax, title="levels")
    expected = [np.median(f[np.isfinite(f)]) for f in frames]
    np.testing.assert_allclose(medians, expected, rtol=1e-6)
    assert medians.dtype == float
    assert [t.get_text() for t in ax.get_xticklabels()] == [p.name for p in paths]
    assert "adu" in ax.get_ylabel()
    assert ax.get_legend() is not None
    assert ax.get_title() == "levels"
    means = ax.get_lines()[0].get_ydata()
    np.testing.assert_allclose(means, [np.nanmean(f) for f in frames], rtol=1e-6)
    plt.close(fig)

    medians = cf.plot_frame_levels(frames, labels=list("abcd"))
    assert [t.get_text() for t in plt.gca().get_xticklabels()] == list("abcd")
    plt.close("all")
    with pytest.raises(ValueError, match="labels"):
        cf.plot_frame_levels(frames, labels=["a"])
    with pytest.raises(ValueError, match="no frame"):
        cf.plot_frame_levels([])
    with pytest.raises(ValueError, match="finite"):
        cf.plot_frame_levels([np.full((3, 3), np.nan)])
    with pytest.raises(TypeError):
        cf.plot_frame_levels(frames, xlabel="x")


def test_infinite_pixels_count_like_nan(tmp_path):
    frames = make_flats(5, seed=43)
    with_nan = [f.copy() for f in frames]
    with_inf = [f.copy() for f in frames]
    with_nan[0][:10] = np.nan
    with_inf[0][:10] = -np.inf
    with_inf[0][10:14] = np.inf
    with_nan[0][10:14] = np.nan
    a = cf.combine_flats(write_frames(tmp_path / "nan", with_nan))
    b = cf.combine_flats(write_frames(tmp_path / "inf", with_inf))
    np.testing.assert_array_equal(a.data, b.data)


def test_fit_plane_recovers_a_gradient_and_refuses_bad_input():
    rng = np.random.default_rng(21)
    yy, xx = np.mgrid[0:300, 0:200]
    truth = 1 + 0.02 * xx / 199 - 0.01 * yy / 299
    image = truth * (1 + rng.normal(0, 0.01, truth.shape))
    image[50:60, :] = np.nan  # dead rows are left out of the fit
    plane = cf.fit_plane(image)
    assert plane.shape == image.shape
    assert plane.dtype == np.float32
    assert np.max(np.abs(plane - truth)) < 1e-3
    with pytest.raises(ValueError, match="2-D"):
        cf.fit_plane(np.ones(5))
    with pytest.raises(ValueError, match="fit_plane: step must be a whole number >= 1"):
        cf.fit_plane(image, step=0)
    with pytest.raises(ValueError, match="fewer than 3 finite"):
        cf.fit_plane(np.full((10, 10), np.nan))


@pytest.mark.parametrize("combine", [cf.combine_flats, cf.combine_sky_flats])
@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"gain": 1.5}, ValueError, "used by stdfunc='ccdclip' only"),
        ({"read_noise": 5.0}, ValueError, "used by stdfunc='ccdclip' only"),
        ({"stdfunc": "ccdclip", "gain": -1.5}, ValueError, "gain must be a finite number > 0"),
        ({"sigma_upper": -5}, ValueError, "sigma_upper must be a finite number > 0"),
        ({"sigma_upper": "5"}, TypeError, "sigma_upper must be a number"),
        ({"dtype": np.int16}, ValueError, "float32 or float64"),
        ({"mem_limit": "1e9"}, TypeError, "mem_limit must be a number"),
    ],
)
def test_options_are_refused_before_a_frame_is_opened(
    tmp_path, monkeypatch, combine, options, error, message
):
    paths = write_frames(tmp_path, make_flats(8, shape=(512, 512)))
    opened = []
    monkeypatch.setattr(engine_frames.Frame, "__init__", lambda *args: opened.append(args))
    with pytest.raises(error, match=rf"^{combine.__name__}: .*{message}"):
        combine(paths, **options)
    assert not opened


def test_a_missing_gain_keyword_is_refused_before_a_pixel_is_read(tmp_path, monkeypatch):
    paths = write_frames(tmp_path, make_flats(4))
    read = []
    monkeypatch.setattr(engine_frames.Frame, "read_rows", lambda *args: read.append(args))
    for combine in (cf.combine_flats, cf.combine_sky_flats):
        with pytest.raises(ValueError, match=r"flat-001\.fit has no GAIN keyword"):
            combine(paths, stdfunc="ccdclip")
    assert not read


def test_errors_of_the_frame_checks_name_the_function_called(tmp_path):
    paths = write_frames(tmp_path / "a", make_flats(3))
    other = write_frames(tmp_path / "b", make_flats(3, shape=(32, 32)))
    for combine in (cf.combine_flats, cf.combine_sky_flats):
        with pytest.raises(ValueError, match=f"^{combine.__name__}: .*has shape"):
            combine([*paths, other[0]])


def test_combine_flats_by_filter_refuses_options_before_it_reads_or_writes(tmp_path, monkeypatch):
    write_frames(tmp_path / "in", make_flats(3))
    opened = []
    monkeypatch.setattr(engine_frames, "flats_by_filter", lambda *args: opened.append(args))
    for options, error in (({"gain": 1.5}, ValueError), ({"sigma_upper": "5"}, TypeError)):
        with pytest.raises(error, match=r"^combine_flats_by_filter: "):
            cf.combine_flats_by_filter(
                tmp_path / "in", imagetyp="flat", output_dir=tmp_path / "out", **options
            )
    assert not opened
    assert not (tmp_path / "out").exists()


def test_ccdproc_recipe_is_the_guides_call_normalised(tmp_path):
    import ccdproc

    frames = make_flats(4, spread=0.01, seed=3)
    frames[1][10, 20] += 20000.0  # a cosmic ray: a MAD clip rejects it, a std clip cannot
    paths = write_frames(tmp_path, frames)
    common = {"method": "average", "scale": cf.inv_median, "sigma_clip": True}
    common.update(sigma_clip_low_thresh=5, sigma_clip_high_thresh=5, mem_limit=350e6)
    for spelling, spread in (
        ("correct", {"sigma_clip_func": "median", "sigma_clip_dev_func": "mad_std"}),
        ("guide", {"sigma_clip_func": np.ma.median}),  # the misspelt keyword is ignored
    ):
        direct = ccdproc.combine(paths, **common, **spread).data
        recipe = cf.ccdproc_recipe(paths, spelling=spelling)
        np.testing.assert_allclose(recipe.data, direct / np.nanmedian(direct), rtol=1e-12)
        assert recipe.unit == u.dimensionless_unscaled
        assert recipe.uncertainty is None
    kept = cf.ccdproc_recipe(paths, spelling="guide").data[10, 20]
    rejected = cf.ccdproc_recipe(paths).data[10, 20]
    assert kept > rejected * 1.05  # the guide's call averages the ray in


def test_ccdproc_recipe_reads_frames_without_bunit_and_refuses_bad_input(tmp_path):
    frames = make_flats(3, seed=4)
    for i, data in enumerate(frames):
        fits.writeto(tmp_path / f"raw-{i}.fits", data, fits.Header({"IMAGETYP": "FLAT"}))
    flat = cf.ccdproc_recipe(sorted(tmp_path.glob("raw-*.fits")), scale=False)
    assert np.nanmedian(flat.data) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="spelling must be 'correct' or 'guide'"):
        cf.ccdproc_recipe(sorted(tmp_path.glob("raw-*.fits")), spelling="signma")
    raw = sorted(tmp_path.glob("raw-*.fits"))
    for options, error, message in (
        ({"images": []}, ValueError, "at least 3 frames, got 0"),
        ({"images": raw[0]}, TypeError, "not one path"),
        ({"mem_limit": "1e9"}, TypeError, "mem_limit must be a number"),
        ({"mem_limit": -1}, ValueError, "mem_limit must be a finite number > 0"),
        ({"dtype": np.int16}, ValueError, "float32 or float64"),
        ({"scale": "yes"}, TypeError, "scale must be True or False"),
    ):
        arguments = {"images": raw, **options}
        with pytest.raises(error, match=f"^ccdproc_recipe: .*{message}"):
            cf.ccdproc_recipe(arguments.pop("images"), **arguments)
    (tmp_path / "notes.fits").write_text("not FITS")
    with pytest.raises(ValueError, match=r"notes\.fits"):
        cf.ccdproc_recipe([*raw, tmp_path / "notes.fits"])
    fits.writeto(tmp_path / "e.fits", frames[0], fits.Header({"BUNIT": "electron"}))
    with pytest.raises(ValueError, match="different units"):
        cf.ccdproc_recipe([*raw, tmp_path / "e.fits"])
    assert cf.ccdproc_recipe(raw).meta["COMBINED"] is True


def test_ideal_flat_noise_refuses_what_is_not_a_count_or_level():
    levels = [20000.0, 20000.0]
    for options in (
        {"levels": []},
        {"levels": ["bright"]},
        {"levels": [0.0]},
        {"gain": 0.0},
        {"read_noise": -1.0},
        {"n_used": np.array([-1, 2])},
        {"n_used": np.array([1.5, 2.0])},
        {"n_used": np.array([3, 2])},  # more frames than levels
        {"response": np.ones((3, 3)), "n_used": np.ones((2, 2), int)},
        {"gain": 2 * u.adu},
    ):
        arguments = {"levels": levels, "gain": 2.0, **options}
        with pytest.raises(ValueError, match=r"^ideal_flat_noise: "):
            cf.ideal_flat_noise(arguments.pop("levels"), **arguments)
    with_units = cf.ideal_flat_noise(levels, gain=2 * u.electron / u.adu, read_noise=5 * u.electron)
    assert with_units == cf.ideal_flat_noise(levels, gain=2.0, read_noise=5.0)
    counts = cf.ideal_flat_noise(levels, gain=2.0, n_used=np.array([2, 1, 0]))
    np.testing.assert_allclose(counts[:2], [0.005 / np.sqrt(2), 0.005])
    assert counts[2] == np.inf


def test_frames_by_filter_groups_one_imagetyp(tmp_path):
    from ccdproc import ImageFileCollection

    write_frames(tmp_path, make_flats(2), filt="V", prefix="v")
    write_frames(tmp_path, make_flats(3), filt="B", prefix="b")
    write_frames(tmp_path, make_flats(1), filt="R", imagetyp="LIGHT", prefix="r")
    combined = cf.combine_flats(write_frames(tmp_path / "sub", make_flats(3), filt="B"))
    cf.write_flat(combined, tmp_path / "an-earlier-flat.fits")  # COMBINED = True: left out
    groups = cf.frames_by_filter(ImageFileCollection(tmp_path), imagetyp="flat")
    assert list(groups) == ["B", "V"]
    assert cf.frames_by_filter(str(tmp_path), imagetyp="FLAT ") == groups
    assert [Path(p).name for p in groups["B"]] == ["b-001.fit", "b-002.fit", "b-003.fit"]
    with pytest.raises(ValueError, match=r"^frames_by_filter: no frame in .* IMAGETYP 'bias'"):
        cf.frames_by_filter(ImageFileCollection(tmp_path), imagetyp="bias")
    with pytest.raises(ValueError, match=r"^frames_by_filter: .*missing is not a folder"):
        cf.frames_by_filter(tmp_path / "missing", imagetyp="flat")
    for imagetyp in ("", "  ", None):
        with pytest.raises(ValueError, match="imagetyp must be a non-empty string"):
            cf.frames_by_filter(ImageFileCollection(tmp_path), imagetyp=imagetyp)


def test_combine_flats_by_filter_refuses_before_writing_anything(tmp_path):
    write_frames(tmp_path, make_flats(3), filt="B", prefix="b")
    write_frames(tmp_path, make_flats(2), filt="R", prefix="r")
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"^combine_flats_by_filter: .*\{'R': 2\}"):
        cf.combine_flats_by_filter(tmp_path, imagetyp="flat", output_dir=out)
    for options in ({"return_counts": True}, {"images": []}, {"sigma": 5}):
        with pytest.raises(TypeError, match=r"^combine_flats_by_filter: "):
            cf.combine_flats_by_filter(tmp_path, imagetyp="flat", output_dir=out, **options)
    assert not out.exists()
    written = cf.combine_flats_by_filter(
        tmp_path, imagetyp="flat", output_dir=out, sigma_lower=None, sigma_upper=None
    )
    assert sorted(written) == ["B", "R"]


def test_write_flat_marks_its_file_so_a_rerun_may_replace_it(tmp_path):
    flat = CCDData(np.ones((4, 4)), unit="")  # no COMBINED in its header
    path = cf.write_flat(flat, tmp_path / "flat.fits")
    assert fits.getheader(path)["COMBINED"] is True
    assert cf.write_flat(flat, path) == path
    with pytest.raises(ValueError, match="n_used must hold counts"):
        cf.write_flat(flat, path, n_used=np.ones((4, 4)))
    with pytest.raises(ValueError, match="names a compressed file"):
        cf.write_flat(flat, tmp_path / "flat.fits.gz")
    (tmp_path / "mine.fits").write_bytes(b"my own file")
    with pytest.raises(ValueError, match="refusing to overwrite it"):
        cf.write_flat(flat, tmp_path / "mine.fits")
    assert (tmp_path / "mine.fits").read_bytes() == b"my own file"


# Whole-number options: one rule for every public function ---------------------------------


def _whole_number_calls():
    """Each public function with a whole-number option: (name, call(value), smallest)."""
    image = np.ones((64, 64), dtype=np.float32)
    flats = {"flat": (image, np.full_like(image, 0.01))}
    return [
        ("show_image", lambda v: cf.show_image(image, block=v), 1),
        ("show_image", lambda v: cf.show_image(image, max_pixels=v), 1),
        ("region_around", lambda v: cf.region_around((5, 5), v), 1),
        (
            "show_block_residuals",
            lambda v: cf.show_block_residuals(flats, image, alt="a", size=v),
            1,
        ),
        ("fit_plane", lambda v: cf.fit_plane(image, step=v), 1),
        ("block_mean", lambda v: cf.block_mean(image, v), 1),
        ("compare_halves", lambda v: cf.compare_halves(image, image, expected=0.01, block=v), 2),
        ("illumination_correction", lambda v: cf.illumination_correction(image, image, block=v), 2),
        ("source_mask", lambda v: cf.source_mask(image, box_size=v), 1),
        ("combine_sky_flats", lambda v: cf.combine_sky_flats([image] * 3, passes=v), 1),
    ]


@pytest.mark.parametrize(("name", "call", "smallest"), _whole_number_calls())
def test_every_whole_number_option_follows_one_rule(name, call, smallest):
    """A float (even a whole one), a bool or a string is a TypeError, never truncated; an
    integer below the smallest allowed is a ValueError; both name the function."""
    for value in (float(smallest + 1), True, "3"):
        with pytest.raises(TypeError, match=f"{name}: .* must be a whole number \\(an int\\)"):
            call(value)
    with pytest.raises(ValueError, match=f"{name}: .* must be a whole number >= {smallest}"):
        call(smallest - 1)


def test_planned_flats_names_and_checks_each_flat_before_any_combining(tmp_path):
    paths = cf.planned_flats(tmp_path, ["g'", "B 2"])
    assert paths == {
        "g'": tmp_path / "combined_flat_filter_gp.fit",
        "B 2": tmp_path / "combined_flat_filter_B_2.fit",
    }
    assert paths["g'"].name == cf.combine_flats_by_filter.__globals__["_groups"].output_name("g'")
    sky = cf.planned_flats(tmp_path, ["r'"], sky=True)
    assert sky == {"r'": tmp_path / "combined_sky_flat_filter_rp.fit"}
    assert list(tmp_path.iterdir()) == []  # nothing written
    # an earlier combined flat passes (it will be replaced); a reader's file does not
    flat = CCDData(np.ones((4, 4)), unit="")
    cf.write_flat(flat, paths["g'"])
    assert cf.planned_flats(tmp_path, ["g'"]) == {"g'": paths["g'"]}
    (tmp_path / "combined_sky_flat_filter_rp.fit").write_text("my notes")
    with pytest.raises(ValueError, match=r"planned_flats: .*rp\.fit exists and is not a combined"):
        cf.planned_flats(tmp_path, ["r'"], sky=True)
    assert cf.planned_flats(tmp_path, ["r'"])  # the dome flat's name is free
    with pytest.raises(TypeError, match="planned_flats: sky must be True or False"):
        cf.planned_flats(tmp_path, ["r'"], sky="yes")
    with pytest.raises(TypeError, match="planned_flats: filters must be a list"):
        cf.planned_flats(tmp_path, "r")
    with pytest.raises(TypeError, match="planned_flats: filter name must be a string"):
        cf.planned_flats(tmp_path, [None])
    with pytest.raises(ValueError, match="planned_flats: filter name is empty"):
        cf.planned_flats(tmp_path, [" "])
    with pytest.raises(ValueError, match="planned_flats: groups 'B 2' and 'B_2' would both be"):
        cf.planned_flats(tmp_path, ["B 2", "B_2"])
    with pytest.raises(ValueError, match="planned_flats: groups 'R' and 'r' would both be"):
        cf.planned_flats(tmp_path, ["R", "r"])  # one file on macOS and Windows
    with pytest.raises(ValueError, match="move or rename that file, or choose another output"):
        cf.planned_flats(tmp_path, ["r'"], sky=True)  # what to do
