"""Tests of example_data.example1: the LFC's dome flats in g' and i'."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import bin_mean as _bin
from conftest import robust_std as _robust_std

import example_data as ed
from example_data import example1


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


def test_frame_is_level_times_truth_plus_noise_and_the_listed_cosmic_rays(frames, truth):
    data = frames(1, 0)
    flat = truth(1, "g'") * ed.example1_screen("g'")  # the dome flats record the screen too
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
    with_fringes = example1.response_maps(["i'"])["i'"]
    monkeypatch.setattr(example1, "_FRINGE_AMPLITUDE", 0.0)
    without = example1.response_maps(["i'"])["i'"]
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
