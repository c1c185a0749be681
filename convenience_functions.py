"""Display, measurement and flat-combination helpers shared by the course notebooks.

Display
    `use_course_style` prepares a notebook (the course's figure style, astropy's messages
    once); `show_image` draws a frame with a percentile interval and a stretch;
    `plot_frame_levels` plots the level of each frame; `show_figure` shows a figure in a
    notebook with a description for readers who cannot see it; `show_panels` shows images
    side by side with one stretch, `region_around` picks a cut-out; `show_residuals`,
    `show_block_residuals` and `truth_table` show how far flats are from the truth
    (simulated data), `show_clip_bands` what two clips keep of one pixel.
Reading and measurement
    `read_frame` reads a frame as `~astropy.nddata.CCDData` (ADU when BUNIT is missing);
    `frames_by_filter` groups a folder's frames of one IMAGETYP by FILTER, `fits_files`
    lists its FITS files whatever their names; `inv_median`
    is the usual flat scaling; `pixel_scatter` and `noise_budget` measure the
    pixel-to-pixel noise of flats; `ideal_flat_noise` is the noise of a perfect
    combination, the yardstick of `compare_with_truth`, which judges a combined flat
    against the response it should have recovered; `fit_plane` fits the large-scale
    gradient (a sky's) that a flat made of sky records; `block_mean` averages an image in
    blocks, ignoring NaN.
Combination
    `combine_flats` scales each flat by its inverse median, rejects outliers pixel by
    pixel, averages the survivors and normalises, in bounded memory;
    `combine_flats_by_filter` writes one combined flat per FILTER of a folder, each with
    `write_flat`, which never overwrites a file that is not a combined flat;
    `safe_filter_name` turns a filter name into a file name, `planned_flats` gives the
    paths of the flats a notebook will write, checked before any combining;
    `ccdproc_recipe` is the CCD Data Reduction Guide's `ccdproc.combine` call, to compare
    with.
Night-sky flats
    `combine_sky_flats` combines dithered science frames into a flat, their sources
    masked; `source_mask` shows the mask of one frame; `illumination_correction` gives a
    twilight or dome flat the large scales of a sky flat.

The machinery these functions stand on (reading frames in blocks of rows, the rejection
kernel, the memory plan, the file writer, the drawing) is in the private package
`_flat_engine`, one subject per module; its ``__init__`` is the map.
"""

from __future__ import annotations

import functools
import inspect
import math
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
from astropy import units as u
from astropy.nddata import CCDData

from _flat_engine import checks as _checks
from _flat_engine import display as _display
from _flat_engine import files as _files
from _flat_engine import frames as _frames
from _flat_engine import groups as _groups
from _flat_engine import illumination as _illumination
from _flat_engine import options as _options
from _flat_engine import pixels as _pixels
from _flat_engine import quality as _quality
from _flat_engine import rejection as _rejection
from _flat_engine import sky as _sky
from _flat_engine import stack as _stack
from _flat_engine import truth as _truth

__all__ = [
    "NoiseBudget",
    "TruthComparison",
    "block_mean",
    "ccdproc_recipe",
    "check_flats",
    "combine_flats",
    "combine_flats_by_filter",
    "combine_sky_flats",
    "compare_halves",
    "compare_with_truth",
    "fit_plane",
    "fits_files",
    "frames_by_filter",
    "ideal_flat_noise",
    "illumination_correction",
    "inv_median",
    "mosaic_chips",
    "noise_budget",
    "pixel_scatter",
    "planned_flats",
    "plot_frame_levels",
    "read_frame",
    "region_around",
    "safe_filter_name",
    "show_block_residuals",
    "show_clip_bands",
    "show_figure",
    "show_image",
    "show_panels",
    "show_residuals",
    "source_mask",
    "truth_table",
    "use_course_style",
    "write_flat",
]

# --------------------------------------------------------------------------------------
# Display
# --------------------------------------------------------------------------------------


def show_image(
    image,
    *,
    ax=None,
    percentiles=(1, 99),
    limits=None,
    stretch="linear",
    cmap="gray",
    colorbar=True,
    label=None,
    title=None,
    max_pixels=1024,
    region=None,
    block=1,
):
    """Display an image with a percentile interval and a stretch.

    Frames larger than ``max_pixels`` on their long side are block-averaged (ignoring
    NaN), so a 4096 x 4096 frame draws in well under a second; axis coordinates stay in
    pixels of the original.  Averaging hides single-pixel defects: show a cut-out
    (``image[500:700, 800:1000]``) to see them.  The colour bar is as tall as the image; in
    a row of panels leave room for it: ``fig.get_layout_engine().set(wspace=0.25)``.

    Parameters
    ----------
    image : numpy.ndarray, astropy.units.Quantity or astropy.nddata.CCDData
        A 2-D image.  Masked CCDData pixels are shown in the colour map's "bad" colour.
    ax : matplotlib.axes.Axes, optional
        The axes to draw on; a new figure is made when not given.
    percentiles : tuple of two floats, optional
        Lower and upper percentile of the display interval, ``0 <= low < high <= 100``.
    limits : tuple of two floats, optional
        The display interval itself (overrides ``percentiles``), e.g. to show several
        panels with one stretch.
    stretch : {'linear', 'sqrt', 'log', 'asinh'}, optional
        The `astropy.visualization` stretch applied within the interval.
    cmap : str or matplotlib.colors.Colormap, optional
        The colour map.
    colorbar : bool, optional
        Add a colour bar beside the axes.
    label : str, optional
        The colour bar's label; by default the unit ("relative response" when
        dimensionless, "pixel value" for a plain array).
    title : str, optional
        Title of the axes.
    max_pixels : int, optional
        Long side, in pixels, above which the image is block-averaged for display.
    region : tuple of two slice, optional
        Show only this part, e.g. ``np.s_[1200:1600, 400:800]``, the axes still counting
        the pixels of the whole image (a zoom; the interval comes from the part shown).
    block : int, optional
        Each pixel of ``image`` stands for a block of ``block`` x ``block`` pixels of the
        chip (a map made with `block_mean`): the axes count the chip's pixels.

    Returns
    -------
    matplotlib.image.AxesImage
        The image artist.

    Raises
    ------
    TypeError
        If ``block`` or ``max_pixels`` is not an integer (a float is refused, never
        truncated).
    ValueError
        If the image is not 2-D, has no finite pixel, the stretch is unknown, the
        percentiles are invalid, ``region`` is not two slices that select a pixel, or
        ``block`` or ``max_pixels`` is below 1.

    See Also
    --------
    astropy.visualization.imshow_norm : the same idea without the block averaging.
    plot_frame_levels : the level of each frame of a set.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> artist = show_image(np.arange(16.0).reshape(4, 4), label="ADU")
    >>> artist.get_array().shape
    (4, 4)
    >>> plt.close("all")
    """
    stretch_class = _display.parse_stretch(stretch)
    low, high = _display.parse_percentiles(percentiles)
    block = _display.positive_int(block, "block", "show_image")
    max_pixels = _display.positive_int(max_pixels, "max_pixels", "show_image")
    values = _pixels.as_float_array(image)
    if values.ndim != 2:
        raise ValueError(f"show_image needs a 2-D image, got shape {values.shape}")
    region, corner = _display.parse_region(region, values.shape, "show_image")
    if label is None:
        unit = _pixels.unit_of(image)
        dimensionless = unit is not None and unit == u.dimensionless_unscaled
        label = "relative response" if dimensionless else unit or "pixel value"
    scale = {"limits": limits, "percentiles": (low, high), "stretch": stretch_class()}
    frame = {"corner": corner, "block": block, "max_pixels": max_pixels, "title": title}
    bar = str(label) if colorbar else None
    return _display.draw_image(values[region], ax, scale, frame, cmap=cmap, bar=bar)


def use_course_style(*, quiet_wcs_notes=False):
    """Prepare a notebook as the course's: its figure style, each astropy message once.

    1. Matplotlib takes the style of ``guide.mplstyle``, found beside this module wherever
       the notebook runs.
    2. ccdproc's `ImageFileCollection` logs through Python's root logger, after which every
       astropy message (such as ccdproc's INFO line about memory) would be printed twice:
       astropy's logger stops passing its messages on, so each is printed once.
    3. With ``quiet_wcs_notes=True``, astropy's `~astropy.wcs.FITSFixedWarning` is silenced
       for the rest of the session.  When ccdproc reads a file it also reads its WCS, and
       astropy notes, once per file, any header keyword it fixed (such as MJD-OBS computed
       from DATE-OBS); the pixels are not touched, so the notes are only noise here.

    Parameters
    ----------
    quiet_wcs_notes : bool, optional
        Silence astropy's notes on fixed WCS keywords.

    Raises
    ------
    TypeError
        If ``quiet_wcs_notes`` is not a bool.
    OSError
        If ``guide.mplstyle`` is missing beside this module.

    See Also
    --------
    show_figure : shows a figure in this style, with its description.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> with plt.style.context("default"):
    ...     use_course_style()
    """
    import logging
    import warnings

    import matplotlib.pyplot as plt
    from astropy.wcs import FITSFixedWarning

    if not isinstance(quiet_wcs_notes, bool):
        raise TypeError(
            f"use_course_style: quiet_wcs_notes must be a bool, got {quiet_wcs_notes!r}"
        )
    style = Path(__file__).resolve().parent / "guide.mplstyle"
    if not style.is_file():
        raise OSError(f"use_course_style: the course's style {style} is missing")
    plt.style.use(style)
    logging.getLogger("astropy").propagate = False
    if quiet_wcs_notes:
        warnings.simplefilter("ignore", FITSFixedWarning)


def show_figure(figure, *, alt):
    """Show a Matplotlib figure in a notebook with alternative text, and close it.

    The figure is embedded as a PNG image whose HTML carries ``alt``, the description
    that screen readers speak and that nbconvert's HTML export keeps.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
        The figure; it is closed afterwards, so it is not shown a second time.
    alt : str
        What the figure shows, in a sentence or two.

    Raises
    ------
    ValueError
        If ``alt`` is empty.

    See Also
    --------
    show_image : draws an image on a figure's axes.

    Examples
    --------
    Outside a notebook the display falls back to printing what it would show:

    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> show_figure(fig, alt="An empty set of axes.")  # doctest: +ELLIPSIS
    {'text/html': '<img src="data:image/png;base64,..." alt="An empty set of axes.">', ...}
    """
    import base64
    import html
    import io

    import matplotlib.pyplot as plt
    from IPython.display import display

    _display.check_alt(alt, "show_figure")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    png = base64.b64encode(buffer.getvalue()).decode("ascii")
    tag = f'<img src="data:image/png;base64,{png}" alt="{html.escape(str(alt))}">'
    display({"text/html": tag, "image/png": png, "text/plain": str(alt)}, raw=True)
    plt.close(figure)


def plot_frame_levels(images, *, ax=None, labels=None, title=None, label=None):
    """Plot the mean and median of each frame, and return the medians.

    Parameters
    ----------
    images : sequence of str, os.PathLike, astropy.nddata.CCDData or numpy.ndarray
        The frames, e.g. the flats of one filter.  Files are read one at a time.
    ax : matplotlib.axes.Axes, optional
        The axes to draw on; a new figure is made when not given.  Call the function
        once per filter on the same axes to compare filters without joining them.
    labels : sequence of str, optional
        Tick labels, one per frame.  By default the file base names (for CCDData the
        FILENAME in its meta, for arrays the frame number).
    title : str, optional
        Title of the axes.
    label : str, optional
        A name for this set of frames in the legend (e.g. the filter).

    Returns
    -------
    numpy.ndarray
        The median of each frame over its finite pixels (float64), in input order.

    Raises
    ------
    ValueError
        If no frame is given, the number of labels differs from the number of frames, a
        file cannot be read, or a frame has no finite pixel.

    See Also
    --------
    inv_median : the inverse of the same median, the scale factor of a flat.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> frames = [np.full((4, 4), level) for level in (1000.0, 900.0, 800.0)]
    >>> plot_frame_levels(frames, labels=["1", "2", "3"])
    array([1000.,  900.,  800.])
    >>> plt.close("all")
    """
    images = _frames.as_image_list(images)
    if not images:
        raise ValueError("plot_frame_levels: no frame given")
    if labels is not None:
        labels = [str(text) for text in labels]
        if len(labels) != len(images):
            raise ValueError(f"got {len(labels)} labels for {len(images)} frames")

    means, medians, names, unit = _display.frame_levels(images)
    ticks = labels if labels is not None else names
    _display.plot_levels(ax, means, medians, ticks, unit=unit, label=label, title=title)
    return np.asarray(medians, dtype=float)


