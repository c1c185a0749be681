"""Tests of `_flat_engine.badpix`: the bad pixels of a combined flat, found in the flat."""

import math

import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import CCDData

from _flat_engine import badpix
from example_data.synthetic import vignetting

SHAPE = (512, 300)


def flat_with_defects(seed=0):
    """A flat (vignetting x 1 % pixel response) and the defects put into it."""
    rng = np.random.default_rng(seed)
    flat = vignetting(SHAPE) * (1 + 0.01 * rng.standard_normal(SHAPE))
    truth = np.zeros(SHAPE, dtype=bool)
    for (row, col), response in zip(
        [(10, 10), (200, 150), (300, 40), (400, 250), (450, 299)],
        [0.0, 0.9, 0.5, 1.2, 0.0],
        strict=False,
    ):
        flat[row, col] *= response
        truth[row, col] = True
    flat[137:, 77] *= 0.97  # a trap column from row 137, 3 % low
    truth[137:, 77] = True
    flat[:, 200] *= 0.95  # a low column over the whole height
    truth[:, 200] = True
    return flat.astype(np.float32), truth


def test_every_defect_is_masked_and_few_others():
    flat, truth = flat_with_defects()
    mask = badpix.defect_mask(flat)
    assert not (truth & ~mask).any()
    others = mask & ~truth
    assert others.sum() <= 2 * badpix.SEGMENT  # at most the segment above a trap's start
    assert not others[:, [c for c in range(SHAPE[1]) if c not in (77, 200)]].any()


def test_good_flat_has_no_bad_pixel():
    rng = np.random.default_rng(1)
    flat = (vignetting(SHAPE) * (1 + 0.01 * rng.standard_normal(SHAPE))).astype(np.float32)
    assert not badpix.defect_mask(flat).any()
    assert badpix.pixel_spread(flat) == pytest.approx(0.0115, rel=0.1)  # 1 % x sqrt(1 + ~0.3)


def test_floor_and_non_finite_values_are_always_masked():
    flat = np.ones((8, 4), dtype=np.float32)  # too narrow for neighbours: the floor only
    flat[1, 1], flat[2, 2], flat[3, 3] = 0.05, -1.0, np.nan
    mask = badpix.defect_mask(flat)
    assert mask.sum() == 3
    assert mask[1, 1]
    assert mask[2, 2]
    assert mask[3, 3]
    assert math.isnan(badpix.pixel_spread(flat))


def test_a_spread_given_is_used_and_the_flats_own_gives_the_same_mask():
    flat, truth = flat_with_defects()
    spread = badpix.pixel_spread(flat)
    np.testing.assert_array_equal(badpix.defect_mask(flat, spread=spread), badpix.defect_mask(flat))
    assert not badpix.defect_mask(flat, spread=10 * spread)[truth].all()  # the spread counts


def test_out_counts_only_pixels_not_masked_before():
    flat, truth = flat_with_defects()
    out = np.zeros(SHAPE, dtype=bool)
    out[10, 10] = True  # already masked
    count = badpix.defect_mask(flat, out=out)
    assert count == badpix.defect_mask(flat).sum() - 1
    assert out[truth].all()


def test_mask_defects_writes_the_rule_to_the_header():
    flat, truth = flat_with_defects()
    ccd = CCDData(flat, unit="", mask=np.zeros(SHAPE, dtype=bool), meta=fits.Header())
    badpix.mask_defects(ccd)
    assert ccd.mask[truth].all()
    assert ccd.meta["NBADPIX"] == np.count_nonzero(ccd.mask)
    assert ccd.meta["BPFLOOR"] == badpix.FLOOR
    assert ccd.meta["BPSIGMA"] == badpix.PIXEL_SIGMA
    assert 0.005 < ccd.meta["BPSPREAD"] < 0.02
