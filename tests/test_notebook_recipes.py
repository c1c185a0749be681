"""The notebooks' recipes with the field's standard tools give what the course's helpers give.

Notebook 01 teaches the noise-model clip as a spread function for `ccdproc.combine`
(``sigma_clip_dev_func``).  Here the spread is derived again from its own principle, one
frame's ideal noise at the pixel's centre (`ideal_flat_noise` of one level), and the
ccdproc combination of Example 1's frames (a chip of it as the LFC writes it, with cosmic
rays added) must equal `combine_flats` with the same noise model to 1e-5.
"""

import ccdproc
import numpy as np
import pytest

import convenience_functions as cf
from example_data.synthetic import write_example1_mosaic

GAIN, READ_NOISE = 2.0, 8.0  # Example 1's camera, in its files' headers


@pytest.fixture(scope="module")
def lfc_chip(tmp_path_factory):
    """The g' frames of Example 1's chip CHIP2 (as the LFC writes them), with 300 rays
    of 10 to 100 sigmas added to the first frame; their levels."""
    paths, _, levels = write_example1_mosaic(tmp_path_factory.mktemp("lfc"), seed=9)
    frames = [cf.read_frame(path, chip="CHIP2") for path in paths[:3]]
    rng = np.random.default_rng(4)
    shape = frames[0].shape
    rows, cols = rng.integers(0, shape[0], 300), rng.integers(0, shape[1], 300)
    sigma = np.sqrt(frames[0].data[rows, cols] / GAIN)  # one frame's noise there, ADU
    frames[0].data[rows, cols] += rng.uniform(10, 100, 300) * sigma
    return frames, (rows, cols), np.array(levels["g'", "CHIP2"])


def test_the_noise_model_as_ccdprocs_spread_equals_combine_flats(lfc_chip):
    frames, rays, _ = lfc_chip
    medians = np.array([np.nanmedian(frame.data) for frame in frames])
    level = medians.mean()

    def one_frame_noise(values, axis=0):  # the ideal noise of one frame at the centre
        centre = np.nanmedian(values, axis=axis)
        return cf.ideal_flat_noise([level], gain=GAIN, read_noise=READ_NOISE, response=centre)

    scaled = [frame.multiply(1 / m) for frame, m in zip(frames, medians, strict=True)]
    recipe = ccdproc.combine(
        scaled,
        method="average",
        sigma_clip=True,
        sigma_clip_low_thresh=8,
        sigma_clip_high_thresh=5,
        sigma_clip_func="median",
        sigma_clip_dev_func=one_frame_noise,
        dtype=np.float32,
    )
    helper, n_used = cf.combine_flats(
        frames, stdfunc="ccdclip", gain=GAIN, read_noise=READ_NOISE, return_counts=True
    )
    assert (n_used[rays] == 2).all()  # every ray rejected by the helper
    assert recipe.data[rays].max() < 1.1 * np.nanmedian(recipe.data)  # and by ccdproc
    ratio = recipe.data / np.nanmedian(recipe.data) / helper.data
    assert np.nanmax(np.abs(ratio - 1)) < 1e-5
    assert np.count_nonzero(np.isnan(ratio)) == np.count_nonzero(np.isnan(helper.data))


def test_the_spread_matters(lfc_chip):
    """The test above can fail: a clip with the MAD spread differs from the helper's."""
    frames, _, _ = lfc_chip
    scaled = [frame.multiply(1 / np.nanmedian(frame.data)) for frame in frames]
    mad = ccdproc.combine(
        scaled,
        method="average",
        sigma_clip=True,
        sigma_clip_func="median",
        sigma_clip_dev_func="mad_std",
        sigma_clip_low_thresh=8,
        sigma_clip_high_thresh=5,
        dtype=np.float32,
    )
    helper = cf.combine_flats(frames, stdfunc="ccdclip", gain=GAIN, read_noise=READ_NOISE)
    ratio = mad.data / np.nanmedian(mad.data) / helper.data
    assert np.nanmax(np.abs(ratio - 1)) > 1e-3
