"""Tests of the shared physics: example_data.maps, .noise and .sources."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import robust_std as _robust_std

import example_data as ed
from example_data.example3 import EXAMPLE3_CAMERA
from example_data.examples import _RECORDS
from example_data.maps import _smooth_field
from example_data.noise import _cosmic_ray_rate, _expected_cosmic_rays
from example_data.sources import _bleed


def test_pixel_to_pixel_variation_per_filter(truth):
    def neighbour_scatter(flat):
        box = flat[1000:3000, 500:1500]
        return _robust_std((box[:, 1:] - box[:, :-1]) / np.sqrt(2))

    g, i, r = (neighbour_scatter(truth(*key)) for key in [(1, "g'"), (1, "i'"), (2, "r")])
    assert g == pytest.approx(0.0060, abs=0.0003)  # the blue feels the thinned back surface
    assert i == pytest.approx(0.0035, abs=0.0003)
    assert r == pytest.approx(0.0070, abs=0.0003)


def test_mottle_is_smooth_with_unit_rms():
    field = _smooth_field(np.random.default_rng(5), (1024, 512), 32)
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
    n_columns, n_dead, n_low = _RECORDS[example].camera.defect_counts
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


def test_cosmic_ray_rate_per_area_is_the_same_for_both_cameras():
    area1 = ed.EXAMPLE1_SHAPE[0] * ed.EXAMPLE1_SHAPE[1] * 0.0015**2  # cm^2, 15 micron pixels
    area2 = ed.EXAMPLE2_SHAPE[0] * ed.EXAMPLE2_SHAPE[1] * 0.0009**2  # 9 micron pixels
    assert _cosmic_ray_rate(_RECORDS[1].camera) / area1 * 60 == pytest.approx(2.0)
    assert _cosmic_ray_rate(_RECORDS[2].camera) / area2 * 60 == pytest.approx(2.0)
    # exposure plus half the readout: 70 + 35 / 2 s, 7 + 35 / 2 s, about 1 + 15 / 2 s
    assert _expected_cosmic_rays(_RECORDS[1], 0) == pytest.approx(55.5, abs=0.1)
    assert _expected_cosmic_rays(_RECORDS[1], 3) == pytest.approx(15.5, abs=0.1)
    assert _expected_cosmic_rays(_RECORDS[2], 0) == pytest.approx(3.85, abs=0.05)


@pytest.mark.parametrize("example", [1, 2])
def test_cosmic_ray_counts_and_charges_are_realistic(example):
    n_frames = len(ed.example_files(example))
    expected = sum(_expected_cosmic_rays(_RECORDS[example], i) for i in range(n_frames))
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


def test_bleeding_conserves_charge():
    drain_limit = EXAMPLE3_CAMERA.drain_limit_adu
    full_well = EXAMPLE3_CAMERA.full_well_adu
    frame = np.full((400, 50), 1000.0, dtype=np.float32)
    stars = ed.Stars(
        row=np.array([200.0]),
        col=np.array([25.0]),
        peak=np.array([3 * drain_limit]),
        fwhm=np.array([2.5]),
        flux=np.array([0.0]),
        magnitude=np.array([6.0]),
    )
    frame[200, 24:27] = 1.5 * drain_limit  # half a drain limit too much: 25 pixels a side
    before = frame.sum(dtype=np.float64)
    _bleed(frame, stars, EXAMPLE3_CAMERA)
    assert frame.sum(dtype=np.float64) == pytest.approx(before, rel=1e-6)
    assert frame.max() <= max(drain_limit, full_well) * (1 + 1e-6)
    # the trail runs up and down the three columns only, symmetric about the star
    trail = frame > 2000
    assert set(np.flatnonzero(trail.any(axis=0))) == {24, 25, 26}
    rows = np.flatnonzero(trail[:, 25])
    assert rows.min() < 180
    assert rows.max() > 220
    assert abs((200 - rows.min()) - (rows.max() - 200)) <= 1
