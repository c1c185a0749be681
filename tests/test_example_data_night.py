"""Tests of example_data.night and of what issue 21 asked of the simulated world.

Each test of a target of issue 21 prints its number (``pytest -s`` shows them): the colour
term, the galaxy counts, the halos' slope, the Moon against astropy.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import bin_mean as _bin

import example_data as ed
from example_data import night
from example_data.examples import _RECORDS


def _beyond_plane(ratio: np.ndarray) -> np.ndarray:
    """Return ``ratio`` over the plane that best fits it (least squares)."""
    yy, xx = np.mgrid[0 : ratio.shape[0], 0 : ratio.shape[1]]
    design = np.column_stack([np.ones(ratio.size), xx.ravel(), yy.ravel()])
    coefficients, *_ = np.linalg.lstsq(design, ratio.ravel(), rcond=None)
    return ratio / (design @ coefficients).reshape(ratio.shape)


def test_night_and_twilight_responses_differ_by_half_to_one_per_cent(truth):
    """Target: the true night-vs-twilight large-scale difference, 0.5 % to 1 % peak to
    valley after removing a plane (blocks of 32 x 32 pixels: the large scales)."""
    night_flat = truth(3, "r")
    twilight = ed.true_flat(3, "r", light="twilight")
    residual = _beyond_plane(_bin((night_flat / twilight).astype(np.float64), 32))
    span = np.ptp(residual)
    print(f"\nnight / twilight beyond a plane: {100 * span:.2f} % peak to valley")
    assert 0.005 <= span <= 0.01
    dome = ed.true_flat(3, "r", light="dome")
    dome_span = np.ptp(_beyond_plane(_bin((dome / twilight).astype(np.float64), 32)))
    assert span < dome_span < 0.015  # the lamp is redder still
    # on small scales the lights agree: the colour term is smooth
    ratio = night_flat / twilight
    assert np.std(np.diff(ratio, axis=1)) < 1e-5


def test_parts_of_the_response(truth):
    pixels = ed.true_flat(3, "r", part="pixels")
    illumination = ed.true_flat(3, "r", part="illumination")
    product = pixels * illumination
    product /= np.median(product)
    close = np.abs(product / truth(3, "r") - 1)
    assert np.percentile(close, 99.9) < 1e-4  # binning averages the product, not each part
    # the chip's own response is the same in every light; the illumination is not
    assert np.array_equal(pixels, ed.true_flat(3, "r", light="twilight", part="pixels"))
    twilight = ed.true_flat(3, "r", light="twilight", part="illumination")
    assert np.ptp(_bin((illumination / twilight).astype(np.float64), 64)) > 0.005
    # the pixels hold the pixel-to-pixel variations, the illumination the vignetting
    assert 0.003 < np.std(np.diff(pixels[500:600], axis=1)) / np.sqrt(2) < 0.004
    assert np.std(np.diff(illumination[500:600], axis=1)) < 1e-3
    assert illumination[0, 0] < 0.93 < 0.99 < illumination[1060, 1000]
    with pytest.raises(ValueError, match="true_flat: light must be one of dome, twilight"):
        ed.true_flat(3, "r", light="moon")
    with pytest.raises(ValueError, match="true_flat: part must be one of all, pixels"):
        ed.true_flat(2, "r", part="dust")


def test_example1_truth_leaves_the_dome_screen_out(truth):
    """The dome flats record the chip's response times the screen's uneven light; the
    truth is the response alone."""
    flat = truth(1, "g'")
    screen = ed.example1_screen("g'")
    assert np.median(screen) == pytest.approx(1.0, abs=1e-6)
    assert 0.05 < np.ptp(screen) < 0.12  # a few per cent from the centre to the corners
    recorded = _RECORDS[1]
    from example_data import example1

    frames_map = example1.response_maps(["g'"])["g'"]
    frames_map /= np.median(frames_map)
    product = flat * screen
    product /= np.median(product)
    np.testing.assert_allclose(product[::7, ::7], frames_map[::7, ::7], rtol=2e-6, atol=1e-7)
    assert recorded.filters[0] == "g'"
    assert np.array_equal(ed.true_flat(1, "g'", part="pixels"), flat)  # dome light: no term
    with pytest.raises(ValueError, match="filter_name must be g' or i'"):
        ed.example1_screen("r")


def test_at_least_150_galaxies_brighter_than_r_21():
    """Target: at least 150 galaxies on an Example 3 frame."""
    galaxies = ed.example3_sources(0).galaxies
    on_chip = (galaxies.row >= 0) & (galaxies.row < 2048)
    on_chip &= (galaxies.col >= 0) & (galaxies.col < 2048)
    n = np.count_nonzero(on_chip)
    print(f"\ngalaxies on frame 1: {n}, r = {galaxies.magnitude[on_chip].max():.1f} at most")
    assert n >= 150
    # counts grow by about 0.45 dex per magnitude (Yasuda et al. 2001)
    counts, _ = np.histogram(galaxies.magnitude[5:], bins=np.arange(16, 21.5, 1.0))
    slope = np.polyfit(np.arange(16.5, 21, 1.0), np.log10(counts), 1)[0]
    assert 0.35 < slope < 0.55


def test_bright_star_profiles_have_power_law_halos():
    """Target: the mean profile slope of a bright star from 5 to 30 FWHM is between -2
    and -3.5 (a Moffat core alone, beta = 2.5, falls as r**-5)."""
    image = ed.example3_source_image(0)
    stars = ed.example3_sources(0).stars
    k = int(np.flatnonzero(stars.magnitude == 9.0)[0])  # well inside the chip
    yy, xx = np.mgrid[0:2048, 0:2048]
    radius = np.hypot(yy - stars.row[k], xx - stars.col[k])
    radii = np.geomspace(5, 30, 8) * stars.fwhm[k]
    profile = [np.median(image[(radius >= 0.95 * r) & (radius < 1.05 * r)]) for r in radii]
    slope = np.polyfit(np.log(radii), np.log(profile), 1)[0]
    print(f"\nprofile slope of the r = 9.0 star from 5 to 30 FWHM: {slope:.2f}")
    assert -3.5 <= slope <= -2
    # the brightest star's halo still adds light an arcminute and more away
    far = np.hypot(yy - stars.row[0], xx - stars.col[0]) > 600
    assert np.median(image[far & (image > 0)]) > 0.5


def test_moon_in_the_headers_is_astropys():
    """Target: MOONALT and MOONILLU equal astropy's to 1 degree and 1 %, with nothing
    downloaded (``check_moon`` turns the download of Earth orientation tables off)."""
    worst_alt, worst_illum = 0.0, 0.0
    for date, (altitude, illum, *_) in zip(ed.EXAMPLE3_DATE_OBS, night.MOON, strict=True):
        alt_astropy, illum_astropy = night.check_moon(date)
        worst_alt = max(worst_alt, abs(altitude - alt_astropy))
        worst_illum = max(worst_illum, abs(illum - illum_astropy))
    print(f"\nMoon against astropy: {worst_alt:.3f} degrees, {100 * worst_illum:.3f} % at worst")
    assert worst_alt < 1.0
    assert worst_illum < 0.01


def test_sky_follows_the_field_on_a_moonless_night():
    levels = np.array(ed.EXAMPLE3_SKY_LEVELS)
    brightness = np.array([night.sky_brightness(i) for i in range(len(levels))])
    adu = 10 ** (0.4 * (21.9 - brightness)) * np.array(ed.EXAMPLE3_EXPTIMES)
    np.testing.assert_allclose(levels, adu * ed.EXAMPLE3_PIXEL_SCALE**2, atol=0.5)
    # a dark sky: 20.8 at the zenith, brighter lower down, and darker as the field rises
    print(f"\nsky: {brightness[0]:.2f} to {brightness[-1]:.2f} mag per square arcsec in r")
    assert np.all((brightness > 20.3) & (brightness < 20.8))
    field_altitude = np.array([m[3] for m in night.MOON])
    assert np.all(np.diff(brightness) * np.diff(field_altitude) > 0)
    # with the Moon set, its direction does not matter; with it up, nearer it is brighter
    assert night.sky_brightness(0, 20.0) == night.sky_brightness(0)
    moonlit = night.MOONLIT
    assert night.sky_brightness(moonlit, 20.0) < night.sky_brightness(moonlit)
    assert night.sky_brightness(moonlit) < night.sky_brightness(moonlit, 60.0) < 19


def test_moonlight_takes_the_colour_term_away():
    """The share of the dark sky in the sky's light sets the colour of the night frames:
    1 on the moonless night of Example 3, 15 % under the Moon of the night after
    the twilight flats, whose light has nearly twilight's colour."""
    shares = [night.dark_share(i) for i in range(len(night.MOON))]
    assert shares == [1.0] * len(night.MOON)
    assert night.colour_term(0) == pytest.approx(0.0075)  # the dark sky's (maps.py)
    share = night.dark_share(night.MOONLIT)
    term = night.colour_term(night.MOONLIT)
    print(f"\nunder the Moon: dark sky {100 * share:.0f} % of the light, term {100 * term:.2f} %")
    assert 0.1 < share < 0.2
    assert term == pytest.approx(0.0075 * share)
    dark, moon = night.sky_components(night.MOONLIT)
    assert share == pytest.approx(dark / (dark + moon))
    assert night.sky_components(0)[1] == 0.0  # the Moon is set: no moonlight


