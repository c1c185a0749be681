"""Tests of example_data.drift: the drifting night frames of a small telescope."""

import numpy as np

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
