"""Tests of example_data: the simulated, calibrated flat frames of the two worked examples."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import example_data as ed

EXPECTED_KEYWORDS = (
    "IMAGETYP",
    "FILTER",
    "EXPTIME",
    "DATE-OBS",
    "INSTRUME",
    "TELESCOP",
    "GAIN",
    "RDNOISE",
    "BUNIT",
    "SIMULATE",
)


# --------------------------------------------------------------------------------------------
# Fixtures: each example is generated once per session
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def folders(tmp_path_factory) -> dict[int, Path]:
    root = tmp_path_factory.mktemp("example_data")
    out = {}
    for example in (1, 2):
        folder = ed.ensure_example_data(example, root / f"example{example}")
        assert isinstance(folder, Path)
        out[example] = folder
    return out


class _Frames:
    """Native-endian float32 pixel data of the generated frames, loaded on first use."""

    def __init__(self, folders: dict[int, Path]) -> None:
        self.folders = folders
        self.cache: dict[tuple[int, int], np.ndarray] = {}

    def __call__(self, example: int, index: int) -> np.ndarray:
        key = (example, index)
        if key not in self.cache:
            path = self.folders[example] / ed.example_files(example)[index]
            self.cache[key] = fits.getdata(path).astype(np.float32)
        return self.cache[key]


@pytest.fixture(scope="session")
def frames(folders) -> _Frames:
    return _Frames(folders)


def _stats(folder: Path) -> dict[str, tuple[int, int, int]]:
    return {
        p.name: (p.stat().st_mtime_ns, p.stat().st_ino, p.stat().st_size) for p in folder.iterdir()
    }


def _robust_std(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64).ravel()
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def _bin(a: np.ndarray, b: int) -> np.ndarray:
    r, c = a.shape
    return a[: r // b * b, : c // b * b].reshape(r // b, b, c // b, b).mean(axis=(1, 3))


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.endswith(".tmp") or p.name.startswith(".")]


# --------------------------------------------------------------------------------------------
# Files, shapes, headers
# --------------------------------------------------------------------------------------------


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


def test_example_constants():
    assert ed.EXAMPLE1_FILTERS.count("g'") == 3
    assert ed.EXAMPLE1_FILTERS.count("i'") == 3
    assert set(ed.EXAMPLE1_EXPTIMES) == {70.0, 7.0}
    assert ed.EXAMPLE2_FILES[0] == "AutoFlat-PANoRot-r-Bin1-001.fit"
    assert ed.EXAMPLE2_FILES[-1] == "AutoFlat-PANoRot-r-Bin1-010.fit"
    assert ed.example_medians(1) == ed.EXAMPLE1_MEDIANS
    assert ed.example_files(2) == ed.EXAMPLE2_FILES


def test_twilight_sequence_exposures_and_levels():
    exptimes = np.array(ed.EXAMPLE2_EXPTIMES)
    levels = np.array(ed.EXAMPLE2_MEDIANS)
    # Frames 1-5 at the 1 s minimum while the sky is too bright: the level falls.
    assert np.all(exptimes[:5] == 1.0)
    assert np.all(np.diff(levels[:5]) < 0)
    # From frame 6 the exposure is lengthened and the level holds (within 1 %).
    assert np.all(np.diff(exptimes[4:]) > 0)
    assert exptimes[-1] == 1.21
    assert np.ptp(levels[5:]) / levels[5:].mean() < 0.01
    # The sky's brightness (level per second) falls all the way through.
    assert np.all(np.diff(levels / exptimes) < 0)


@pytest.mark.parametrize("example", [1, 2])
def test_frame_medians(frames, example):
    for index, target in enumerate(ed.example_medians(example)):
        median = float(np.median(frames(example, index)))
        assert abs(median / target - 1) < 0.002, (index, median, target)


# --------------------------------------------------------------------------------------------
# Determinism
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("example", "index"), [(1, 4), (2, 7)])
def test_single_frame_is_bit_identical(frames, example, index):
    first, header1 = ed._simulate_frame(example, index)
    second, header2 = ed._simulate_frame(example, index)
    assert first.dtype == np.float32
    assert np.array_equal(first, second)
    assert header1.tostring() == header2.tostring()
    # ... and equal to the frame written by the threaded run that made all frames together.
    assert np.array_equal(first, frames(example, index))


def test_truth_tables_are_deterministic():
    for function in (
        lambda: ed.example1_spots(filter_name="i'"),
        ed.example2_donuts,
        lambda: ed.example_defects(1),
        lambda: ed.example_defects(2),
        lambda: ed.example2_stars(3),
        lambda: ed.example_cosmic_rays(1, 2),
        lambda: ed.example_cosmic_rays(2, 5),
    ):
        for a, b in zip(function(), function(), strict=True):
            assert np.array_equal(a, b)


def test_spots_are_plausible():
    spots_g = ed.example1_spots()
    spots_i = ed.example1_spots(filter_name="i'")
    assert 24 <= len(spots_g.row) <= 60
    assert spots_g.diameter.min() >= 5
    assert spots_g.diameter.max() <= 30
    assert spots_g.depth.min() >= 0.02
    assert spots_g.depth.max() <= 0.15
    assert np.all(spots_i.depth < spots_g.depth)
    assert np.array_equal(spots_i.row, spots_g.row)
    with pytest.raises(ValueError, match="filter"):
        ed.example1_spots(filter_name="r")


def test_donuts_get_shallower_as_they_get_larger():
    donuts = ed.example2_donuts()
    assert donuts.radius.min() >= 19
    assert donuts.radius.max() <= 120
    assert np.all(donuts.inner_radius < donuts.radius)
    assert 0.001 < donuts.depth.min()
    assert donuts.depth.max() < 0.15
    # depth = (dust radius / beam radius)**2: a slope of -2 in log-log, with scatter from the
    # sizes of the dust particles (25 to 60 microns).
    slope = np.polyfit(np.log(donuts.radius), np.log(donuts.depth), 1)[0]
    assert -2.6 < slope < -1.4, slope
    order = np.argsort(donuts.radius)
    assert donuts.depth[order[:6]].mean() > 5 * donuts.depth[order[-6:]].mean()
    dust_um = donuts.radius * 9.0 * np.sqrt(donuts.depth * (1 - 0.42**2))
    assert np.all((dust_um > 24.9) & (dust_um < 60.1))


# --------------------------------------------------------------------------------------------
# The truth: what a flat should record
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def truth():
    cache: dict[tuple[int, str], np.ndarray] = {}

    def get(example: int, filter_name: str) -> np.ndarray:
        key = (example, filter_name)
        if key not in cache:
            cache[key] = ed.true_flat(example, filter_name)
        return cache[key]

    return get


def test_true_flat_is_normalised_deterministic_and_checks_its_arguments(truth):
    flat = truth(1, "i'")
    assert flat.dtype == np.float32
    assert flat.shape == ed.EXAMPLE1_SHAPE
    assert np.median(flat) == pytest.approx(1.0, abs=1e-6)
    assert np.array_equal(flat, ed.true_flat(1, "i'"))
    assert truth(2, "r").shape == ed.EXAMPLE2_SHAPE
    with pytest.raises(ValueError, match="g', i'"):
        ed.true_flat(1, "r")
    with pytest.raises(ValueError, match="choose one of r"):
        ed.true_flat(2, "g'")
    with pytest.raises(ValueError, match=r"example must be 1, 2 or 3.*examples 2 and 3 have r"):
        ed.true_flat(4, "r")
    with pytest.raises(ValueError, match="choose one of r"):
        ed.true_flat(3, "i'")


@pytest.mark.parametrize(
    ("example", "filter_name", "indices"),
    [(1, "g'", (0, 1, 2)), (1, "i'", (3, 4, 5)), (2, "r", tuple(range(10)))],
)
def test_frames_agree_with_the_truth_within_the_noise(frames, truth, example, filter_name, indices):
    """The frames, each over its level (and Example 2's over its sky gradient), average to
    the truth with the scatter that the Poisson and read noise predict, and no more."""
    rows = np.s_[::2]  # every other row is plenty
    flat = truth(example, filter_name)[rows]
    gain = ed.EXAMPLE1_GAIN if example == 1 else ed.EXAMPLE2_GAIN
    read_noise = ed.EXAMPLE1_READ_NOISE if example == 1 else ed.EXAMPLE2_READ_NOISE
    mean = np.zeros(flat.shape, dtype=np.float64)
    for index in indices:
        data = frames(example, index)[rows]
        if example == 2:
            amplitude, angle = ed.example2_sky_gradient(index)
            y = np.linspace(-0.5, 0.5, ed.EXAMPLE2_SHAPE[0], dtype=np.float32)[rows, None]
            x = np.linspace(-0.5, 0.5, ed.EXAMPLE2_SHAPE[1], dtype=np.float32)[None, :]
            data = data / (1 + amplitude * np.sin(np.radians(angle)) * y)
            data /= 1 + amplitude * np.cos(np.radians(angle)) * x
        mean += data / np.median(data) / len(indices)
    good = flat > 0.5
    ratio = mean[good] / flat[good]
    levels = np.array([ed.example_medians(example)[i] for i in indices])
    expected = np.sqrt(np.sum(1 / (gain * levels) + (read_noise / gain) ** 2 / levels**2))
    expected /= len(indices)
    assert abs(np.median(ratio) - 1) < 1e-3
    assert _robust_std(ratio) == pytest.approx(expected, rel=0.03)


def test_frame_is_level_times_truth_plus_noise_and_the_listed_cosmic_rays(frames, truth):
    data = frames(1, 0)
    flat = truth(1, "g'")
    good = flat > 0.5
    level = float(np.median(data[good] / flat[good]))
    model = level * flat
    sigma = np.sqrt(model / ed.EXAMPLE1_GAIN + (ed.EXAMPLE1_READ_NOISE / ed.EXAMPLE1_GAIN) ** 2)
    residual = (data - model) / sigma
    rays = ed.example_cosmic_rays(1, 0)
    hit = np.zeros(data.shape, dtype=bool)
    hit[rays.row, rays.col] = True
    # The Gaussian noise reaches 5.8 sigma at most; everything beyond is a listed ray.
    assert np.abs(residual[~hit]).max() < 6.0
    strong = rays.adu > 5 * sigma[rays.row, rays.col]
    assert np.count_nonzero(strong) > 15  # most hits are only a few sigma above the noise
    excess = data[rays.row, rays.col] - model[rays.row, rays.col]
    assert np.all(excess[strong] > rays.adu[strong] - 6 * sigma[rays.row, rays.col][strong])


def test_pixel_to_pixel_variation_per_filter(truth):
    def neighbour_scatter(flat):
        box = flat[1000:3000, 500:1500]
        return _robust_std((box[:, 1:] - box[:, :-1]) / np.sqrt(2))

    g, i, r = (neighbour_scatter(truth(*key)) for key in [(1, "g'"), (1, "i'"), (2, "r")])
    assert g == pytest.approx(0.0060, abs=0.0003)  # the blue feels the thinned back surface
    assert i == pytest.approx(0.0035, abs=0.0003)
    assert r == pytest.approx(0.0070, abs=0.0003)


def test_mottle_is_smooth_with_unit_rms():
    field = ed._smooth_field(np.random.default_rng(5), (1024, 512), 32)
    assert field.dtype == np.float32
    assert 0.8 < field.std() < 1.2
    neighbours = np.corrcoef(field[:, :-1].ravel(), field[:, 1:].ravel())[0, 1]
    far = np.corrcoef(field[:, :-300].ravel(), field[:, 300:].ravel())[0, 1]
    assert neighbours > 0.99
    assert abs(far) < 0.2


@pytest.mark.parametrize(("example", "filter_name"), [(1, "g'"), (1, "i'"), (2, "r")])
def test_defects_are_in_the_truth(truth, example, filter_name):
    flat = truth(example, filter_name)
    defects = ed.example_defects(example)
    n_columns, n_dead, n_low = ed._DEFECT_COUNTS[example]
    assert len(defects.column) == n_columns >= 2
    assert len(defects.row) == n_dead + n_low
    dead = defects.response == 0
    assert np.count_nonzero(dead) == n_dead >= 20
    assert np.all(flat[defects.row[dead], defects.col[dead]] == 0)
    low = ~dead
    assert np.all((defects.response[low] >= 0.5) & (defects.response[low] <= 0.9))
    neighbours = np.median(
        [flat[defects.row[low] + dr, defects.col[low] + dc] for dr, dc in ((-2, 0), (2, 0))],
        axis=0,
    )
    measured = flat[defects.row[low], defects.col[low]] / neighbours
    assert np.median(np.abs(measured / defects.response[low] - 1)) < 0.01
    for column, first, response in zip(*defects[:3], strict=True):
        beside = np.median(flat[first:, [column - 2, column + 2]])
        assert np.median(flat[first:, column]) / beside == pytest.approx(response, abs=0.003)
        if first > 0:
            above = np.median(flat[:first, column]) / np.median(flat[:first, column + 2])
            assert above == pytest.approx(1.0, abs=0.003)


def test_dead_pixels_hold_only_read_noise(frames):
    defects = ed.example_defects(2)
    dead = defects.response == 0
    values = frames(2, 0)[defects.row[dead], defects.col[dead]]
    read_noise_adu = ed.EXAMPLE2_READ_NOISE / ed.EXAMPLE2_GAIN
    assert np.abs(values).max() < 6 * read_noise_adu


# --------------------------------------------------------------------------------------------
# Spatial features
# --------------------------------------------------------------------------------------------


def test_noise_matches_gain_and_read_noise(frames):
    for pair in ((0, 1), (3, 4)):
        a, b = (frames(1, i) for i in pair)
        ma, mb = (ed.EXAMPLE1_MEDIANS[i] for i in pair)
        diff = a - b * np.float32(ma / mb)
        var_one = ma / ed.EXAMPLE1_GAIN + (ed.EXAMPLE1_READ_NOISE / ed.EXAMPLE1_GAIN) ** 2
        expected = np.sqrt(2 * var_one)
        measured = _robust_std(diff[::2, ::2])
        assert abs(measured / expected - 1) < 0.05, (measured, expected)


def test_g_over_i_ratio_is_not_flat(frames):
    g = np.mean([frames(1, i) for i in range(3)], axis=0)
    i = np.mean([frames(1, i) for i in range(3, 6)], axis=0)
    ratio = (g / np.median(g)) / (i / np.median(i))
    # Noise expected in the ratio, per pixel, from three frames of each filter.
    var = [
        (m / ed.EXAMPLE1_GAIN + (ed.EXAMPLE1_READ_NOISE / ed.EXAMPLE1_GAIN) ** 2) / m**2 / 3
        for m in (ed.EXAMPLE1_MEDIANS[0], ed.EXAMPLE1_MEDIANS[3])
    ]
    noise = float(np.sqrt(sum(var)))
    assert _robust_std(ratio) > 1.5 * noise  # visible even pixel by pixel
    assert _robust_std(_bin(ratio, 16)) > 20 * noise / 16  # and overwhelming when binned


def test_i_fringe_residue_is_faint(monkeypatch):
    with_fringes = ed._example1_maps(["i'"])["i'"]
    monkeypatch.setattr(ed, "_FRINGE_AMPLITUDE", 0.0)
    without = ed._example1_maps(["i'"])["i'"]
    good = without > 0.5
    fringes = with_fringes[good] / without[good]
    # 0.1 % peak to peak: what broadband dome light leaves of the fringes
    assert 0.0009 < np.ptp(fringes) < 0.0011


def test_spots_are_dark_and_deeper_in_g(frames):
    g = np.mean([frames(1, i) for i in range(3)], axis=0)
    i = np.mean([frames(1, i) for i in range(3, 6)], axis=0)
    spots_g = ed.example1_spots()
    spots_i = ed.example1_spots(filter_name="i'")
    rows, cols = np.ogrid[-50:51, -50:51]
    dist = np.hypot(rows, cols)
    checked = 0
    for k in range(len(spots_g.row)):
        d = spots_g.diameter[k]
        if d < 10:
            continue
        r, c = spots_g.row[k], spots_g.col[k]
        core = dist <= d / 4
        ring = (dist > d / 2 + 6) & (dist < d / 2 + 16)
        dips = []
        for image in (g, i):
            box = image[r - 50 : r + 51, c - 50 : c + 51]
            dips.append(1 - np.mean(box[core]) / np.median(box[ring]))
        assert dips[0] > 0.6 * spots_g.depth[k], (k, dips, spots_g.depth[k])
        assert dips[1] < dips[0]
        assert abs(dips[1] - spots_i.depth[k]) < 0.4 * spots_g.depth[k] + 0.004
        checked += 1
    assert checked >= 10


def test_donuts_are_dark_rings(truth, frames):
    flat = truth(2, "r")
    data = frames(2, 0)
    donuts = ed.example2_donuts()
    for r, c, radius, inner, depth in zip(*donuts, strict=True):
        half = int(radius) + 45
        rr, cc = np.ogrid[-half : half + 1, -half : half + 1]
        dist = np.hypot(rr, cc)
        width = radius - inner
        ring = (dist > inner + 0.25 * width) & (dist < radius - 0.25 * width)
        outside = (dist > radius + 15) & (dist < radius + 40)
        hole = dist < 0.5 * inner
        box = flat[r - half : r + half + 1, c - half : c + half + 1]
        dip = 1 - np.median(box[ring]) / np.median(box[outside])
        assert 0.6 * depth < dip < 1.1 * depth, (r, c, radius, depth, dip)
        assert np.median(box[hole]) > np.median(box[ring])
        if depth > 0.02:  # the deep ones are plain to see in a single frame
            box = data[r - half : r + half + 1, c - half : c + half + 1]
            assert 1 - np.median(box[ring]) / np.median(box[outside]) > 0.6 * depth


def test_vignetting(frames):
    data = _bin(frames(2, 0), 64)
    centre = np.median(data[28:36, 28:36])
    corners = [data[0, 0], data[0, -1], data[-1, 0], data[-1, -1]]
    for corner in corners:
        assert 0.82 < corner / centre < 0.95


def test_sky_gradient_is_a_slowly_turning_plane(frames, truth):
    gradients = [ed.example2_sky_gradient(i) for i in range(10)]
    amplitudes, angles = np.array(gradients).T
    minutes = np.array(
        [(ed._minutes_since_first(i)) for i in range(10)]  # 2.5 minutes in all
    )
    assert minutes[-1] == pytest.approx(2.49, abs=0.01)
    assert amplitudes[0] == pytest.approx(0.012)
    assert np.all(np.diff(amplitudes) > 0)
    assert amplitudes[-1] < 0.013  # the gradient steepens slowly
    assert np.ptp(angles) < 0.5  # it turns as slowly as the Sun's azimuth
    assert np.ptp(angles) / minutes[-1] < 0.2  # degrees per minute
    # Each frame over the truth is its sky gradient: a plane whose slopes are as documented.
    flat = truth(2, "r")
    n = 32
    y, x = np.mgrid[0:n, 0:n]
    y = (y + 0.5) / n - 0.5
    x = (x + 0.5) / n - 0.5
    design = np.column_stack([np.ones(y.size), x.ravel(), y.ravel()])
    for index in (0, 9):
        ratio = frames(2, index) / np.where(flat > 0.5, flat, np.nan)
        blocks = ratio.reshape(n, 4096 // n, n, 4096 // n).transpose(0, 2, 1, 3)
        sky = np.nanmedian(blocks.reshape(n, n, -1), axis=2)  # medians ignore stars and rays
        coef = np.linalg.lstsq(design, (sky / sky.mean()).ravel(), rcond=None)[0]
        amplitude, angle = gradients[index]
        assert coef[1] == pytest.approx(amplitude * np.cos(np.radians(angle)), abs=2e-4)
        assert coef[2] == pytest.approx(amplitude * np.sin(np.radians(angle)), abs=2e-4)


# --------------------------------------------------------------------------------------------
# Stars
# --------------------------------------------------------------------------------------------


def test_one_star_field_in_every_frame_dithered_and_scaled_with_exposure(frames, truth):
    flat = truth(2, "r")
    first = ed.example2_stars(0)
    n = len(first.row)
    assert 40 <= n <= 80
    # realistic for 0.19 square degrees and a 1 s exposure: a handful brighter than r = 12
    assert 3 <= np.count_nonzero(first.magnitude < 12) <= 12
    assert np.all(np.diff(first.magnitude) >= 0)  # brightest first
    for index in range(10):
        data = frames(2, index)
        stars = ed.example2_stars(index)
        # the same field, shifted by the dither; counts in proportion to the exposure time
        drow, dcol = ed.EXAMPLE2_DITHERS[index]
        np.testing.assert_allclose(stars.row - first.row, drow)
        np.testing.assert_allclose(stars.col - first.col, dcol)
        np.testing.assert_allclose(stars.flux / first.flux, ed.EXAMPLE2_EXPTIMES[index])
        assert np.all((stars.fwhm >= 3.6) & (stars.fwhm <= 4.6))
        # Moffat: peak = flux (beta - 1) / (pi alpha**2)
        alpha = stars.fwhm / (2 * np.sqrt(2 ** (1 / 2.8) - 1))
        np.testing.assert_allclose(stars.peak, stars.flux * 1.8 / (np.pi * alpha**2))
        saturated = set()
        for k, (row, col, peak) in enumerate(zip(stars.row, stars.col, stars.peak, strict=True)):
            r, c = round(row), round(col)
            local_sky = float(np.median(data[r - 30 : r + 31, c - 30 : c + 31]))
            centre = data[r - 1 : r + 2, c - 1 : c + 2].max()
            if centre >= ed.EXAMPLE2_SATURATE:
                saturated.add(k)
            if peak > 1000:  # about 6 sigma of the sky's noise: plain to see
                expected = min(peak * flat[r, c], ed.EXAMPLE2_SATURATE - local_sky)
                assert centre - local_sky > 0.5 * expected, (index, k, peak)
        assert saturated == {0, 1}  # the two bright stars, in every frame
        # ... and nothing else saturates but, rarely, a cosmic ray
        rows, cols = np.nonzero(data >= ed.EXAMPLE2_SATURATE)
        near = np.min(np.hypot(rows[:, None] - stars.row[:2], cols[:, None] - stars.col[:2]), 1)
        rays = ed.example_cosmic_rays(2, index)
        ray_pixels = set(zip(rays.row.tolist(), rays.col.tolist(), strict=True))
        for r, c, d in zip(rows, cols, near, strict=True):
            assert d < 15 or (r, c) in ray_pixels
    steps = [
        np.hypot(*np.subtract(a, b))
        for a, b in zip(ed.EXAMPLE2_DITHERS[:-1], ed.EXAMPLE2_DITHERS[1:], strict=True)
    ]
    assert min(steps) > 20  # a star never lands on the pixels it covered in the frame before
    with pytest.raises(ValueError, match="index"):
        ed.example2_stars(10)


def test_saturation_cap(frames):
    for index in range(10):
        data = frames(2, index)
        assert data.max() == np.float32(ed.EXAMPLE2_SATURATE)


# --------------------------------------------------------------------------------------------
# Cosmic rays
# --------------------------------------------------------------------------------------------


def test_cosmic_ray_rate_per_area_is_the_same_for_both_cameras():
    area1 = ed.EXAMPLE1_SHAPE[0] * ed.EXAMPLE1_SHAPE[1] * 0.0015**2  # cm^2, 15 micron pixels
    area2 = ed.EXAMPLE2_SHAPE[0] * ed.EXAMPLE2_SHAPE[1] * 0.0009**2  # 9 micron pixels
    assert ed._cosmic_ray_rate(1) / area1 * 60 == pytest.approx(2.0)
    assert ed._cosmic_ray_rate(2) / area2 * 60 == pytest.approx(2.0)
    # exposure plus half the readout: 70 + 35 / 2 s, 7 + 35 / 2 s, about 1 + 15 / 2 s
    assert ed._expected_cosmic_rays(1, 0) == pytest.approx(55.5, abs=0.1)
    assert ed._expected_cosmic_rays(1, 3) == pytest.approx(15.5, abs=0.1)
    assert ed._expected_cosmic_rays(2, 0) == pytest.approx(3.85, abs=0.05)


@pytest.mark.parametrize("example", [1, 2])
def test_cosmic_ray_counts_and_charges_are_realistic(example):
    n_frames = len(ed.example_files(example))
    expected = sum(ed._expected_cosmic_rays(example, i) for i in range(n_frames))
    gain = ed.EXAMPLE1_GAIN if example == 1 else ed.EXAMPLE2_GAIN
    counts, electrons = [], []
    for index in range(n_frames):
        rays = ed.example_cosmic_rays(example, index)
        hits = np.unique(rays.hit)
        counts.append(len(hits))
        electrons.extend(np.bincount(rays.hit, weights=rays.adu)[hits] * gain)
        assert np.all(rays.adu > 0)
    assert abs(sum(counts) - expected) < 4 * np.sqrt(expected), (counts, expected)
    # about 70 electrons per micron over 15 (LFC) or 25 (KAF-16803) microns, and a tail
    typical = np.median(electrons)
    assert (1000 if example == 1 else 1600) < typical < (2500 if example == 1 else 4000)
    assert np.percentile(electrons, 90) < 15_000
    assert min(electrons) > 300


def test_cosmic_rays_scale_with_exposure_time():
    long_exposures = sum(len(np.unique(ed.example_cosmic_rays(1, i).hit)) for i in range(3))
    short_exposures = sum(len(np.unique(ed.example_cosmic_rays(1, i).hit)) for i in range(3, 6))
    assert long_exposures > 2 * short_exposures


def test_tracks_are_longer_on_the_thick_front_illuminated_chip():
    def median_extent(example, indices):
        extents = []
        for index in indices:
            rays = ed.example_cosmic_rays(example, index)
            for h in np.unique(rays.hit):
                strong = (rays.hit == h) & (rays.adu > 0.05 * rays.adu[rays.hit == h].max())
                extents.append(max(np.ptp(rays.row[strong]), np.ptp(rays.col[strong])) + 1)
        return float(np.median(extents))

    # 15 micron pixels on 15 microns of silicon; 9 micron pixels on 25 microns
    assert median_extent(2, range(10)) > median_extent(1, range(3))


# --------------------------------------------------------------------------------------------
# Safe writing
# --------------------------------------------------------------------------------------------


def test_ensure_is_idempotent(folders, monkeypatch):
    before = {example: _stats(folder) for example, folder in folders.items()}

    def must_not_simulate(*args, **kwargs):
        raise AssertionError("ensure regenerated frames that were present")

    monkeypatch.setattr(ed, "_Camera", must_not_simulate)
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
    for name in ed.EXAMPLE1_FILES:
        (tmp_path / name).write_bytes((folders[1] / name).read_bytes())
    stale = tmp_path / ed.EXAMPLE1_FILES[1]
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
    ed.ensure_example1(tmp_path)
    assert (tmp_path / name).read_bytes() == (folders[1] / name).read_bytes()


def test_stale_temporaries_are_removed_but_not_users_files(folders, tmp_path):
    name = ed.EXAMPLE2_FILES[3]
    stale = tmp_path / f".{name}.0123456789ab.tmp"
    stale.write_bytes(b"half a frame")
    keep = [tmp_path / ".notes.tmp", tmp_path / f".{name}.backup.tmp", tmp_path / f"{name}.tmp"]
    for path in keep:
        path.write_text("mine")
    for other in ed.EXAMPLE2_FILES:
        (tmp_path / other).write_bytes((folders[2] / other).read_bytes())
    ed.ensure_example2(tmp_path)
    assert not stale.exists()
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


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can write to read-only folders"
)
def test_read_only_folder(tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match="Permission denied"):
            ed.ensure_example1(tmp_path)
        assert list(tmp_path.iterdir()) == []
    finally:
        tmp_path.chmod(0o700)


@pytest.mark.parametrize("bad", [0, 4, "1", True, 1.0, None])
def test_dispatcher_rejects_bad_example(tmp_path, bad):
    with pytest.raises(ValueError, match="example must be 1, 2 or 3"):
        ed.ensure_example_data(bad, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_default_folders():
    here = Path(ed.__file__).resolve().parent
    assert ed.default_folder(1) == here / "notebooks" / "example1-reduced"
    assert ed.default_folder(2) == here / "notebooks" / "example2-reduced"
    assert ed.default_folder(3) == here / "notebooks" / "example3-reduced"
    with pytest.raises(ValueError, match="example must be 1, 2 or 3"):
        ed.default_folder(4)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "example_data", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_help():
    result = _run_cli("--help")
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


# --------------------------------------------------------------------------------------------
# Example 3: a night of dithered science frames
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def night(tmp_path_factory) -> dict[str, Path]:
    """Example 3 written once per session: the dithered frames and the tracked variant."""
    root = tmp_path_factory.mktemp("example3")
    return {
        "dithered": ed.ensure_example3(root / "dithered"),
        "tracked": ed.make_example3(root / "tracked", tracked=True),
    }


@pytest.fixture(scope="session")
def night_frames(night):
    cache: dict[tuple[str, int], np.ndarray] = {}

    def get(kind: str, index: int) -> np.ndarray:
        if (kind, index) not in cache:
            names = ed.EXAMPLE3_TRACKED_FILES if kind == "tracked" else ed.EXAMPLE3_FILES
            cache[kind, index] = fits.getdata(night[kind] / names[index]).astype(np.float32)
        return cache[kind, index]

    return get


def _night_model(index: int, flat: np.ndarray, tracked: bool = False) -> np.ndarray:
    """The noiseless frame before bleeding: (sky * gradient + sources) * response."""
    sky = ed.example3_sky(index)
    theta = np.radians(sky.angle)
    y = np.linspace(-0.5, 0.5, ed.EXAMPLE3_SHAPE[0])[:, None]
    x = np.linspace(-0.5, 0.5, ed.EXAMPLE3_SHAPE[1])[None, :]
    light = sky.level * (1 + sky.amplitude * np.sin(theta) * y)
    light = light * (1 + sky.amplitude * np.cos(theta) * x)
    return (light + ed.example3_source_image(index, tracked=tracked)) * flat


def test_example3_files_shapes_headers_and_size(night):
    for kind, names in (("dithered", ed.EXAMPLE3_FILES), ("tracked", ed.EXAMPLE3_TRACKED_FILES)):
        folder = night[kind]
        assert sorted(p.name for p in folder.iterdir()) == sorted(names)
        dates = []
        for index, name in enumerate(names):
            with fits.open(folder / name, checksum=True) as hdul:
                header = hdul[0].header
                assert hdul[0].data.shape == ed.EXAMPLE3_SHAPE == (2048, 2048)
                assert hdul[0].data.dtype == np.dtype(">f4")
            for key in (*EXPECTED_KEYWORDS, "SATURATE", "OBJECT", "SIMVERS"):
                assert key in header, key
            assert header["IMAGETYP"] == "LIGHT"
            assert header["FILTER"] == "r"
            assert header["EXPTIME"] == ed.EXAMPLE3_EXPTIMES[index]
            assert 180 <= header["EXPTIME"] <= 300
            assert header["DATE-OBS"] == ed.EXAMPLE3_DATE_OBS[index]
            assert header["XBINNING"] == header["YBINNING"] == 2
            assert header["GAIN"] == 1.5
            assert header["RDNOISE"] == 10.0
            assert header["SATURATE"] == 64000.0
            assert header["BUNIT"] == "adu"
            assert header["SIMULATE"] is True
            assert header["SIMVERS"] == ed.SIMULATION_VERSION
            assert header["SIMDITH"] is (kind == "dithered")
            dates.append(header["DATE-OBS"])
        assert dates == sorted(dates)
        hours = (np.datetime64(dates[-1]) - np.datetime64(dates[0])) / np.timedelta64(1, "h")
        assert 2 < hours < 5  # a few hours of one night
        size = sum(p.stat().st_size for p in folder.iterdir())
        assert size <= 300e6
    assert 9 <= len(ed.EXAMPLE3_FILES) <= 15
    assert ed.example_files(3) == ed.EXAMPLE3_FILES
    assert ed.example_medians(3) == ed.EXAMPLE3_SKY_LEVELS
    assert ed.EXAMPLE3_PIXEL_SCALE == pytest.approx(0.773, abs=0.001)


def test_example3_writes_are_bit_identical(night, tmp_path):
    ed.make_example(3, tmp_path)
    for name in ed.EXAMPLE3_FILES:
        assert (tmp_path / name).read_bytes() == (night["dithered"] / name).read_bytes(), name
    # ... and a frame simulated on its own equals the threaded run's
    data, _ = ed._simulate_frame(3, 4, tracked=True)
    path = night["tracked"] / ed.EXAMPLE3_TRACKED_FILES[4]
    assert np.array_equal(data, fits.getdata(path))


def test_true_flat_3_is_the_binned_example2_response(truth):
    flat3 = truth(3, "r")
    assert flat3.dtype == np.float32
    assert flat3.shape == (2048, 2048)
    assert np.median(flat3) == pytest.approx(1.0, abs=1e-6)
    binned = _bin(truth(2, "r").astype(np.float64), 2)
    binned /= np.median(binned)
    np.testing.assert_allclose(flat3, binned, rtol=2e-6, atol=0)
    assert np.array_equal(flat3, ed.true_flat(3, "r"))


def test_example3_frames_are_sky_plus_sources_through_the_response_with_noise(night_frames, truth):
    flat = truth(3, "r")
    levels = np.array(ed.EXAMPLE3_SKY_LEVELS)
    assert np.all(np.diff(levels) < 0)  # the sky darkens as the Moon sinks
    assert levels.min() >= 2000
    assert levels.max() <= 4500
    for index in range(len(ed.EXAMPLE3_FILES)):
        data = night_frames("dithered", index)
        sky = ed.example3_sky(index)
        assert sky.level == levels[index]
        assert 0.01 <= sky.amplitude <= 0.02
        free = ed.example3_source_image(index) < 1.0  # pixels without source light
        assert 0.6 < free.mean() < 0.95
        assert abs(np.median(data[free]) / sky.level - 1) < 0.005
        assert abs(np.median(data) / sky.level - 1) < 0.003
        if index in (0, 11):  # the full model, and the noise, in two frames
            model = _night_model(index, flat)
            # Divided by the gradient and the response, the source-free sky is the level.
            sky_only = data[free] / (model[free] / sky.level)
            assert abs(np.median(sky_only) / sky.level - 1) < 5e-4
            good = (model < 50_000) & (flat > 0.5)
            z = ((data - model) / np.sqrt(model / 1.5 + (10 / 1.5) ** 2))[good]
            assert abs(np.median(z)) < 0.01
            assert _robust_std(z) == pytest.approx(1.0, abs=0.01)


def test_example3_gradient_changes_slowly():
    skies = [ed.example3_sky(i) for i in range(len(ed.EXAMPLE3_FILES))]
    amplitudes = np.array([s.amplitude for s in skies])
    angles = np.array([s.angle for s in skies])
    assert np.all(np.diff(amplitudes) < 0)
    assert np.all(np.abs(np.diff(angles)) < 10)
    assert 20 < np.ptp(angles) < 90


def test_example3_sources_are_realistic():
    sources = ed.example3_sources(0)
    stars, galaxies = sources.stars, sources.galaxies
    assert np.all(np.diff(stars.magnitude) >= 0)  # brightest first
    assert stars.magnitude[0] < 7
    assert 19.5 < stars.magnitude[-1] <= 20.5
    # number counts rise by about 0.3 dex per magnitude
    counts, _ = np.histogram(stars.magnitude, bins=np.arange(14, 20.5, 1.0))
    slope = np.polyfit(np.arange(14.5, 20, 1.0), np.log10(counts), 1)[0]
    assert 0.25 < slope < 0.35
    assert 3 <= len(galaxies.row) <= 6
    assert np.all((galaxies.radius >= 10) & (galaxies.radius <= 80))
    # a 0.6 m telescope: r = 15 gives about 2e3 ADU per second in all
    flux15 = 10 ** (0.4 * (21.9 - 15)) * 300
    k = np.argmin(np.abs(stars.magnitude - 15))
    assert stars.flux[k] == pytest.approx(flux15 * 10 ** (-0.4 * (stars.magnitude[k] - 15)))
    fwhm = {ed.example3_sources(i).stars.fwhm[0] for i in range(len(ed.EXAMPLE3_FILES))}
    assert len(fwhm) > 3
    assert min(fwhm) >= 2
    assert max(fwhm) <= 3
    with pytest.raises(ValueError, match="index"):
        ed.example3_sources(12)
    with pytest.raises(ValueError, match="tracked must be True or False"):
        ed.example3_source_image(0, tracked="yes")


def test_sources_move_between_dithered_frames_but_not_tracked_ones(night_frames, truth):
    n = len(ed.EXAMPLE3_FILES)
    for tracked in (False, True):
        stars = [ed.example3_sources(i, tracked=tracked).stars for i in range(n)]
        galaxies = [ed.example3_sources(i, tracked=tracked).galaxies for i in range(n)]
        moves = [
            np.hypot(stars[i].row - stars[j].row, stars[i].col - stars[j].col)
            for i in range(n)
            for j in range(i + 1, n)
        ]
        moves += [
            np.hypot(galaxies[i].row - galaxies[j].row, galaxies[i].col - galaxies[j].col)
            for i in range(n)
            for j in range(i + 1, n)
        ]
        if tracked:
            assert max(m.max() for m in moves) < 1.0
        else:
            assert min(m.min() for m in moves) >= 20
    # In the pixels: unsaturated, well-exposed stars are where the sources say, in every frame.
    flat = truth(3, "r")
    for kind, tracked in (("dithered", False), ("tracked", True)):
        for index in (0, 1, 7):
            data = night_frames(kind, index)
            source = ed.example3_source_image(index, tracked=tracked)
            stars = ed.example3_sources(index, tracked=tracked).stars
            pick = np.flatnonzero(
                (stars.peak > 3000)
                & (stars.peak < 20000)
                & (stars.row > 20)
                & (stars.row < 2027)
                & (stars.col > 20)
                & (stars.col < 2027)
            )[:10]
            assert len(pick) == 10
            for k in pick:
                r, c = round(stars.row[k]), round(stars.col[k])
                assert source[r, c] > 0.5 * stars.peak[k]
                local = float(np.median(data[r - 15 : r + 16, c - 15 : c + 16]))
                assert data[r, c] - local > 0.4 * stars.peak[k] * flat[r, c], (kind, index, k)
    # The source light of frames 0 and 1 overlaps little when dithered, almost all when tracked.
    for tracked, low, high in ((False, 0.0, 0.5), (True, 0.95, 1.0)):
        a = ed.example3_source_image(0, tracked=tracked) > 100
        b = ed.example3_source_image(1, tracked=tracked) > 100
        assert low <= np.count_nonzero(a & b) / np.count_nonzero(a) <= high


def _saturated_extent(data: np.ndarray, row: float, col: float) -> tuple[int, int]:
    """Lengths of the saturated runs through a star along its column and its row."""
    r, c = round(row), round(col)
    sat = data >= ed.EXAMPLE3_SATURATE

    def run(line: np.ndarray, centre: int) -> int:
        if not line[centre]:
            return 0
        lo = centre
        while lo > 0 and line[lo - 1]:
            lo -= 1
        hi = centre
        while hi < line.size - 1 and line[hi + 1]:
            hi += 1
        return hi - lo + 1

    return run(sat[:, c], r), run(sat[r, :], c)


def test_example3_saturation_and_bleed_trails(night_frames):
    for index in (0, 4, 7):
        data = night_frames("dithered", index)
        assert data.max() == np.float32(ed.EXAMPLE3_SATURATE)
        stars = ed.example3_sources(index).stars
        n_saturated = 0
        for k in range(40):
            if not (10 <= stars.row[k] <= 2037 and 10 <= stars.col[k] <= 2037):
                continue  # off the chip, or at its edge, in this frame
            along_column, along_row = _saturated_extent(data, stars.row[k], stars.col[k])
            if along_column:
                n_saturated += 1
            if k < 2:  # the two brightest overload the anti-blooming drains: they bleed
                assert along_column > along_row + 15, (index, k, along_column, along_row)
            elif k > 2 and along_row:  # the third bleeds in good seeing; the rest are round
                assert along_column <= along_row + 2, (index, k, along_column, along_row)
        assert n_saturated >= 5  # a few saturated stars, all brighter than r = 14
        assert np.all(stars.magnitude[stars.peak + 2000 > 64000] < 14.5)


def test_bleeding_conserves_charge():
    frame = np.full((400, 50), 1000.0, dtype=np.float32)
    stars = ed.Stars(
        row=np.array([200.0]),
        col=np.array([25.0]),
        peak=np.array([3 * ed._DRAIN_LIMIT]),
        fwhm=np.array([2.5]),
        flux=np.array([0.0]),
        magnitude=np.array([6.0]),
    )
    frame[200, 24:27] = 1.5 * ed._DRAIN_LIMIT  # half a drain limit too much: 25 pixels a side
    before = frame.sum(dtype=np.float64)
    ed._bleed(frame, stars)
    assert frame.sum(dtype=np.float64) == pytest.approx(before, rel=1e-6)
    assert frame.max() <= max(ed._DRAIN_LIMIT, ed._BINNED_FULL_WELL) * (1 + 1e-6)
    # the trail runs up and down the three columns only, symmetric about the star
    trail = frame > 2000
    assert set(np.flatnonzero(trail.any(axis=0))) == {24, 25, 26}
    rows = np.flatnonzero(trail[:, 25])
    assert rows.min() < 180
    assert rows.max() > 220
    assert abs((200 - rows.min()) - (rows.max() - 200)) <= 1


def test_example3_cosmic_rays():
    expected = ed._expected_cosmic_rays(3, 0)
    assert expected == pytest.approx(2.0 / 60 * 2048**2 * 0.0018**2 * 302, rel=1e-9)
    counts = [len(np.unique(ed.example_cosmic_rays(3, i).hit)) for i in range(4)]
    assert abs(sum(counts) - 4 * expected) < 4 * np.sqrt(4 * expected)
    with pytest.raises(ValueError, match="example_defects\\(2\\)"):
        ed.example_defects(3)


def test_tracked_frames_need_their_own_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(ed, "default_folder", lambda example: tmp_path / "default")
    with pytest.raises(ValueError, match="tracked=True needs an explicit folder"):
        ed.ensure_example3(tracked=True)
    with pytest.raises(ValueError, match="tracked=True needs an explicit folder"):
        ed.ensure_example_data(3, tracked=True)
    with pytest.raises(ValueError, match="example 3 only"):
        ed.make_example(2, tmp_path, tracked=True)
    with pytest.raises(ValueError, match="tracked must be True or False"):
        ed.make_example3(tmp_path, tracked=1)
    assert list(tmp_path.iterdir()) == []
    assert set(ed.EXAMPLE3_FILES).isdisjoint(ed.EXAMPLE3_TRACKED_FILES)


def test_cli_example3_options(tmp_path):
    result = _run_cli("--example", "2", "--tracked", "--folder", str(tmp_path))
    assert result.returncode == 2
    assert "--tracked needs --example 3 and --folder" in result.stderr
    result = _run_cli("--example", "3", "--tracked")
    assert result.returncode == 2
    assert list(tmp_path.iterdir()) == []
