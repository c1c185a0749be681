"""Small seeded frames with a known truth, for tests and benchmarks.

These are not simulations of the course's examples: they are small, quick frames whose
response (the truth a flat should recover) is known exactly, drawn from a seed so that
every run gives the same frames.

:func:`make_flats`
    Flats: a vignetting pattern (:func:`vignetting`) times a level, plus Gaussian noise; the
    tests' frames (:data:`TEST_SHAPE`, 64 x 96 pixels).
:func:`make_sky_frames`
    Night-sky frames: a response times a sky with a slow gradient, plus stars, Poisson and
    read noise, dithered or not; for the tests of sky flats.
:func:`make_flats_with_rays`
    Flats drawn from :func:`true_response` with Poisson and read noise and cosmic rays whose
    every pixel is recorded (:class:`SyntheticFlats`); the benchmark of rejection
    (``benchmarks/bench_rejection.py``) judges combinations against them.
:func:`write_mosaic_flats`
    Files of a mosaic camera (an empty primary with the shared keywords, one image
    extension per chip), each chip with its own response, for the tests of mosaics;
    :func:`write_example1_mosaic` writes Example 1 so, as the Palomar LFC writes it.
:func:`spoil_frame`
    One frame made wrong everywhere as real nights do it (a light leak, a gradient, an
    over-exposure, moonlight on a sky frame), for the frame checks and the benchmark of
    bad frames (``benchmarks/bench_bad_frames.py``).

Import them from here: ``from example_data.synthetic import make_flats``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.nddata import CCDData

TEST_SHAPE = (64, 96)
"""Shape (rows, columns) of the tests' flats (:func:`make_flats`)."""

# The cosmic-ray flats of the benchmark of rejection.
RAY_FLATS_SEED = 20_250_101
"""Default seed of :func:`make_flats_with_rays` and :func:`true_response`."""
RAY_FLATS_SHAPE = (1024, 1024)
"""Default shape (rows, columns) of :func:`make_flats_with_rays`'s frames."""
RAY_FLATS_GAIN = 1.5  # e-/ADU
"""Gain of :func:`make_flats_with_rays`'s frames, e-/ADU."""
RAY_FLATS_READ_NOISE = 8.0  # e-
"""Read noise of :func:`make_flats_with_rays`'s frames, e-."""
RAY_FLATS_LEVELS = (20_000.0, 40_000.0)  # ADU, the range of the frames' levels
"""Range of the levels (ADU) of :func:`make_flats_with_rays`'s frames."""
PIXEL_RESPONSE_RMS = 0.01
"""Rms of :func:`true_response`'s pixel-to-pixel response."""
RAY_EVENTS_PER_FRAME = 1000
"""Cosmic-ray events (single pixels and tracks) in each of :func:`make_flats_with_rays`'s
frames."""
RAY_LENGTH_PROBABILITIES = (0.5, 0.3, 0.2)  # tracks of 1, 2 and 3 pixels
"""Probabilities of tracks of 1, 2 and 3 pixels."""
RAY_SIGMAS = (8.0, 40.0)  # amplitude range, in standard deviations of the pixel's noise
"""Range of the rays' amplitudes, in standard deviations of the pixel's noise."""


# --------------------------------------------------------------------------------------
# Flats and night-sky frames of the tests
# --------------------------------------------------------------------------------------


def vignetting(shape):
    """Return the smooth pattern of :func:`make_flats`, normalised to median 1.

    Parameters
    ----------
    shape : tuple of int
        (rows, columns).

    Returns
    -------
    numpy.ndarray
        float64: ``1 - 0.2 r**2`` with ``r`` the distance from the centre in units of the
        frame's sides, over its median.
    """
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    pattern = 1 - 0.2 * (((xx / shape[1]) - 0.5) ** 2 + ((yy / shape[0]) - 0.5) ** 2)
    return pattern / np.median(pattern)


