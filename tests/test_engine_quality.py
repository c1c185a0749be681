"""compare_halves: a flat judged without a truth, from the flats of its odd and even frames."""

import numpy as np
import pytest
from astropy.nddata import CCDData
from conftest import make_flats

import convenience_functions as cf
from example_data.synthetic import spoil_frame

SHAPE = (256, 320)
LEVEL = 20000.0


def halves(n=6, *, seed=3, spoil=None):
    """The flats of the odd and even frames of ``n`` seeded flats (gain 1), their expected
    ratio noise; ``spoil``: the last frame spoilt so."""
    frames = make_flats(n, shape=SHAPE, level=LEVEL, seed=seed)
    flats = [CCDData(f, unit="adu") for f in frames]
    if spoil:
        flats[-1] = spoil_frame(flats[-1], spoil, 0.05)
    # a plain mean, the spoilt frame kept: what is in the frames
    options = {"sigma_lower": None, "sigma_upper": None, "keep_bad_frames": True}
    odd, even = (cf.combine_flats(flats[start::2], **options) for start in (0, 1))
    half = cf.ideal_flat_noise([LEVEL] * (n // 2), gain=1.0)
    return odd, even, np.hypot(half, half)


def test_halves_of_good_frames_agree_and_measure_the_expected_noise():
    odd, even, expected = halves()
    check = cf.compare_halves(odd, even, expected=expected)
    assert check.verdict == "the halves agree"
    assert check.expected == pytest.approx(expected)
    assert check.noise == pytest.approx(expected, rel=0.05)
    assert check.blocks < 3 * check.blocks_expected
    assert check.blocks_expected == pytest.approx(expected / 64)


def test_a_frame_lit_differently_makes_the_halves_differ():
    with pytest.warns(UserWarning, match="kept"):  # 5 % across the last frame
        odd, even, expected = halves(spoil="gradient")
    check = cf.compare_halves(odd, even, expected=expected)
    assert check.blocks > 0.004  # a twelfth of 5 %, about the median, in rms
    assert check.verdict.startswith("the halves differ: large-scale difference")


def test_an_underestimated_noise_is_found():
    odd, even, expected = halves()
    check = cf.compare_halves(odd, even, expected=expected / 1.5)  # the gain taken wrong
    assert check.noise / check.expected == pytest.approx(1.5, rel=0.05)
    assert "pixel noise 1.5" in check.verdict


def test_a_region_and_an_array_of_expected_noise():
    odd, even, expected = halves()
    region = np.s_[64:192, 64:256]
    check = cf.compare_halves(odd, even, expected=np.full(SHAPE, expected), region=region)
    whole = cf.compare_halves(odd.data[region], even.data[region], expected=expected)
    assert check == whole


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"expected": 0.0}, "expected must be"),
        ({"expected": -1.0}, "expected must be"),
        ({"expected": np.inf}, "expected must be"),
        ({"expected": np.nan}, "expected must be"),
        ({"expected": np.full(SHAPE, np.nan)}, "expected must be"),
        ({"expected": 0.01, "block": 1}, "block must be"),
        ({"expected": 0.01, "tolerance": -0.1}, "tolerance must be"),
        ({"expected": 0.01, "block": 200}, "must hold 2 x 2 blocks"),
    ],
)
def test_bad_options_are_refused_with_the_functions_name(options, message):
    odd, even, _ = halves(n=2)
    with pytest.raises(ValueError, match=f"compare_halves: .*{message}"):
        cf.compare_halves(odd, even, **options)


def test_flats_of_different_shapes_are_refused():
    odd, even, expected = halves(n=2)
    with pytest.raises(ValueError, match="compare_halves: the flats must be 2-D images of one"):
        cf.compare_halves(odd, even.data[:100], expected=expected)


def test_the_same_flat_twice_is_not_two_independent_halves():
    odd, _, expected = halves()
    check = cf.compare_halves(odd, odd, expected=expected)
    assert check.noise == 0.0
    assert "halves not independent, or the expected noise overestimated" in check.verdict


def test_an_overestimated_noise_is_found():
    odd, even, expected = halves()
    check = cf.compare_halves(odd, even, expected=2 * expected)  # the gain taken 4 x too small
    assert check.noise / check.expected == pytest.approx(0.5, rel=0.05)
    assert check.verdict.startswith("the halves differ: pixel noise 0.5")


def test_a_gradient_under_the_tolerance_is_a_difference_all_the_same():
    odd, even, expected = halves()
    slope = 1 + 0.003 * np.linspace(-0.5, 0.5, SHAPE[1])  # 0.3 % across one half
    check = cf.compare_halves(odd.data * slope, even, expected=expected)
    assert check.blocks < check.tolerance  # about 0.08 %: under the default 0.1 %
    assert check.blocks > 5 * check.blocks_expected  # 9 x
    assert check.verdict.startswith("the halves differ: large-scale difference")
    assert "within the tolerance 0.1 %" in check.verdict
    above = cf.compare_halves(odd.data * slope, even, expected=expected, tolerance=0.0005)
    assert "above the tolerance 0.05 %" in above.verdict


def test_pixels_no_frame_saw_are_left_out_and_too_few_are_refused():
    odd, even, expected = halves()
    per_pixel = np.full(SHAPE, expected)
    per_pixel[:, :20] = np.inf  # no frame there: a sky flat's n_used of 0
    even.data[:, :20] = np.nan
    check = cf.compare_halves(odd, even, expected=per_pixel)
    assert check.verdict == "the halves agree"
    even.data[:, :250] = np.nan  # 250 of 320 columns
    with pytest.raises(ValueError, match=r"compare_halves: the region holds .* fewer than half"):
        cf.compare_halves(odd, even, expected=expected)


def test_a_tolerance_that_is_not_a_number_is_refused():
    odd, even, expected = halves(n=2)
    with pytest.raises(TypeError, match="compare_halves: tolerance must be a number"):
        cf.compare_halves(odd, even, expected=expected, tolerance="0.1 %")


def test_a_block_that_is_not_a_number_is_refused():
    odd, even, expected = halves(n=2)
    with pytest.raises(TypeError, match="compare_halves: block must be a whole number"):
        cf.compare_halves(odd, even, expected=expected, block="64")
