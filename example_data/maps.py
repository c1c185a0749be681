"""Helpers that draw the response maps: coordinates, soft-edged rings, smooth fields, defects.

The example modules build each camera's response from these pieces: soft-edged disks and
rings (Example 1's spots, Example 2's dust donuts), placed without overlap; smooth random
fields (Example 1's mottle); the chip's defects (low columns, dead and low pixels), which are
part of the response; and the row and column ramps of a planar sky gradient.
"""

from __future__ import annotations

import math

import numpy as np

from example_data.camera import _STREAM_DEFECTS, _SUBSAMPLE, Example, _rng
from example_data.truth import Defects


def _place(
    rng: np.random.Generator,
    sizes: np.ndarray,
    shape: tuple[int, int],
    margin: float,
    gap: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Place non-overlapping circles of radius ``sizes`` at random integer positions."""
    rows: list[int] = []
    cols: list[int] = []
    for size in sizes:
        edge = math.ceil(size + margin)
        for _ in range(10_000):
            r = int(rng.integers(edge, shape[0] - edge))
            c = int(rng.integers(edge, shape[1] - edge))
            if all(
                math.hypot(r - r2, c - c2) > size + s2 + gap
                for r2, c2, s2 in zip(rows, cols, sizes, strict=False)
            ):
                break
        else:  # pragma: no cover - cannot happen with the fixed sizes used here
            raise RuntimeError("could not place the simulated features without overlap")
        rows.append(r)
        cols.append(c)
    return np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64)


def _chip_defects(example: Example) -> Defects:
    """Return the defects of ``example``'s chip (see :func:`example_data.example_defects`)."""
    nrow, ncol = example.camera.shape
    if example.camera.defect_counts is None:
        raise ValueError(f"the defects of example {example.number}'s chip are another's")
    n_columns, n_dead, n_low = example.camera.defect_counts
    rng = _rng(example.number, -1, _STREAM_DEFECTS)
    column = rng.choice(np.arange(8, ncol - 8), n_columns, replace=False)
    first_row = rng.integers(nrow // 8, 7 * nrow // 8, n_columns)
    first_row[0] = 0
    column_response = rng.uniform(0.90, 0.97, n_columns)
    n = n_dead + n_low
    row = rng.integers(2, nrow - 2, n)
    col = rng.integers(2, ncol - 2, n)
    response = np.concatenate([np.zeros(n_dead), rng.uniform(0.5, 0.9, n_low)])
    return Defects(column, first_row, column_response, row, col, response)


def _norm_coord(n: int) -> np.ndarray:
    """Return n coordinates running from -1 to 1 (float64)."""
    return np.linspace(-1.0, 1.0, n)


def _soft_step(x: np.ndarray) -> np.ndarray:
    """Return a smooth step from 0 (x << 0) to 1 (x >> 0), 0.5 at 0 (a logistic function)."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _box(center: float, half: int, n: int) -> tuple[int, int]:
    """Return the clipped index range [lo, hi) of a box of half-width ``half`` at ``center``."""
    c = round(center)
    return max(c - half, 0), min(c + half + 1, n)


def _multiply_ring(
    image: np.ndarray,
    row: float,
    col: float,
    radius: float,
    depth: float,
    width: float,
    inner: float = 0.0,
) -> None:
    """Darken ``image`` in place by ``depth`` inside a soft-edged disk or ring."""
    half = (math.ceil(radius + 8 * width)) + 1
    r0, r1 = _box(row, half, image.shape[0])
    c0, c1 = _box(col, half, image.shape[1])
    dr = np.arange(r0, r1) - row
    dc = np.arange(c0, c1) - col
    r = np.hypot(dr[:, None], dc[None, :])
    profile = _soft_step((radius - r) / width)
    if inner > 0:
        profile *= _soft_step((r - inner) / width)
    image[r0:r1, c0:c1] *= (1.0 - depth * profile).astype(np.float32)


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], cell: int) -> np.ndarray:
    """Return a smooth random field (float32, rms 1) varying over ``cell`` pixels.

    White noise on a grid of ``cell``-pixel cells, smoothed over a cell or two and
    interpolated linearly to every pixel: cheap, and free of any structure from pixel to
    pixel.
    """
    coarse = rng.standard_normal((shape[0] // cell + 4, shape[1] // cell + 4))
    kernel = np.exp(-0.5 * np.arange(-3, 4) ** 2)
    kernel /= math.sqrt(float(np.sum(kernel**2)))  # keeps the rms of white noise at 1
    for axis in (0, 1):
        coarse = sum(
            w * np.roll(coarse, s, axis=axis) for s, w in zip(range(-3, 4), kernel, strict=True)
        )

    def weights(n: int) -> tuple[np.ndarray, np.ndarray]:
        position = (np.arange(n) + 0.5) / cell + 1.0
        lower = np.floor(position).astype(np.int64)
        return lower, (position - lower).astype(np.float32)

    c0, wc = weights(shape[1])
    across = (coarse[:, c0] * (1 - wc) + coarse[:, c0 + 1] * wc).astype(np.float32)
    r0, wr = weights(shape[0])
    field = across[r0]
    field *= (1 - wr)[:, None]
    field += across[r0 + 1] * wr[:, None]
    field /= np.float32(field[::8, ::8].std())
    return field


def _apply_defects(image: np.ndarray, example: Example, *, columns: bool = True) -> None:
    """Multiply ``image`` in place by the response of the chip's defects.

    ``columns=False`` leaves the low columns out (Example 3 takes their charge away as a
    fixed amount, which no response describes).
    """
    defects = _chip_defects(example)
    for column, first, response in zip(
        defects.column, defects.first_row, defects.column_response, strict=True
    ):
        if columns:
            image[first:, column] *= np.float32(response)
    image[defects.row, defects.col] *= defects.response.astype(np.float32)


def _ramps(shape: tuple[int, int], amplitude: float, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Return the row and column ramps (float32) of a planar sky gradient on ``shape``."""
    theta = math.radians(angle)
    y = np.linspace(-0.5, 0.5, shape[0])
    x = np.linspace(-0.5, 0.5, shape[1])
    ramp_r = 1.0 + amplitude * math.sin(theta) * y
    ramp_c = 1.0 + amplitude * math.cos(theta) * x
    return ramp_r.astype(np.float32), ramp_c.astype(np.float32)


def _subsample_median(image: np.ndarray) -> float:
    """Return the median of a regular subsample of ``image`` (precise to about 1e-4)."""
    return float(np.median(image[::_SUBSAMPLE, ::_SUBSAMPLE]))


def _median_normalised(response: np.ndarray) -> np.ndarray:
    """Divide a response map by its median in place and return it (:func:`true_flat`)."""
    response /= np.float32(np.median(response))
    return response


# The colour of the light.  A flat records the response to *its* light; the science's sky
# has another spectrum.  The r filter's interference coating is not equally thick across
# the filter, and its band edges move to shorter wavelengths away from the centre (the
# light also meets it at larger angles there): a red edge a few nm bluer at the edge of
# the field takes more from a red spectrum than from a blue one.  Twilight is the bluest
# of the three lights, the night sky redder (the [O I] 630 nm line and the OH bands crowd
# the filter's red edge), a halogen dome lamp (about 3000 K) reddest.  Chromatic flat-field
# differences of this size, 0.5 % to 1 % across a field between lights of different
# colour, are what surveys that compare dome, twilight and star flats report (e.g. the Dark
# Energy Survey's calibration, Burke et al. 2018, AJ 155, 41): a model of their size and
# shape, not a measurement of this filter.  The term is a bowl around the optical axis,
# relative to the example's own light; night against twilight it is 0.75 % peak to valley
# once a plane is removed.  "night" is the dark night sky (airglow); moonlight is sunlight
# scattered in the air like twilight, of nearly twilight's colour, so a moonlit sky's colour
# is the mix of the two by their shares of its light (:func:`_light_weight`;
# :func:`example_data.night.dark_share`): under a Moon that gives most of the light, the
# night sky's colour term against twilight nearly vanishes.
LIGHTS = ("dome", "twilight", "night")
_COLOUR_WEIGHT = {"twilight": 0.0, "night": 1.0, "dome": 1.6}  # redness, in units of the night's
_COLOUR_NIGHT_PV = 0.0075  # night against twilight: peak to valley beyond a plane


def _light_weight(light: str, dark_share: float = 1.0) -> float:
    """Return the redness of ``light``; for ``"night"``, a sky whose dark part has ``dark_share``.

    The rest of a night sky's light is moonlight, of twilight's colour.
    """
    if light != "night":
        return _COLOUR_WEIGHT[light]
    return dark_share * _COLOUR_WEIGHT["night"] + (1 - dark_share) * _COLOUR_WEIGHT["twilight"]


def _colour_ramps(
    shape: tuple[int, int],
    light: str,
    own: str,
    axis: tuple[float, float] = (0.0, 0.0),
    dark_share: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the row and column factors (float32) of the response in ``light`` over ``own``.

    ``exp(c (x**2 + y**2))`` with ``x`` and ``y`` from -1 to 1 across the chip, measured
    from the optical axis at ``axis`` (the same units): separable, and within 2e-5 of the
    bowl ``1 + c (x**2 + y**2)``, whose part beyond a plane spans 2 c from the centre to
    the corners. ``dark_share`` is that of a night ``light`` (:func:`_light_weight`).
    """
    c = -_COLOUR_NIGHT_PV / 2 * (_light_weight(light, dark_share) - _light_weight(own))
    y = np.linspace(-1.0, 1.0, shape[0]) - axis[0]
    x = np.linspace(-1.0, 1.0, shape[1]) - axis[1]
    return np.exp(c * y**2).astype(np.float32), np.exp(c * x**2).astype(np.float32)