def region_around(center, size, *, shape=None):
    """Return the slices of a square of ``size`` x ``size`` pixels around a pixel.

    The square starts ``size // 2`` pixels before the centre in each axis (so an odd
    ``size`` is centred exactly), and is cut, not moved, where it would leave the image.

    Parameters
    ----------
    center : tuple of two int
        The pixel ``(row, column)`` at the centre.
    size : int
        The side of the square, in pixels.
    shape : tuple of two int, optional
        The image's shape: the square is cut to it.  Without it only negative starts are
        cut (to 0).

    Returns
    -------
    tuple of two slice
        Use as ``image[region]``, or as ``region=`` of `show_image`.

    Raises
    ------
    TypeError
        If ``size`` is not an integer (a float is refused, never truncated).
    ValueError
        If ``center`` is not two numbers, ``size`` is below 1, or the square lies wholly
        outside ``shape``.

    See Also
    --------
    show_image : shows a region of an image in the image's pixel numbers.

    Examples
    --------
    >>> region_around((10, 50), 41)
    (slice(0, 31, None), slice(30, 71, None))
    >>> region_around((10, 50), 40, shape=(64, 60))
    (slice(0, 30, None), slice(30, 60, None))
    """
    size = _display.positive_int(size, "size", "region_around")
    try:
        row, col = (round(float(c)) for c in center)
    except (TypeError, ValueError) as err:
        raise ValueError(f"region_around: center must be (row, column), got {center!r}") from err
    starts = (row - size // 2, col - size // 2)
    if min(starts) + size <= 0:  # wholly above or left of the image: nothing of it is there
        raise ValueError(f"region_around: a {size}-pixel square at {center!r} is outside the image")
    region = tuple(slice(max(start, 0), start + size) for start in starts)
    if shape is not None:
        region, _ = _display.parse_region(region, tuple(shape), "region_around")
    return region


def show_panels(images, *, alt, limits=None, percentiles=(1, 99.5), figsize=None, **options):
    """Show images side by side with one display stretch, so that they can be compared.

    Parameters
    ----------
    images : dict of str to numpy.ndarray or astropy.nddata.CCDData
        The panels, by title, left to right.
    alt : str
        What the figure shows, for readers who cannot see it (see `show_figure`).
    limits : tuple of two floats, optional
        The display interval of every panel; by default ``percentiles`` of all panels'
        finite pixels together.
    percentiles : tuple of two floats, optional
        The interval's percentiles, when ``limits`` is not given.
    figsize : tuple of two floats, optional
        Width and height of the figure, in inches; by default 4.5 x 4.2 per panel.
    **options
        Further keywords of `show_image` (``label``, ``stretch``, ``region``, ``cmap``...).

    Raises
    ------
    ValueError
        If ``images`` is not a non-empty dict, ``alt`` is empty, the percentiles are invalid, or
        `show_image` refuses an image or an option.

    See Also
    --------
    show_image : one panel.
    show_residuals : panels of residuals from the truth.

    Examples
    --------
    >>> import numpy as np
    >>> images = {"a": np.zeros((8, 8)), "b": np.ones((8, 8))}
    >>> show_panels(images, alt="Two plain squares.", limits=(0, 1))  # doctest: +ELLIPSIS
    {'text/html': '<img src="data:image/png;base64,..." alt="Two plain squares.">', ...}
    """
    if not isinstance(images, dict) or not images:
        raise ValueError("show_panels: images must be a dict of title: image, not empty")
    _display.check_alt(alt, "show_panels")
    if limits is None:
        low, high = _display.parse_percentiles(percentiles)
        pooled = np.concatenate([_pixels.as_float_array(im).ravel() for im in images.values()])
        limits = np.nanpercentile(pooled, (low, high))
    fig, axes = _display.panel_row(len(images), figsize)
    for ax, (title, image) in zip(axes, images.items(), strict=True):
        show_image(image, ax=ax, limits=limits, title=title, **options)
    show_figure(fig, alt=alt)


def show_residuals(flats, truth, *, ideal, alt, region=None, normalize=False, limits=(-5, 5)):
    """Show each flat's residual from the truth, in units of the ideal noise.

    The residual is ``(flat / m - truth) / ideal``: 0 where the flat is right, about 1 for
    the noise of a perfect combination, far above where a star or a cosmic ray was left
    in.  ``m`` is 1, or with ``normalize`` the median of ``flat / truth`` over the region,
    which removes a gradient nearly constant over a small region (a sky's).

    Parameters
    ----------
    flats : dict of str to numpy.ndarray
        The combined flats (median 1), by title.
    truth : numpy.ndarray
        The response they should have recovered (`example_data.true_flat`).
    ideal : float or numpy.ndarray
        The ideal noise (`ideal_flat_noise`), one number or one per pixel.
    alt : str
        What the figure shows, for readers who cannot see it.
    region : tuple of two slice, optional
        The part of the chip to show (`region_around`); the axes count the chip's pixels.
    normalize : bool, optional
        Divide each flat by the median of ``flat / truth`` over the region first.
    limits : tuple of two floats, optional
        The display interval, in ideal sigmas.

    Raises
    ------
    ValueError
        If no flat is given, a flat's shape differs from the truth's, ``ideal`` is not
        positive, or the region or ``alt`` is invalid.

    See Also
    --------
    compare_with_truth : the same residuals, counted.
    show_block_residuals : the residuals averaged in blocks.

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.ones((20, 20))
    >>> flat = truth.copy()
    >>> flat[5, 5] += 0.01  # a cosmic ray left in: 10 ideal sigmas
    >>> show_residuals({"flat": flat}, truth, ideal=0.001, alt="One hit.")  # doctest: +ELLIPSIS
    {'text/html': '<img src="data:image/png;base64,..." alt="One hit.">', ...}
    """
    _display.check_alt(alt, "show_residuals")
    truth = _pixels.as_float_array(truth)
    flats = _display.flats_like(flats, truth.shape, "show_residuals")
    if not np.all(np.asarray(ideal) > 0):
        raise ValueError("show_residuals: ideal must be positive")
    region, _ = _display.parse_region(region, truth.shape, "show_residuals")
    maps = {
        title: _display.residual_in_sigmas(flat, truth, ideal, region, normalize)
        for title, flat in flats.items()
    }
    options = {"region": region, "label": "residual (ideal sigmas)", "max_pixels": 4096}
    show_panels(maps, alt=alt, limits=limits, **options)


def show_block_residuals(flats, truth, *, alt, size=16, min_fraction=0.5, limits=(-5, 5)):
    """Show each flat's residual from the truth averaged in blocks, in sigmas of a block.

    Each flat is divided by the truth and by the plane that best fits that ratio (a sky's
    gradient, `fit_plane`); what is left is averaged in blocks of ``size`` x ``size``
    pixels, which divides the noise by ``size`` and shows leaks far below a pixel's noise.
    A block's noise comes from the ideal noise of its pixels, divided like the flat by
    the truth and the plane (pixels that kept fewer frames are noisier; pixels no frame
    reached, and NaN pixels, are left out).

    Parameters
    ----------
    flats : dict of str to (numpy.ndarray, numpy.ndarray)
        By title, each flat and its ideal noise per pixel (`ideal_flat_noise` with the
        truth as ``response`` and the flat's ``n_used``).
    truth : numpy.ndarray
        The response the flats should have recovered.
    alt : str
        What the figure shows, for readers who cannot see it.
    size : int, optional
        The side of a block, in pixels.
    min_fraction : float, optional
        A block with fewer than this share of its pixels left is not shown (NaN).
    limits : tuple of two floats, optional
        The display interval, in sigmas of a block.

    Returns
    -------
    dict of str to (numpy.ndarray, numpy.ndarray)
        By title, the block means of the residual (relative: 0.001 is 0.1 %) and their
        ideal noise; the figure shows their ratio.

    Raises
    ------
    TypeError
        If ``size`` is not an integer (a float is refused, never truncated).
    ValueError
        If no flat is given, shapes differ, ``size`` is below 1, ``min_fraction`` is not
        in (0, 1], or ``alt`` is empty.

    See Also
    --------
    block_mean : the block average.
    show_residuals : the residual pixel by pixel.

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.ones((32, 32))
    >>> flat = truth + 0.01 * np.random.default_rng(0).standard_normal(truth.shape)
    >>> blocks = show_block_residuals({"flat": (flat, 0.01)}, truth, alt="Noise.", size=8)
    ... # doctest: +ELLIPSIS
    {'text/html': ...}
    >>> mean, sigma = blocks["flat"]
    >>> mean.shape, round(float(sigma[0, 0]), 5)  # 64 pixels a block: the noise over 8
    ((4, 4), 0.00125)
    """
    size = _display.positive_int(size, "size", "show_block_residuals")
    _display.check_alt(alt, "show_block_residuals")
    if not 0 < min_fraction <= 1:
        raise ValueError(
            f"show_block_residuals: min_fraction must be in (0, 1], got {min_fraction}"
        )
    truth = _pixels.as_float_array(truth)
    pairs = {title: pair[0] for title, pair in flats.items()}
    pairs = _display.flats_like(pairs, truth.shape, "show_block_residuals")
    blocks = {
        title: _display.block_residual(flat, truth, flats[title][1], size, min_fraction)
        for title, flat in pairs.items()
    }
    maps = {title: mean / sigma for title, (mean, sigma) in blocks.items()}
    show_panels(maps, alt=alt, limits=limits, block=size, label="block residual (sigmas)")
    return blocks


def truth_table(flats, truth, *, frames=None, **options):
    """Judge several combined flats against the truth, one row each (`compare_with_truth`).

    Parameters
    ----------
    flats : dict of str to numpy.ndarray or (numpy.ndarray, numpy.ndarray)
        By method, the flat, or the flat and the frames it used at each pixel (its
        ``n_used``, needed for the share of good values rejected).
    truth : numpy.ndarray
        The response the flats should have recovered.
    frames : sequence of str, os.PathLike, numpy.ndarray or astropy.nddata.CCDData, optional
        The frames combined (files, or their pixels in memory, of the truth's shape): adds
        the column of good values rejected (masked for a flat given without its ``n_used``).
    **options
        The keywords of `compare_with_truth` (``levels`` and ``gain`` are required;
        ``read_noise``, ``threshold``, ``remove_plane``, ``ideal_from_counts``).

    Returns
    -------
    astropy.table.Table
        Columns ``method``, ``noise / ideal``, pixels more than ``threshold`` ideal sigmas
        above and below the truth, and with ``frames`` ``good rejected (%)``.

    Raises
    ------
    ValueError
        If no flat is given, a shape differs from the truth's, a level or the gain is not
        positive, or ``threshold`` is not a positive number.
    TypeError
        For a keyword `compare_with_truth` does not have, or without ``levels`` and ``gain``.

    See Also
    --------
    compare_with_truth : one flat, with the largest excess too.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(3)
    >>> truth = np.ones((100, 100))
    >>> flat = truth + rng.normal(0, np.sqrt(2 / 20000) / 2, truth.shape)
    >>> table = truth_table({"mean": flat}, truth, levels=[20000, 20000], gain=1.0)
    >>> print(table["noise / ideal"].round(1)[0], table["> 5 sigma above"][0])
    1.0 0
    """
    truth = _pixels.as_float_array(truth)
    inspect.signature(compare_with_truth).bind(truth, truth, **options)  # unknown: TypeError
    with _options.named("truth_table"):
        threshold = options.get("threshold", 5.0)
        _options.as_number(threshold, "threshold", minimum=0, strict=True)
        _options.as_number(options["gain"], "gain", minimum=0, strict=True)
    pairs = {name: f if isinstance(f, tuple) else (f, None) for name, f in flats.items()}
    _display.flats_like({name: pair[0] for name, pair in pairs.items()}, truth.shape, "truth_table")
    rows = {
        name: compare_with_truth(flat, truth, n_used=n_used, frames=frames, **options)
        for name, (flat, n_used) in pairs.items()
    }
    known = {name: pair[1] is not None for name, pair in pairs.items()}
    return _truth.comparison_table(rows, threshold, known if frames is not None else None)


def show_clip_bands(values, bands, *, alt, title=None):
    """Show one pixel's values, frame by frame, with the band of values each clip keeps.

    Parameters
    ----------
    values : sequence of float
        The pixel's scaled value in each frame.
    bands : dict of str to (float, float)
        By label, the lowest and highest value a clip keeps.
    alt : str
        What the figure shows, for readers who cannot see it.
    title : str, optional
        Title of the axes.

    Raises
    ------
    ValueError
        If there are no values, a value is not finite, a band's low end is above its high
        end, or ``alt`` is empty.

    See Also
    --------
    combine_flats : the clips compared (``stdfunc``).

    Examples
    --------
    >>> bands = {"±5 σ": (0.98, 1.02)}
    >>> show_clip_bands([1.0, 0.99, 1.01], bands, alt="Three values.")  # doctest: +ELLIPSIS
    {'text/html': '<img src="data:image/png;base64,..." alt="Three values.">', ...}
    """
    import matplotlib.pyplot as plt

    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"show_clip_bands: values must be finite numbers, got {values}")
    if not all(low <= high for low, high in bands.values()):
        raise ValueError(f"show_clip_bands: each band must be (low, high), got {bands}")
    _display.check_alt(alt, "show_clip_bands")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    _display.clip_bands(ax, values, bands)
    if title is not None:
        ax.set_title(title)
    show_figure(fig, alt=alt)


# --------------------------------------------------------------------------------------
# Reading and measurement
# --------------------------------------------------------------------------------------