def make_flats(n, *, shape=TEST_SHAPE, level=20000.0, spread=0.0, seed=0, noise=None):
    """Return seeded flats: a vignetting pattern times a level, plus Gaussian noise.

    Parameters
    ----------
    n : int
        Number of frames.
    shape : tuple of int, optional
        (rows, columns) of each frame.
    level : float, optional
        Level of the first frame, ADU.
    spread : float, optional
        The levels fall linearly by this fraction from the first frame to the last.
    seed : int, optional
        Seed of the noise.
    noise : float, optional
        Standard deviation of the noise as a fraction of the level; default: Poisson-like,
        the square root of the level (gain 1).

    Returns
    -------
    list of numpy.ndarray
        float32 frames, :func:`vignetting` times their level plus noise.
    """
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        lev = level * (1 - spread * i / max(n - 1, 1))
        sd = np.sqrt(lev) if noise is None else noise * lev
        frames.append((vignetting(shape) * lev + rng.normal(0, sd, shape)).astype(np.float32))
    return frames


def make_sky_frames(n=9, *, shape=(256, 256), dither=25.0, seed=0, gain=1.5, read_noise=10.0):
    """Return seeded night-sky frames: a response times a sky with a slow gradient, plus stars.

    Forty stars (Moffat images, beta 2.5, FWHM 2.5 pixels, fluxes from 300 to 300,000
    electrons, the brightest saturated at 64,000 ADU), shifted by up to ``dither``
    pixels between frames (0: a tracked, undithered set), Poisson and read noise.

    Parameters
    ----------
    n : int, optional
        Number of frames; their skies fall evenly from 3000 to 2000 ADU.
    shape : tuple of int, optional
        (rows, columns) of each frame.
    dither : float, optional
        Largest shift of the stars between frames, pixels, along each axis.
    seed : int, optional
        Seed of everything random.
    gain : float, optional
        Gain, e-/ADU.
    read_noise : float, optional
        Read noise, e-.

    Returns
    -------
    frames : list of astropy.nddata.CCDData
        The frames in ADU, with GAIN, RDNOISE, SATURATE and FILTER in their meta.
    response : numpy.ndarray
        The true response, median 1.
    skies : numpy.ndarray
        The sky levels, ADU.
    """
    rng = np.random.default_rng(seed)
    response = vignetting(shape) * (1 + 0.005 * rng.standard_normal(shape))
    response /= np.median(response)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    stars_y = rng.uniform(10, shape[0] - 10, 40)
    stars_x = rng.uniform(10, shape[1] - 10, 40)
    fluxes = 10 ** rng.uniform(2.5, 5.5, 40) / gain  # ADU
    alpha = 2.5 / (2 * np.sqrt(2 ** (1 / 2.5) - 1))  # Moffat width for FWHM 2.5 pixels
    skies = np.linspace(3000.0, 2000.0, n)
    frames = []
    for i, sky in enumerate(skies):
        dy, dx = rng.uniform(-dither, dither, 2)
        light = sky * (1 + 0.01 * (xx / shape[1] - 0.5) * (1 if i % 2 else -1))
        for y, x, flux in zip(stars_y + dy, stars_x + dx, fluxes, strict=True):
            r2 = ((yy - y) ** 2 + (xx - x) ** 2) / alpha**2
            light += flux * (2.5 - 1) / (np.pi * alpha**2) * (1 + r2) ** -2.5
        electrons = rng.poisson(light * response * gain) + rng.normal(0, read_noise, shape)
        data = np.minimum(electrons / gain, 64000.0).astype(np.float32)
        meta = {"GAIN": gain, "RDNOISE": read_noise, "SATURATE": 64000.0, "FILTER": "r"}
        frames.append(CCDData(data, unit="adu", meta=meta))
    return frames, response, skies


# --------------------------------------------------------------------------------------
# Flats with cosmic rays, for the benchmark of rejection
# --------------------------------------------------------------------------------------


