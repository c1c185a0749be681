"""Tests of example_data.example2: the Aspen's twilight flats in r."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import bin_mean as _bin

import example_data as ed
from example_data import example2


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


def test_dead_pixels_hold_only_read_noise(frames):
    defects = ed.example_defects(2)
    dead = defects.response == 0
    values = frames(2, 0)[defects.row[dead], defects.col[dead]]
    read_noise_adu = ed.EXAMPLE2_READ_NOISE / ed.EXAMPLE2_GAIN
    assert np.abs(values).max() < 6 * read_noise_adu


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
        [(example2._minutes_since_first(i)) for i in range(10)]  # 2.5 minutes in all
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
