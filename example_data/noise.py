"""What the detector adds to the light: shot and read noise, and cosmic rays.

Noise is drawn as *one* Gaussian per pixel with variance ``signal / gain +
(read_noise / gain) ** 2`` (ADU²), from the camera's gain and read noise; at thousands of
electrons per pixel the Gaussian approximation of the Poisson distribution is excellent.
Cosmic rays hit every chip at one rate per area, during the exposure and, for the rows
still waiting to be read, during the readout; their tracks depend on the camera's sensor
(:class:`example_data.camera.Camera`: pixel pitch, depth of silicon, diffusion).
"""

from __future__ import annotations

import math

import numpy as np

from example_data.camera import (
    _ROW_BLOCK,
    _STREAM_COSMICS,
    _STREAM_DEFECTS,
    _STREAM_NOISE,
    Camera,
    Example,
    _rng,
)
from example_data.truth import CosmicRays, HotPixels

# Cosmic rays: one rate per area for both cameras, 2 hits per cm^2 per minute (secondary
# muons at the ground, about 1 per cm^2 per minute at sea level, more at a mountain
# observatory, plus electrons, gammas and the odd radioactive decay in the camera).  A pixel
# collects hits during the exposure and, after it, while its charge waits to be read: the
# row next to the readout register (row 0) at once, the last row after the whole readout,
# on average half of it.  The readout times come from the frames' spacing: 37 s of the LFC's
# 107 s cycle is not exposure, 15.6 s of the Aspen's 16.6 s.  A minimum-ionising particle
# frees about 70 electrons per micron of silicon (most probable value; the Landau
# distribution has a long tail), so a hit deposits some 1000 to 5000 electrons.  Tracks
# are as long as the collecting layer is thick, times the tangent of the incidence angle.
_CR_RATE_PER_CM2_MINUTE = 2.0
_CR_ELECTRONS_PER_UM = 70.0
_CR_HEAVY_FRACTION = 0.05  # slow electrons, protons, alphas: 3 to 10 times the charge


def _cosmic_ray_rate(camera: Camera) -> float:
    """Return the mean number of cosmic-ray hits per second on a camera's chip."""
    nrow, ncol = camera.shape
    area_cm2 = nrow * ncol * (camera.pixel_um * 1e-4) ** 2
    return _CR_RATE_PER_CM2_MINUTE / 60 * area_cm2


def _expected_cosmic_rays(example: Example, index: int) -> float:
    """Return the mean number of hits in a frame: exposure plus half the readout."""
    exposure = example.exptimes[index] + example.camera.readout_s / 2
    return _cosmic_ray_rate(example.camera) * exposure


