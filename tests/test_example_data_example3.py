"""Tests of example_data.example3: a night of dithered science frames."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from conftest import EXPECTED_KEYWORDS
from conftest import bin_mean as _bin
from conftest import robust_std as _robust_std

import example_data as ed
from example_data import writing
from example_data.examples import _RECORDS, _simulate_frame
from example_data.noise import _expected_cosmic_rays


def _night_model(index: int, flat: np.ndarray, tracked: bool = False) -> np.ndarray:
    """The noiseless frame before bleeding: (sky * gradient + sources) * response.

    Without the traps' and the hot pixels' charge: leave out ``defect_pixels(3)``."""
    sky = ed.example3_sky(index)
    theta = np.radians(sky.angle)
    y = np.linspace(-0.5, 0.5, ed.EXAMPLE3_SHAPE[0])[:, None]
    x = np.linspace(-0.5, 0.5, ed.EXAMPLE3_SHAPE[1])[None, :]
    light = sky.level * (1 + sky.amplitude * np.sin(theta) * y)
    light = light * (1 + sky.amplitude * np.cos(theta) * x)
    return (light + ed.example3_source_image(index, tracked=tracked)) * flat


def test_example3_files_shapes_headers_and_size(night):
    for kind, names in (("dithered", ed.EXAMPLE3_FILES), ("tracked", ed.EXAMPLE3_TRACKED_FILES)):
        folder = night[kind]
        assert sorted(p.name for p in folder.iterdir()) == sorted(names)
        dates = []
        for index, name in enumerate(names):
            with fits.open(folder / name, checksum=True) as hdul:
                header = hdul[0].header
                assert hdul[0].data.shape == ed.EXAMPLE3_SHAPE == (2048, 2048)
                assert hdul[0].data.dtype == np.dtype(">f4")
            for key in (*EXPECTED_KEYWORDS, "SATURATE", "OBJECT", "SIMVERS"):
                assert key in header, key
            assert header["IMAGETYP"] == "LIGHT"
            assert header["FILTER"] == "r"
            assert header["EXPTIME"] == ed.EXAMPLE3_EXPTIMES[index]
            assert 300 <= header["EXPTIME"] <= 900  # a dark sky: long exposures
            assert header["DATE-OBS"] == ed.EXAMPLE3_DATE_OBS[index]
            assert header["XBINNING"] == header["YBINNING"] == 2
            assert header["GAIN"] == 1.5
            assert header["RDNOISE"] == 10.0
            assert header["SATURATE"] == 64000.0
            assert header["BUNIT"] == "adu"
            assert header["SIMULATE"] is True
            assert header["SIMVERS"] == ed.SIMULATION_VERSION
            assert header["SIMDITH"] is (kind == "dithered")
            # the site, the pointing and the Moon (checked against astropy in test_..._night)
            assert (header["OBSGEO-B"], header["OBSGEO-L"]) == ed.night.SITE[:2]
            assert header["MOONALT"] == ed.night.MOON[index][0]
            assert header["MOONILLU"] == ed.night.MOON[index][1]
            offset = (ed.EXAMPLE3_TRACKED_OFFSETS if kind == "tracked" else ed.EXAMPLE3_DITHERS)[
                index
            ]
            # the WCS puts the field's centre where the frame's offset moved it
            world = WCS(header).pixel_to_world(1023.5 + offset[1], 1023.5 + offset[0])
            assert world.ra.deg == pytest.approx(ed.night.POINTING[0], abs=1e-6)
            assert world.dec.deg == pytest.approx(ed.night.POINTING[1], abs=1e-6)
            centre = WCS(header).pixel_to_world(1023.5, 1023.5)
            assert (centre.ra.deg, centre.dec.deg) == pytest.approx(
                (header["RA"], header["DEC"]), abs=1e-5
            )
            dates.append(header["DATE-OBS"])
        assert dates == sorted(dates)
        hours = (np.datetime64(dates[-1]) - np.datetime64(dates[0])) / np.timedelta64(1, "h")
        assert 2 < hours < 5  # a few hours of one night
        size = sum(p.stat().st_size for p in folder.iterdir())
        assert size <= 300e6
    assert 9 <= len(ed.EXAMPLE3_FILES) <= 15
    assert ed.example_files(3) == ed.EXAMPLE3_FILES
    assert ed.example_medians(3) == ed.EXAMPLE3_SKY_LEVELS
    assert ed.EXAMPLE3_PIXEL_SCALE == pytest.approx(0.773, abs=0.001)


def test_example3_writes_are_bit_identical(night, tmp_path):
    ed.make_example(3, tmp_path)
    for name in ed.EXAMPLE3_FILES:
        assert (tmp_path / name).read_bytes() == (night["dithered"] / name).read_bytes(), name
    # ... and a frame simulated on its own equals the threaded run's
    data, _ = _simulate_frame(3, 4, tracked=True)
    path = night["tracked"] / ed.EXAMPLE3_TRACKED_FILES[4]
    assert np.array_equal(data, fits.getdata(path))


def test_true_flat_3_is_the_binned_example2_response_in_the_night_skys_light(truth):
    flat3 = truth(3, "r")
    assert flat3.dtype == np.float32
    assert flat3.shape == (2048, 2048)
    assert np.median(flat3) == pytest.approx(1.0, abs=1e-6)
    assert np.array_equal(flat3, ed.true_flat(3, "r"))
    assert np.array_equal(flat3, ed.true_flat(3, "r", light="night"))
    # In twilight's light: example 2's response binned, but for the low columns, whose traps
    # take a fixed charge in example 3 (no response).
    twilight = ed.true_flat(3, "r", light="twilight")
    binned = _bin(truth(2, "r").astype(np.float64), 2)
    binned /= np.median(binned)
    columns = np.zeros(flat3.shape, dtype=bool)
    defects = ed.example_defects(2)
    columns[:, defects.column // 2] = True
    ratio = twilight[~columns] / binned[~columns]  # one constant: the medians differ a little
    assert np.ptp(ratio) < 3e-6
    assert np.all(twilight[columns] >= binned[columns] * 0.999)


def test_example3_frames_are_sky_plus_sources_through_the_response_with_noise(night_frames, truth):
    flat = truth(3, "r")
    levels = np.array(ed.EXAMPLE3_SKY_LEVELS)
    assert np.all(np.diff(levels) < 0)  # the sky darkens as the field rises
    assert levels.min() >= 1000  # a dark sky in 600 s
    assert levels.max() <= 1400
    bad = ed.defect_pixels(3)
    for index in range(len(ed.EXAMPLE3_FILES)):
        data = night_frames("dithered", index)
        sky = ed.example3_sky(index)
        assert sky.level == levels[index]
        assert 0.002 <= sky.amplitude <= 0.007
        # pixels with less than 1 ADU of source light: the halos of the bright stars reach
        # most of the chip, at a few ADU
        free = (ed.example3_source_image(index) < 1.0) & ~bad
        assert 0.1 < free.mean() < 0.5
        assert 0.003 < np.median(data) / sky.level - 1 < 0.007  # the sources raise it a little
        if index in (0, 11):  # the full model, and the noise, in two frames
            model = _night_model(index, flat)
            # Divided by the gradient and the response, the source-free sky is the level.
            sky_only = data[free] / (model[free] / sky.level)
            assert abs(np.median(sky_only) / sky.level - 1) < 5e-4
            good = (model < 50_000) & (flat > 0.5) & ~bad
            z = ((data - model) / np.sqrt(model / 1.5 + (10 / 1.5) ** 2))[good]
            assert abs(np.median(z)) < 0.01
            assert _robust_std(z) == pytest.approx(1.0, abs=0.01)


def test_example3_gradient_points_at_the_horizon():
    """With the Moon set, the dark sky brightens towards the horizon (the airmass)."""
    skies = [ed.example3_sky(i) for i in range(len(ed.EXAMPLE3_FILES))]
    amplitudes = np.array([s.amplitude for s in skies])
    angles = np.array([s.angle for s in skies])
    assert np.all((amplitudes > 0.002) & (amplitudes < 0.007))
    assert np.all(np.diff(amplitudes) < 0)  # flatter as the field rises
    for angle, sky, row in zip(angles, skies, ed.night.MOON, strict=True):
        assert row[0] < 0  # the Moon is set
        # away from the zenith: position angle (north through east) to the chip's angle
        # (north +row, east -column); the airmass X grows across the chip's 0.44 degrees
        assert angle == pytest.approx((90 + row[5] + 180) % 360)
        # the airmass X = 1 / sin(altitude) across the chip's 0.44 degrees, less the
        # extinction: dX/X = cot(altitude) d(altitude)
        # (Krisciunas & Schaefer's airmass, 0.10 magnitudes of extinction per airmass)
        airmass = [(1 - 0.96 * np.cos(np.radians(row[3] + h)) ** 2) ** -0.5 for h in (-0.22, 0.22)]
        low, high = (x * 10 ** (-0.04 * (x - 1)) for x in airmass)
        assert sky.amplitude == pytest.approx(low / high - 1, rel=0.02)
    assert 40 < np.ptp(angles) < 60  # the field turns about the zenith over the night


def test_example3_sources_are_realistic():
    sources = ed.example3_sources(0)
    stars, galaxies = sources.stars, sources.galaxies
    assert np.all(np.diff(stars.magnitude) >= 0)  # brightest first
    assert stars.magnitude[0] < 7
    assert 19.5 < stars.magnitude[-1] <= 20.5
    # number counts rise by about 0.3 dex per magnitude
    counts, _ = np.histogram(stars.magnitude, bins=np.arange(14, 20.5, 1.0))
    slope = np.polyfit(np.arange(14.5, 20, 1.0), np.log10(counts), 1)[0]
    assert 0.25 < slope < 0.35
    # the five large galaxies first, then the faint ones from the published counts
    assert np.all((galaxies.radius[:5] >= 10) & (galaxies.radius[:5] <= 80))
    assert np.all((galaxies.magnitude[5:] >= 14) & (galaxies.magnitude[5:] <= 21))
    assert np.all(galaxies.radius[5:] < 20)
    # a 0.6 m telescope: r = 15 gives about 2e3 ADU per second in all
    flux15 = 10 ** (0.4 * (21.9 - 15)) * ed.EXAMPLE3_EXPTIMES[0]
    k = np.argmin(np.abs(stars.magnitude - 15))
    assert stars.flux[k] == pytest.approx(flux15 * 10 ** (-0.4 * (stars.magnitude[k] - 15)))
    fwhm = {ed.example3_sources(i).stars.fwhm[0] for i in range(len(ed.EXAMPLE3_FILES))}
    assert len(fwhm) > 3
    assert min(fwhm) >= 2
    assert max(fwhm) <= 3
    with pytest.raises(ValueError, match="index"):
        ed.example3_sources(12)
    with pytest.raises(ValueError, match="tracked must be True or False"):
        ed.example3_source_image(0, tracked="yes")


def test_sources_move_between_dithered_frames_but_not_tracked_ones(night_frames, truth):
    n = len(ed.EXAMPLE3_FILES)
    for tracked in (False, True):
        stars = [ed.example3_sources(i, tracked=tracked).stars for i in range(n)]
        galaxies = [ed.example3_sources(i, tracked=tracked).galaxies for i in range(n)]
        moves = [
            np.hypot(stars[i].row - stars[j].row, stars[i].col - stars[j].col)
            for i in range(n)
            for j in range(i + 1, n)
        ]
        moves += [
            np.hypot(galaxies[i].row - galaxies[j].row, galaxies[i].col - galaxies[j].col)
            for i in range(n)
            for j in range(i + 1, n)
        ]
        if tracked:
            assert max(m.max() for m in moves) < 1.0
        else:
            assert min(m.min() for m in moves) >= 20
    # In the pixels: unsaturated, well-exposed stars are where the sources say, in every frame.
    flat = truth(3, "r")
    for kind, tracked in (("dithered", False), ("tracked", True)):
        for index in (0, 1, 7):
            data = night_frames(kind, index)
            source = ed.example3_source_image(index, tracked=tracked)
            stars = ed.example3_sources(index, tracked=tracked).stars
            pick = np.flatnonzero(
                (stars.peak > 3000)
                & (stars.peak < 20000)
                & (stars.row > 20)
                & (stars.row < 2027)
                & (stars.col > 20)
                & (stars.col < 2027)
            )[:10]
            assert len(pick) == 10
            for k in pick:
                r, c = round(stars.row[k]), round(stars.col[k])
                assert source[r, c] > 0.5 * stars.peak[k]
                local = float(np.median(data[r - 15 : r + 16, c - 15 : c + 16]))
                assert data[r, c] - local > 0.4 * stars.peak[k] * flat[r, c], (kind, index, k)
    # The source light of frames 0 and 1 overlaps little when dithered, almost all when tracked.
    for tracked, low, high in ((False, 0.0, 0.5), (True, 0.95, 1.0)):
        a = ed.example3_source_image(0, tracked=tracked) > 100
        b = ed.example3_source_image(1, tracked=tracked) > 100
        assert low <= np.count_nonzero(a & b) / np.count_nonzero(a) <= high


def _saturated_extent(data: np.ndarray, row: float, col: float) -> tuple[int, int]:
    """Lengths of the saturated runs through a star along its column and its row."""
    r, c = round(row), round(col)
    sat = data >= ed.EXAMPLE3_SATURATE

    def run(line: np.ndarray, centre: int) -> int:
        if not line[centre]:
            return 0
        lo = centre
        while lo > 0 and line[lo - 1]:
            lo -= 1
        hi = centre
        while hi < line.size - 1 and line[hi + 1]:
            hi += 1
        return hi - lo + 1

    return run(sat[:, c], r), run(sat[r, :], c)


def test_example3_saturation_and_bleed_trails(night_frames):
    for index in (0, 4, 7):
        data = night_frames("dithered", index)
        assert data.max() == np.float32(ed.EXAMPLE3_SATURATE)
        stars = ed.example3_sources(index).stars
        n_saturated = 0
        for k in range(40):
            if not (10 <= stars.row[k] <= 2037 and 10 <= stars.col[k] <= 2037):
                continue  # off the chip, or at its edge, in this frame
            along_column, along_row = _saturated_extent(data, stars.row[k], stars.col[k])
            if along_column:
                n_saturated += 1
            if k == 0:  # the brightest overloads the anti-blooming drains: it bleeds
                # (in the worst seeing, frame 5, its trail is 101 pixels long, its saturated
                # core 19 wide)
                assert along_column > along_row + 50, (index, k, along_column, along_row)
            elif k == 1:  # the second bleeds in good seeing (frame 8: 71 pixels)
                assert along_column >= along_row, (index, k, along_column, along_row)
            elif along_row:  # the rest are round
                assert along_column <= along_row + 2, (index, k, along_column, along_row)
        assert n_saturated >= 5  # a few saturated stars, all brighter than r = 15
        assert np.all(stars.magnitude[stars.peak + 2000 > 64000] < 15.0)


def test_example3_cosmic_rays():
    expected = _expected_cosmic_rays(_RECORDS[3], 0)
    assert expected == pytest.approx(2.0 / 60 * 2048**2 * 0.0018**2 * 602, rel=1e-9)
    counts = [len(np.unique(ed.example_cosmic_rays(3, i).hit)) for i in range(4)]
    assert abs(sum(counts) - 4 * expected) < 4 * np.sqrt(4 * expected)
    with pytest.raises(ValueError, match="example_defects\\(2\\)"):
        ed.example_defects(3)


def test_tracked_frames_need_their_own_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(writing, "default_folder", lambda example: tmp_path / "default")
    with pytest.raises(ValueError, match="tracked=True needs an explicit folder"):
        ed.ensure_example3(tracked=True)
    with pytest.raises(ValueError, match="tracked=True needs an explicit folder"):
        ed.ensure_example_data(3, tracked=True)
    with pytest.raises(ValueError, match="example 3 only"):
        ed.make_example(2, tmp_path, tracked=True)
    with pytest.raises(ValueError, match="tracked must be True or False"):
        ed.make_example3(tmp_path, tracked=1)
    assert list(tmp_path.iterdir()) == []
    assert set(ed.EXAMPLE3_FILES).isdisjoint(ed.EXAMPLE3_TRACKED_FILES)
