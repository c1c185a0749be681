"""A flat judged without a truth: the flats of two halves of its frames compared.

The flat of the odd frames and the flat of the even frames record the same response; they
differ by their noise and by whatever changed between the frames (a light leak, moonlight,
a drifting gradient).  `compare_halves` measures their ratio:
its pixel-to-pixel scatter against the noise the frames' levels and gain predict, and its
means in blocks (the large scale, where noise alone leaves almost nothing) against a
tolerance.  An observer can run it on any set of frames; with the simulator's truth the
verdict can be checked.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .options import as_number
from .pixels import as_float_array, block_mean, pixel_scatter


class HalvesComparison(NamedTuple):
    """Result of `compare_halves`: the ratio of two half flats against its expected noise.

    ``noise`` and ``expected`` are the ratio's pixel noise, relative (0.001 is 0.1 %),
    measured and predicted; ``blocks`` is the rms about 1 of the ratio's means in blocks,
    ``blocks_expected`` what the noise alone leaves there, ``tolerance`` the large-scale
    difference accepted; ``verdict`` says in words whether the halves agree.
    """

    noise: float
    expected: float
    blocks: float
    blocks_expected: float
    tolerance: float
    verdict: str


def compare_halves(first, second, expected, region, block, tolerance):
    """Compare two flats of the same frames' halves; see `HalvesComparison`.

    ``expected`` is the noise of the ratio at each pixel (a number or an array of the
    flats' shape, e.g. the two halves' ideal noises added in quadrature), ``region`` the
    slices measured, ``block`` the block size of the large-scale comparison.
    ValueError if the shapes differ or the region holds too few pixels.
    """
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 2:
        raise ValueError(f"block must be a whole number of pixels >= 2, got {block!r}")
    tolerance = as_number(tolerance, "tolerance", minimum=0)
    expected = np.asarray(expected, dtype=np.float64)
    if not (np.all(np.isfinite(expected) | np.isinf(expected)) and np.all(expected > 0)):
        raise ValueError("expected must be the ratio's noise: positive numbers")
    region = np.s_[:, :] if region is None else region
    a, b = as_float_array(first), as_float_array(second)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"the flats must be 2-D images of one shape, not {a.shape} and {b.shape}")
    expected = np.broadcast_to(expected, a.shape)[region]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = a[region] / b[region]
    ny, nx = (side // block * block for side in ratio.shape)
    if min(ny, nx) < 2 * block:
        raise ValueError(f"the region {ratio.shape} must hold 2 x 2 blocks of {block} pixels")
    ratio = ratio[:ny, :nx] / np.nanmedian(ratio[:ny, :nx])
    noise = pixel_scatter(ratio)
    typical = float(np.nanmedian(expected[:ny, :nx]))
    blocks = float(np.sqrt(np.nanmean((block_mean(ratio, block, np.float64) - 1) ** 2)))
    blocks_expected = typical / block  # the mean of block**2 pixels of that noise
    faults = []
    if noise > 1.1 * typical:
        faults.append(f"pixel noise {noise / typical:.2f} x the expected")
    if blocks > max(tolerance, 3 * blocks_expected):
        faults.append(f"large-scale difference {100 * blocks:.2f} % rms")
    verdict = "the halves differ: " + ", ".join(faults) if faults else "the halves agree"
    return HalvesComparison(noise, typical, blocks, blocks_expected, tolerance, verdict)
