"""Example 3's night: the site, the pointing, the Moon, the sky's brightness and a WCS.

The twilight flats of Example 2 (2022-03-14, 01:02 UTC, the Sun 3.2 to 3.8 degrees below
the horizon) and the night frames of Example 3 are taken at one site, :data:`SITE`, eleven
nights apart: the night frames on 2022-03-03, 03:51 to 06:47 UTC, a night after new Moon
(2022-03-02, 17:35 UTC), when the Moon, 0.3 % to 0.5 % lit, set with the Sun and stayed 37
to 66 degrees below the horizon, and the Sun 41 to 66 degrees below it. They point at a
field at high galactic latitude (b = 66 degrees), :data:`POINTING`, which rises from 43 to
71 degrees. :data:`MOON` holds, for each frame's DATE-OBS, the Moon's altitude and
illuminated fraction as astropy computes them (``get_body("moon")`` and the Sun-Moon-observer
phase angle, with the built-in ephemeris and the bundled Earth orientation tables, nothing
downloaded), its distance from the field, the field's altitude and the directions of the
Moon and of the zenith from the field; the tests recompute the Moon's.

The sky's brightness follows from them: a dark sky of 20.8 magnitudes per square arcsecond
in r at the zenith (our choice, at the bright end of what dark sites report for a
moonless zenith in r, about 20.8 to 21.2, which varies with the solar cycle and the
night's airglow) that grows with the airmass as Krisciunas & Schaefer (1991, PASP 103, 1033)
model it (the airglow's path through a thicker layer, less the extinction), plus the
scattered moonlight of their model when the Moon is up (nothing when it is below the
horizon). The model is fitted to V; moonlight has the Sun's colour, V - r = 0.2, and the
extinction in r is taken as 0.10 magnitudes per airmass. The colour of a frame's sky light
is the mix of the two by their shares (:func:`dark_share`): the dark sky's (airglow, red)
and the moonlight's, sunlight scattered in the air like twilight's, taken as twilight's
colour (:func:`example_data.maps._light_weight`). On this night the share of the dark sky is
1 in every frame. :data:`MOONLIT` keeps, for comparison, the same field at 03:04 UTC on
2022-03-15, the night after the twilight flats, under a Moon 89 % lit and 67 degrees up:
there the dark sky gives 15 % of the light, and the night sky has nearly twilight's
colour.

In the frames (:data:`example_data.EXAMPLE3_SKY_LEVELS`): the sky of 20.45 (first frame)
to 20.75 (last) magnitudes per square arcsecond, through Example 2's zero point (r = 21.9
gives 1 ADU per second) on a binned pixel of 0.598 square arcseconds, is 2.3 to 1.7 ADU
per second. The exposures are 600 s (:data:`example_data.EXAMPLE3_EXPTIMES`), chosen so
that the sky, 1361 to 1040 ADU, outweighs the read noise (10 e-, 6.7 ADU) 15 to 20 times in
variance, as deep frames on a dark sky are exposed; twelve of them, one every 16 minutes,
fill the three hours.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from example_data.camera import Card
from example_data.maps import _COLOUR_NIGHT_PV, _light_weight

SITE = (31.0, -101.0, 1500.0)
"""The site: latitude and longitude (degrees, east positive) and height (m)."""
POINTING = (176.0, 47.0)
"""The field's centre on the undithered chip: right ascension and declination (degrees)."""
MOON = (  # (Moon's altitude deg, illuminated fraction, Moon-field separation deg, field
    # altitude deg, position angles (north through east, deg) of the Moon and of the zenith
    # from the field) at each DATE-OBS
    (-36.92, 0.0034, 142.16, 43.03, 9.9, 271.9),
    (-40.06, 0.0036, 142.11, 45.75, 9.6, 269.1),
    (-43.09, 0.0037, 142.06, 48.42, 9.3, 266.1),
    (-46.21, 0.0039, 142.01, 51.20, 9.0, 262.8),
    (-49.15, 0.0040, 141.96, 53.88, 8.7, 259.3),
    (-52.25, 0.0042, 141.91, 56.73, 8.3, 255.3),
    (-54.97, 0.0044, 141.86, 59.31, 8.0, 251.2),
    (-57.59, 0.0045, 141.81, 61.85, 7.7, 246.5),
    (-60.09, 0.0047, 141.76, 64.37, 7.4, 241.1),
    (-62.24, 0.0049, 141.71, 66.64, 7.1, 235.1),
    (-64.16, 0.0051, 141.66, 68.79, 6.8, 228.0),
    (-65.68, 0.0053, 141.61, 70.67, 6.5, 219.8),
)
"""The Moon and the field at each example 3 frame's DATE-OBS (see the module's text)."""
MOONLIT = (67.04, 0.8937, 39.06, 43.06, 240.0, 271.9)
"""The same field and site at 2022-03-15T03:04:41 UTC, a row like :data:`MOON`'s: a Moon
89 % lit, 67 degrees up and 39 degrees from the field (for comparison)."""