def read_frame(path, *, unit=None, chip=None):
    """Read the image of a FITS file as a CCDData, in ADU when BUNIT is missing.

    ``CCDData.read`` refuses a file without BUNIT, as many cameras write them; this reads
    it in ADU, and understands BUNIT as cameras spell it (``ADU``, ``counts``, ``e-``).
    The WCS is not parsed (a flat needs none), so astropy's notes on non-standard WCS
    keywords (one FITSFixedWarning per file) do not appear.

    Parameters
    ----------
    path : str or os.PathLike
        The FITS file.
    unit : str or astropy.units.Unit, optional
        The unit of the data; default the file's BUNIT, else ``adu``.
    chip : str or int, optional
        For a mosaic camera's file (an empty primary and one image extension per chip):
        the chip to read, by EXTNAME or HDU index.

    Returns
    -------
    astropy.nddata.CCDData
        The image, with the header of its HDU as ``meta`` (keywords it lacks taken from
        the primary header) and FILENAME set.

    Raises
    ------
    ValueError
        If ``unit`` is a string astropy cannot parse as a unit (a Unit object, even an
        unrecognized or scaled one, is taken as given), the file's BUNIT is not a unit
        astropy knows, the file is not a FITS image, or the file holds several chips and
        ``chip`` names none of them (or is not given).
    TypeError
        If ``chip`` is neither a name (str) nor an index (int): ``chip=2.0`` is refused,
        not truncated.
    OSError
        If the file cannot be opened.

    See Also
    --------
    astropy.nddata.CCDData.read : the reader itself.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from astropy.io import fits
    >>> path = Path(tempfile.mkdtemp()) / "flat.fits"
    >>> fits.writeto(path, np.ones((4, 4), np.uint16))
    >>> read_frame(path).unit
    Unit("adu")
    >>> import shutil; shutil.rmtree(path.parent)
    """
    with _options.named("read_frame"):  # the options, before the file is opened
        chip = _frames.parse_chip(chip)
        unit = None if unit is None else u.Unit(unit)
    data, header = _files.read_image(Path(path).expanduser(), chip)
    if unit is None:
        unit = _files.unit_from_header(header, str(path))
    frame = CCDData(data, unit=unit, meta=header)
    frame.meta["FILENAME"] = Path(path).name
    return frame


def mosaic_chips(path):
    """Return the chips of a mosaic camera's file (its image extensions), by name.

    A mosaic camera writes an empty primary header (with the keywords every chip shares)
    and one image extension per chip; `read_frame` and `combine_flats` then need
    ``chip=``, and `combine_flats_by_filter` combines every chip into one file.

    Parameters
    ----------
    path : str or os.PathLike
        A FITS file, any compression.

    Returns
    -------
    list of str
        The chips' names (EXTNAME, else CCDNAME, else ``HDU<n>``), in the file's order;
        an empty list for a file of one image.

    Raises
    ------
    ValueError
        If the file is not FITS (the message names it).
    OSError
        If the file cannot be read.

    See Also
    --------
    read_frame : reads one chip (``chip=``).

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from astropy.io import fits
    >>> path = Path(tempfile.mkdtemp()) / "mosaic.fits"
    >>> chips = [fits.ImageHDU(np.ones((2, 2)), name=f"CCD{k}") for k in range(2)]
    >>> fits.HDUList([fits.PrimaryHDU(), *chips]).writeto(path)
    >>> mosaic_chips(path)
    ['CCD0', 'CCD1']
    >>> import shutil; shutil.rmtree(path.parent)
    """
    return _files.mosaic_chips(Path(path).expanduser(), "mosaic_chips")


def frames_by_filter(folder_or_collection, *, imagetyp):
    """Return the frames of one IMAGETYP in a folder, grouped by FILTER.

    Every FITS file of the folder counts, whatever its extension or compression (or the
    files of an `ccdproc.ImageFileCollection`, such as one built with ``glob_exclude``);
    the keywords are read from each file's image header.  Earlier combined flats
    (COMBINED = True) are left out, so that a flat never goes into its own combination.
    This is the selection `combine_flats_by_filter` makes.

    Parameters
    ----------
    folder_or_collection : str, os.PathLike or ccdproc.ImageFileCollection
        The folder, or a collection of it.
    imagetyp : str
        The IMAGETYP of the frames wanted (compared without case and surrounding spaces).

    Returns
    -------
    dict of str to list of str
        For each FILTER value, in sorted order, the frames' paths, sorted.  Filters with
        no frame of that IMAGETYP are left out.

    Raises
    ------
    ValueError
        If the folder does not exist, no frame has that IMAGETYP and a FILTER (the message
        lists the values seen), two FILTER values differ only in characters FITS does not
        allow, or ``imagetyp`` is not a non-empty string.

    See Also
    --------
    combine_flats_by_filter : combines and writes one flat per FILTER of a folder.
    ccdproc.ImageFileCollection : the table of a folder's headers.

    Examples
    --------
    Three headers are enough to show it (the pixels are not read):

    >>> import tempfile
    >>> from astropy.io import fits
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name, filt in (("a.fits", "V"), ("b.fits", "R"), ("c.fits", "V")):
    ...     fits.PrimaryHDU(header=fits.Header({"IMAGETYP": "FLAT", "FILTER": filt})).writeto(
    ...         folder / name
    ...     )
    >>> groups = frames_by_filter(folder, imagetyp="flat")
    >>> {filt: [Path(p).name for p in paths] for filt, paths in groups.items()}
    {'R': ['b.fits'], 'V': ['a.fits', 'c.fits']}
    >>> import shutil; shutil.rmtree(folder)
    """
    if not isinstance(imagetyp, str) or not imagetyp.strip():
        raise ValueError(f"frames_by_filter: imagetyp must be a non-empty string, got {imagetyp!r}")
    _, groups = _frames.flats_by_filter(folder_or_collection, imagetyp, "frames_by_filter")
    return {filt: [str(path) for path in paths] for filt, paths in sorted(groups.items())}


def fits_files(folder):
    """Return the names of a folder's FITS files, whatever they are called, for a collection.

    `ccdproc.ImageFileCollection` finds files by their extension, in lower case only:
    ``FLAT_001.FIT``, ``flat.FITS.GZ`` or a file without extension are not in its table.
    This function opens each file that is not hidden instead, and keeps those astropy
    reads as FITS (any compression), leaving out combined flats (COMBINED = True, or
    NCOMBINE above 1), so that a flat never goes into its own combination.  Pass the
    names to the collection: ``ImageFileCollection(folder, filenames=fits_files(folder))``.

    Parameters
    ----------
    folder : str or os.PathLike
        The folder (``~`` is the home folder).

    Returns
    -------
    list of str
        File names (without the folder), sorted.

    Raises
    ------
    ValueError
        If ``folder`` is not a folder, or a FITS file in it cannot be read (the message
        names the file).

    See Also
    --------
    frames_by_filter : the frames of one IMAGETYP, grouped by FILTER.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from astropy.io import fits
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("FLAT_1.FIT", "flat2", "flat3.fits"):
    ...     fits.writeto(folder / name, np.zeros((2, 2)))
    >>> _ = (folder / "log.txt").write_text("clear")
    >>> fits_files(folder)
    ['FLAT_1.FIT', 'flat2', 'flat3.fits']
    >>> import shutil; shutil.rmtree(folder)
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ValueError(f"fits_files: {folder} is not a folder")
    return _frames.fits_names(folder)


def inv_median(data):
    """Return the inverse of the median of the finite pixels of an image.

    This is the usual scaling for flat frames: multiplying a flat by ``inv_median(flat)``
    brings its median to 1.  `combine_flats` scales every frame this way.

    Parameters
    ----------
    data : numpy.ndarray, astropy.units.Quantity or astropy.nddata.CCDData
        The image.  Masked CCDData pixels and non-finite pixels are ignored.

    Returns
    -------
    float
        ``1 / median`` over the finite pixels.

    Raises
    ------
    ValueError
        If no pixel is finite, or the median is zero or negative.

    See Also
    --------
    numpy.median : the median itself (NaN as soon as one pixel is NaN).
    combine_flats : scales each flat by its inverse median before rejecting outliers.

    Examples
    --------
    >>> import numpy as np
    >>> inv_median(np.array([[2.0, 4.0], [np.nan, 5.0]]))
    0.25
    """
    return _pixels.inverse_median(data)


class TruthComparison(NamedTuple):
    """Result of `compare_with_truth` (residuals in units of the ideal noise)."""

    noise_ratio: float
    n_high: int
    n_low: int
    largest_excess: float
    good_rejected: float


def compare_with_truth(
    flat,
    truth,
    *,
    levels,
    gain,
    read_noise=0.0,
    threshold=5.0,
    frames=None,
    n_used=None,
    remove_plane=False,
    ideal_from_counts=False,
):
    """Compare a combined flat with the response it should have recovered.

    Only simulated data have a truth (`example_data.true_flat`).  Residuals, flat minus
    truth, are measured in units of the *ideal* noise of a combined flat: the Poisson and
    read noise of all frames averaged with nothing rejected.  A perfect combination has
    residuals of unit spread.

    Parameters
    ----------
    flat, truth : numpy.ndarray or astropy.nddata.CCDData
        The combined flat and the true response, both normalised to median 1.
    levels : sequence of float
        The level (median, ADU) of each frame that went into the flat.
    gain : float
        Gain in electrons per ADU.
    read_noise : float, optional
        Read noise in electrons.
    threshold : float, optional
        Residuals beyond this many ideal sigmas count as outliers (left out of the noise).
    frames : sequence of str, os.PathLike, numpy.ndarray or astropy.nddata.CCDData, optional
        The frames combined, in the order of ``levels`` (files, or their pixels in memory,
        of the truth's shape): to count good values rejected.
    n_used : numpy.ndarray, optional
        Survivors per pixel (``return_counts`` of `combine_flats`), with ``frames``.
    remove_plane : bool, optional
        First divide the flat by the plane that best fits ``flat / truth``: a twilight
        sky's gradient, an error of the illumination, is then left out.
    ideal_from_counts : bool, optional
        The ideal noise of each pixel is that of the ``n_used`` frames it averages (times
        sqrt(N / n_used)): for a sky flat, where a pixel misses the frames in which a
        source covered it.  Pixels no frame reached are left out.

    Returns
    -------
    TruthComparison
        ``noise_ratio`` (spread of the residuals within the threshold over the ideal; 1 is
        perfect), ``n_high`` and ``n_low`` (pixels beyond the threshold), ``largest_excess``
        (of ``flat / truth - 1``) and ``good_rejected`` (share of values rejected where no
        frame deviates from the truth beyond the threshold; NaN without ``frames``).

    Raises
    ------
    ValueError
        If the shapes differ, no level is given, gain or a level is not positive, or
        ``ideal_from_counts`` is asked for without ``n_used``.

    See Also
    --------
    noise_budget : the same noise measured without knowing the truth.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(3)
    >>> truth = np.ones((100, 100))
    >>> ideal = np.sqrt(2 / 20000) / 2  # two frames of 20000 ADU, gain 1
    >>> flat = truth + rng.normal(0, ideal, truth.shape)
    >>> flat[5, 5] += 0.05  # a cosmic ray left in
    >>> result = compare_with_truth(flat, truth, levels=[20000, 20000], gain=1.0)
    >>> round(result.noise_ratio, 2), result.n_high
    (1.0, 1)
    """
    noise = {"levels": levels, "gain": gain, "read_noise": read_noise}
    counts = {"frames": frames, "n_used": n_used, "ideal_from_counts": ideal_from_counts}
    with _options.named("compare_with_truth"):
        flat, truth = _pixels.as_float_array(flat), _pixels.as_float_array(truth)
        return TruthComparison(*_truth.compare(flat, truth, noise, threshold, remove_plane, counts))


def fit_plane(image, *, step=8):
    """Return the plane ``a + b x + c y`` that best fits an image's finite pixels.

    A flat made of sky light (twilight or night) records the sky's gradient as if it
    were the telescope's; dividing ``flat / truth`` (or one flat by another) by its
    plane leaves the errors on smaller scales.  The fit is by least squares, on every
    ``step``-th row and column: with three numbers to fit over so many pixels, a few
    outliers barely move it.

    Parameters
    ----------
    image : numpy.ndarray
        A 2-D image; NaN pixels are left out of the fit.
    step : int, optional
        Fit every ``step``-th row and column (1 for all).

    Returns
    -------
    numpy.ndarray of float32
        The plane, at the image's full size.

    Raises
    ------
    TypeError
        If ``step`` is not an integer (a float is refused, never truncated).
    ValueError
        If the image is not 2-D, has fewer than three finite sampled pixels, or ``step``
        is below 1.

    See Also
    --------
    compare_with_truth : divides by this plane with ``remove_plane=True``.

    Examples
    --------
    A gradient of 1 % along x, with one dead column (NaN) and noise:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> yy, xx = np.mgrid[0:64, 0:128]
    >>> image = 1 + 0.01 * xx / 127 + rng.normal(0, 0.001, xx.shape)
    >>> image[:, 40] = np.nan
    >>> plane = fit_plane(image, step=1)  # every pixel: a small image
    >>> print(f"{plane[0, 0]:.3f} {plane[0, 127]:.3f}")
    1.000 1.010
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"fit_plane: the image must be 2-D, got shape {image.shape}")
    with _options.named("fit_plane"):
        step = _options.as_whole(step, "step", 1)
    if np.count_nonzero(np.isfinite(image[::step, ::step])) < 3:
        raise ValueError("fit_plane: fewer than 3 finite pixels to fit")
    return _pixels.fit_plane(image, step)


