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

from .options import as_number, as_whole
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
    flats' shape, e.g. the two halves' ideal noises added in quadrature; infinite in an
    array where no frame saw the pixel, which is then left out), ``region`` the slices
    measured, ``block`` the block size of the large-scale comparison.  TypeError if
    ``block`` or ``tolerance`` is not a number; ValueError if the shapes differ,
    ``expected`` is not positive and finite, or the region holds fewer than 2 x 2 blocks
    or fewer than half its pixels finite in the ratio.
    """
    block = as_whole(block, "block", 2)
    tolerance = as_number(tolerance, "tolerance", minimum=0)
    expected = np.asarray(expected, dtype=np.float64)
    unseen = np.isinf(expected) if expected.ndim else False  # inf: no frame saw the pixel
    if not np.all((np.isfinite(expected) | unseen) & (expected > 0)):
        raise ValueError(
            "expected must be the ratio's noise: positive finite numbers "
            "(infinite only in an array, where no frame saw the pixel)"
        )
    region = np.s_[:, :] if region is None else region
    a, b = as_float_array(first), as_float_array(second)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"the flats must be 2-D images of one shape, not {a.shape} and {b.shape}")
    expected = np.broadcast_to(expected, a.shape)[region]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = a[region] / b[region]
    ratio = np.where(np.isfinite(expected), ratio, np.nan)
    ny, nx = (side // block * block for side in ratio.shape)
    if min(ny, nx) < 2 * block:
        raise ValueError(f"the region {ratio.shape} must hold 2 x 2 blocks of {block} pixels")
    ratio, expected = ratio[:ny, :nx], expected[:ny, :nx]
    finite = np.isfinite(ratio)
    if np.count_nonzero(finite) < ratio.size / 2:
        raise ValueError(
            f"the region holds {np.count_nonzero(finite)} pixels with a finite ratio of "
            f"{ratio.size}: fewer than half"
        )
    ratio = ratio / np.nanmedian(ratio)
    noise = pixel_scatter(ratio)
    typical = float(np.median(expected[finite]))
    blocks = float(np.sqrt(np.nanmean((block_mean(ratio, block, np.float64) - 1) ** 2)))
    blocks_expected = typical / block  # the mean of block**2 pixels of that noise
    return HalvesComparison(
        noise,
        typical,
        blocks,
        blocks_expected,
        tolerance,
        _verdict(noise, typical, blocks, blocks_expected, tolerance),
    )


def _verdict(noise, typical, blocks, blocks_expected, tolerance):
    """Return the words of `compare_halves`' verdict.

    The pixel noise must lie within 0.9 and 1.1 times the expected: above, the gain is
    taken wrong or the halves hold outliers; below, the halves share frames or values (not
    independent) or the expected noise is overestimated (a gain too small).  Block means
    more than 3 times what noise alone leaves in them are a real large-scale difference,
    reported as such; the tolerance says whether it is one the observer accepts.
    """
    faults = []
    if noise > 1.1 * typical:
        faults.append(f"pixel noise {noise / typical:.2f} x the expected")
    if noise < 0.9 * typical:
        faults.append(
            f"pixel noise {noise / typical:.2f} x the expected (halves not independent, or "
            "the expected noise overestimated)"
        )
    if blocks > 3 * blocks_expected:
        within = "within" if blocks <= tolerance else "above"
        faults.append(
            f"large-scale difference {100 * blocks:.3f} % rms ({blocks / blocks_expected:.1f} x "
            f"noise alone, {within} the tolerance {100 * tolerance:.3g} %)"
        )
    return "the halves differ: " + "; ".join(faults) if faults else "the halves agree"