def _cosmic_rays(example: Example, index: int) -> CosmicRays:
    """Return the cosmic-ray hits of frame ``index`` of ``example``.

    See :func:`example_data.example_cosmic_rays`, which validates its arguments and calls
    this.
    """
    sensor = example.camera
    nrow, ncol = sensor.shape
    rng = _rng(example.number, index, _STREAM_COSMICS)
    rate = _cosmic_ray_rate(sensor)
    n_exposure = int(rng.poisson(rate * example.exptimes[index]))
    n_readout = int(rng.poisson(rate * sensor.readout_s / 2))
    n = n_exposure + n_readout
    # Where: uniform during the exposure; during the readout, in proportion to the time a
    # row waited, which grows with its distance from the register at row 0.
    row0 = np.concatenate(
        [rng.uniform(0, nrow, n_exposure), nrow * np.sqrt(rng.uniform(0, 1, n_readout))]
    )
    col0 = rng.uniform(0, ncol, n)
    # Incidence: the muon flux goes as cos^2 of the zenith angle, and a flat chip facing up
    # sees it through its projected area, so cos(incidence) has density ~ mu^3 (mu = u**1/4).
    mu = np.maximum(rng.uniform(0, 1, n) ** 0.25, 0.05)
    phi = rng.uniform(0, 2 * np.pi, n)
    length = np.minimum(sensor.depth_um * np.sqrt(1 - mu**2) / mu / sensor.pixel_um, 200.0)
    # Landau fluctuations, approximated by a Moyal distribution (-ln z**2, z Gaussian).
    moyal = -np.log(np.maximum(rng.standard_normal(n) ** 2, 1e-12))
    per_um = _CR_ELECTRONS_PER_UM * np.maximum(1 + 0.2 * moyal, 0.4)
    heavy = rng.uniform(0, 1, n) < _CR_HEAVY_FRACTION
    per_um = np.where(heavy, per_um * rng.uniform(3, 10, n), per_um)
    adu = per_um * sensor.depth_um / mu / sensor.gain
    # Each track as many points of charge, jittered by diffusion, each landing in a pixel.
    hits, rows, cols, charges = [], [], [], []
    for k in range(n):
        points = max(16, math.ceil(8 * length[k]))
        t = (np.arange(points) + 0.5) / points - 0.5
        jitter = rng.standard_normal((2, points)) * sensor.diffusion_px
        r = np.floor(row0[k] + t * length[k] * math.sin(phi[k]) + jitter[0]).astype(np.int64)
        c = np.floor(col0[k] + t * length[k] * math.cos(phi[k]) + jitter[1]).astype(np.int64)
        inside = (r >= 0) & (r < nrow) & (c >= 0) & (c < ncol)
        hits.append(np.full(np.count_nonzero(inside), k))
        rows.append(r[inside])
        cols.append(c[inside])
        charges.append(np.full(np.count_nonzero(inside), adu[k] / points))
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return CosmicRays(empty, empty, empty, np.zeros(0))
    key = (np.concatenate(hits) * nrow + np.concatenate(rows)) * ncol + np.concatenate(cols)
    unique, inverse = np.unique(key, return_inverse=True)
    total = np.bincount(inverse, weights=np.concatenate(charges))
    hit, pixel = np.divmod(unique, nrow * ncol)
    return CosmicRays(hit, pixel // ncol, pixel % ncol, total)


def _add_noise(
    frame: np.ndarray,
    rng: np.random.Generator,
    camera: Camera,
) -> None:
    """Add shot and read noise to ``frame`` (ADU) in place: one Gaussian draw per pixel.

    The camera's gain and read noise set the variance; pixels are capped at its saturation
    level, if any.

    The Gaussian numbers come from uniform ones by the Box-Muller transform in single
    precision, which is faster here than NumPy's own normal generator; with 24-bit uniform
    numbers it reaches out to 5.8 sigma, beyond which a frame would hold a pixel only once
    in about ten frames.
    """
    gain, read_noise, saturate = camera.gain, camera.read_noise, camera.saturate
    nrow, ncol = frame.shape
    size = _ROW_BLOCK * ncol  # even, so the pairs of Box-Muller fill a block exactly
    uniform = np.empty(size, dtype=np.float32)
    gauss = np.empty(size, dtype=np.float32)
    sigma = np.empty((_ROW_BLOCK, ncol), dtype=np.float32)
    inv_gain = np.float32(1.0 / gain)
    read_var = np.float32((read_noise / gain) ** 2)
    for start in range(0, nrow, _ROW_BLOCK):
        block = frame[start : start + _ROW_BLOCK]
        n = block.size
        half = (n + 1) // 2
        u = uniform[: 2 * half]
        rng.random(dtype=np.float32, out=u)
        radius, angle = u[:half], u[half:]
        np.subtract(np.float32(1.0), radius, out=radius)  # in (0, 1]: a finite logarithm
        np.log(radius, out=radius)
        radius *= np.float32(-2.0)
        np.sqrt(radius, out=radius)
        angle *= np.float32(2 * np.pi)
        z = gauss[: 2 * half]
        np.cos(angle, out=z[:half])
        np.sin(angle, out=z[half:])
        z[:half] *= radius
        z[half:] *= radius
        sb = sigma[: block.shape[0]]
        np.multiply(block, inv_gain, out=sb)
        sb += read_var
        np.sqrt(sb, out=sb)
        sb *= z[:n].reshape(block.shape)
        block += sb
        if saturate is not None:
            np.minimum(block, np.float32(saturate), out=block)


def _add_cosmic_rays(frame: np.ndarray, rays: CosmicRays, saturate: float | None) -> None:
    """Add cosmic-ray charge to ``frame`` in place, capped at ``saturate`` if given."""
    np.add.at(frame, (rays.row, rays.col), rays.adu.astype(np.float32))
    if saturate is not None:
        frame[rays.row, rays.col] = np.minimum(frame[rays.row, rays.col], np.float32(saturate))


def _add_noise_and_cosmic_rays(frame: np.ndarray, example: Example, index: int) -> None:
    """Add the noise, then the cosmic rays, of frame ``index`` of ``example`` to ``frame``.

    The last steps of every example's frames: shot and read noise from the frame's own
    stream, then its cosmic rays, both capped at the camera's saturation level (if any).
    """
    _add_noise(frame, _rng(example.number, index, _STREAM_NOISE), example.camera)
    _add_cosmic_rays(frame, _cosmic_rays(example, index), example.camera.saturate)


# Hot pixels (Example 3).  A calibrated frame is the raw frame less a dark of the same
# exposure; a hot pixel's dark current is hundreds of times the chip's, and it changes with
# the temperature (doubling every 6 C or so) and flickers, so a fraction of it survives the
# subtraction.  We put 300 such residuals on the binned chip, log-uniform from 20 to 3000
# ADU in 300 s, and two hot columns: a hot spot in the column leaks charge into every pixel
# carried past it during the readout, 10 to 40 ADU from the spot to the far end.  They do not
# move with the dithers, so no combination of dithered frames rejects them: a sky flat
# records them as pixels of high response unless they are masked.
_HOT_PIXELS = 300
_HOT_RANGE_ADU = (20.0, 3000.0)
_HOT_COLUMNS = 2
_HOT_COLUMN_ADU = (10.0, 40.0)


def _hot_pixels(example: Example) -> HotPixels:
    """Return the hot pixels and hot columns of ``example``'s chip (:class:`HotPixels`)."""
    nrow, ncol = example.camera.shape
    rng = _rng(example.number, -1, _STREAM_DEFECTS)
    row = rng.integers(0, nrow, _HOT_PIXELS)
    col = rng.integers(0, ncol, _HOT_PIXELS)
    low, high = np.log(_HOT_RANGE_ADU)
    adu = np.exp(rng.uniform(low, high, _HOT_PIXELS))
    column = rng.choice(np.arange(8, ncol - 8), _HOT_COLUMNS, replace=False)
    first_row = rng.integers(nrow // 8, 7 * nrow // 8, _HOT_COLUMNS)
    column_adu = rng.uniform(*_HOT_COLUMN_ADU, _HOT_COLUMNS)
    return HotPixels(row, col, adu, column, first_row, column_adu)


def _add_hot_pixels(frame: np.ndarray, hot: HotPixels, exptime: float) -> None:
    """Add the charge of hot pixels and hot columns (scaled from 300 s) to ``frame``."""
    scale = exptime / 300.0
    np.add.at(frame, (hot.row, hot.col), (hot.adu * scale).astype(np.float32))
    for column, first, adu in zip(hot.column, hot.first_row, hot.column_adu, strict=True):
        frame[first:, column] += np.float32(adu * scale)