def ideal_flat_noise(levels, *, gain, read_noise=0.0, response=1.0, n_used=None):
    """Return the noise of a perfect combined flat, relative to a level of 1.

    A perfect combination averages every frame's scaled value with nothing rejected.
    Frame *i*, at level ``L_i`` (ADU), records at a pixel of relative response ``t``
    about ``t L_i g`` electrons, with Poisson and read noise; scaled by ``1 / L_i`` its
    value has variance ``(t L_i / g + (r / g)**2) / L_i**2``, and the mean of *N* frames
    the sum of those over ``N**2``.  This is the yardstick of `compare_with_truth`, and
    the noise a combined flat's pixel-to-pixel scatter should approach.

    Parameters
    ----------
    levels : sequence of float
        The level (median, ADU) of each frame combined.
    gain : float or astropy.units.Quantity
        Gain in electrons per ADU.
    read_noise : float or astropy.units.Quantity, optional
        Read noise in electrons.
    response : float or numpy.ndarray, optional
        The relative response ``t`` (e.g. a true flat, median 1); negative values count
        as 0.
    n_used : numpy.ndarray, optional
        The number of frames averaged at each pixel (``return_counts`` of `combine_flats`
        or `combine_sky_flats`): the noise grows as ``sqrt(N / n_used)``, infinite where no
        frame was averaged.

    Returns
    -------
    float or numpy.ndarray
        The standard deviation of the combined flat, relative (0.001 is 0.1 %): a float
        for a scalar ``response`` without ``n_used``, else an array.

    Raises
    ------
    ValueError
        If no level is given, a level, the gain or the read noise is not a finite positive
        number (the read noise may be 0), ``n_used`` holds anything but counts from 0 to
        the number of levels, or ``response`` and ``n_used`` have different shapes.

    See Also
    --------
    compare_with_truth : residuals of a flat in units of this noise.
    noise_budget : the noise of a flat measured without knowing the truth.

    Examples
    --------
    Three frames of about 20,000 ADU at a gain of 2 e-/ADU: each holds some 40,000
    electrons, 0.5 % of noise, and their mean 0.5 % / sqrt(3):

    >>> round(100 * ideal_flat_noise([20000, 20000, 20000], gain=2.0), 3)
    0.289
    """
    with _options.named("ideal_flat_noise"):  # every input checked before any work
        levels, gain, read_noise, response, n_used = _truth.parse_noise_inputs(
            levels, gain, read_noise, response, n_used
        )
    ideal = _truth.ideal_noise(response, levels, gain, read_noise, n_used)
    return float(ideal) if np.ndim(ideal) == 0 else ideal


def block_mean(image, size, *, return_counts=False):
    """Average an image in blocks of ``size`` x ``size`` pixels, ignoring NaN.

    Averaging *n* pixels lowers their noise sqrt(n) times, so structure far below the
    noise of single pixels (a faint halo, a residual of a few hundredths of a per cent)
    stands out in the block means.  Blocks at the top and right edges that the image does
    not fill are averaged over the pixels it has.

    Parameters
    ----------
    image : numpy.ndarray, astropy.units.Quantity or astropy.nddata.CCDData
        A 2-D image; NaN, infinite and masked pixels are left out.
    size : int
        The side of a block, in pixels.
    return_counts : bool, optional
        Also return the number of pixels averaged in each block.

    Returns
    -------
    means : numpy.ndarray of float64
        Shape ``(ceil(ny / size), ceil(nx / size))``; NaN where a block has no finite pixel.
    counts : numpy.ndarray of int
        Only with ``return_counts=True``: the pixels averaged in each block.

    Raises
    ------
    TypeError
        If ``size`` is not an integer (a float is refused, never truncated).
    ValueError
        If the image is not 2-D or ``size`` is below 1.

    See Also
    --------
    show_image : averages large images in blocks for display.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.arange(16.0).reshape(4, 4)
    >>> image[0, 1] = np.nan
    >>> means, counts = block_mean(image, 2, return_counts=True)
    >>> means
    array([[ 3. ,  4.5],
           [10.5, 12.5]])
    >>> counts
    array([[3, 4],
           [4, 4]])
    """
    with _options.named("block_mean"):
        size = _options.as_whole(size, "size", 1)
    values = _pixels.as_float_array(image)
    if values.ndim != 2:
        raise ValueError(f"block_mean: the image must be 2-D, got shape {values.shape}")
    values = np.where(np.isfinite(values), values, np.nan)  # infinities count as missing
    means, counts = _pixels.block_mean(values, int(size), np.float64, counts=True)
    return (means, counts) if return_counts else means


def pixel_scatter(image, *, region=None):
    """Return the pixel-to-pixel scatter of an image, free of its smooth structure.

    The scatter is the robust standard deviation (`astropy.stats.mad_std`) of the
    differences between horizontally neighbouring pixels, divided by sqrt(2).  Anything
    that changes slowly across the image (illumination, vignetting, a sky gradient)
    cancels in those differences, so what is measured is the part of the image that
    differs from one pixel to the next: noise, plus any pixel-to-pixel pattern such as
    differences in sensitivity.  Outliers (cosmic rays, stars) do not count.

    Parameters
    ----------
    image : numpy.ndarray, astropy.units.Quantity or astropy.nddata.CCDData
        A 2-D image.  Non-finite and masked pixels are ignored.
    region : tuple of slice, optional
        The part of the image to use, e.g. ``np.s_[1500:2500, 500:1500]``; default all.

    Returns
    -------
    float
        The scatter, in the units of the image.

    Raises
    ------
    ValueError
        If the image (or region) is not 2-D or has fewer than 10 finite neighbour pairs.

    See Also
    --------
    noise_budget : splits the scatter of flats into pattern and noise.
    astropy.stats.mad_std : the robust standard deviation used here.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> ramp = np.linspace(0, 100, 200)[np.newaxis, :] + rng.normal(0, 2.0, (200, 200))
    >>> round(pixel_scatter(ramp), 1)  # the ramp cancels, the noise of 2 remains
    2.0
    """
    return _pixels.pixel_scatter(image, region)


class NoiseBudget(NamedTuple):
    """Result of `noise_budget`: relative pixel noise of one flat, pattern, combined flat."""

    frame_noise: float
    pattern: float
    combined_noise: float


def noise_budget(first, second, *, combined=None, region=None):
    """Split the pixel-to-pixel scatter of flats into sensitivity pattern and noise.

    The scatter from one pixel to the next (`pixel_scatter`) is the pixel-to-pixel pattern
    the flat should record and noise, added in quadrature.  Two scaled flats of one filter
    share the pattern, so their difference is noise, sqrt(2) times one flat's; the pattern
    is the rest of one flat's scatter, the combined flat's noise the rest of its own.

    Parameters
    ----------
    first, second : numpy.ndarray, astropy.units.Quantity or astropy.nddata.CCDData
        Two flats of the same filter and shape, at any level: each is scaled by
        `inv_median` over its whole area.
    combined : numpy.ndarray, astropy.units.Quantity or astropy.nddata.CCDData, optional
        A combined flat of the same filter, scaled the same way.
    region : tuple of slice, optional
        The part of the images to measure, e.g. ``np.s_[1500:2500, 500:1500]``; best
        away from the edges.  Default: the whole image.

    Returns
    -------
    NoiseBudget
        ``frame_noise`` (noise of one flat), ``pattern`` and ``combined_noise`` (NaN
        without ``combined``), all relative to a level of 1.  A part that the measurement
        cannot tell from zero (negative difference of squares) is returned as 0.

    Raises
    ------
    ValueError
        If the images differ in shape, or from `inv_median` and `pixel_scatter`.

    See Also
    --------
    pixel_scatter : the scatter of one image.

    Notes
    -----
    The subtraction of squares is imprecise when the noise is much smaller than the
    pattern: then compare two flats combined from independent halves of the frames.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(2)
    >>> pattern = 1 + 0.004 * rng.standard_normal((300, 300))
    >>> a, b = (1000 * pattern * (1 + 0.003 * rng.standard_normal((300, 300))) for _ in "ab")
    >>> budget = noise_budget(a, b)
    >>> round(budget.frame_noise, 4), round(budget.pattern, 4)
    (0.003, 0.004)
    """
    region = region if region is not None else (slice(None), slice(None))
    shape = np.shape(_pixels.as_float_array(first))

    def scaled(image, name):
        values = _pixels.as_float_array(image)
        if values.shape != shape:
            raise ValueError(f"noise_budget: the {name} flat has shape {values.shape}, not {shape}")
        return values[region].astype(np.float64) * inv_median(values)

    a, b = scaled(first, "first"), scaled(second, "second")
    frame_noise = pixel_scatter(a - b) / math.sqrt(2)
    pattern = math.sqrt(max(pixel_scatter(a) ** 2 - frame_noise**2, 0.0))
    combined_noise = math.nan
    if combined is not None:
        combined_noise = pixel_scatter(scaled(combined, "combined")) ** 2 - pattern**2
        combined_noise = math.sqrt(max(combined_noise, 0.0))
    return NoiseBudget(frame_noise, pattern, combined_noise)


def compare_halves(first, second, *, expected, region=None, block=64, tolerance=0.001):
    """Judge a flat without a truth: the flats of its odd and even frames compared.

    Combine the odd-numbered frames and the even-numbered ones apart: the two flats record
    the same response and differ by their noise, and by whatever changed between the
    frames (a light leak, moonlight, a drifting gradient).  Their
    ratio, normalised to a median of 1, should then show (1) a pixel-to-pixel scatter
    (`pixel_scatter`) equal to the noise the frames predict, the two halves' ideal noises
    (`ideal_flat_noise`) added in quadrature, and (2) means in blocks of ``block`` x
    ``block`` pixels within ``tolerance`` of 1 (noise alone leaves ``expected / block``
    there).  The halves agree when the scatter lies within 0.9 and 1.1 times the expected
    and the blocks' rms is at most three times what noise leaves.  A scatter above says a
    gain taken too large or outliers left in a half; below, halves that share frames or
    an expected noise overestimated.  Blocks above that are a real large-scale difference
    (a frame lit differently, a sky that changed), reported "within" or "above" the
    ``tolerance`` the observer accepts.  The scatter is robust, so a few stars or rays
    left in a half do not count.

    Parameters
    ----------
    first, second : numpy.ndarray, astropy.units.Quantity or astropy.nddata.CCDData
        The flats of the two halves (any level; masked and NaN pixels are ignored).
    expected : float or numpy.ndarray
        The ratio's expected noise, relative (0.001 is 0.1 %), at each pixel or for all;
        in an array, infinite where no frame saw the pixel (left out).
    region : tuple of slice, optional
        The part measured, e.g. ``np.s_[1000:3000, 1000:3000]``; default all.
    block : int, optional
        Side of the blocks of the large-scale comparison, pixels.
    tolerance : float, optional
        The large-scale difference (rms of the block means, relative) accepted; the
        verdict says whether a difference lies within or above it.

    Returns
    -------
    HalvesComparison
        Named tuple: ``noise`` and ``expected`` (the ratio's pixel noise, measured and
        predicted), ``blocks`` and ``blocks_expected`` (rms of its block means about 1,
        measured and from noise alone), ``tolerance`` and ``verdict`` (words).

    Raises
    ------
    TypeError
        If ``tolerance`` is not a number or ``block`` not an integer (a float is refused,
        never truncated).
    ValueError
        If the flats are not 2-D images of one shape, the region holds fewer than 2 x 2
        blocks or has fewer than half its pixels finite in the ratio, ``expected`` is not
        positive and finite (NaN, or infinite as a number), ``block`` is below 2 or
        ``tolerance`` is negative.

    See Also
    --------
    noise_budget : the noise of a flat from two frames and their pattern.
    compare_with_truth : the same flat judged against a known response.

    Examples
    --------
    Two halves of three frames each at 20,000 ADU and 2 e-/ADU: 0.29 % each, 0.41 % in
    their ratio.

    >>> import numpy as np
    >>> rng = np.random.default_rng(2)
    >>> response = 1 + 0.01 * rng.standard_normal((256, 256))
    >>> expected = np.hypot(*[ideal_flat_noise([20000] * 3, gain=2.0)] * 2)
    >>> odd, even = (response * (1 + rng.normal(0, expected / 2**0.5, (256, 256))) for _ in "ab")
    >>> check = compare_halves(odd, even, expected=expected)
    >>> round(check.noise / check.expected, 1), check.verdict
    (1.0, 'the halves agree')
    """
    with _options.named("compare_halves"):
        return _quality.compare_halves(first, second, expected, region, block, tolerance)