@dataclass
class SyntheticFlats:
    """Flat frames drawn from a known response, with what is needed to judge a combination.

    Attributes
    ----------
    frames : list of astropy.nddata.CCDData
        The frames, float32 ADU, with GAIN and RDNOISE in their headers.
    truth : numpy.ndarray
        The response the frames were drawn from, float64, median 1.
    levels : numpy.ndarray
        The level L_i of each frame in ADU (its expected median).
    ray_frame : numpy.ndarray
        int8: the frame a cosmic ray hit at each pixel, -1 where none did.
    ray_sigma : numpy.ndarray
        float32: the ray's amplitude in standard deviations of the pixel's noise in that
        frame, NaN where no ray hit.
    n_events : int
        The number of cosmic-ray events (single pixels and tracks) in all frames.
    """

    frames: list
    truth: np.ndarray
    levels: np.ndarray
    ray_frame: np.ndarray
    ray_sigma: np.ndarray
    n_events: int


def true_response(shape=RAY_FLATS_SHAPE, seed=RAY_FLATS_SEED):
    """Return a known flat-field response: smooth vignetting and tilt times pixel response.

    Parameters
    ----------
    shape : tuple of int, optional
        (rows, columns).
    seed : int, optional
        Seed of the pixel-to-pixel response.

    Returns
    -------
    numpy.ndarray
        float64, median 1.
    """
    rng = np.random.default_rng([seed, 0])
    y = np.linspace(-1.0, 1.0, shape[0])[:, None]
    x = np.linspace(-1.0, 1.0, shape[1])[None, :]
    r2 = (x - 0.1) ** 2 + (y + 0.05) ** 2
    smooth = (1.0 - 0.12 * r2 - 0.04 * r2**2) * (1.0 + 0.03 * x - 0.02 * y)
    pixels = 1.0 + PIXEL_RESPONSE_RMS * rng.standard_normal(shape)
    response = smooth * pixels
    return response / np.median(response)


def _ray_tracks(rng, shape, n_events, taken):
    """Yield the (rows, cols) of ``n_events`` ray tracks that avoid pixels already ``taken``.

    Each track is 1-3 pixels long in one of the 8 directions; a candidate that leaves the
    image or touches a taken pixel is drawn again.  ``taken`` is updated.
    """
    steps = np.array([(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)])
    done = 0
    while done < n_events:
        length = int(rng.choice(3, p=RAY_LENGTH_PROBABILITIES)) + 1
        start = rng.integers(0, shape)
        step = steps[rng.integers(0, len(steps))]
        pixels = start + np.arange(length)[:, None] * step
        rows, cols = pixels[:, 0], pixels[:, 1]
        if rows.min() < 0 or cols.min() < 0 or rows.max() >= shape[0] or cols.max() >= shape[1]:
            continue
        if taken[rows, cols].any():
            continue
        taken[rows, cols] = True
        done += 1
        yield rows, cols


