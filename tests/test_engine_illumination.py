"""Tests of _flat_engine.illumination, through convenience_functions.illumination_correction."""

from __future__ import annotations

import numpy as np
import pytest

from _flat_engine.illumination import smooth_surface
from convenience_functions import illumination_correction


def _pair(seed=2, shape=(384, 256)):
    """A flat with the right pixels and a noisy sky flat with another bowl and a leak."""
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.linspace(-1, 1, shape[0]), np.linspace(-1, 1, shape[1]), indexing="ij")
    pixels = 1 + rng.normal(0, 0.01, shape)
    bowl = 1 - 0.004 * (xx**2 + yy**2) + 0.002 * xx
    sky = pixels * bowl * (1 + rng.normal(0, 0.005, shape))
    sky[100:130, 60:90] *= 1.01  # a galaxy's leak: one block, which the medians shrug off
    sky[200, :] = np.nan  # a row no frame reached
    return pixels, sky, pixels * bowl / np.median(pixels * bowl)


def test_the_correction_takes_the_pixels_of_one_and_the_large_scales_of_the_other():
    flat, sky, truth = _pair()
    corrected = illumination_correction(flat, sky, block=32, degree=3)
    assert corrected.dtype == np.float32
    assert np.median(corrected) == pytest.approx(1.0, abs=1e-6)
    error = np.std(corrected / truth - 1)
    sky_error = np.std(sky / np.nanmedian(sky) / truth - 1, where=np.isfinite(sky))
    flat_error = np.std(flat / np.median(flat) / truth - 1)  # the bowl the flat alone misses
    assert error < 3e-4  # what is left: the leak, and the noise of the block medians
    assert error < sky_error / 10
    assert error < flat_error / 3


def test_a_surface_of_degree_two_fits_a_bowl_exactly():
    yy, xx = np.mgrid[0:128, 0:192]
    bowl = 1 + 1e-6 * ((yy - 60.0) ** 2 + (xx - 100.0) ** 2)
    surface = smooth_surface(bowl, 16, 2)
    # up to a constant: the median of a block of a curved surface lies above its centre
    assert np.ptp(surface / bowl) < 2e-5


def test_errors_of_the_correction():
    flat, sky, _ = _pair()
    with pytest.raises(ValueError, match="illumination_correction: the flats must be 2-D"):
        illumination_correction(flat, sky[:100])
    with pytest.raises(ValueError, match="illumination_correction: block must be"):
        illumination_correction(flat, sky, block=1)
    with pytest.raises(ValueError, match="illumination_correction: degree must be"):
        illumination_correction(flat, sky, degree=-1)
    with pytest.raises(TypeError, match="illumination_correction: block must be a whole number"):
        illumination_correction(flat, sky, block="64")
    with pytest.raises(ValueError, match="too few for degree 3"):
        illumination_correction(flat, sky, block=128)


def test_a_ccddata_flat_keeps_its_mask_uncertainty_and_header(tmp_path):
    from astropy.nddata import CCDData, StdDevUncertainty

    from convenience_functions import write_flat

    flat, sky, _ = _pair()
    mask = np.zeros(flat.shape, bool)
    mask[10:14, 20:24] = True
    data = flat.copy()
    data[mask] = 0.0  # dead pixels: masked, not NaN
    sigma = np.full(flat.shape, 0.002)
    header = {"FILTER": "r", "COMBINED": True}
    ccd = CCDData(data, unit="", mask=mask, uncertainty=StdDevUncertainty(sigma), meta=header)
    corrected = illumination_correction(ccd, sky, block=32, degree=3)
    assert isinstance(corrected, CCDData)
    plain = illumination_correction(np.where(mask, np.nan, flat), sky, block=32, degree=3)
    factor = corrected.data[~mask] / data[~mask]  # the surface, the same as for the array
    assert np.array_equal(corrected.mask, mask)
    assert corrected.mask is not ccd.mask
    assert np.all(np.isfinite(corrected.data))  # masked pixels are scaled, not NaN
    np.testing.assert_allclose(corrected.data[~mask], plain[~mask], rtol=1e-6)
    np.testing.assert_allclose(corrected.uncertainty.array[~mask], 0.002 * factor, rtol=1e-6)
    assert corrected.header["FILTER"] == "r"
    assert "illumination_correction" in str(corrected.header["HISTORY"])
    assert "HISTORY" not in ccd.header  # the input's header untouched
    assert write_flat(corrected, tmp_path / "corrected.fits").exists()


@pytest.mark.parametrize(
    ("option", "value", "error"),
    [
        ("block", 32.7, TypeError),
        ("degree", 2.9, TypeError),
        ("block", 64.0, TypeError),
        ("block", 1, ValueError),
        ("degree", -1, ValueError),
    ],
)
def test_block_and_degree_must_be_whole_numbers(option, value, error):
    flat, sky, _ = _pair()
    with pytest.raises(error, match=f"illumination_correction: {option} must be a whole"):
        illumination_correction(flat, sky, **{option: value})
