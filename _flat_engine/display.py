"""The drawing behind the notebooks' figures: options of `show_image` and figure plumbing.

- `parse_stretch`, `parse_percentiles`, `parse_region`: display options, checked;
- `panel_row`: a row of panels with room for their colour bars;
- `residual_in_sigmas`, `block_residual`: the maps the truth figures show (a flat's residual
  from the truth in units of the ideal noise, pixel by pixel or averaged in blocks);
- `clip_bands`: one pixel's values with the band each clip keeps;
- `frame_levels`: each frame's mean and median for `plot_frame_levels`;
- `draw_image`, `plot_levels`: the drawing of `show_image` and `plot_frame_levels`.
"""

from __future__ import annotations

import math

import numpy as np

from .options import as_whole, named
from .pixels import as_float_array, block_mean, finite_median, fit_plane, values_name_unit


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


def parse_region(region, shape, function):
    """Return ``region`` as two slices with step 1 within ``shape``, and their offsets.

    ``None`` is the whole image.  Returns ``(slices, (row0, col0))``; a region that selects
    no pixel, or is not two slices with step 1, raises a ValueError naming ``function``.
    """
    if region is None:
        return (slice(0, shape[0]), slice(0, shape[1])), (0, 0)
    if (
        not isinstance(region, tuple)
        or len(region) != 2
        or not all(isinstance(s, slice) and s.step in (None, 1) for s in region)
    ):
        raise ValueError(
            f"{function}: region must be two slices with step 1, e.g. np.s_[100:300, 50:250], "
            f"got {region!r}"
        )
    bounds = [s.indices(n)[:2] for s, n in zip(region, shape, strict=True)]
    if any(stop <= start for start, stop in bounds):
        raise ValueError(f"{function}: region {region!r} selects no pixel of shape {shape}")
    slices = tuple(slice(start, stop) for start, stop in bounds)
    return slices, (bounds[0][0], bounds[1][0])


def panel_row(count, figsize=None, wspace=0.25):
    """Return a figure with ``count`` axes side by side, with room for their colour bars."""
    import matplotlib.pyplot as plt

    figsize = figsize or (4.5 * count, 4.2)
    fig, axes = plt.subplots(1, count, figsize=figsize, squeeze=False, layout="constrained")
    fig.get_layout_engine().set(wspace=wspace)
    return fig, list(axes[0])


def residual_in_sigmas(flat, truth, ideal, region, normalize):
    """Return ``(flat / m - truth) / ideal`` on ``region`` (full size, NaN outside it).

    ``m`` is 1, or with ``normalize`` the median of ``flat / truth`` over the region: a
    gradient nearly constant over a cut-out (a sky's) then drops out.
    """
    residual = np.full(truth.shape, np.nan, dtype=np.float64)
    ideal = np.broadcast_to(ideal, truth.shape)[region]
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.nanmedian(flat[region] / truth[region]) if normalize else 1.0
        residual[region] = (flat[region] / scale - truth[region]) / ideal
    return residual


def block_residual(flat, truth, ideal, size, min_fraction):
    """Return block means of ``flat / truth / plane - 1`` and their ideal noise.

    ``ideal`` is the noise of each pixel of the flat (infinite where no frame reached it);
    the residual's is that divided by ``truth * plane``.  Pixels of infinite noise, and NaN
    ones, are left out.  A block with fewer than ``min_fraction`` of its pixels left is NaN
    in both maps.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = flat / truth
        plane = fit_plane(ratio, 8)
        residual = ratio / plane - 1
        variance = (np.asarray(ideal, dtype=np.float64) / (truth * plane)) ** 2
    variance = np.broadcast_to(variance, truth.shape)
    valid = np.isfinite(residual) & np.isfinite(variance)
    mean, count = block_mean(np.where(valid, residual, np.nan), size, np.float64, counts=True)
    mean_variance = block_mean(np.where(valid, variance, np.nan), size, np.float64)
    enough = count >= min_fraction * size * size
    with np.errstate(invalid="ignore", divide="ignore"):
        sigma = np.sqrt(mean_variance / count)
    return np.where(enough, mean, np.nan), np.where(enough, sigma, np.nan)


def clip_bands(ax, values, bands):
    """Draw a pixel's values as points, with one shaded band per clip (label: (low, high))."""
    x = np.arange(1, len(values) + 1)
    colours = ["tab:green", "tab:red", "tab:blue", "tab:orange"]
    for (label, (low, high)), colour in zip(bands.items(), colours * len(bands), strict=False):
        ax.fill_between([0.5, len(x) + 0.5], low, high, color=colour, alpha=0.25, label=label)
    ax.plot(x, values, "ko", label="scaled value of each frame")
    ax.axhline(np.median(values), color="k", lw=0.8)
    ax.set(xticks=x, xlabel="frame", ylabel="scaled value", xlim=(0.5, len(x) + 0.5))
    ax.legend(loc="upper left", fontsize=9)


def check_alt(alt, function):
    """Raise a ValueError naming ``function`` when the figure's description is empty."""
    if alt is None or not str(alt).strip():
        raise ValueError(f"{function} needs a description of the figure (alt)")