def test_a_moonlit_frame_is_drawn_in_bluer_light(monkeypatch, truth):
    """Where the Moon lights the sky, the frame's response is the mix's, not the dark sky's:
    the simulator takes the colour from :func:`night.dark_share` (here made 0.15)."""
    from example_data import example3

    flat = truth(3, "r")
    dark_frame = example3.noiseless_frame(0, flat, 1.0)
    monkeypatch.setattr(night, "dark_share", lambda frame: 0.15)
    moonlit_frame = example3.noiseless_frame(0, flat, 1.0)
    ratio = (moonlit_frame / dark_frame).astype(np.float64)
    ratio[ed.defect_pixels(3) | (dark_frame >= ed.EXAMPLE3_SATURATE)] = np.nan  # traps, hot
    blocks = np.nanmedian(ratio.reshape(32, 64, 32, 64), axis=(1, 3))
    night_term = _bin((flat / ed.true_flat(3, "r", light="twilight")).astype(np.float64), 64)
    # the bowl of the dark sky's colour term against twilight, 85 % of it undone
    assert np.ptp(_beyond_plane(blocks)) == pytest.approx(
        0.85 * np.ptp(_beyond_plane(night_term)), rel=0.02
    )


def test_hot_pixels_and_traps_in_the_night_frames(night_frames):
    hot = ed.example3_hot_pixels()
    assert len(hot.row) == 300
    assert np.all((hot.adu >= 20) & (hot.adu <= 3000))
    bad = ed.defect_pixels(3)
    assert np.all(bad[hot.row, hot.col])
    first, second = night_frames("dithered", 0), night_frames("dithered", 11)
    brightest = np.argsort(hot.adu)[-20:]  # they stay where they are while the sky moves
    for data in (first, second):
        local = np.median(data[hot.row[brightest] + 1, hot.col[brightest]])
        assert np.all(data[hot.row[brightest], hot.col[brightest]] > local + 500)
    # a trap takes the same charge (ADU) from a bright and a faint sky: not a fraction
    defects = ed.example_defects(2)
    column, start = defects.column[0] // 2, defects.first_row[0] // 2
    losses = []
    for data in (first, second):
        rows = np.s_[start + 50 : start + 850]
        beside = np.median(data[rows, column - 3 : column], axis=1)
        losses.append(float(np.median(beside - data[rows, column])))
    expected = (1 - defects.column_response[0]) * 2400 / ed.EXAMPLE3_GAIN
    assert losses == pytest.approx([expected, expected], abs=10)
    with pytest.raises(ValueError, match="example must be 1, 2 or 3"):
        ed.defect_pixels(4)