def make_flats_with_rays(n_frames, *, shape=RAY_FLATS_SHAPE, seed=RAY_FLATS_SEED, truth=None):
    """Draw ``n_frames`` flat frames with noise and cosmic rays from a known response.

    A level L_i per frame (spread evenly over :data:`RAY_FLATS_LEVELS`, in a seeded order),
    real Poisson noise of the detected electrons (gain :data:`RAY_FLATS_GAIN`) plus
    Gaussian read noise (:data:`RAY_FLATS_READ_NOISE`), and cosmic rays: single pixels and
    tracks of 2-3 pixels whose amplitudes, pixel by pixel, are log-uniform between 8 and 40
    standard deviations of that pixel's noise in that frame. No pixel is hit in more than
    one frame, so every ray can be removed in principle.

    Parameters
    ----------
    n_frames : int
        How many frames to draw; the levels, the noise and the rays all depend on it.
    shape : tuple of int, optional
        The frames' (rows, columns): :data:`RAY_FLATS_SHAPE` by default, 1024 x 1024.
    seed : int, optional
        Seed of the draw, with ``n_frames``.
    truth : numpy.ndarray, optional
        The response (median 1); default ``true_response(shape, seed)``.

    Returns
    -------
    SyntheticFlats
        The frames and what is known about them.
    """
    if truth is None:
        truth = true_response(shape, seed)
    rng = np.random.default_rng([seed, n_frames])
    levels = rng.permutation(np.linspace(*RAY_FLATS_LEVELS, n_frames))
    read_adu = RAY_FLATS_READ_NOISE / RAY_FLATS_GAIN
    taken = np.zeros(shape, dtype=bool)
    ray_frame = np.full(shape, -1, dtype=np.int8)
    ray_sigma = np.full(shape, np.nan, dtype=np.float32)
    frames = []
    for i, level in enumerate(levels):
        expected = truth * level  # ADU
        electrons = rng.poisson(expected * RAY_FLATS_GAIN)
        data = electrons / RAY_FLATS_GAIN + rng.normal(0.0, read_adu, shape)
        sigma_adu = np.sqrt(expected / RAY_FLATS_GAIN + read_adu**2)
        for rows, cols in _ray_tracks(rng, shape, RAY_EVENTS_PER_FRAME, taken):
            amplitude = np.exp(rng.uniform(*np.log(RAY_SIGMAS), len(rows)))
            data[rows, cols] += amplitude * sigma_adu[rows, cols]
            ray_frame[rows, cols] = i
            ray_sigma[rows, cols] = amplitude
        meta = {
            "GAIN": RAY_FLATS_GAIN,
            "RDNOISE": RAY_FLATS_READ_NOISE,
            "IMAGETYP": "FLAT",
            "FILTER": "R",
        }
        frames.append(CCDData(data.astype(np.float32), unit="adu", meta=meta))
    n_events = RAY_EVENTS_PER_FRAME * n_frames
    return SyntheticFlats(frames, truth, levels, ray_frame, ray_sigma, n_events)


# --------------------------------------------------------------------------------------
# A mosaic camera's flats, as the LFC writes them
# --------------------------------------------------------------------------------------


MOSAIC_CHIPS = tuple(f"CHIP{k}" for k in range(6))
"""EXTNAMEs of :func:`write_mosaic_flats`' chips: six, as the Palomar LFC has."""


def write_mosaic_flats(folder, *, n=3, chips=MOSAIC_CHIPS, shape=TEST_SHAPE, seed=0):
    """Write flats of a mosaic camera into ``folder``; return the files, truths and levels.

    Each file holds an empty primary HDU with the keywords every chip shares (IMAGETYP,
    FILTER, GAIN, RDNOISE, DATE-OBS, as the LFC and most wide-field cameras write them)
    and one image extension per chip, named by its EXTNAME, with only its own structure.
    Chips differ in response (:func:`true_response` of their own seed), sensitivity
    (levels 0.8 to 1.2 times the first chip's) and so in level; frames have Poisson and
    read noise at Example 1's gain (2 e-/ADU) and read noise (8 e-).  Small frames
    (:data:`TEST_SHAPE`) for tests.

    Parameters
    ----------
    folder : pathlib.Path
        Where to write ``mosaic-001.fits`` ...; made if missing.
    n : int, optional
        Number of flats.
    chips : sequence of str, optional
        The chips' EXTNAMEs.
    shape : tuple of int, optional
        (rows, columns) of each chip.
    seed : int, optional
        Seed of the responses and the noise.

    Returns
    -------
    paths : list of pathlib.Path
        The files, in order.
    truths : dict of str to numpy.ndarray
        Each chip's response, normalised to median 1 (:func:`true_response`).
    levels : dict of str to list of float
        Each chip's level (ADU) in each file.
    """
    from astropy.io import fits

    gain, read_noise = 2.0, 8.0
    rng = np.random.default_rng([seed, 6])
    truths = {name: true_response(shape, seed + 101 * k) for k, name in enumerate(chips)}
    sensitivity = dict(zip(chips, np.linspace(0.8, 1.2, len(chips)), strict=True))
    folder.mkdir(parents=True, exist_ok=True)
    paths, levels = [], {name: [] for name in chips}
    for i in range(n):
        primary = fits.PrimaryHDU()
        primary.header.update(IMAGETYP="FLAT", FILTER="g'", GAIN=gain, RDNOISE=read_noise)
        primary.header["DATE-OBS"] = f"2003-02-04T01:{10 + 2 * i:02d}:00.000"
        hdus = [primary]
        for name in chips:
            level = 20000.0 * sensitivity[name] * (1 - 0.02 * i)
            electrons = rng.poisson(truths[name] * level * gain).astype(np.float64)
            electrons += rng.normal(0.0, read_noise, shape)
            hdus.append(fits.ImageHDU((electrons / gain).astype(np.float32), name=name))
            levels[name].append(level)
        paths.append(folder / f"mosaic-{i + 1:03d}.fits")
        fits.HDUList(hdus).writeto(paths[-1], overwrite=True)
    return paths, truths, levels