# --------------------------------------------------------------------------------------
# Combination
# --------------------------------------------------------------------------------------


def check_flats(images, *, mem_limit=350e6, chip=None):
    """Check each flat frame against the others before combining them: a table of verdicts.

    Each frame is read whole once and judged by what makes a flat frame unfit, whatever
    the clip of each pixel does: a frame that is wrong *everywhere* is not an outlier at
    any single pixel of a few frames, so it has to be found whole.

    - **Saturation**: the share of its pixels at or above its SATURATE keyword (NaN when
      there is none).  Above 1 % the frame fails: it was exposed too long, and the
      pixels just below saturation are no longer linear either.
    - **Large-scale structure**: the frame and the median of all the frames are each
      reduced to a coarse map (the median of each of about 32 x 32 blocks, over the
      frame's median); their ratio is 1 everywhere for frames of one illumination.  A
      plane is fitted to it (twice, the second time without the blocks a star spoils):
      a rise across the frame above 3 % (``plane``) fails the frame (a gradient, a light
      leak, moonlight, a twilight sky that changed); the largest median departure from
      the plane over a sixteenth of the frame (4 x 4 regions) above 1 % (``residual``)
      fails it too.  The median of all the frames is not moved while fewer than half of
      them are bad.
      With fewer than 3 frames, or frames under 32 pixels a side, there is nothing to
      compare (NaN).

    These limits sit above what good frames show (the course's dome and twilight flats
    0.1 % at most, its night-sky frames up to 1 % of plane, as the sky's own gradient
    turns during the night) and below what spoils a flat: a frame 3 % off carries
    0.6 % into a mean of five.  The level and exposure are listed for choosing
    twilight frames (see notebook 02), not judged.  On a real sky, mind two things: a
    wide field's twilight gradient reaches 1-2 % across the chip and turns between dusk
    and dawn, so check and combine evening and morning flats apart; and the saturation
    count compares with SATURATE as the header gives it, so in bias-subtracted frames
    set SATURATE to the level that is saturated there.

    Parameters
    ----------
    images : sequence of str, os.PathLike or astropy.nddata.CCDData
        The flats of one filter and one shape, as for `combine_flats`.
    mem_limit : float, optional
        Memory budget in bytes, as for `combine_flats`.
    chip : str or int, optional
        The chip to check in a mosaic camera's files, as for `combine_flats`.

    Returns
    -------
    astropy.table.Table
        One row per frame: ``file``, ``filter``, ``exptime`` (s, EXPTIME or EXPOSURE),
        ``level`` (its median, adu), ``saturated``, ``plane`` and ``residual`` (%),
        ``verdict`` (``'ok'`` or ``'leave out'``) and ``reason`` (empty when ok).

    Raises
    ------
    ValueError
        No frame, different shapes or FILTER values, a frame whose median is not
        positive, an unreadable file (the message names it), or a ``mem_limit`` too small.
    TypeError
        Inputs that are neither paths nor CCDData, a ``mem_limit`` not a number, or a
        ``chip`` neither a name nor an index (``chip=2.0``).
    OSError
        If a file cannot be opened.

    See Also
    --------
    combine_flats : runs these checks and leaves out the frames that fail.

    Examples
    --------
    Five flats, one of them with a light leak rising to 10 % at its right edge:

    >>> from example_data.synthetic import make_flats_with_rays, spoil_frame
    >>> frames = make_flats_with_rays(5, shape=(128, 128)).frames
    >>> frames[3] = spoil_frame(frames[3], "leak", 0.10)
    >>> table = check_flats(frames)
    >>> table["verdict"].tolist()
    ['ok', 'ok', 'ok', 'leave out', 'ok']
    >>> print(table["reason"][3])
    a gradient of 9.4% against the median frame; a smooth structure of 1.0% against the median frame
    """
    method = "check_flats"
    with _options.named(method):
        mem_limit, dtype = _options.parse_mem_limit(mem_limit), np.dtype(np.float32)
        chip = _frames.parse_chip(chip)
    with _frames.frames_stack() as stack:
        frames = _frames.open_frames(images, stack, chip)
        _stack.check_frames(frames, _checks.NO_REJECTION, method)
        with _options.named(method):
            plan = _stack.plan_memory(frames[0].shape, len(frames), dtype, mem_limit)
        surveys = _frames.map_frames(_checks.survey_frame, frames, plan, dtype, with_frame=True)
    verdicts = _checks.judge_frames(surveys, [frame.label for frame in frames])
    return _checks.check_table(frames, surveys, verdicts)


def combine_flats(
    images,
    *,
    sigma_lower=8.0,
    sigma_upper=5.0,
    cenfunc="median",
    stdfunc="avsigclip",
    gain=None,
    read_noise=None,
    sensitivity_noise=0.0,
    grow=0.0,
    keep_bad_frames=False,
    chip=None,
    mem_limit=350e6,
    dtype=np.float32,
    return_counts=False,
):
    """Combine flat frames of one filter: scale, reject outliers, average, normalise.

    The method, step by step:

    1. Open the frames and check that they can be combined (one shape, one FILTER).
    2. Compute each frame's inverse median (`inv_median`) and check each frame against
       the others (`check_flats`): the first read of each frame.  A frame that fails is
       left out, with a warning that names it and says why.
    3. Read blocks of rows of every frame (the second and last read).  Multiply each
       frame's values by its inverse median, *then* reject, pixel by pixel, the values
       more than ``sigma_upper`` expected spreads above (or ``sigma_lower`` below) the
       centre of that pixel's scaled values, and average the survivors.  Scaling first
       matters: ``ccdproc.combine`` clips the unscaled frames, where the spread of flat
       levels hides outliers.
    4. Divide the result by its own median, so that its median is 1, and mask its bad
       pixels (dead, hot, low, bad columns, below 0.1: see the Notes).
    5. Describe the combination in the header.

    The expected spread of a value (``stdfunc``) is, by default, that of the CCD's
    noise model, Poisson noise of the detected electrons: for frame *i* at level
    ``L_i`` (its median, ADU) and a pixel whose scaled values centre on ``c``, the
    variance of the scaled value is ``k c / L_i``.  With ``'avsigclip'`` (IRAF's idea,
    the default of its ``flatcombine``) ``k``, the inverse gain, is measured from the
    scatter of the values themselves, pooled over each block of rows (thousands of
    pixels), so no header keyword is needed and three frames suffice; one frame that is
    wrong everywhere cannot inflate it (see the Notes).  With
    ``'ccdclip'`` the spread comes from the gain ``g`` and read noise ``r``:
    ``sqrt(c L_i / g + (r / g)**2 + (s c L_i)**2) / L_i``.  ``'mad_std'`` and ``'std'``
    estimate it from the values of each pixel alone, which is poor with few frames.

    Memory stays within ``mem_limit`` (outputs included); two threads share the work.

    Parameters
    ----------
    images : sequence of str, os.PathLike or astropy.nddata.CCDData
        The flats, all of one filter and one shape.  Files may be plain, tile compressed,
        or gzip or bzip2 compressed (expanded once into a temporary file, removed at the
        end); their image HDU is used (keywords it lacks are taken from the primary
        header).  A file of several chips, a mosaic camera's, needs ``chip``.  NaN and
        masked pixels are ignored.  Files are never modified.
    sigma_lower, sigma_upper : float or None, optional
        Rejection thresholds below and above the centre, in expected spreads; ``None``
        rejects nothing on that side (both ``None``: a plain average).  Outliers in flats
        add light (cosmic rays, stars, satellites), so the low threshold is looser: see
        the Notes.
    cenfunc : {'median', 'mean'}, optional
        Centre of the scaled values of a pixel.
    stdfunc : {'avsigclip', 'ccdclip', 'mad_std', 'std'}, optional
        The expected spread, as described above; ``'mad_std'`` and ``'std'`` are those of
        `astropy.stats.sigma_clip`.
    gain : float or astropy.units.Quantity, optional
        Gain in electrons per ADU for ``'ccdclip'``; default each frame's GAIN keyword.
        Frames in electrons (BUNIT) have a gain of 1.
    read_noise : float or astropy.units.Quantity, optional
        Read noise in electrons for ``'ccdclip'``; default each frame's RDNOISE keyword.
    sensitivity_noise : float, optional
        ``s`` above: a noise proportional to the signal, for ``'ccdclip'``.
    grow : float, optional
        IRAF's ``grow``: a radius in pixels; every value of a frame within it of one of
        that frame's rejected values is rejected too (the faint wings of stars and
        cosmic rays).  The growth stays within each block of rows of the combination.
        0 (the default) grows nothing.
    keep_bad_frames : bool, optional
        Combine the frames that fail the checks of `check_flats` all the same (with the
        warning); by default they are left out.
    chip : str or int, optional
        The chip to combine from files of a mosaic camera (one image extension per chip):
        its EXTNAME (compared without case) or its HDU index.  `combine_flats_by_filter`
        combines every chip.
    mem_limit : float, optional
        Memory budget in bytes for the arrays this function allocates, outputs included.
    dtype : numpy dtype, optional
        float32 or float64: the working precision and the output precision.
    return_counts : bool, optional
        Also return the number of surviving frames per pixel.

    Returns
    -------
    combined : astropy.nddata.CCDData
        Dimensionless, median 1.  ``uncertainty`` is a StdDevUncertainty, normalised like
        the data: for the noise models the model's standard deviation of the mean of the
        survivors; for ``'mad_std'`` and ``'std'`` the survivors' sample standard
        deviation over sqrt(n) (NaN where one frame survived).  ``mask`` is True where no
        frame survived (the data are NaN there) and at the bad pixels (see the Notes).
        The header has IMAGETYP and FILTER of the first frame, NCOMBINE, IMCMB001...
        (the names of the frames combined), COMBINED = True, NREJECT, the rejection
        (REJECT, REJLSIG, REJHSIG, REJCEN, REJGROW, and REJGAIN, REJRDN, REJSNOIS for the
        noise models, REJGAIN being measured for ``'avsigclip'``), the frames left out
        (NLEFTOUT, LEFT001..., and why in HISTORY), the bad pixels (NBADPIX, BPFLOOR,
        BPSIGMA, BPSPREAD) and a HISTORY line.
    n_used : numpy.ndarray of uint16
        Only with ``return_counts=True``: the number of frames that survived per pixel.

    Raises
    ------
    ValueError
        For input that cannot be combined: no frame, fewer than 3 frames with rejection,
        different shapes or FILTER values, an unreadable or non-FITS file, a frame whose
        median is not positive, option values out of range, GAIN or RDNOISE missing or
        not positive for ``'ccdclip'`` (or given with another ``stdfunc``), or a
        ``mem_limit`` too small (the message gives the minimum).  Every message names the frame.
    TypeError
        Options of the wrong type (``sigma_upper=True``, ``mem_limit='1e9'``, ``chip=2.0``),
        or inputs that are neither paths nor CCDData.
    OSError
        If a file cannot be opened (missing, not readable).

    Warns
    -----
    UserWarning
        When a file is given twice, or the frames differ in IMAGETYP or unit; and for
        each frame that fails the checks of `check_flats`, naming it and the reason.

    See Also
    --------
    check_flats : the checks of each frame, as a table.
    combine_flats_by_filter : one combined flat per FILTER of a folder, written to disk.
    inv_median : the scaling of each frame.
    ccdproc.combine : the general combiner, which clips before it scales.
    astropy.stats.sigma_clip : the MAD and std clips of a stack in memory.

    Notes
    -----
    With few frames the MAD of the values at a pixel is a rough estimate of their
    spread: a 5-spread MAD clip of three frames rejects about 7 % of good values and
    misses many cosmic rays, and the standard deviation cannot reject anything until
    N >= 24 (among N values none can lie more than N / sqrt(N - 1) standard deviations from
    their median).  The
    noise models do not have this problem.  For ``'avsigclip'`` the scale is measured
    on the rows of each block, so another ``mem_limit`` (other blocks) can reject a value
    that lies at a threshold differently, and gives an uncertainty that differs by up
    to a few per cent (the uncertainty comes from the measured scale); the data of a
    well-sampled flat are the same to the last digits or nearly.

    With a noise model, a pixel whose values would all be rejected keeps them all
    (IRAF's ``nkeep``); with ``'mad_std'`` and ``'std'`` it is masked, as in astropy.

    The two thresholds differ (IRAF's ``lsigma`` and ``hsigma``) because every outlier
    of a flat adds light: cosmic rays, stars, satellite trails.  Low values are noise,
    and rejecting one leaves the higher values, so the pixel comes out high.  With
    three frames a 5-spread low threshold does that to about 2 pixels in 100,000, some
    of them 6 ideal spreads high; at 8 spreads it never happens, yet a frame with a
    broken readout (values near 0) is still rejected.

    A frame wrong everywhere (a light leak, a gradient, an over-exposure) is in every
    pixel's scatter, so ``'avsigclip'`` measures its scale also with each frame left out
    in turn and, when the scale of all the frames is more than 10 % above the smallest of
    those, uses that one: the bad frame is then rejected where it departs, instead of
    widening the clip for all.  On good frames the scale is that of all the frames, as
    before.  The checks of `check_flats` leave such a frame out before that.

    The bad pixels are found in the combined flat itself: a pixel more than 6 spreads
    from the median of its four neighbours along the row (the spread being the flat's
    pixel-to-pixel ``mad_std`` about them), a column segment of 32 rows whose mean
    departs by more than 6 of its spreads and 1.5 %, and every pixel below 0.1 (BPFLOOR)
    or not finite.  Their data are left as they are; only ``mask`` marks them.
    `ccdproc.ccdmask` is the standard tool of the same idea, for the ratio of two flats.

    Examples
    --------
    Three 4 x 4 flats at different levels; one has a cosmic ray at pixel (2, 1):

    >>> import numpy as np
    >>> from astropy.nddata import CCDData
    >>> rng = np.random.default_rng(0)
    >>> frames = [
    ...     CCDData(rng.normal(level, np.sqrt(level), (4, 4)), unit="adu")
    ...     for level in (20000.0, 25000.0, 30000.0)
    ... ]
    >>> frames[1].data[2, 1] += 3000
    >>> flat, n_used = combine_flats(frames, return_counts=True)
    >>> float(np.median(flat.data))
    1.0
    >>> int(n_used[2, 1]), int(n_used.sum())
    (2, 47)
    """
    method = "combine_flats"
    clip, dtype, mem_limit, keep = _combine_options(  # checked before a frame is opened
        method,
        (sigma_lower, sigma_upper, cenfunc, stdfunc, sensitivity_noise, gain, read_noise, grow),
        dtype,
        mem_limit,
        keep_bad_frames,
    )
    with _options.named(method):
        chip = _frames.parse_chip(chip)
    with _frames.frames_stack() as stack:
        # 1. Open the frames (their headers) and check that they can be combined.
        frames = _frames.open_frames(images, stack, chip)
        _stack.check_frames(frames, clip, method)
        with _options.named(method):  # GAIN and RDNOISE of each frame, the memory plan
            noise = _rejection.frame_noise(frames, clip)
            plan = _stack.plan_memory(frames[0].shape, len(frames), dtype, mem_limit)
        # 2. The inverse median and checks of each frame (the first read of each).
        good = _checks.screen(frames, plan, dtype, noise, keep, 3 if clip.rejects else 1, method)
        model = _rejection.noise_model([1.0 / scale for scale in good.scales], clip, good.noise)
        # 3. Scale, reject and average, block of rows by block of rows (the second read).
        result = _stack.combine_rows(good.frames, good.scales, clip, model, plan, dtype)
    # 4. Normalise to median 1, mask bad pixels; 5. describe the combination in the header.
    header = _stack.flat_header(good.frames, clip, model, result)
    _checks.record_left_out(header, good.left_out)
    combined = _stack.finish_flat(result, header, plan, dtype, method)
    return (combined, result.n_used) if return_counts else combined