def positive_int(value, name, function):
    """Return ``value`` as an int of at least 1 (`options.as_whole`), errors naming ``function``."""
    with named(function):
        return as_whole(value, name, 1)


def flats_like(flats, shape, function):
    """Return ``flats`` (title: image) as float arrays of ``shape``, else ValueError."""
    if not flats:
        raise ValueError(f"{function}: no flat given")
    arrays = {title: as_float_array(flat) for title, flat in flats.items()}
    for title, flat in arrays.items():
        if flat.shape != tuple(shape):
            raise ValueError(f"{function}: {title!r} has shape {flat.shape}, the truth {shape}")
    return arrays


def draw_image(values, ax, scale, frame, *, cmap, bar):
    """Draw ``values`` for `show_image`: block-averaged, stretched, in the chip's pixels.

    ``scale`` holds ``limits`` (or None), ``percentiles`` and a ``stretch`` instance;
    ``frame`` the ``corner`` (row, column) of the region in the image, the ``block`` size
    of a map of block means, ``max_pixels`` and the ``title``; ``bar`` is the colour bar's
    label, or None for no bar.  Returns the image artist.
    """
    import matplotlib.pyplot as plt
    from astropy import visualization as vis

    ny, nx = values.shape
    factor = max(1, math.ceil(max(ny, nx) / frame["max_pixels"]))
    shown = block_mean(values, factor)
    finite = shown[np.isfinite(shown)]
    if finite.size == 0:
        raise ValueError("show_image: the image has no finite pixel")
    if scale["limits"] is None:
        interval = vis.AsymmetricPercentileInterval(*scale["percentiles"])
        vmin, vmax = interval.get_limits(finite)
    else:
        vmin, vmax = (float(limit) for limit in scale["limits"])
    if not vmax > vmin:  # a constant image: widen the interval so the stretch is defined
        vmin, vmax = vmin - 0.5 * max(abs(vmin), 1.0), vmax + 0.5 * max(abs(vmax), 1.0)
    norm = vis.ImageNormalize(vmin=vmin, vmax=vmax, stretch=scale["stretch"], clip=True)
    if ax is None:
        _, ax = plt.subplots()
    # in the chip's pixels: offset by the region's corner, scaled by the blocks of a map
    block, (row0, col0) = frame["block"], frame["corner"]
    x0, y0 = col0 * block - 0.5, row0 * block - 0.5
    height, width = shown.shape[0] * factor * block, shown.shape[1] * factor * block
    extent = (x0, x0 + width, y0, y0 + height)
    artist = ax.imshow(
        shown, cmap=cmap, norm=norm, origin="lower", interpolation="nearest", extent=extent
    )
    ax.set_xlim(x0, x0 + nx * block)  # the image's own extent, not the padding of blocks
    ax.set_ylim(y0, y0 + ny * block)
    ax.set(xlabel="x (pixel)", ylabel="y (pixel)")
    ax.grid(False)  # grid lines (on in the course style) would hide fine detail
    if frame["title"] is not None:
        ax.set_title(frame["title"])
    if bar is not None:
        # An inset follows the image's own box, so the bar is exactly as tall as the image.
        colorbar = ax.figure.colorbar(artist, cax=ax.inset_axes((1.03, 0.0, 0.04, 1.0)))
        # A clipping norm draws ticks beyond [vmin, vmax] at the ends: keep those inside.
        colorbar.set_ticks([tick for tick in colorbar.get_ticks() if vmin <= tick <= vmax])
        colorbar.set_label(bar)
    return artist


def frame_levels(images):
    """Return the mean and median of each frame's finite pixels, its name and the unit.

    ``images`` are read one at a time (`values_name_unit`); returns four lists' worth:
    means, medians, names and the first unit found (a string, or None).  A frame with no
    finite pixel raises a ValueError naming it.
    """
    means, medians, names, unit = [], [], [], None
    for index, image in enumerate(images):
        values, name, frame_unit = values_name_unit(image, index)
        with np.errstate(over="ignore", invalid="ignore"):  # a finite sum: no NaN nor inf
            clean = values.flags.c_contiguous and bool(np.isfinite(values.sum()))
        finite = values.ravel() if clean else values[np.isfinite(values)]  # a view if clean
        if finite.size == 0:
            raise ValueError(f"frame {name} has no finite pixel")
        means.append(float(np.mean(finite, dtype=np.float64)))
        medians.append(float(finite_median(values)))  # np.median(finite), without its sort
        names.append(name)
        unit = unit or (str(frame_unit) if frame_unit else None)
    return means, medians, names, unit


def plot_levels(ax, means, medians, ticks, *, unit, label, title):
    """Plot each frame's mean and median for `plot_frame_levels` (a new figure without ``ax``)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    x = np.arange(len(means))
    prefix = f"{label}: " if label else ""
    ax.plot(x, means, "o-", label=f"{prefix}mean")
    ax.plot(x, medians, "s--", label=f"{prefix}median")
    long_labels = max(len(text) for text in ticks) > 4
    ax.set_xticks(
        x, ticks, rotation=45 if long_labels else 0, ha="right" if long_labels else "center"
    )
    ax.set(xlabel="frame", ylabel=f"level ({unit})" if unit else "level")
    ax.legend()
    if title is not None:
        ax.set_title(title)
