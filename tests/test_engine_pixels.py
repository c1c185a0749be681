"""Tests of `_flat_engine.pixels`: block medians, on seeded synthetic data."""

import math

import numpy as np

from _flat_engine import pixels


def test_block_median_equals_numpy_over_random_shapes_blocks_and_nan():
    rng = np.random.default_rng(1)
    for _ in range(300):
        shape = tuple(int(n) for n in rng.integers(1, 60, 2))
        image = rng.normal(0, 1, shape) * rng.choice([1, 1e4])
        if rng.random() < 0.3:
            image = np.round(image)  # many ties
        pattern = rng.random()
        if pattern < 0.2:
            image[rng.random(shape) < 0.5] = np.nan
        elif pattern < 0.3:
            image[rng.random(shape) < 0.1] = rng.choice([np.inf, -np.inf])
        block_rows = int(rng.integers(1, shape[0] + 2))
        finite = image[np.isfinite(image)]
        expected = np.median(finite) if finite.size else math.nan
        got = pixels.block_median(image, block_rows, step=int(rng.integers(1, 20)))
        assert got == expected or (math.isnan(got) and math.isnan(expected))


def test_block_median_widens_its_bracket_both_ways():
    # Every 16th value (the sample) lies far from the others, so the first bracket
    # misses the median: below it in one image, above it in the other.
    base = np.arange(4096, dtype=float).reshape(64, 64)
    high_sample = base.copy()
    high_sample.flat[::16] = 1e9
    low_sample = base.copy()
    low_sample.flat[::16] = -1e9
    for image in (high_sample, low_sample):
        assert pixels.block_median(image, 7) == np.median(image)
    assert math.isnan(pixels.block_median(np.full((3, 3), np.nan), 2))


def test_block_median_of_finite_blocks_whose_sum_overflows():
    image = np.full((8, 8), 3e38, dtype=np.float32)  # finite values, an infinite float32 sum
    image[:4] = 1.0
    image[0, 0] = np.nan
    assert pixels.block_median(image, 3) == np.median(image[np.isfinite(image)])


def test_finite_median_is_numpys_median_bit_for_bit_in_its_dtype():
    # np.median of the finite values averages its middle one or two values in the array's
    # dtype: finite_median must give the same bits (odd and even counts, ties, NaN, inf),
    # where block_median's float64 average of a float32 pair may differ in the last bit.
    rng = np.random.default_rng(7)
    for trial in range(300):
        shape = tuple(int(n) for n in rng.integers(1, 80, 2))
        dtype = (np.float32, np.float64)[trial % 2]
        image = (rng.normal(1e4, 300, shape) * rng.choice([1, 1e-3])).astype(dtype)
        if trial % 3 == 0:
            image = np.round(image)  # many ties
        if trial % 4 == 0:
            image[rng.random(shape) < 0.3] = np.nan
        if trial % 5 == 0:
            image[rng.random(shape) < 0.05] = rng.choice([np.inf, -np.inf])
        finite = image[np.isfinite(image)]
        expected = np.median(finite) if finite.size else math.nan
        got = pixels.finite_median(image)
        if finite.size == 0:
            assert math.isnan(got)
            continue
        assert got.dtype == expected.dtype
        assert got.tobytes() == expected.tobytes()
    one_dimensional = rng.normal(0, 1, 1001).astype(np.float32)
    assert pixels.finite_median(one_dimensional) == np.median(one_dimensional)


def test_block_middle_gives_the_one_or_two_middle_values():
    odd = np.array([[5.0, 1.0, np.nan], [3.0, 4.0, 2.0]])  # finite 1 2 3 4 5
    assert pixels.block_middle(odd, 1).tolist() == [3.0]
    even = np.array([[5.0, 1.0, 6.0], [3.0, np.inf, 2.0]])  # finite 1 2 3 5 6
    assert pixels.block_middle(even[:, :2], 1).tolist() == [3.0]  # 5 1 3: odd again
    assert pixels.block_middle(np.array([[4.0, 1.0], [3.0, 2.0]]), 1).tolist() == [2.0, 3.0]
    assert pixels.block_middle(np.full((2, 2), np.nan), 1) is None