# The rejection options of combine_flats, in the order of `_flat_engine.rejection.parse_clip`.
_CLIP_OPTIONS = "sigma_lower sigma_upper cenfunc stdfunc sensitivity_noise gain read_noise grow"
_CLIP_OPTIONS = _CLIP_OPTIONS.split()


def _combine_options(method, clip_options, dtype, mem_limit, keep):
    """Check the options of `combine_flats`; return the `Clip`, dtype, memory and keep."""
    with _options.named(method):
        clip = _rejection.parse_clip(*clip_options)
        mem_limit = _options.parse_mem_limit(mem_limit)
        return clip, _options.parse_dtype(dtype), mem_limit, _checks.parse_keep(keep)


def ccdproc_recipe(images, *, scale=True, spelling="correct", mem_limit=350e6, dtype=None):
    """Combine flats with `ccdproc.combine` as the CCD Data Reduction Guide does.

    The guide's recipe: each frame scaled by its inverse median *when it is averaged*
    (ccdproc clips the frames as they are, before scaling), values more than 5 spreads
    from the median of a pixel's values rejected, the survivors averaged.  The result is
    divided by its median, as a flat must be.  Notebook 01 writes the recipe step by
    step; this function is that recipe, called wherever the course compares with it.

    Parameters
    ----------
    images : sequence of str, os.PathLike or astropy.nddata.CCDData
        The flats of one filter.  Files are read (and read again, piece by piece, within
        ``mem_limit``) by ccdproc; those without BUNIT are read as ADU.
    scale : bool, optional
        Pass ``scale=inv_median`` to ccdproc (the guide); False for frames already scaled.
    spelling : {'correct', 'guide'}, optional
        ``'correct'``: the spread is ``'mad_std'`` around the ``'median'``.  ``'guide'``: the
        guide's call as printed, ``sigma_clip_func=np.ma.median`` and the spread function
        under the misspelt keyword ``signma_clip_dev_func``, which ccdproc silently ignores:
        the spread is then the standard deviation.
    mem_limit : float, optional
        ccdproc's memory limit, in bytes.
    dtype : numpy dtype, optional
        ccdproc's working precision (default: its own, float64).

    Returns
    -------
    astropy.nddata.CCDData
        The combined flat, dimensionless, median 1, without uncertainty (ccdproc's is not
        normalised with the data).

    Raises
    ------
    ValueError
        If ``spelling`` is neither ``'correct'`` nor ``'guide'``, fewer than 3 frames are
        given, ``mem_limit`` is not positive, ``dtype`` is not float32 or float64, a file
        is not a FITS image (the message names it), or the frames' BUNIT differ.
    TypeError
        If ``images`` is one path, or an option has the wrong type.
    OSError
        If a file cannot be opened.

    See Also
    --------
    combine_flats : scales before it rejects, with the CCD's noise model.
    ccdproc.combine : the combiner itself.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.nddata import CCDData
    >>> rng = np.random.default_rng(0)
    >>> frames = [CCDData(rng.normal(lv, 30.0, (8, 8)), unit="adu") for lv in (900, 1000, 1100)]
    >>> flat = ccdproc_recipe(frames)
    >>> float(np.median(flat.data)), flat.unit
    (1.0, Unit(dimensionless))
    """
    import ccdproc
    from astropy.stats import mad_std

    method = "ccdproc_recipe"
    with _options.named(method):  # every option checked before a frame is read
        if spelling not in ("correct", "guide"):
            raise ValueError(f"spelling must be 'correct' or 'guide', got {spelling!r}")
        if not isinstance(scale, bool):
            raise TypeError(f"scale must be True or False, got {scale!r}")
        mem_limit = _options.parse_mem_limit(mem_limit)
        dtype = None if dtype is None else _options.parse_dtype(dtype)
        if isinstance(images, (str, os.PathLike)):
            raise TypeError("images must be a sequence of frames, not one path")
        images = _frames.as_image_list(images)
        if len(images) < 3:
            raise ValueError(f"a 5-sigma clip needs at least 3 frames, got {len(images)}")
    clip = {"sigma_clip": True, "sigma_clip_low_thresh": 5, "sigma_clip_high_thresh": 5}
    if spelling == "guide":  # sic: the guide's keyword, which ccdproc ignores
        clip.update(sigma_clip_func=np.ma.median, signma_clip_dev_func=mad_std)
    else:
        clip.update(sigma_clip_func="median", sigma_clip_dev_func="mad_std")
    paths = [i for i in images if isinstance(i, (str, os.PathLike))]
    headers = {str(path): _files.read_header(path) for path in paths}  # ValueError naming it
    units = {_files.unit_from_header(h, name) for name, h in headers.items()}
    if len(units) > 1:
        raise ValueError(f"{method}: the frames are in different units ({units})")
    without = [name for name, header in headers.items() if "BUNIT" not in header]
    combined = ccdproc.combine(
        images,
        method="average",
        scale=inv_median if scale else None,
        mem_limit=mem_limit,
        dtype=dtype,
        **clip,
        **({"unit": "adu"} if without else {}),
    )
    combined.data = combined.data / np.nanmedian(combined.data)
    combined.unit, combined.uncertainty = u.dimensionless_unscaled, None
    combined.meta["COMBINED"] = (True, f"by {method} (ccdproc.combine)")
    return combined


def combine_flats_by_filter(
    folder_or_collection,
    *,
    imagetyp,
    output_dir=None,
    group_by=("filter",),
    night_keyword="DATE-OBS",
    timezone=None,
    client=None,
    **options,
):
    """Combine the flats in a folder into one flat per FILTER (or night and FILTER), on disk.

    Every FITS file of the folder counts, whatever its extension or compression (or the
    files of an `ccdproc.ImageFileCollection`): IMAGETYP must equal ``imagetyp``
    (ignoring case and surrounding spaces), and frames with COMBINED = True (earlier
    combined flats) are never used.  Frames without a FILTER keyword are
    ignored.  Each group is combined with `combine_flats` and written as
    ``combined_flat_filter_<name>.fit`` (``<name>`` from `safe_filter_name`) through a
    temporary file and a rename, so an interrupted run never leaves a half-written file
    (and the temporary files of a killed run are removed by the next one).  An earlier
    output of this function is replaced; any other file with that name is refused.

    With ``group_by=("night", "filter")`` the flats of each observing night are combined
    apart, into ``combined_flat_<night>_filter_<name>.fit`` (``<night>`` as
    ``2022-03-13``, the local date of the night's evening), and the table of what was
    combined is written beside them as ``combined_flats.ecsv``.  A night runs from noon to
    noon in the site's local time: DATE-OBS (UTC) is moved by ``timezone``, or, without
    it, by the longitude in the header's OBSGEO-L keyword (degrees east, the FITS
    standard's) over 15 degrees per hour, the local mean solar time.

    With a ``client``, each group is one task on the dask cluster's workers, which read
    the frames and write the flat themselves: the folder and ``output_dir`` must be paths
    that every worker sees (one machine, or a shared file system), and the course's
    modules importable there.  A task holds one group's frames within ``mem_limit`` (per
    worker thread).  The files are byte for byte those of a run without a client.

    Each file holds the combined flat as `astropy.nddata.CCDData` writes it (the data,
    with extensions ``UNCERT`` and ``MASK``), so ``CCDData.read(path)`` reads it back, plus
    an image extension ``NUSED`` with the number of frames that survived rejection at each
    pixel (the ``n_used`` of `combine_flats`).  The frames of a mosaic camera (an empty
    primary and one image extension per chip) are combined chip by chip into one file:
    an empty primary, then for each chip ``<chip>``, ``<chip>_UNCERT``, ``<chip>_MASK``
    and ``<chip>_NUSED``; ``CCDData.read(path, hdu="<chip>", hdu_uncertainty="<chip>_UNCERT",
    hdu_mask="<chip>_MASK")`` reads one chip.

    Frames the checks of `check_flats` fail, and the same data under a second name, are
    left out with a warning, as `combine_flats` does; so is another program's master flat
    (NCOMBINE above 1).  A group that fails does not stop the others: once all have run,
    one error (ValueError, or OSError for the file system) names the groups written and
    those not written, each with its reason.

    Parameters
    ----------
    folder_or_collection : str, os.PathLike or ccdproc.ImageFileCollection
        The folder with the flats, or a collection of it.
    imagetyp : str
        The IMAGETYP value of the flats, e.g. ``'flat'``.
    output_dir : str or os.PathLike, optional
        Where to write; created if missing.  Defaults to the collection's folder.
    group_by : tuple of str, optional
        ``("filter",)`` (the default) or ``("night", "filter")``.
    night_keyword : str, optional
        The header keyword that tells a frame's night: a UTC date and time (DATE-OBS, the
        default), or a keyword whose value is the night itself as ``YYYY-MM-DD``.
    timezone : str, float or datetime.tzinfo, optional
        The site's time zone, for the night's noon: a name (``'America/Phoenix'``), hours
        east of Greenwich (``-7``) or a tzinfo.  Default: from OBSGEO-L in each header.
    client : dask.distributed.Client, optional
        Run the groups as tasks on this client's workers (with a text progress bar);
        None (the default) runs them one after another in this process.
    **options
        Keyword options of `combine_flats` (``sigma_upper``, ``stdfunc``, ``mem_limit``, ...).

    Returns
    -------
    dict
        The path (`pathlib.Path`) of the combined flat of each group, in sorted order: keyed
        by the FILTER value, or by ``(night, FILTER)`` when grouping by night.  Its
        attribute ``table`` (an `astropy.table.Table`) lists each group's night, filter,
        number of frames, share of pixel values left out (rejected or masked), the frames
        the frame checks left out (`check_flats`), output file and frames.

    Raises
    ------
    ValueError
        No frame matched (the message lists the IMAGETYP and FILTER values seen), the
        folder does not exist, two filters would give the same file name, two FILTER
        values differ only in characters FITS does not allow, an existing file would be
        overwritten that is not an earlier combined flat, or any error of
        `combine_flats`; a frame without the night's keyword or the site's longitude.
    TypeError
        Keyword options that `combine_flats` does not have; a client that is not one.
    RuntimeError
        With a client: the workers running a group died as many times as dask allows
        (killed, or out of memory); that group's file is not written.
    OSError
        The output cannot be written (the message names the file or folder).

    See Also
    --------
    combine_flats : the combination of one filter's flats.
    safe_filter_name : the file name of each filter.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from astropy.nddata import CCDData
    >>> folder = Path(tempfile.mkdtemp())
    >>> for i, level in enumerate((900.0, 1000.0, 1100.0)):
    ...     frame = CCDData(np.full((4, 4), level), unit="adu")
    ...     frame.meta.update(IMAGETYP="FLAT", FILTER="V")
    ...     frame.write(folder / f"flat-{i}.fit")
    >>> written = combine_flats_by_filter(folder, imagetyp="flat", stdfunc="mad_std")
    >>> written["V"].name
    'combined_flat_filter_V.fit'
    >>> written.table["n_frames"].tolist()
    [3]
    >>> import shutil; shutil.rmtree(folder)
    """
    method = "combine_flats_by_filter"
    with _options.named(method):  # every option checked before a file is opened or written
        if {"images", "return_counts", "chip"} & set(options):
            raise TypeError("images, return_counts and chip are not options of this function")
        arguments = inspect.signature(combine_flats).bind([], **options)  # unknown: TypeError
        if not isinstance(imagetyp, str) or not imagetyp.strip():
            raise ValueError(f"imagetyp must be a non-empty string, got {imagetyp!r}")
        grouping = _groups.parse_grouping(group_by, night_keyword, timezone, client)
    arguments.apply_defaults()
    chosen = arguments.arguments
    clip_options = tuple(chosen[name] for name in _CLIP_OPTIONS)
    others = chosen["dtype"], chosen["mem_limit"], chosen["keep_bad_frames"]
    clip = _combine_options(method, clip_options, *others)[0]
    folder, groups = _frames.flats_by_filter(folder_or_collection, imagetyp, method)
    groups = _groups.regroup(groups, grouping, method)  # by night too, if asked
    few = {filt: len(paths) for filt, paths in groups.items() if len(paths) < 3}
    if clip.rejects and few:  # refused before anything is written
        raise ValueError(
            f"{method}: rejection needs at least 3 frames of each filter; frames by filter: "
            f"{few}.  Pass sigma_lower=None, sigma_upper=None to average without rejection."
        )
    out_folder = Path(output_dir).expanduser() if output_dir is not None else folder
    out_folder.mkdir(parents=True, exist_ok=True)
    combine = functools.partial(combine_flats, return_counts=True, **options)  # one group
    return _groups.combine_all(groups, grouping, out_folder, combine, client, method)


