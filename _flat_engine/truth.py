"""Judging a flat against the response it should have recovered (simulated data only).

`ideal_noise` is the noise of a perfect combination, the Poisson and read noise of every
frame averaged with nothing rejected; `no_outlier` marks the pixels where no frame
deviates from the truth beyond a threshold.
"""

from __future__ import annotations

import numpy as np

from .files import read_image
from .pixels import as_float_array


def ideal_noise(truth, levels, gain, read_noise, n_used=None):
    """Return the noise of a perfect combined flat at each pixel (relative to a level of 1).

    Frame i's scaled value at a pixel of response t has variance (t L_i / g + (r / g)**2)
    / L_i**2; the mean of N frames has the sum of those over N**2.  With ``n_used`` (the
    frames averaged at each pixel) the noise grows as sqrt(N / n_used); where ``n_used``
    is 0 it is infinite.
    """
    response = np.maximum(truth, 0)
    variance = sum((response * lv / gain + (read_noise / gain) ** 2) / lv**2 for lv in levels)
    ideal = np.sqrt(variance) / len(levels)
    if n_used is not None:
        with np.errstate(divide="ignore"):
            ideal = ideal * np.sqrt(len(levels) / np.asarray(n_used, dtype=np.float64))
    return ideal


def no_outlier(frames, truth, levels, gain, read_noise, threshold):
    """Return where no frame deviates from ``truth`` by more than ``threshold`` of its noise."""
    response = np.maximum(truth, 0)
    clean = np.ones(truth.shape, dtype=bool)
    for frame, level in zip(frames, levels, strict=True):
        noise = np.sqrt(response * level / gain + (read_noise / gain) ** 2)
        deviation = np.abs(as_float_array(read_image(frame)[0]) - truth * level)
        clean &= deviation <= threshold * noise
    return clean
