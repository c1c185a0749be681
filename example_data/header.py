"""The FITS header of a simulated frame: the observation, the camera, and the simulation.

One builder serves every example: the frame's own cards (IMAGETYP, OBJECT, FILTER,
EXPTIME, DATE-OBS, MJD-OBS) from the :class:`~example_data.camera.Example` record, the
camera's cards from its :class:`~example_data.camera.Camera` record, for an example with a
tracked variant whether the frame is dithered (SIMDITH), and the keywords and HISTORY that
mark the frame as simulated by this package, with the version of the simulation recipe
(SIMVERS).
"""

from __future__ import annotations

from astropy.io import fits
from astropy.time import Time

from example_data.camera import Example

#: Version of the simulation recipe, written to the header as ``SIMVERS``.
SIMULATION_VERSION = 6

_HISTORY = (
    "Simulated by the example_data module of the combining-flats course,",
    "not a real observation. Already calibrated: bias and dark removed.",
)


def _common_header(header: fits.Header, index: int) -> None:
    """Add the keywords that mark a frame as simulated by this module."""
    header["BUNIT"] = ("adu", "Physical unit of the pixel values")
    header["SIMULATE"] = (True, "Simulated data, not a real observation")
    header["SIMVERS"] = (SIMULATION_VERSION, "Version of the example_data simulation")
    header["SIMFRAME"] = (index, "0-based frame index within the example")
    for line in _HISTORY:
        header.add_history(line)
    header.add_history("Bias subtracted. Dark current subtracted.")


def _mjd(date_obs: str) -> float:
    """Return the Modified Julian Date of an ISO date ``date_obs`` (UTC), rounded to 1e-6 d.

    Writing MJD-OBS beside DATE-OBS spares readers that build a WCS from the header (such as
    `astropy.nddata.CCDData.read`) a warning that they had to compute it themselves.
    """
    return round(Time(date_obs, format="isot", scale="utc").mjd, 6)


def _frame_header(example: Example, index: int, *, tracked: bool = False) -> fits.Header:
    """Return the header of frame ``index`` of ``example`` (of its tracked variant if ``tracked``).

    The cards of the frame (type, target, filter, exposure, start), the camera's (see
    :meth:`~example_data.camera.Camera.header_cards`), SIMDITH if the example has a tracked
    variant (Example 3: T for the dithered frames, F for the tracked ones), then those of the
    simulation.
    """
    camera = example.camera
    date_obs = example.date_obs[index]
    header = fits.Header()
    header["IMAGETYP"] = (example.imagetyp, "Type of image")
    header["OBJECT"] = (example.object, "Target")
    header["FILTER"] = (example.filters[index], "Filter name")
    header["EXPTIME"] = (example.exptimes[index], "[s] Exposure time")
    if camera.writes_exposure:
        header["EXPOSURE"] = (example.exptimes[index], "[s] Exposure time")
    header["DATE-OBS"] = (date_obs, "UTC date and time of exposure start")
    header["MJD-OBS"] = (_mjd(date_obs), "[d] Modified Julian Date of DATE-OBS")
    for key, value, comment in camera.header_cards():
        header[key] = (value, comment)
    if example.observation is not None:
        for key, value, comment in example.observation(index, tracked):
            header[key] = (value, comment)
    if example.tracked_files is not None:
        header["SIMDITH"] = (not tracked, "Simulation: pointing dithered between frames")
    _common_header(header, index)
    return header