def write_flat(flat, path, *, n_used=None):
    """Write a combined flat to a FITS file, safely.

    The file holds the flat as `astropy.nddata.CCDData` writes it (the data, with
    extensions ``UNCERT`` and ``MASK``), its dimensionless unit spelt ``BUNIT = '1'`` so
    that ``CCDData.read(path)`` reads it back, and, with ``n_used``, an image extension
    ``NUSED`` with the number of frames averaged at each pixel.  It is written through a
    hidden temporary file and a rename, so an interrupted run never leaves half a file.
    Only a missing file or an earlier combined flat (COMBINED = True in its header) is
    replaced: a file of that name that is something else is never overwritten.  The file
    written says COMBINED = True, so that the next run may replace it.

    Parameters
    ----------
    flat : astropy.nddata.CCDData
        The combined flat, e.g. from `combine_flats`, `combine_sky_flats` or
        `ccdproc_recipe`.
    path : str or os.PathLike
        The file to write.
    n_used : numpy.ndarray, optional
        The frames averaged at each pixel (``return_counts=True`` of the combiners).

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        If ``path`` exists and is not a combined flat or names a compressed file, ``flat``
        is not a CCDData, or ``n_used`` has another shape or does not hold counts.
    OSError
        If the file cannot be written (the message names it).

    See Also
    --------
    combine_flats_by_filter : combines and writes one flat per filter.
    astropy.nddata.CCDData.write : the plain writer, which overwrites when told to.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from astropy.nddata import CCDData
    >>> flat = CCDData(np.ones((4, 4)), unit="", meta={"COMBINED": True})
    >>> path = write_flat(flat, Path(tempfile.mkdtemp()) / "flat.fit")
    >>> CCDData.read(path).unit
    Unit(dimensionless)
    >>> write_flat(flat, path).name  # an earlier combined flat is replaced
    'flat.fit'
    >>> import shutil; shutil.rmtree(path.parent)
    """
    if not isinstance(flat, CCDData):
        raise ValueError(f"write_flat: flat must be a CCDData, got {type(flat).__name__}")
    if n_used is not None and np.shape(n_used) != flat.shape:
        raise ValueError(f"write_flat: n_used has shape {np.shape(n_used)}, the flat {flat.shape}")
    if n_used is not None and np.asarray(n_used).dtype.kind not in "ui":
        raise ValueError(f"write_flat: n_used must hold counts, got {np.asarray(n_used).dtype}")
    path = Path(path).expanduser()
    if path.suffix.lower() in (".gz", ".bz2", ".zip", ".fz"):
        raise ValueError(f"write_flat: {path} names a compressed file; it writes plain FITS")
    _files.write_combined(path, _files.combined_flat_hdus(flat, n_used), "write_flat")
    return path


def safe_filter_name(name):
    """Return a form of a filter name that is a safe file name on every operating system.

    A prime (``'`` or the Unicode prime) becomes ``p`` (so ``g'`` becomes ``gp``); every
    other character outside ``A-Z a-z 0-9 _ -`` becomes ``_``.  A prime is legal in file
    names, but it is the quote character of every shell.

    Parameters
    ----------
    name : str
        The filter name, e.g. the FITS FILTER value.

    Returns
    -------
    str
        The safe name.

    Raises
    ------
    ValueError
        If the name is empty (or only white space).
    TypeError
        If the name is not a string.

    See Also
    --------
    combine_flats_by_filter : names its outputs with this function.

    Examples
    --------
    >>> safe_filter_name("g'"), safe_filter_name("B 2"), safe_filter_name("H\u03b1")
    ('gp', 'B_2', 'H_')
    """
    return _groups.safe_name(name)


def planned_flats(output_folder, filters, *, sky=False):
    """Return the paths of the combined flats a notebook will write, each checked now.

    The notebooks call it as soon as they know the filters, before any combining: a file
    of a reader's that carries the name of a flat to be written (and is not a combined flat,
    COMBINED = True) is reported at once, with the refusal `write_flat` would give at the
    end, rather than after all the work.  Nothing is written.  A file whose header has
    COMBINED = True passes and will be replaced: an earlier combined flat of the course's,
    or any file that carries that keyword.

    Parameters
    ----------
    output_folder : str or os.PathLike
        The folder the flats go to.
    filters : list of str
        The filters whose flats will be written (the FITS FILTER values).
    sky : bool, optional
        Sky flats (``combined_sky_flat_filter_<name>.fit``, as notebook 03 writes them)
        instead of the ``combined_flat_filter_<name>.fit`` of `combine_flats_by_filter`.

    Returns
    -------
    dict
        ``{filter: pathlib.Path}``.

    Raises
    ------
    ValueError
        If a file of one of the names exists and is not a combined flat (the message names
        it), a filter name is empty, or two filters would give the same file name.
    TypeError
        If ``sky`` is not a bool, or ``filters`` is a string or holds a name that is not.

    See Also
    --------
    write_flat : the writer, which refuses the same files.
    safe_filter_name : the filter's part of each name.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> planned_flats(folder, ["g'", "B 2"])["g'"].name
    'combined_flat_filter_gp.fit'
    >>> _ = (folder / "combined_flat_filter_B_2.fit").write_text("my notes")
    >>> planned_flats(folder, ["B 2"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: planned_flats: ...combined_flat_filter_B_2.fit exists and is not a combined flat...
    >>> import shutil; shutil.rmtree(folder)
    """
    if not isinstance(sky, bool):
        raise TypeError(f"planned_flats: sky must be True or False, got {sky!r}")
    return _groups.planned_outputs(output_folder, filters, sky, "planned_flats")


# --------------------------------------------------------------------------------------
# Night-sky flats
# --------------------------------------------------------------------------------------


def source_mask(image, *, flat=None, **detection):
    """Return the mask of the sources of one frame: stars, galaxies, cosmic rays.

    This is the mask `combine_sky_flats` makes for each frame, for a look at one.

    1. The frame is divided by ``flat``, if given (its dust shadows would otherwise look
       like structure in the sky).
    2. The sky and its noise are measured in boxes of ``box_size`` pixels
       (`photutils.background.Background2D`), which follow a slow gradient or the
       vignetting.
    3. The frame minus the sky is smoothed by a Gaussian of ``smooth`` pixels, and every
       group of at least ``n_pixels`` connected pixels more than ``nsigma`` times the
       smoothed noise above the sky is a source
       (`photutils.segmentation.detect_sources`); pixels at or above ``saturation`` are
       added.
    4. The size of the images (FWHM) is measured on the frame's stars, from their second
       moments, and each source is grown by ``grow`` times that FWHM plus ``grow_factor``
       times its own radius (that of a disc of its area): the wings of a bright star and
       the disc of a large galaxy extend far beyond what the threshold finds, and the
       faint outskirts the threshold misses scale with the seeing, not with a fixed
       number of pixels (on coarse pixels a fixed growth masks most of a crowded frame).
    5. The frame is averaged in blocks of 16 x 16 pixels, the masked ones left out, and
       groups of blocks more than ``nsigma`` times the (smoothed) block noise above the
       sky are masked whole: light a few hundredths of a per cent of the sky, too faint
       for single pixels, which would add up over many frames.

    Parameters
    ----------
    image : numpy.ndarray, astropy.nddata.CCDData, str or os.PathLike
        One frame (ADU); a path is read with `read_frame`.  NaN and masked pixels are
        masked.
    flat : numpy.ndarray or astropy.nddata.CCDData, optional
        A flat of the same shape (median about 1) to divide by first.
    **detection
        The options of the search, keyword only (one list, `_flat_engine.sky.Detection`,
        shared with `combine_sky_flats`):

        - ``nsigma`` (float, 3.0): threshold in units of the noise of the smoothed image;
        - ``n_pixels`` (int, 5): smallest number of connected pixels that makes a source;
        - ``grow`` (float, 0.5): added around every source, in units of the FWHM
          measured on the frame's stars (2.5 pixels when fewer than five stars give a
          measure);
        - ``grow_factor`` (float, 0.5): added around each source in units of its radius;
          0 and ``grow=0`` to not grow;
        - ``box_size`` (int, 64): size (pixels) of the boxes in which the sky is measured;
        - ``smooth`` (float, 1.0): standard deviation (pixels) of the Gaussian smoothing;
          0 for none;
        - ``saturation`` (float, None): pixel values (ADU, before dividing by ``flat``)
          at or above which a pixel is masked; default the SATURATE keyword of a CCDData
          or file, else none.

    Returns
    -------
    numpy.ndarray of bool
        True where a source (or a NaN) is.

    Raises
    ------
    ValueError
        For a frame that is not 2-D, a ``flat`` of another shape, options out of range,
        a frame so full of NaN that no box of ``box_size`` pixels is half finite, or a
        path to a mosaic camera's file (pass ``read_frame(path, chip=...)``).
    TypeError
        For options of the wrong type, and for a keyword that is not an option.

    See Also
    --------
    combine_sky_flats : masks every frame this way, then combines the sky.
    photutils.segmentation.detect_sources : the detection itself.

    Examples
    --------
    A star on a sky of 3000 ADU:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> yy, xx = np.mgrid[:128, :128]
    >>> star = 5000.0 * np.exp(-((yy - 60) ** 2 + (xx - 70) ** 2) / 8.0)
    >>> mask = source_mask(rng.normal(3000.0, 45.0, (128, 128)) + star)
    >>> bool(mask[60, 70]), bool(mask[10, 10])
    (True, False)
    """
    with _options.named("source_mask"):
        detection = _sky.parse_detection(detection)
    try:
        ccd = read_frame(image) if isinstance(image, (str, Path)) else image
    except _files.MosaicFile as err:  # one image: the user reads the chip
        advice = "source_mask takes one image: pass read_frame(path, chip=...)"
        raise _files.mosaic_error(err.label, err.chips, advice, "source_mask") from err
    header = getattr(ccd, "header", None) or {}
    values = np.array(_pixels.as_float_array(ccd), dtype=np.float32)  # a copy; masked: NaN
    if values.ndim != 2:
        raise ValueError(f"source_mask: expected a 2-D image, got shape {values.shape}")
    if detection.saturation is None and isinstance(header.get("SATURATE"), (int, float)):
        detection = detection._replace(saturation=float(header["SATURATE"]))
    saturated = values >= detection.saturation if detection.saturation is not None else None
    if flat is not None:
        flat = _pixels.as_float_array(flat)
        if flat.shape != values.shape:
            raise ValueError(
                f"source_mask: the flat has shape {flat.shape}, the image {values.shape}"
            )
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.where(flat > 0, values / flat, np.nan).astype(np.float32)
    with _sky.quiet_detection():
        return _sky.find_sources(values, detection, saturated).mask


