"""The records every part of the simulator shares: a camera, an example, and their seeds.

A :class:`Camera` holds everything about a detector and its software that the simulation
needs: the chip's size and pixels, its gain, read noise and saturation level, the sensor's
numbers that shape cosmic-ray tracks, its defect counts, its readout time and the header
cards it writes. An :class:`Example` is one worked example of the course: a camera, the
frames' file names, filters, exposure times, start times and target medians, and the folder
it is written to. The physics modules take these records instead of an example number, so
a camera lives in one place: its example's module (:mod:`example_data.example1`, ...).

This module also holds the validation of the arguments that name an example, a frame or
the tracked variant, and the seeded random streams: every random number comes from
:func:`numpy.random.default_rng` seeded with a fixed base seed, the example number, the
frame index and a stream number, so a frame does not depend on which other frames are
generated, in which order, or on which thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

#: One header card: keyword, value, comment.
Card = tuple[str, object, str]

_BASE_SEED = 20_240_917

# Random streams: every piece of randomness has its own seed (base seed, example, frame, stream).
_STREAM_MAP = 0  # fixed sensitivity features of a camera (frame index -1)
_STREAM_NOISE = 1
_STREAM_COSMICS = 2
_STREAM_STARS = 3
_STREAM_SPOTS = 4
_STREAM_DONUTS = 5
_STREAM_DEFECTS = 6
_STREAM_GALAXIES = 7

_ROW_BLOCK = 128  # rows processed at a time in per-frame loops (keeps temporaries small)
_SUBSAMPLE = 4  # step of the subsample used to measure a noiseless model's median

_EXAMPLES = (1, 2, 3)


@dataclass(frozen=True)
class Camera:
    """A simulated camera: its chip, its electronics and the header cards it writes.

    Attributes
    ----------
    name : str
        Short description (camera and sensor).
    shape : tuple of int
        (rows, columns) of a frame, binned pixels if binned.
    binning : int
        Pixels summed on the chip along each axis (1: unbinned).
    pixel_um : float
        Pitch of a (binned) pixel, microns.
    gain : float
        Gain, e-/ADU.
    read_noise : float
        Read noise, e-, once per (binned) pixel.
    saturate : float or None
        Saturation level of the calibrated frames, ADU (None: no pixel reaches it).
    readout_s : float
        Time to read the whole chip, seconds; cosmic rays hit the rows waiting to be read.
    depth_um : float
        Thickness of the silicon whose charge a pixel collects, microns: the length of a
        vertical cosmic-ray track's shadow, times the tangent of its incidence angle.
    diffusion_px : float
        Rms spread of a cosmic ray's charge, (binned) pixels.
    defect_counts : tuple of int or None
        (low columns, dead pixels, low pixels) of the chip (None: another camera's chip,
        binned, whose defects are that camera's).
    full_well_e : float or None
        Full well of an unbinned pixel, e- (None: not modelled).
    drain_factor : float or None
        The anti-blooming drains cope with this many full wells of charge; beyond it a
        pixel's charge bleeds along its column (None: not modelled).
    identity : tuple of Card
        Header cards that name the camera and telescope (INSTRUME, TELESCOP, ...), in order.
    temperature : Card
        The header card of the detector's temperature.
    writes_exposure : bool
        The camera's software writes EXPOSURE beside EXPTIME.
    writes_binning : bool
        It writes XBINNING and YBINNING.
    writes_pixel_size : bool
        It writes XPIXSZ and YPIXSZ.
    """

    name: str
    shape: tuple[int, int]
    binning: int
    pixel_um: float
    gain: float
    read_noise: float
    saturate: float | None
    readout_s: float
    depth_um: float
    diffusion_px: float
    defect_counts: tuple[int, int, int] | None
    full_well_e: float | None
    drain_factor: float | None
    identity: tuple[Card, ...]
    temperature: Card
    writes_exposure: bool = False
    writes_binning: bool = False
    writes_pixel_size: bool = False

    @property
    def full_well_adu(self) -> float:
        """Full well of a (binned) pixel in ADU: ``binning**2`` pixels' charge."""
        if self.full_well_e is None:
            raise ValueError(f"the full well of {self.name} is not modelled")
        return self.binning**2 * self.full_well_e / self.gain

    @property
    def drain_limit_adu(self) -> float:
        """Charge (ADU) of a (binned) pixel beyond which the anti-blooming drains overflow."""
        if self.drain_factor is None:
            raise ValueError(f"the anti-blooming drains of {self.name} are not modelled")
        return self.drain_factor * self.full_well_adu

    def header_cards(self) -> list[Card]:
        """Return the camera's header cards, in the order the frames carry them.

        The identity cards, the binning and pixel size if the camera writes them, the
        temperature, then GAIN, RDNOISE and (if the frames saturate) SATURATE.
        """
        cards = list(self.identity)
        if self.writes_binning:
            cards.append(("XBINNING", self.binning, "Binning factor in width"))
            cards.append(("YBINNING", self.binning, "Binning factor in height"))
        if self.writes_pixel_size:
            what = "Binned pixel" if self.binning > 1 else "Pixel"
            cards.append(("XPIXSZ", self.pixel_um, f"[um] {what} width"))
            cards.append(("YPIXSZ", self.pixel_um, f"[um] {what} height"))
        cards.append(self.temperature)
        cards.append(("GAIN", self.gain, "[e-/adu] Gain"))
        cards.append(("RDNOISE", self.read_noise, "[e-] Read noise"))
        if self.saturate is not None:
            cards.append(("SATURATE", self.saturate, "[adu] Saturation level of calibrated data"))
        return cards


@dataclass(frozen=True)
class Example:
    """One worked example: a camera and the frames written with it.

    Attributes
    ----------
    number : int
        The example's number (1, 2 or 3), part of every seed.
    camera : Camera
        The camera.
    files : tuple of str
        File names of the frames, in order.
    filters : tuple of str
        Filter of each frame.
    exptimes : tuple of float
        Exposure time (s) of each frame.
    date_obs : tuple of str
        DATE-OBS (UTC, start of exposure) of each frame.
    medians : tuple of float
        Target median (ADU) of each frame (Example 3: its sky level).
    imagetyp : str
        IMAGETYP of the frames.
    object : str
        OBJECT of the frames.
    tracked_files : tuple of str or None
        File names of the tracked (undithered) variant, if the example has one.
    observation : callable or None
        ``observation(index, tracked)`` returns a frame's cards of the site, the pointing,
        the WCS and the Moon (None: the frames carry none).
    """

    number: int
    camera: Camera
    files: tuple[str, ...]
    filters: tuple[str, ...]
    exptimes: tuple[float, ...]
    date_obs: tuple[str, ...]
    medians: tuple[float, ...]
    imagetyp: str
    object: str
    tracked_files: tuple[str, ...] | None = None
    observation: Callable[[int, bool], list[Card]] | None = None

    @property
    def folder_name(self) -> str:
        """Name of the example's default folder, in ``notebooks/``: ``exampleN-reduced``."""
        return f"example{self.number}-reduced"

    @property
    def filter_names(self) -> tuple[str, ...]:
        """The example's filters, each once, in the order of the frames."""
        return tuple(dict.fromkeys(self.filters))


def _rng(example: int, index: int, stream: int) -> np.random.Generator:
    """Return the random generator of one stream of one frame (index -1: the camera)."""
    return np.random.default_rng([_BASE_SEED, example, index + 1, stream])


def _check_example(example: object, allowed: Sequence[int] = _EXAMPLES) -> int:
    """Validate an example number (one of ``allowed``) and return it as an int."""
    if (
        isinstance(example, bool)
        or not isinstance(example, (int, np.integer))
        or int(example) not in allowed
    ):
        names = [str(e) for e in allowed]
        listed = ", ".join(names[:-1]) + " or " + names[-1]
        raise ValueError(f"example must be {listed}, not {example!r}")
    return int(example)


def _check_index(example: Example, index: int) -> int:
    """Validate a 0-based frame index of an example and return it as an int."""
    n = len(example.files)
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise TypeError(f"frame index must be an integer, not {type(index).__name__}")
    if not 0 <= index < n:
        raise ValueError(f"example {example.number} has frames 0 to {n - 1}; got index {index}")
    return int(index)


def _check_tracked(tracked: object) -> bool:
    """Validate the ``tracked`` option (a bool) and return it."""
    if not isinstance(tracked, (bool, np.bool_)):
        raise ValueError(f"tracked must be True or False, not {tracked!r}")
    return bool(tracked)