EXAMPLE1_MOSAIC_SHAPE = (256, 384)
"""Default (rows, columns) of each chip of :func:`write_example1_mosaic`."""


def write_example1_mosaic(folder, *, shape=EXAMPLE1_MOSAIC_SHAPE, chips=MOSAIC_CHIPS, seed=0):
    """Write Example 1's six flats as the LFC writes them: a primary and six chips each.

    One file per frame of Example 1 (``ccd.037.fits`` ...: the name of the example's chip-0
    file without its chip number), each an empty primary HDU holding the frame's keywords
    (IMAGETYP, FILTER, EXPTIME, DATE-OBS, GAIN, RDNOISE, ...: Example 1's header, shared by
    every chip as the LFC writes them) and one image extension per chip, named by its
    EXTNAME and carrying only its CCDNAME.  Chip ``k`` sees a piece of Example 1's
    response of the frame's filter (dome light, spots, cross-hatch, defects): ``shape``
    pixels from row ``k * 4128 // len(chips)``, centred in the columns, times its
    sensitivity (0.9 to 1.1 across the chips); frames have Poisson noise at Example 1's
    gain and read noise, drawn from ``seed``.  Example 1's own files are not touched.

    Parameters
    ----------
    folder : pathlib.Path
        Where to write; made if missing.
    shape : tuple of int, optional
        (rows, columns) of each chip: at most 4128 // len(chips) rows and 2048 columns.
    chips : sequence of str, optional
        The chips' EXTNAMEs.
    seed : int, optional
        Seed of the noise.

    Returns
    -------
    paths : list of pathlib.Path
        The six files, in Example 1's order.
    truths : dict of (str, str) to numpy.ndarray
        Each (filter, chip)'s response, float64, median 1.
    levels : dict of (str, str) to list of float
        Each (filter, chip)'s level (ADU) in each of that filter's files.

    Raises
    ------
    ValueError
        If the chips do not fit in Example 1's chip with ``shape``.
    """
    from astropy.io import fits

    from example_data.example1 import EXAMPLE1, EXAMPLE1_SHAPE, response_maps
    from example_data.header import _frame_header

    step = EXAMPLE1_SHAPE[0] // max(len(chips), 1)
    if not chips or shape[0] > step or not 0 < shape[1] <= EXAMPLE1_SHAPE[1]:
        raise ValueError(f"{len(chips)} chips of {shape} do not fit in {EXAMPLE1_SHAPE}")
    left = (EXAMPLE1_SHAPE[1] - shape[1]) // 2
    truths, levels = {}, {}
    for filt, full in response_maps(sorted(set(EXAMPLE1.filters))).items():
        for k, name in enumerate(chips):
            piece = full[k * step : k * step + shape[0], left : left + shape[1]]
            truths[filt, name] = piece / np.median(piece.astype(np.float64))
            levels[filt, name] = []
        del full
    sensitivity = dict(zip(chips, np.linspace(0.9, 1.1, len(chips)), strict=True))
    gain, read_noise = EXAMPLE1.camera.gain, EXAMPLE1.camera.read_noise
    rng = np.random.default_rng([seed, 1])
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (name, filt) in enumerate(zip(EXAMPLE1.files, EXAMPLE1.filters, strict=True)):
        header = _frame_header(EXAMPLE1, i)
        header["DETECTOR"] = ("LFC mosaic", "Six chips, one image extension each")
        del header["BUNIT"]  # adu, in each chip's header
        hdus = [fits.PrimaryHDU(header=header)]
        for chip in chips:
            level = EXAMPLE1.medians[i] * sensitivity[chip]
            electrons = rng.poisson(truths[filt, chip] * level * gain).astype(np.float64)
            electrons += rng.normal(0.0, read_noise, shape)
            hdu = fits.ImageHDU((electrons / gain).astype(np.float32), name=chip)
            hdu.header.update(CCDNAME=chip, BUNIT="adu")
            hdus.append(hdu)
            levels[filt, chip].append(level)
        paths.append(folder / name.replace(".0.fits", ".fits"))
        fits.HDUList(hdus).writeto(paths[-1])
    return paths, truths, levels