_DARK_SKY_R = 20.8  # r mag per square arcsec at the zenith, no Moon
_EXTINCTION_R = 0.10  # mag per airmass in r
_EXTINCTION_V = 0.172  # mag per airmass in V (Krisciunas & Schaefer's value)
_MOON_V_MINUS_R = 0.2  # moonlight is sunlight: V - r of the Sun

Row = Sequence[float]
"""A row of :data:`MOON` (or :data:`MOONLIT`)."""


def _airmass(altitude: float) -> float:
    """Return Krisciunas & Schaefer's airmass of a zenith distance (altitude in degrees)."""
    return (1 - 0.96 * math.cos(math.radians(altitude)) ** 2) ** -0.5


def _moonlight_nl(separation: float, moon_alt: float, field_alt: float, illum: float) -> float:
    """Return the scattered moonlight (nanolamberts, V) of Krisciunas & Schaefer (1991)."""
    phase = math.degrees(math.acos(2 * illum - 1))  # 0 at full Moon
    moon = 10 ** (-0.4 * (3.84 + 0.026 * phase + 4e-9 * phase**4))
    rho = math.radians(separation)
    scattering = 10**5.36 * (1.06 + math.cos(rho) ** 2) + 10 ** (6.15 - separation / 40)
    through = 10 ** (-0.4 * _EXTINCTION_V * _airmass(moon_alt))
    return scattering * moon * through * (1 - 10 ** (-0.4 * _EXTINCTION_V * _airmass(field_alt)))


def _row(frame: int | Row) -> Row:
    """Return the row of :data:`MOON` of frame ``frame``, or ``frame`` if it is a row."""
    return MOON[frame] if isinstance(frame, int) else frame


def _dark(field_alt: float) -> float:
    """Return the dark sky's r light at a field's altitude (10**(-0.4 mag) per sq. arcsec)."""
    airmass = _airmass(field_alt)
    return 10 ** (-0.4 * _DARK_SKY_R) * airmass * 10 ** (-0.4 * _EXTINCTION_R * (airmass - 1))


def _moon(row: Row, separation: float) -> float:
    """Return the scattered moonlight in r (as :func:`_dark`), 0 with the Moon set."""
    moon_alt, illum, _, field_alt, *_ = row
    if moon_alt <= 0:
        return 0.0
    moon_v = 20.7233 - math.log(_moonlight_nl(separation, moon_alt, field_alt, illum) / 34.08)
    moon_v /= 0.92104  # nanolamberts to V mag per square arcsec (Garstang 1989)
    return 10 ** (-0.4 * (moon_v - _MOON_V_MINUS_R))


def sky_components(frame: int | Row, separation: float | None = None) -> tuple[float, float]:
    """Return the dark sky's and the moonlight's r light at frame ``frame`` (a row or index).

    In units of 10**(-0.4 mag) per square arcsecond; ``separation`` (degrees from the Moon)
    replaces the field centre's, to follow the sky across the chip.
    """
    row = _row(frame)
    return _dark(row[3]), _moon(row, row[2] if separation is None else separation)


def sky_brightness(frame: int | Row, separation: float | None = None) -> float:
    """Return the sky's r surface brightness (mag per square arcsec) at frame ``frame``.

    The sum of :func:`sky_components`, with the same arguments.
    """
    return -2.5 * math.log10(sum(sky_components(frame, separation)))


def dark_share(frame: int | Row) -> float:
    """Return the dark sky's share of the sky's light at frame ``frame`` (a row or index).

    1 without the Moon; the rest is moonlight, whose colour is nearly twilight's.
    """
    dark, moon = sky_components(frame)
    return dark / (dark + moon)


def colour_term(frame: int | Row) -> float:
    """Return the colour term of frame ``frame``'s sky light against twilight's.

    The peak to valley beyond a plane, across the chip, of the response in the sky's light
    over the response in twilight's (a fraction): the dark sky's term scaled by its share of
    the light (:func:`dark_share`, :func:`example_data.maps._light_weight`).
    """
    redder = _light_weight("night", dark_share(frame)) - _light_weight("twilight")
    return _COLOUR_NIGHT_PV * redder


def sky_gradient(index: int, width_deg: float) -> tuple[float, float]:
    """Return the sky's change across ``width_deg`` and its direction in the chip.

    The fraction by which the sky is brighter at the chip's brighter edge than at the far
    edge, and the direction towards that edge (degrees counter-clockwise from +column
    towards +row; north is +row, east -column). Each part of the light has its own: the dark
    sky brightens towards the horizon (the airmass), the moonlight towards the Moon; the
    two add as vectors, weighted by their shares.
    """
    row = MOON[index]
    sep, field_alt, moon_pa, zenith_pa = row[2], row[3], row[4], row[5]
    dark, moon = sky_components(index)
    change = _dark(field_alt - width_deg / 2) / _dark(field_alt + width_deg / 2) - 1
    parts = [(dark, change, zenith_pa + 180.0)]
    if moon > 0:
        change = _moon(row, sep - width_deg / 2) / _moon(row, sep + width_deg / 2) - 1
        parts.append((moon, change, moon_pa))
    x = sum(light * change * math.cos(math.radians(90.0 + pa)) for light, change, pa in parts)
    y = sum(light * change * math.sin(math.radians(90.0 + pa)) for light, change, pa in parts)
    total = dark + moon
    return math.hypot(x, y) / total, math.degrees(math.atan2(y, x)) % 360.0


