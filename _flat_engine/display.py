"""The drawing behind the notebooks' figures: options of `show_image` and figure plumbing.

Nothing here computes a result a notebook prints; it only draws.
"""

from __future__ import annotations


def parse_stretch(name):
    """Return the `astropy.visualization` stretch class called ``name``, else ValueError."""
    from astropy import visualization as vis

    stretches = {
        "linear": vis.LinearStretch,
        "sqrt": vis.SqrtStretch,
        "log": vis.LogStretch,
        "asinh": vis.AsinhStretch,
    }
    if name not in stretches:
        raise ValueError(f"unknown stretch {name!r}; choose one of {', '.join(stretches)}")
    return stretches[name]


def parse_percentiles(percentiles):
    """Return ``(low, high)`` with ``0 <= low < high <= 100``, else raise ValueError."""
    try:
        low, high = (float(p) for p in percentiles)
    except (TypeError, ValueError) as err:
        message = f"percentiles must be two numbers (low, high), got {percentiles!r}"
        raise ValueError(message) from err
    if not (0 <= low < high <= 100):
        raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {percentiles!r}")
    return low, high
