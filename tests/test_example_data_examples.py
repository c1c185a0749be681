"""Tests of example_data.examples: the functions that take an example number, true_flat."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import robust_std as _robust_std

import example_data as ed
from example_data.examples import _simulate_frame


@pytest.mark.parametrize(("example", "index"), [(1, 4), (2, 7)])
def test_single_frame_is_bit_identical(frames, example, index):
    first, header1 = _simulate_frame(example, index)
    second, header2 = _simulate_frame(example, index)
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
    if example == 1:  # the dome flats record the screen's uneven light too
        flat = flat * ed.example1_screen(filter_name)[rows]
        flat /= np.median(flat)
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


@pytest.mark.parametrize("bad", [0, 4, "1", True, 1.0, None])
def test_dispatcher_rejects_bad_example(tmp_path, bad):
    with pytest.raises(ValueError, match="example must be 1, 2 or 3"):
        ed.ensure_example_data(bad, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_default_folders():
    here = Path(ed.__file__).resolve().parent.parent  # the package's folder's parent
    assert ed.default_folder(1) == here / "notebooks" / "example1-reduced"
    assert ed.default_folder(2) == here / "notebooks" / "example2-reduced"
    assert ed.default_folder(3) == here / "notebooks" / "example3-reduced"
    with pytest.raises(ValueError, match="example must be 1, 2 or 3"):
        ed.default_folder(4)


def test_defect_pixels_map_the_defects():
    defects = ed.example_defects(2)
    pixels = ed.defect_pixels(2)
    assert pixels.shape == ed.EXAMPLE2_SHAPE
    assert pixels[defects.row, defects.col].all()
    column, first = defects.column[1], defects.first_row[1]
    assert pixels[first:, column].all()
    assert not pixels[: first - 1, column].any() or first == 0
    # example 3: example 2's defects binned, and its hot pixels and hot columns
    binned = ed.defect_pixels(3)
    assert binned.shape == ed.EXAMPLE3_SHAPE
    assert binned[defects.row // 2, defects.col // 2].all()
    assert binned[first // 2 :, column // 2].all()
    hot = ed.example3_hot_pixels()
    assert binned[hot.row, hot.col].all()
    assert binned[hot.first_row[0] :, hot.column[0]].all()
    assert 0.001 < binned.mean() < 0.01
