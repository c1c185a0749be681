"""The three examples side by side: what is asked of an example by its number.

The public functions that take an example number (:func:`default_folder`,
:func:`example_files`, :func:`example_medians`, :func:`example_defects`,
:func:`example_cosmic_rays`, :func:`true_flat`) look the example up here and hand its
record to the shared physics. The cameras' gain, read noise and saturation level are set
here too, from the records, as public constants (:data:`EXAMPLE1_GAIN` ...).

How a frame is built: :class:`_Simulation` builds an example's response maps once, then
its frames, through the two builders that every example module provides:

``response_maps(filters)``
    The example's response map (float32: the illumination times each pixel's response) of
    each filter in ``filters``, as a dict by filter name. :func:`true_flat` is a map divided
    by its median.
``noiseless_frame(index, response, response_median, *, tracked=False)``
    The noiseless pixels (float32, ADU) of frame ``index``: its light seen through
    ``response``, its filter's map, scaled so that the frame's median is the example's
    target (``response_median`` is the map's median, measured on a subsample), and for
    Example 3 the charge that bleeds from overloaded pixels. ``tracked`` is for Example 3
    only: the frame of the tracked (undithered) variant.

:class:`_Simulation` then adds the noise and the cosmic rays, the same recipe for every
example (:func:`~example_data.noise._add_noise_and_cosmic_rays`), and the header, from the
example's record (:func:`~example_data.header._frame_header`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import numpy as np
from astropy.io import fits

from example_data import example1, example2, example3
from example_data.camera import Example, _check_example, _check_index
from example_data.header import _frame_header
from example_data.maps import LIGHTS, _chip_defects, _median_normalised, _subsample_median
from example_data.noise import _add_noise_and_cosmic_rays, _cosmic_rays
from example_data.truth import CosmicRays, Defects

_MODULES: dict[int, ModuleType] = {1: example1, 2: example2, 3: example3}
_RECORDS: dict[int, Example] = {
    1: example1.EXAMPLE1,
    2: example2.EXAMPLE2,
    3: example3.EXAMPLE3,
}

EXAMPLE1_GAIN = example1.EXAMPLE1_CAMERA.gain
"""Gain of the example 1 camera, e-/ADU."""
EXAMPLE1_READ_NOISE = example1.EXAMPLE1_CAMERA.read_noise
"""Read noise of the example 1 camera, e-."""
EXAMPLE2_GAIN = example2.EXAMPLE2_CAMERA.gain
"""Gain of the example 2 camera, e-/ADU."""
EXAMPLE2_READ_NOISE = example2.EXAMPLE2_CAMERA.read_noise
"""Read noise of the example 2 camera, e-."""
EXAMPLE2_SATURATE = example2.EXAMPLE2_CAMERA.saturate
"""Saturation level (ADU) of the calibrated example 2 frames; no pixel exceeds it."""
EXAMPLE3_GAIN = example3.EXAMPLE3_CAMERA.gain
"""Gain of the example 3 camera, e-/ADU (the example 2 camera's; binning does not change it)."""
EXAMPLE3_READ_NOISE = example3.EXAMPLE3_CAMERA.read_noise
"""Read noise of the example 3 camera, e-: the charge of a binned pixel is read once."""
EXAMPLE3_SATURATE = example3.EXAMPLE3_CAMERA.saturate
"""Saturation level (ADU) of the calibrated example 3 frames; no pixel exceeds it."""


def example_defects(example: int) -> Defects:
    """Return the defects of an example's chip: low columns, dead and low pixels.

    They are part of the chip's response, so every frame of the example (in both filters of
    Example 1) shows them and :func:`true_flat` contains them. Hot pixels are not simulated:
    the dark current they add is removed with the dark frame.

    Parameters
    ----------
    example : {1, 2}
        Example number.

    Returns
    -------
    Defects
        Named tuple of arrays, the same on every call: for Example 1, 3 low columns, 25
        dead and 150 low pixels; for Example 2, 2 low columns, 40 dead and 250 low pixels,
        at random places. The first low column of each chip is low over its whole length.

    Raises
    ------
    ValueError
        If ``example`` is not 1 or 2 (example 3's defects are example 2's, binned).
    """
    if example == 3:
        raise ValueError(
            "example 3's chip is example 2's binned 2 x 2: its defects are "
            "example_defects(2), at half the row and column numbers"
        )
    return _chip_defects(_RECORDS[_check_example(example, (1, 2))])


def defect_pixels(example: int) -> np.ndarray:
    """Return the map of an example's defective pixels: True where a defect is.

    The pixels of :func:`example_defects` (dead and low pixels, and each low column from
    its ``first_row`` to the last row), for judging a mask of bad pixels. Example 3's chip
    is example 2's binned 2 x 2: its map holds example 2's defects at half the row and
    column numbers (a binned pixel is defective if one of its four is), and the hot pixels
    and hot columns of :func:`example3_hot_pixels`.

    Parameters
    ----------
    example : {1, 2, 3}
        Example number.

    Returns
    -------
    numpy.ndarray of bool
        The chip's shape.

    Raises
    ------
    ValueError
        If ``example`` is not 1, 2 or 3.
    """
    example = _check_example(example)
    defects = _chip_defects(_RECORDS[1 if example == 1 else 2])
    binning = 2 if example == 3 else 1
    pixels = np.zeros(_RECORDS[example].camera.shape, dtype=bool)
    pixels[defects.row // binning, defects.col // binning] = True
    for column, first_row in zip(defects.column, defects.first_row, strict=True):
        pixels[first_row // binning :, column // binning] = True
    if example == 3:
        hot = example3.example3_hot_pixels()
        pixels[hot.row, hot.col] = True
        for column, first_row in zip(hot.column, hot.first_row, strict=True):
            pixels[first_row:, column] = True
    return pixels


def example_cosmic_rays(example: int, index: int) -> CosmicRays:
    """Return the cosmic-ray hits of one frame.

    Both chips see 2 hits per cm² per minute, during the exposure and, row by row, while the
    chip is read out (35 s for the LFC, 15 s for the Aspen, 4 s for the Aspen binned 2 x 2;
    rows far from the readout register wait longest, so they collect more). That is on
    average 55 hits in a 70 s g' frame of Example 1 (19 cm²), 16 in a 7 s i' frame, 4 in
    each 1 s twilight frame of Example 2 (13.6 cm²) and 270 in each 600 s night frame of
    Example 3 (the same chip, whose binned pixels are 18 microns). A hit deposits about 70
    electrons per micron of silicon it crosses, with a Landau tail and now and then a
    heavier particle, over a track as long as the collecting layer (15 microns in the
    thinned LFC chip, 25 microns in the KAF-16803) times the tangent of its incidence angle,
    spread by diffusion.

    Parameters
    ----------
    example : {1, 2, 3}
        Example number.
    index : int
        0-based frame index.

    Returns
    -------
    CosmicRays
        Named tuple of arrays ``hit``, ``row``, ``col``, ``adu``, one element per pixel that
        received charge, the same on every call.

    Raises
    ------
    ValueError
        If ``example`` or ``index`` is out of range.
    """
    example = _check_example(example)
    record = _RECORDS[example]
    index = _check_index(record, index)
    return _cosmic_rays(record, index)


def default_folder(example: int) -> Path:
    """Return the default folder of example 1, 2 or 3: ``notebooks/exampleN-reduced`` here.

    The absolute path of the folder beside this package (it may not exist yet).
    """
    example = _check_example(example)
    return Path(__file__).resolve().parent.parent / "notebooks" / _RECORDS[example].folder_name


def example_files(example: int) -> tuple[str, ...]:
    """Return the file names of the frames of example 1, 2 or 3, in order.

    That is :data:`EXAMPLE1_FILES`, :data:`EXAMPLE2_FILES` or :data:`EXAMPLE3_FILES` (the
    tracked variant of example 3 is :data:`EXAMPLE3_TRACKED_FILES`).
    """
    return _RECORDS[_check_example(example)].files


def example_medians(example: int) -> tuple[float, ...]:
    """Return the target median (ADU) of each frame of example 1, 2 or 3, in order.

    That is :data:`EXAMPLE1_MEDIANS` or :data:`EXAMPLE2_MEDIANS`, with which the simulated
    frames' medians agree to better than 0.2 %; for example 3 the sky levels,
    :data:`EXAMPLE3_SKY_LEVELS`, which the frames' medians exceed by 0.45 % to 0.55 % (the
    sources' light, the halos of the bright stars most, raises them a little; the pixels
    with less than 1 ADU of it, divided by the sky's gradient and :func:`true_flat`, have
    the sky level as their median to 0.05 %).
    """
    return _RECORDS[_check_example(example)].medians


class _Simulation:
    """Lazily built response maps of one example, shared (read-only) by its frames."""

    def __init__(self, example: int, indices: Sequence[int], *, tracked: bool = False) -> None:
        self.example = example
        self.tracked = tracked
        self.module = _MODULES[example]
        self.record = _RECORDS[example]
        filters = sorted({self.record.filters[i] for i in indices})
        self.maps: dict[str, np.ndarray] = self.module.response_maps(filters)
        self.medians = {name: _subsample_median(m) for name, m in self.maps.items()}

    def frame(self, index: int) -> tuple[np.ndarray, fits.Header]:
        """Return the pixel data and header of frame ``index``."""
        name = self.record.filters[index]
        data = self.module.noiseless_frame(
            index, self.maps[name], self.medians[name], tracked=self.tracked
        )
        _add_noise_and_cosmic_rays(data, self.record, index)
        return data, _frame_header(self.record, index, tracked=self.tracked)


def _simulate_frame(
    example: int, index: int, *, tracked: bool = False
) -> tuple[np.ndarray, fits.Header]:
    """Return (data, header) of one frame, building the camera's maps just for it."""
    example = _check_example(example)
    index = _check_index(_RECORDS[example], index)
    return _Simulation(example, [index], tracked=tracked).frame(index)


_OWN_LIGHT = {1: "dome", 2: "twilight", 3: "night"}
_PARTS = ("all", "pixels", "illumination")


def true_flat(
    example: int, filter: str, *, light: str | None = None, part: str = "all"
) -> np.ndarray:
    """Return the response a flat of an example and filter should record.

    The truth no real data set comes with: everything multiplicative of the telescope and
    the chip, the illumination of the chip times the response of each pixel, in a given
    light, normalised to a median of 1 and computed without writing any file (a second or
    two). A flat corrects the science only if it records this in the light of the science's
    sky: the response's large scales depend on the light's colour (the filter's band edges
    move across the field, so a red spectrum loses more at the field's edge than a blue one;
    :mod:`example_data.maps`): relative to twilight, the night sky's response is 0.75 % lower
    at the corners than on the optical axis beyond a plane, a dome lamp's 1.2 %.

    Example 1 (g' or i', dome light): the pixel-to-pixel response and mottle, the stitching
    steps, the cross-hatch, the spots, in i' the thickness pattern and its fringe residue,
    and the defects (dead pixels are 0); not the dome screen's uneven light, which the
    frames record too (:func:`example1_screen`): it is light of the screen, an error of the
    dome flats. Example 2 (r, twilight): the vignetting, the pixel-to-pixel response, the
    dust donuts and the defects; a frame is ``level`` times this times
    :func:`example2_sky_gradient`, plus stars, noise and cosmic rays, capped at
    :data:`EXAMPLE2_SATURATE`. Example 3 (r, the night sky): Example 2's response binned
    2 x 2 (the mean of each block of four pixels) in the night sky's light, without the low
    columns (their traps take a fixed charge, no response); its frames are
    ``(sky + example3_source_image) * true_flat(3, "r")``, less the traps' charge, then
    bleeding, noise, hot pixels and cosmic rays.

    Not included: anything additive or anything that changes from frame to frame, which a
    combination must remove or average: noise, cosmic rays, stars, hot pixels, the dome
    screen's pattern, the twilight sky's gradient (light of the sky, not a property of the
    telescope, and different in every frame; a combination of twilight flats records its
    average, about 1.25 % across the chip) and Example 3's night sky gradient
    (:func:`example3_sky`).

    Parameters
    ----------
    example : {1, 2, 3}
        Example number.
    filter : str
        ``"g'"`` or ``"i'"`` for Example 1, ``"r"`` for Examples 2 and 3.
    light : {"dome", "twilight", "night"}, optional
        The light whose response to return; default the example's own (Example 1 dome,
        Example 2 twilight, Example 3 night).
    part : {"all", "pixels", "illumination"}, optional
        ``"pixels"``: the chip's own response (pixel to pixel, the chip's structure, the
        defects), the same in every light; ``"illumination"``: the share of the light the
        optics bring to each pixel (vignetting, dust shadows, the colour term), smooth but
        for the dust; ``"all"``: the whole response, their product (to 1e-4 in Example 3,
        whose binning averages the product of the two, but at the edges of the dust
        shadows and the defects).

    Returns
    -------
    numpy.ndarray
        float32, the shape of the example's frames, median 1.

    Raises
    ------
    ValueError
        For an unknown example, a filter the example does not have, or an unknown ``light``
        or ``part``; the message lists the valid ones.

    Examples
    --------
    >>> import example_data
    >>> night = example_data.true_flat(3, "r")  # the night sky's light, Example 3's own
    >>> twilight = example_data.true_flat(3, "r", light="twilight")
    >>> print(f"{100 * (night / twilight).std():.2f} %")  # doctest: +SKIP
    """
    if light is not None and light not in LIGHTS:
        raise ValueError(f"true_flat: light must be one of {', '.join(LIGHTS)}, not {light!r}")
    if part not in _PARTS:
        raise ValueError(f"true_flat: part must be one of {', '.join(_PARTS)}, not {part!r}")
    try:
        example = _check_example(example)
    except ValueError:
        raise ValueError(
            f"example must be 1, 2 or 3, not {example!r} (example 1 has filters g' and i', "
            "examples 2 and 3 have r)"
        ) from None
    filters = _RECORDS[example].filter_names
    if filter not in filters:
        raise ValueError(
            f"example {example} has no filter {filter!r}; choose one of {', '.join(filters)}"
        )
    light = _OWN_LIGHT[example] if light is None else light
    if example == 1:
        response = example1.truth_map(filter, light, part)
    else:
        response = _MODULES[example].truth_map(light, part)
    return _median_normalised(response)