# Frames made wrong everywhere, for the frame checks
# --------------------------------------------------------------------------------------

SPOILS = ("leak", "gradient", "overexposed", "moonlight")
"""The kinds of :func:`spoil_frame`."""

OVEREXPOSED_SATURATE = 65535.0
"""SATURATE (ADU) of an over-exposed frame from :func:`spoil_frame`."""


def spoil_frame(frame, kind, amount):
    """Return a copy of ``frame`` made wrong everywhere, the way real nights spoil flats.

    Parameters
    ----------
    frame : astropy.nddata.CCDData
        A good frame (ADU); it is not modified.
    kind : {'leak', 'gradient', 'overexposed', 'moonlight'}
        ``'leak'``: light added smoothly, from 0 at the left edge to ``amount`` (a fraction
        of the level) at the right, growing as the square of the distance (not a plane);
        ``'gradient'``: the frame times a plane rising by ``amount`` from left to right;
        ``'overexposed'``: the frame times ``amount``, capped at
        :data:`OVEREXPOSED_SATURATE`, which SATURATE then says; ``'moonlight'``: a
        ramp of 0 to ``amount`` ADU added from the bottom row to the top (light, in a
        night-sky frame, with its Poisson noise left out).
    amount : float
        The size of the spoil, as above.

    Returns
    -------
    astropy.nddata.CCDData
        The spoilt copy, float32, its meta a copy with SPOILED = ``kind``.

    Raises
    ------
    ValueError
        If ``kind`` is not one of :data:`SPOILS`.
    """
    if kind not in SPOILS:
        raise ValueError(f"kind must be one of {SPOILS}, got {kind!r}")
    data = frame.data.astype(np.float64)
    ny, nx = data.shape
    x = np.linspace(0.0, 1.0, nx)[np.newaxis, :]
    y = np.linspace(0.0, 1.0, ny)[:, np.newaxis]
    meta = dict(frame.meta)
    if kind == "leak":
        data = data + amount * np.median(data) * x**2
    elif kind == "gradient":
        data = data * (1.0 + amount * x)
    elif kind == "overexposed":
        data = np.minimum(data * amount, OVEREXPOSED_SATURATE)
        meta["SATURATE"] = OVEREXPOSED_SATURATE
    else:
        data = data + amount * y
    meta["SPOILED"] = kind
    return CCDData(data.astype(np.float32), unit=frame.unit, meta=meta)