def observation_cards(
    index: int, offset: tuple[float, float], shape: tuple[int, int], scale_arcsec: float
) -> list[Card]:
    """Return the site, pointing, WCS and Moon cards of a frame whose sky moved by ``offset``.

    A tangent-plane WCS, north up (+row) and east left (-column), ``scale_arcsec`` per pixel;
    the sky's reference point (:data:`POINTING`) sits at the chip's centre moved by the
    frame's ``offset`` (rows, columns), and RA, DEC are the chip centre's.
    """
    from astropy.wcs import WCS

    lat, lon, height = SITE
    wcs = WCS(naxis=2)
    wcs.wcs.obsgeo = [math.nan] * 3 + [lon, lat, height]
    wcs.wcs.fix()  # geocentric X, Y, Z as WCSLIB computes them (it differs from astropy's by 3 m)
    cards: list[Card] = [
        ("OBSGEO-B", lat, "[deg] Latitude of the observatory"),
        ("OBSGEO-L", lon, "[deg] Longitude of the observatory, east +"),
        ("OBSGEO-H", height, "[m] Height of the observatory"),
    ]
    # the same place as geocentric X, Y, Z, which readers of the WCS would otherwise add
    cards += [
        (f"OBSGEO-{axis}", round(float(c), 3), f"[m] Geocentric {axis} of the observatory")
        for axis, c in zip("XYZ", wcs.wcs.obsgeo[:3], strict=True)
    ]
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = list(POINTING)
    wcs.wcs.crpix = [(shape[1] + 1) / 2 + offset[1], (shape[0] + 1) / 2 + offset[0]]
    wcs.wcs.cdelt = [-scale_arcsec / 3600, scale_arcsec / 3600]
    ra, dec = wcs.wcs_pix2world([[(shape[1] - 1) / 2, (shape[0] - 1) / 2]], 0)[0]
    cards += [
        ("RA", round(float(ra), 6), "[deg] RA of the chip's centre (ICRS)"),
        ("DEC", round(float(dec), 6), "[deg] Dec of the chip's centre (ICRS)"),
        ("RADESYS", "ICRS", "Reference frame of the coordinates"),
        ("CTYPE1", "RA---TAN", "Gnomonic projection"),
        ("CTYPE2", "DEC--TAN", "Gnomonic projection"),
        ("CRVAL1", POINTING[0], "[deg] RA of the reference point"),
        ("CRVAL2", POINTING[1], "[deg] Dec of the reference point"),
        ("CRPIX1", float(wcs.wcs.crpix[0]), "Column of the reference point"),
        ("CRPIX2", float(wcs.wcs.crpix[1]), "Row of the reference point"),
        ("CDELT1", float(wcs.wcs.cdelt[0]), "[deg] Pixel scale along columns (east left)"),
        ("CDELT2", float(wcs.wcs.cdelt[1]), "[deg] Pixel scale along rows (north up)"),
        ("CUNIT1", "deg", "Unit of CRVAL1 and CDELT1"),
        ("CUNIT2", "deg", "Unit of CRVAL2 and CDELT2"),
        ("MOONALT", MOON[index][0], "[deg] Altitude of the Moon at DATE-OBS"),
        ("MOONILLU", MOON[index][1], "Illuminated fraction of the Moon"),
    ]
    return cards


def check_moon(date_obs: str) -> tuple[float, float]:
    """Return astropy's altitude (deg) and illuminated fraction of the Moon at ``date_obs``.

    From the site, with the built-in ephemeris; Earth orientation from the tables that come
    with astropy (no download: ``auto_download`` is off here). The tests compare
    :data:`MOON` with it.
    """
    import astropy.units as u
    from astropy.coordinates import AltAz, EarthLocation, get_body
    from astropy.time import Time
    from astropy.utils import iers

    with iers.conf.set_temp("auto_download", False):
        time = Time(date_obs, scale="utc")
        site = EarthLocation(lat=SITE[0] * u.deg, lon=SITE[1] * u.deg, height=SITE[2] * u.m)
        moon, sun = get_body("moon", time, site), get_body("sun", time, site)
        altitude = moon.transform_to(AltAz(obstime=time, location=site)).alt.deg
        elongation = sun.separation(moon).rad
        phase = np.arctan2(
            sun.distance * np.sin(elongation), moon.distance - sun.distance * np.cos(elongation)
        )
    return float(altitude), float((1 + np.cos(phase.value)) / 2)
