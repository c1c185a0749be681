"""Tests of example_data.drift: the drifting night frames of a small telescope."""

import numpy as np

from example_data import drift
from example_data.drift import DRIFT_SATURATE, make_drifting_frames


def test_drifting_frames_are_seeded_and_drift():
    first = make_drifting_frames(4, shape=(120, 160), seed=3)
    again = make_drifting_frames(4, shape=(120, 160), seed=3)
    np.testing.assert_array_equal(first.frames[2].data, again.frames[2].data)
    assert [f.shape for f in first.frames] == [(120, 160)] * 4
    assert abs(np.median(first.response) - 1) < 1e-12
    assert np.all((first.fwhm >= 1.5) & (first.fwhm <= 2.5))
    assert first.skies[0] > 1.5 * first.skies[-1]  # the sky fades through the night
    rows, cols = first.offsets[-1] - first.offsets[0]
    assert 25 < rows < 35  # tens of pixels
    assert 40 < cols < 50
    # the sky, and stars on it: most pixels near the sky, a few far above
    data = first.frames[0].data
    assert abs(np.median(data) / (first.skies[0] * np.median(first.response)) - 1) < 0.02
    assert np.max(data) <= DRIFT_SATURATE
    assert np.mean(data > 2 * first.skies[0]) > 0.001
    assert first.frames[0].meta["PIXSCALE"] == 5.2


def test_a_huge_galaxy_brightens_most_of_the_frame():
    plain = make_drifting_frames(1, seed=4)
    galaxy = make_drifting_frames(1, seed=4, huge_galaxy=True)
    brighter = (galaxy.frames[0].data - plain.frames[0].data).astype(np.float64)
    blocks = brighter.reshape(50, 10, 65, 10).mean(axis=(1, 3))  # the noise over 10
    assert np.mean(blocks > 0.01 * plain.skies[0]) > 0.5
    assert np.max(blocks) > 0.5 * plain.skies[0]


def test_a_disc_drawn_on_the_part_near_it_is_the_disc_drawn_on_the_whole_frame():
    # The frames draw each galaxy on the part of the frame `_near` gives, for speed: the
    # same values in the same pixels, bit for bit, as on the whole frame.
    shape = (90, 120)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    rng = np.random.default_rng(11)
    discs = [(rng.uniform(-30, 120), rng.uniform(-30, 150), rng.uniform(1, 4)) for _ in range(40)]
    discs += [(45.3, 60.7, 12.0), (-20.0, 5.0, 2.0), (0.0, 119.9, 1.0)]  # huge, outside, corner
    for gy, gx, length in discs:
        for axis_ratio, angle in ((rng.uniform(0.4, 1), rng.uniform(0, np.pi)), (1.6, 0.3)):
            whole = np.full(shape, 1000.0)
            drift._add_disc(whole, yy - gy - 0.37, xx - gx - 1.21, length, axis_ratio, angle,
                            None, 900.0)  # fmt: skip
            near = np.full(shape, 1000.0)
            part = drift._near(shape, gy + 0.37, gx + 1.21, 12 * length * max(1.0, axis_ratio))
            drift._add_disc(near[part], yy[part] - gy - 0.37, xx[part] - gx - 1.21, length,
                            axis_ratio, angle, None, 900.0)  # fmt: skip
            np.testing.assert_array_equal(near, whole)
    assert np.count_nonzero(whole != 1000.0) > 0  # the test draws discs
