"""Example 3's night: the site, the pointing, the Moon, the sky's brightness and a WCS.

The twilight flats of Example 2 (2022-03-14, 01:02 UTC, the Sun 3.2 to 3.8 degrees below
the horizon) and the night frames of Example 3 (03:04 to 06:06 UTC the same night) are
taken at one site, :data:`SITE`; the night frames point at a field at high galactic
latitude (b = 66 degrees), :data:`POINTING`. That night the Moon was 89 % to 90 % lit and
high: 67 degrees up at the first frame, 79 degrees at its meridian crossing (frame 7), 69
at the last, 39 degrees from the field. :data:`MOON` holds, for each frame's DATE-OBS, the
Moon's altitude and illuminated fraction as astropy computes them (``get_body("moon")`` and
the Sun-Moon-observer phase angle, with the built-in ephemeris and the bundled Earth
orientation tables, nothing downloaded), its distance from the field and the field's
altitude; the tests recompute them.

The sky's brightness follows from them by the model of Krisciunas & Schaefer (1991, PASP
103, 1033) for the scattered moonlight, and a dark sky of 20.8 magnitudes per square
arcsecond in r at the zenith (a dark site's moonless sky near solar minimum) that grows
with the airmass. The model is fitted to V; moonlight has the Sun's colour, V - r = 0.2,
and the extinction in r is taken as 0.10 magnitudes per airmass.
"""

from __future__ import annotations

import math

import numpy as np

from example_data.camera import Card

SITE = (31.0, -101.0, 1500.0)
"""The site: latitude and longitude (degrees, east positive) and height (m)."""
POINTING = (176.0, 47.0)
"""The field's centre on the undithered chip: right ascension and declination (degrees)."""
MOON = (  # (Moon's altitude deg, illuminated fraction, Moon-field separation deg,
    # field altitude deg, position angle of the Moon from the field deg) at each DATE-OBS
    (67.04, 0.8937, 39.06, 43.06, 239.9),
    (70.07, 0.8941, 39.04, 45.78, 239.8),
    (72.87, 0.8945, 39.01, 48.45, 239.7),
    (75.51, 0.8949, 38.99, 51.23, 239.5),
    (77.60, 0.8953, 38.97, 53.91, 239.4),
    (79.03, 0.8958, 38.95, 56.76, 239.3),
    (79.30, 0.8962, 38.94, 59.34, 239.1),
    (78.45, 0.8966, 38.92, 61.88, 239.0),
    (76.64, 0.8970, 38.91, 64.40, 238.8),
    (74.32, 0.8974, 38.90, 66.67, 238.7),
    (71.58, 0.8978, 38.88, 68.81, 238.5),
    (68.64, 0.8983, 38.87, 70.69, 238.4),
)
"""The Moon and the field at each example 3 frame's DATE-OBS (see the module's text)."""

_DARK_SKY_R = 20.8  # r mag per square arcsec at the zenith, no Moon
_EXTINCTION_R = 0.10  # mag per airmass in r
_EXTINCTION_V = 0.172  # mag per airmass in V (Krisciunas & Schaefer's value)
_MOON_V_MINUS_R = 0.2  # moonlight is sunlight: V - r of the Sun


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


def sky_brightness(index: int, separation: float | None = None) -> float:
    """Return the sky's r surface brightness (mag per square arcsec) at frame ``index``.

    ``separation`` (degrees from the Moon) replaces the field centre's, to follow the sky
    across the chip.
    """
    moon_alt, illum, sep, field_alt, _ = MOON[index]
    sep = sep if separation is None else separation
    dark = (
        10 ** (-0.4 * _DARK_SKY_R)
        * _airmass(field_alt)
        * 10 ** (-0.4 * _EXTINCTION_R * (_airmass(field_alt) - 1))
    )
    moon_v = 20.7233 - math.log(_moonlight_nl(sep, moon_alt, field_alt, illum) / 34.08)
    moon_v /= 0.92104  # nanolamberts to V mag per square arcsec (Garstang 1989)
    moon = 10 ** (-0.4 * (moon_v - _MOON_V_MINUS_R))
    return -2.5 * math.log10(dark + moon)


def sky_gradient(index: int, width_deg: float) -> tuple[float, float]:
    """Return the sky's change across ``width_deg`` towards the Moon and its direction.

    The fraction by which the sky is brighter at the chip's edge nearer the Moon than at
    the far edge, and the direction towards the Moon in the chip (degrees counter-clockwise
    from +column towards +row; north is +row, east -column).
    """
    sep, pa = MOON[index][2], MOON[index][4]
    near = sky_brightness(index, sep - width_deg / 2)
    far = sky_brightness(index, sep + width_deg / 2)
    return 10 ** (0.4 * (far - near)) - 1, (90.0 + pa) % 360.0


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