def combine_sky_flats(
    images,
    *,
    passes=2,
    keep_bad_frames=False,
    sigma_lower=8.0,
    sigma_upper=5.0,
    stdfunc="avsigclip",
    gain=None,
    read_noise=None,
    mem_limit=350e6,
    dtype=np.float32,
    return_counts=False,
    chip=None,
    **detection,
):
    """Combine dithered night-sky frames of one filter into a flat, their sources masked.

    The night sky lights a science frame with exactly the colour the science has: the
    sky of many dithered frames, with the stars and galaxies masked, makes a flat (a
    "sky flat" or "superflat").  The method, step by step:

    1. Each frame is searched for sources, as `source_mask` describes: stars, galaxies,
       saturated stars and their bleed trails, cosmic rays; the masks are grown.
    2. Each frame's sky level is the 3-sigma clipped median of its unmasked pixels.
    3. The frames, their masked pixels left out, each scaled by the inverse of its sky
       level, are combined with the rejection of `combine_flats` (a cosmic ray the mask
       missed) and averaged; the result is normalised to median 1.
    4. With ``passes=2`` (the default) it all happens again on each frame divided by
       this flat: without the vignetting and the dust shadows the sky is smooth, and
       the faint outskirts of the sources stand out better.

    The frames must be dithered: if the sources sit on the same pixels in every frame
    (tracked, undithered frames), those pixels never see the sky.  Where a source is
    larger than the dithers, the pixels under its centre see the sky in few frames or
    none: their flat is noisy, or masked (NaN) where no frame is left.

    Parameters
    ----------
    images : sequence of str, os.PathLike or astropy.nddata.CCDData
        The night-sky (science) frames, calibrated (bias and dark removed), of one
        filter and one shape, at least three, preferably ten or more.  Files as for
        `combine_flats`; files are never modified.
    passes : int, optional
        The number of searches for sources: the first on the frames as they are, each
        further one on the frames divided by the flat of the search before.
    keep_bad_frames : bool, optional
        As `combine_flats`: a frame that fails the checks of `check_flats` (moonlight,
        a passing cloud's shadow, a saturated frame) is left out with a warning unless
        this is True.  The checks run after the first search, on the frames with their
        sources masked, so that sources that move between frames do not count.
    sigma_lower, sigma_upper, stdfunc, gain, read_noise : optional
        The rejection of `combine_flats` (for ``stdfunc='ccdclip'`` the gain and read
        noise come from the arguments or the GAIN and RDNOISE keywords).
    mem_limit : float, optional
        Memory budget in bytes for the combinations, as in `combine_flats`.  The search
        for sources works on whole frames, two at a time, with about ten frame-sized
        arrays each, beside the flat of the search before.
    dtype : numpy dtype, optional
        float32 or float64.
    return_counts : bool, optional
        Also return the number of frames used per pixel (unmasked and not rejected).
    chip : str or int, optional
        The chip to combine from files of a mosaic camera (one image extension per chip),
        by EXTNAME or HDU index, as for `combine_flats`; one chip's sky flat per call.
    **detection
        ``nsigma``, ``n_pixels``, ``grow``, ``grow_factor``, ``box_size``, ``smooth``,
        ``saturation``: the source detection of `source_mask` (``grow`` in units of
        each frame's measured FWHM; ``saturation`` defaults to each frame's SATURATE
        keyword).

    Returns
    -------
    combined : astropy.nddata.CCDData
        Dimensionless, median 1, with ``uncertainty`` and ``mask`` as in
        `combine_flats`.  The header has IMAGETYP = 'FLAT', FILTER, NCOMBINE,
        IMCMB001..., COMBINED = True, the rejection (as in `combine_flats`), SKYLV001...
        (the sky level of each frame, ADU), FWHM (pixels, the median over the frames of
        the image size measured on the stars, in the last search), MASKFRAC and MAXMASK
        (the median and the largest fraction of a frame's pixels with data masked as
        sources, in the last search), FIXEDSRC (in the first search, the mean
        correlation of the frames' masks, pixel by pixel, over the pixels with data in
        every frame: 0 when they fall at independent places, whatever share of a frame
        they cover, 1 when every frame's mask is the same: near 0 for dithered frames,
        near 1 for tracked ones), NOFRAME (the fraction of the pixels with data masked
        in every frame, in the last search: NaN in the flat), NODATA (only when some
        pixels are NaN or masked in every frame given, as a trimmed edge: their
        fraction, NaN in the flat too) and HISTORY.  Pixels without data (NaN or masked
        in a frame given) are no sources: they are left out of MASKFRAC, MAXMASK,
        FIXEDSRC and NOFRAME.
    n_used : numpy.ndarray of uint16
        Only with ``return_counts=True``: at each pixel, the number of frames averaged
        there (not masked as a source and not rejected); 0 where the flat is NaN.

    Raises
    ------
    ValueError
        As `combine_flats`; also for fewer than three frames, when half of the pixels or
        more are free of sources in fewer than three frames, when a frame has no
        positive sky, for ``passes`` below 1, for a folder given as ``images``, for a
        bad ``chip`` (not a name or an index >= 0, or not in a file), and for a mosaic
        camera's file without ``chip`` (the message names the chips).
    TypeError
        As `combine_flats`, and for an option that is neither a keyword of this function
        nor one of the detection's.
    OSError
        If a file cannot be opened.

    Warns
    -----
    UserWarning
        When the sources do not move far enough between frames (FIXEDSRC above 0.5):
        tracked frames cannot make a sky flat.  Sources larger than the dithers raise
        FIXEDSRC too: in a small cut-out around a large galaxy the warning is right
        about those pixels.  When a frame is more than 40 % masked (MAXMASK; the
        warning gives the share found before growing and the FWHM); when more than
        0.5 % of the pixels are masked in every frame (NOFRAME; the warning gives the
        share of the pixels seen by only 1 or 2 frames around these holes, whose flat
        the sources' faint outskirts bias); and when more than 0.5 % of the pixels have
        no data in any frame (NODATA).  Also the warnings of
        `combine_flats`, the frame checks' among them.

    See Also
    --------
    source_mask : the mask of one frame.
    combine_flats : flats of a uniformly lit screen or the twilight sky.
    photutils.segmentation.detect_sources, photutils.background.Background2D

    Notes
    -----
    The flat records the sky's mean large-scale gradient along with the telescope's
    illumination, as a twilight flat does; a sky flat is at its best on small and
    intermediate scales and as an illumination correction of a dome or twilight flat.

    Examples
    --------
    Six frames of a sky of about 3000 ADU, with one star that moves between frames:

    >>> import numpy as np
    >>> from astropy.nddata import CCDData
    >>> rng = np.random.default_rng(1)
    >>> yy, xx = np.mgrid[:128, :128]
    >>> frames = []
    >>> for i in range(6):
    ...     star = 20000.0 * np.exp(-((yy - 16 - 20 * i) ** 2 + (xx - 16 - 18 * i) ** 2) / 8.0)
    ...     sky = rng.normal(3000.0 + 100 * i, 45.0, (128, 128))
    ...     frames.append(CCDData(sky + star, unit="adu"))
    >>> flat, n_used = combine_sky_flats(frames, return_counts=True)
    >>> round(float(np.median(flat.data)), 6)
    1.0
    >>> int(n_used[16, 16]), int(n_used[10, 100])  # the star's first place lost a frame
    (5, 6)
    """
    method = "combine_sky_flats"
    with _options.named(method):  # every option checked before a frame is opened
        detection = _sky.parse_detection(detection, passes)
        clip = _rejection.parse_clip(
            sigma_lower, sigma_upper, "median", stdfunc, 0.0, gain, read_noise
        )
        dtype = _options.parse_dtype(dtype)
        mem_limit = _options.parse_mem_limit(mem_limit)
        keep = _checks.parse_keep(keep_bad_frames)
        chip = _frames.parse_chip(chip)
    with _frames.frames_stack() as stack:
        frames = _frames.open_frames(images, stack, chip, method)
        if len(frames) < 3:
            raise ValueError(
                f"{method}: a sky flat needs at least 3 frames (ten or more is better), "
                f"got {len(frames)}"
            )
        _stack.check_frames(frames, clip, method)
        with _options.named(method):
            noise = _rejection.frame_noise(frames, clip)
            plan = _stack.plan_memory(frames[0].shape, len(frames), dtype, mem_limit)
        flat = None  # the first search is on the frames themselves
        for search in range(passes):
            # 1. The sources of each frame (divided by the latest flat); its sky level.
            def measure(data, frame, flat=flat):
                saturation = _sky.saturation_of(frame, detection)
                return _sky.sky_of_frame(data, flat, detection, saturation)

            with _sky.quiet_detection():
                skies = _frames.map_frames(measure, frames, plan, dtype, with_frame=True)
            del flat, measure
            masked = [_sky.MaskedFrame(f, s.mask) for f, s in zip(frames, skies, strict=True)]
            if search == 0:  # did the sources move?  Are there frames enough?  Good ones?
                persistent = _sky.check_sky_masks(frames, skies)
                good = _checks.screen(masked, plan, dtype, noise, keep, 3, method)  # no sources
                frames, skies = [frames[i] for i in good.kept], [skies[i] for i in good.kept]
                masked, noise = good.frames, good.noise
            # 2. The masked frames, scaled by their sky levels, clipped and averaged.
            levels = [sky.level for sky in skies]
            model = _rejection.noise_model(levels, clip, noise)
            scales = [1 / level for level in levels]
            result = _stack.combine_rows(masked, scales, clip, model, plan, dtype)
            # 3. The next search divides each frame by this flat, to see its sky flat.
            flat = result.data / dtype.type(_pixels.block_median(result.data, plan.norm_rows))
        del flat
        unseen, no_data = _sky.check_final_masks(frames, skies, detection)
    scaling = "sources masked, each scaled by the inverse of its sky level"
    header = _stack.flat_header(frames, clip, model, result, method=method, scaling=scaling)
    _checks.record_left_out(header, good.left_out)
    header["IMAGETYP"] = ("FLAT", "a night-sky flat")
    _sky.sky_header(header, skies, persistent, unseen, no_data)
    combined = _stack.finish_flat(result, header, plan, dtype, method)
    return (combined, result.n_used) if return_counts else combined


def illumination_correction(flat, sky_flat, *, block=64, degree=3):
    """Return a flat with the large scales of a night-sky flat: an illumination correction.

    A twilight or dome flat has the signal to record every pixel, but in its own light; the
    large-scale response depends on the light's colour, and the night sky is redder than
    twilight.  A sky flat records the night's light, but with a few per cent of the signal
    and the faint leaks of its sources.  The correction keeps the first flat's pixels and
    multiplies it by a smooth surface fitted to ``sky_flat / flat``: the median of the ratio
    in blocks of ``block`` x ``block`` pixels (robust to leaks and defects), fitted by a
    polynomial of total ``degree`` in the two coordinates.  The surface records everything
    smooth in which the two flats differ, the night sky's gradient too.

    Parameters
    ----------
    flat : numpy.ndarray or astropy.nddata.CCDData
        The flat with the most signal (twilight or dome), median 1; masked and NaN pixels
        are left out of the fit.
    sky_flat : numpy.ndarray or astropy.nddata.CCDData
        The night-sky flat (`combine_sky_flats`), same shape; NaN where no frame saw sky.
    block : int, optional
        Side of the blocks whose medians are fitted, pixels (a whole number).
    degree : int, optional
        Total degree of the polynomial surface (3: a plane, a bowl, a little more; a
        whole number).

    Returns
    -------
    astropy.nddata.CCDData or numpy.ndarray of float32
        The corrected flat, median 1: for a CCDData ``flat`` a CCDData (float32) with its
        mask, its uncertainty (as a standard deviation) scaled by the same surface, its
        unit and its header with a HISTORY line, ready for `write_flat`; for an array an
        array, masked pixels NaN.

    Raises
    ------
    TypeError
        If ``block`` or ``degree`` is not an integer (a float is refused, never
        truncated), or a flat's pixels are not numbers.
    ValueError
        If the shapes differ or are not 2-D, ``block`` is below 2 or ``degree`` below 0,
        or the image holds too few blocks for the degree.

    See Also
    --------
    combine_sky_flats : makes the sky flat.
    fit_plane : a plane only, to compare flats with the night sky's gradient left out.

    Examples
    --------
    A twilight flat with the right pixels and a sky flat with the right bowl:

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> yy, xx = np.mgrid[-1:1:256j, -1:1:256j]
    >>> pixels = 1 + rng.normal(0, 0.01, yy.shape)
    >>> bowl = 1 - 0.004 * (xx**2 + yy**2)
    >>> sky_flat = pixels * bowl + rng.normal(0, 0.005, yy.shape)  # noisy, with the bowl
    >>> corrected = illumination_correction(pixels, sky_flat, block=32, degree=2)
    >>> truth = pixels * bowl / np.median(pixels * bowl)
    >>> print(f"{np.std(corrected / truth - 1):.5f}")
    0.00003
    """
    with _options.named("illumination_correction"):
        return _illumination.correct(flat, sky_flat, block, degree)
