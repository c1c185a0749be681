"""Tests of example_data.synthetic: the seeded frames of the tests and benchmarks."""

from __future__ import annotations

import conftest
import numpy as np
import pytest

from benchmarks import bench_rejection
from example_data import synthetic


def test_tests_and_benchmark_use_the_package_generators():
    assert conftest.make_flats is synthetic.make_flats
    assert conftest.make_sky_frames is synthetic.make_sky_frames
    assert conftest.vignetting is synthetic.vignetting
    assert conftest.SHAPE == synthetic.TEST_SHAPE == (64, 96)
    assert bench_rejection.make_flats is synthetic.make_flats_with_rays
    assert bench_rejection.true_response is synthetic.true_response
    assert bench_rejection.SyntheticFlats is synthetic.SyntheticFlats
    assert (bench_rejection.SEED, bench_rejection.SHAPE) == (20_250_101, (1024, 1024))


def test_generators_are_seeded():
    a, b = synthetic.make_flats(3, seed=4, spread=0.1), synthetic.make_flats(3, seed=4, spread=0.1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert a[0].dtype == np.float32
    assert a[0].shape == synthetic.TEST_SHAPE
    assert np.median(synthetic.vignetting((32, 48))) == pytest.approx(1.0)
    frames, response, skies = synthetic.make_sky_frames(3, shape=(64, 64), seed=2)
    again, _, _ = synthetic.make_sky_frames(3, shape=(64, 64), seed=2)
    assert all(np.array_equal(x.data, y.data) for x, y in zip(frames, again, strict=True))
    assert np.median(response) == pytest.approx(1.0)
    assert list(skies) == [3000.0, 2500.0, 2000.0]


def test_flats_with_rays_record_every_ray():
    flats = synthetic.make_flats_with_rays(3, shape=(128, 128), seed=1)
    again = synthetic.make_flats_with_rays(3, shape=(128, 128), seed=1)
    for x, y in zip(flats.frames, again.frames, strict=True):
        assert np.array_equal(x.data, y.data)
    assert flats.n_events == 3 * synthetic.RAY_EVENTS_PER_FRAME
    hit = flats.ray_frame >= 0
    assert np.array_equal(hit, np.isfinite(flats.ray_sigma))
    assert set(np.unique(flats.ray_frame[hit])) == {0, 1, 2}
    low, high = synthetic.RAY_SIGMAS
    assert np.all((flats.ray_sigma[hit] >= low) & (flats.ray_sigma[hit] <= high))
    assert sorted(flats.levels) == list(np.linspace(*synthetic.RAY_FLATS_LEVELS, 3))
    assert flats.frames[0].meta["GAIN"] == synthetic.RAY_FLATS_GAIN


def test_spoil_frame_spoils_a_copy_as_documented():
    frames, _, _ = synthetic.make_sky_frames(3, shape=(64, 64), seed=2)
    flat = frames[0]
    before = flat.data.copy()
    leak = synthetic.spoil_frame(flat, "leak", 0.5)
    assert np.array_equal(flat.data, before)
    assert "SPOILED" not in flat.meta
    added = (leak.data - before) / np.median(before)
    assert added[:, 0] == pytest.approx(0, abs=1e-3)
    assert added[:, -1] == pytest.approx(0.5, rel=1e-3)
    assert added[0, 32] == pytest.approx(0.5 * (32 / 63) ** 2, rel=1e-3)  # a square
    gradient = synthetic.spoil_frame(flat, "gradient", 0.05)
    assert (gradient.data[:, -1] / before[:, -1]) == pytest.approx(1.05, rel=1e-5)
    over = synthetic.spoil_frame(flat, "overexposed", 100.0)
    assert over.meta["SATURATE"] == synthetic.OVEREXPOSED_SATURATE
    assert over.data.max() == synthetic.OVEREXPOSED_SATURATE
    assert over.meta["SPOILED"] == "overexposed"
    moon = synthetic.spoil_frame(flat, "moonlight", 1000.0)
    assert (moon.data - before)[-1] == pytest.approx(1000.0, rel=1e-4)
    with pytest.raises(ValueError, match="kind must be one of"):
        synthetic.spoil_frame(flat, "fog", 1.0)


def test_example1_mosaic_is_written_as_the_lfc_writes_it(tmp_path):
    from astropy.io import fits
    from astropy.nddata import CCDData

    paths, truths, levels = synthetic.write_example1_mosaic(tmp_path / "a", seed=2)
    again, _, _ = synthetic.write_example1_mosaic(tmp_path / "b", seed=2)
    assert [p.name for p in paths] == [
        "ccd.037.fits", "ccd.038.fits", "ccd.039.fits", "ccd.043.fits", "ccd.044.fits",
        "ccd.045.fits",
    ]  # fmt: skip
    assert paths[0].read_bytes() == again[0].read_bytes()  # seeded
    with fits.open(paths[3]) as hdul:
        assert hdul[0].data is None
        assert len(hdul) == 7
        assert hdul[0].header["FILTER"] == "i'"
        assert hdul[0].header["GAIN"] == 2.0
        assert [hdu.name for hdu in hdul[1:]] == list(synthetic.MOSAIC_CHIPS)
        assert "GAIN" not in hdul[1].header
        assert "FILTER" not in hdul[1].header
        assert hdul[1].header["CCDNAME"] == "CHIP0"
        assert hdul[1].header["BUNIT"] == "adu"
    chip = CCDData.read(paths[0], hdu="CHIP3")
    assert chip.shape == synthetic.EXAMPLE1_MOSAIC_SHAPE
    truth = truths["g'", "CHIP3"]
    assert np.median(truth) == pytest.approx(1.0)
    expected = truth * levels["g'", "CHIP3"][0]
    noise = np.sqrt(expected / 2.0 + 16.0)
    assert np.std((chip.data - expected)[truth > 0.5] / noise[truth > 0.5]) == pytest.approx(
        1.0, abs=0.02
    )
    assert levels["g'", "CHIP5"][0] / levels["g'", "CHIP0"][0] == pytest.approx(1.1 / 0.9)
    with pytest.raises(ValueError, match="do not fit"):
        synthetic.write_example1_mosaic(tmp_path / "c", shape=(700, 100))
