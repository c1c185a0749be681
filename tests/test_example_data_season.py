"""The season of twilight flats: deterministic files, the night in each header, the drift."""

from __future__ import annotations

import math

import numpy as np
import pytest
from astropy.io import fits

from _flat_engine import groups
from example_data.example2 import example2_donuts
from example_data.season import (
    SEASON_FILTERS,
    SEASON_NEW_DONUT_NIGHT,
    SEASON_SITE,
    season_date_obs,
    season_donuts,
    season_files,
    season_flat,
    season_night,
    write_season,
)


def test_the_same_call_writes_the_same_bytes(tmp_path):
    first = write_season(tmp_path / "a", nights=2, frames=3, shape=(64, 96))
    second = write_season(tmp_path / "b", nights=2, frames=3, shape=(64, 96))
    assert [p.name for p in first] == [name for *_, name in season_files(2, 3)]
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    with fits.open(first[0], checksum=True) as hdul:  # checksums verified as it is read
        header, data = hdul[0].header, hdul[0].data
    assert data.shape == (64, 96)
    assert data.dtype == np.dtype(">f4")
    assert header["IMAGETYP"] == "FLAT"
    assert header["FILTER"] == "g"
    assert header["OBSGEO-L"] == -101.0  # Example 3's site
    assert header["SIMULATE"] is True


def test_every_frame_belongs_to_its_local_night(tmp_path):
    grouping = groups.parse_grouping(("night", "filter"), "DATE-OBS", None, None)
    for night in range(6):
        for filt in SEASON_FILTERS:
            date_obs = season_date_obs(night, filt, 4)
            header = fits.Header({"DATE-OBS": date_obs, "OBSGEO-L": SEASON_SITE[0]})
            assert groups.night_of(header, grouping, "f") == season_night(night)
            # neither the UTC date nor the local calendar date of the dawn frames
            assert date_obs[:10] != season_night(night)


def test_the_dust_slides_and_a_new_donut_appears():
    base = example2_donuts()
    first, later = season_donuts(0), season_donuts(5)
    assert np.array_equal(first.row, base.row)
    assert np.array_equal(first.col, base.col)
    slide = np.hypot(later.row[: base.row.size] - base.row, later.col[: base.row.size] - base.col)
    assert slide[2] > 150  # the fast one: 41 pixels a night
    assert 0 < np.median(np.delete(slide, 2)) < 20  # the others: a walk of 3 pixels a night
    counts = [season_donuts(n).row.size for n in range(6)]
    assert counts == [base.row.size] * SEASON_NEW_DONUT_NIGHT + [base.row.size + 1] * 3
    small = season_donuts(5, (512, 512))
    assert np.allclose(small.radius, later.radius / 8)


def test_the_new_donut_darkens_the_true_flat_from_its_night_on():
    shape = (512, 512)
    donut = season_donuts(SEASON_NEW_DONUT_NIGHT, shape)
    row, col, radius = donut.row[-1], donut.col[-1], donut.radius[-1]
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    ring = (np.hypot(rr - row, cc - col) < radius - 1) & (
        np.hypot(rr - row, cc - col) > donut.inner_radius[-1] + 1
    )
    before = season_flat(SEASON_NEW_DONUT_NIGHT - 1, "r", shape)
    after = season_flat(SEASON_NEW_DONUT_NIGHT, "r", shape)
    ratio = np.median(after[ring] / before[ring])
    assert math.isclose(ratio, 1 - 0.012, abs_tol=0.003)
    assert np.median(season_flat(0, "g", shape)) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"nights": 0}, ValueError),
        ({"nights": 61}, ValueError),
        ({"frames": 9}, ValueError),
        ({"frames": 2.0}, TypeError),
        ({"nights": True}, TypeError),
        ({"shape": (32, 64)}, ValueError),
        ({"shape": (64,)}, ValueError),
    ],
)
def test_a_season_out_of_range_is_refused(tmp_path, options, error):
    with pytest.raises(error):
        write_season(tmp_path, **options)
    assert list(tmp_path.iterdir()) == []


def test_the_flats_are_taken_in_twilight():
    """At the season's site the Sun is 2 to 8 degrees below the horizon at every flat: r at
    dusk, g at dawn, on the first night and the last (astropy, offline)."""
    import astropy.units as u
    from astropy.coordinates import AltAz, EarthLocation, get_body
    from astropy.time import Time
    from astropy.utils import iers

    lon, lat, height = SEASON_SITE
    site = EarthLocation(lat=lat * u.deg, lon=lon * u.deg, height=height * u.m)
    stamps = [season_date_obs(n, f, i) for n in (0, 59) for f in SEASON_FILTERS for i in (0, 7)]
    with iers.conf.set_temp("auto_download", False):
        times = Time(stamps, scale="utc")
        sun = get_body("sun", times, site).transform_to(AltAz(obstime=times, location=site))
    assert np.all((sun.alt.deg > -8) & (sun.alt.deg < -2)), sun.alt.deg
