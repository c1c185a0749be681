"""Simulated, already calibrated frames for the course's three worked examples.

The notebooks of this course combine flat frames. Rather than downloading about 900 MB of
real data, they call this module, which *simulates* the frames deterministically: the same
call writes bit-identical files on every run with the pinned dependencies (another processor
or NumPy version may differ in the last bit of a few pixels), so every number a notebook
prints is reproducible.

Example 1
    Six dome flats of a cryogenically cooled, thinned, back-side illuminated CCD, modelled on
    chip 0 of the Large Format Camera (LFC) at Palomar's 200-inch telescope: three in g' and
    three in i'. Files ``ccd.037.0.fits`` ... (frame number, chip number).
Example 2
    Ten twilight flats in r of a thermo-electrically cooled, front-side illuminated CCD,
    modelled on an Andor Aspen CG16M camera (KAF-16803 sensor) on a 0.6 m f/8 reflector.
    Files ``AutoFlat-PANoRot-r-Bin1-001.fit`` ... ``-010.fit``.
Example 3
    Twelve science frames in r of one moonless night, 600 s each over three hours, with the
    Example 2 camera binned 2 x 2 on the chip (2048 x 2048 pixels of 18 microns, 0.773 arcsec
    at f/8 on 0.6 m), dithered between exposures: the raw material of a night-sky flat. Files
    ``sky-r-bin2-001.fit`` ... ``-012.fit``; a tracked (undithered) variant,
    ``tracked-r-bin2-001.fit`` ..., is written only on request, into a folder the caller
    names.

The frames are *calibrated*: bias and dark current have already been removed, so the pixel
values are the light collected, in ADU.

How a frame is made
-------------------
Each camera has a fixed response map, built once per call in float32: the illumination of
the chip times the response of each pixel, in the light of the example's frames.
:func:`true_flat` returns it, normalised to a median of 1, in any of the three lights
(``light=``: dome, twilight, night) and in two parts (``part=``: the chip's pixels and the
optics' illumination); for Example 1 without the dome screen's uneven light
(:func:`example1_screen`), which the frames record too. A frame is ``level * response``
(Example 1: times the screen's light), for Example 2 times a twilight-sky gradient,
with the level chosen so that the frame's median matches the real data the example is
modelled on. Stars (Example 2) are added, themselves seen through the response. An
Example 3 frame is ``(sky + sources) * response``, the sky a level times a
gradient, the sources stars and galaxies; the charge of the brightest stars then bleeds
along their columns. Noise is
then added: photon (shot) noise from the gain, and read noise, drawn as *one* Gaussian per
pixel with variance ``signal / gain + (read_noise / gain) ** 2`` (ADU²); at thousands of
electrons per pixel the Gaussian approximation of the Poisson distribution is excellent.
Cosmic rays come last; Examples 2 and 3 are capped at their saturation level, 64 000 ADU.

What is modelled
----------------
1. Illumination. Example 1: the dome screen's smooth few-per-cent pattern, different in g'
   and i' (light of the screen: not in :func:`true_flat`). Example 2: vignetting, about 10 %
   darker in the corners than on the optical axis. The colour of the light: the response's
   large scales depend on it (the filter's band edges shift across the field), a bowl
   around the optical axis, relative to twilight 0.75 % deeper in the night sky's light and
   1.2 % in a dome lamp's, peak to valley beyond a plane (:mod:`example_data.maps`).
2. Pixel-to-pixel response, uncorrelated from pixel to pixel: 0.60 % rms in g' and 0.35 %
   in i' on the thinned chip (blue light is absorbed next to the chip's back surface, whose
   treatment is uneven; the two filters share part of the pattern), 0.7 % in r on the
   front-side illuminated chip. Example 1 adds a faint mottle on scales of tens of pixels
   (0.25 % rms in g', 0.08 % in i').
3. The thinned chip's structure (Example 1): steps of 0.1 % to 0.3 % between the blocks the
   chip was stitched from, a cross-hatch with a period of 97 pixels (0.6 % in g', 0.2 % in
   i'), 40 dark spots of 5 to 30 pixels where the thinning was uneven (2 % to 15 % deep in
   g', about a third of that in i'), and in i' a smooth 1.5 % change of response with the
   membrane's thickness, with a fringe residue of 0.1 % peak to peak (a broadband dome lamp
   washes out the interference fringes that narrow sky lines show).
4. Dust donuts (Example 2): 18 out-of-focus shadows of dust, 20 to 120 pixels in radius,
   with the hole of the central obstruction. Their depth is the dust particle's area over the
   area of the beam at its distance, so it falls as 1 / radius²: up to 13 % for the
   smallest, 0.2 % for the largest (:func:`example2_donuts`).
5. Defects (:func:`example_defects`), part of the response: a few columns of low response
   (3 % to 10 % low, from a charge trap to the far end of the column), dead pixels (response
   0) and low pixels (response 0.5 to 0.9).
6. The twilight sky (Example 2): brightest towards the set Sun, a plane across the chip of
   1.20 % growing to 1.29 % over the 2.5 minutes of the sequence, whose direction turns by
   0.15 degree per minute, as slowly as the Sun's azimuth (:func:`example2_sky_gradient`).
   It changes from frame to frame, so it is not part of :func:`true_flat`.
7. Stars (Example 2): one field of 57 stars, r = 6.5 to 15, in every frame: their counts
   grow with the exposure time while the sky fades; Moffat images (beta = 2.8, FWHM 3.6 to
   4.6 pixels, the seeing changes a little), dithered by tens of pixels between frames. The
   two bright stars saturate; most stars are too faint to see against the bright sky
   (:func:`example2_stars`).
8. Cosmic rays (:func:`example_cosmic_rays`): one rate for both chips, 2 per cm² per minute
   (muons and their secondaries at a mountain observatory), during the exposure and, for the
   rows still waiting to be read, during the readout (35 s for the LFC, 15 s for the Aspen).
   Each hit deposits about 70 electrons per micron of silicon crossed, with a Landau tail
   (about 1000 to 5000 electrons typically); tracks are longer on the thicker collecting
   layer and smaller pixels of the front-illuminated chip. Example 3 sees the same rate on
   the same chip, with 18 micron binned pixels and a 4 s readout: some 270 hits a frame.
9. Example 3's response (:func:`true_flat` ``(3, "r")``): Example 2's, each block of 2 x 2
   pixels averaged (a binned pixel collects the charge of four), in the night sky's light,
   renormalised to median 1; the low columns are charge traps that take a fixed 48 to 160
   ADU from each binned pixel (no response). 300 hot pixels (20 to 3000 ADU) and two hot
   columns (10 to 40 ADU), which the dark subtraction left, are in every frame at the same
   place (:func:`example3_hot_pixels`, :func:`defect_pixels`).
   Gain (1.5 e-/ADU) and saturation (64 000 ADU, the converter's limit) are Example 2's;
   the read noise of 10 e- is added once per binned pixel.
10. Example 3's night (:mod:`example_data.night`): a site, a pointing and a tangent-plane
    WCS in the headers (OBSGEO-B/L/H, RA, DEC), and the Moon's altitude and illuminated
    fraction at DATE-OBS (MOONALT, MOONILLU: -37 to -66 degrees, 0.3 % to 0.5 %, as
    astropy computes them: a night after new Moon, 2022-03-03, eleven nights before Example
    2's twilight flats). The sky (:func:`example3_sky`) follows them by Krisciunas &
    Schaefer's model: a dark sky of 20.8 mag per square arcsec in r at the zenith, plus
    moonlight when the Moon is up (none here): 1361 ADU falling to 1040 ADU in 600 s (20.45
    to 20.75 mag per square arcsec) as the field rises from 43 to 71 degrees, times a plane
    of 0.66 % to 0.23 % across the chip, brighter towards the horizon. The colour of a
    frame's light is the mix of the dark sky's and moonlight's (twilight's) by their shares
    (:func:`example_data.night.dark_share`; here all dark sky).
11. Example 3's sources (:func:`example3_sources`, :func:`example3_source_image`): some
    1680 stars on the chip in each frame (2077 over the area the dithers cover), r = 6.9
    to 20.5 (the zero point of Example 2: 10**(0.4 * (21.9 - r))
    ADU per second; counts grow by 10**0.3 per magnitude, 200 per square degree brighter
    than r = 15), faint ones down to the sky's noise; Moffat cores (beta = 2.5, FWHM 2.2
    to 2.9 binned pixels as the seeing changes) with a halo of 5 % of the light falling as
    r**-2.5 out to 13 arcmin; five large galaxies (Sersic discs, a lenticular and an
    elliptical, half-light radii of 14 to 75 pixels, drawn out to their faint outskirts) and
    some 480 faint ones to r = 21 from the SDSS counts. The 12 pointings are tens of arcsec
    apart (:data:`EXAMPLE3_DITHERS`), so each source falls on other pixels in every frame.
    All stars brighter than r = 14 or so saturate in 600 s.
12. Bleeding (Example 3): the KAF-16803 has anti-blooming drains, which remove the charge a
    full pixel keeps collecting, so a saturated star normally stays round. Only a star that
    overloads the drains, here assumed to cope with 100 times a pixel's full well, bleeds:
    the charge beyond that runs up and down its column, filling pixel after pixel to a full
    well (charge is conserved, but for what runs off the chip), and they read as saturated.
    The brightest star (r = 6.9) bleeds in every frame, over some 100 to 300 pixels (the
    sharper the seeing, the higher the peak and the longer the trail), the second (r = 7.5)
    in all but the worst seeing, over up to 70 pixels.

What is not modelled
--------------------
Non-linearity (the KAF-16803 departs from linearity by a few tenths of a per cent above about
40 000 ADU, where Example 2's first frames lie: the simulated chips are perfectly linear, so
the response is the same at every level); bleeding in Example 2 (its stars do not overload
the anti-blooming drains); hot pixels in Examples 1 and 2 (irrelevant in calibrated flats);
the low columns of Examples 1 and 2 are a fraction of the charge, not a fixed loss (at a
flat's level the difference is small); the shading of an iris shutter in short exposures;
scattered light and ghosts, and the diffraction spikes of bright stars; residuals of the
bias subtraction; a colour term that differs between filters or chips (one bowl, scaled by
the light's redness); the brighter-fatter effect and charge-transfer inefficiency. In
Example 3 also: fringing (a front-illuminated chip in r hardly fringes),
the sky's emission lines (the dark sky's colour is one colour), airglow
variations on small scales, the softening of the anti-blooming drains' onset (a pixel fills
linearly, then stops), the read noise and charge of the two columns that binning sums
separately, galaxies fainter than r = 21, the zodiacal light and the Milky Way,
satellites and aircraft,
field rotation and distortion (the dither is a pure shift), and the convolution of the
galaxies with the seeing (their cores are only softened).

Every random number comes from :func:`numpy.random.default_rng` seeded with a fixed base seed,
the example number, the frame index and a stream number, so a frame does not depend on
which other frames are generated, in which order, or on which thread.

Writing is safe: each file is written under a temporary name in the destination folder and
renamed into place only when complete (with `_flat_engine.files.write_atomically`, the writer
of the helper module too), and a file with an expected name that this module did not write
is never overwritten (a :class:`ValueError` is raised instead).  Every frame carries the FITS
checksums, so a frame of ours that was truncated or altered is recognised and written again.

Use :func:`ensure_example_data` (or :func:`ensure_example1` ... :func:`ensure_example3`) from a
notebook, or pre-generate from a shell::

    python -m example_data                         # all three examples, default folders
    python -m example_data --example 2 --folder DIR
    python -m example_data --example 3 --folder DIR --tracked   # the undithered variant

The package
-----------
:mod:`example_data.camera`
    The records every module shares: :class:`~example_data.camera.Camera` (a camera's
    numbers and header cards), :class:`~example_data.camera.Example` (a camera and its
    frames), the seeded random streams and the checks of arguments.
:mod:`example_data.example1`, :mod:`example_data.example2`, :mod:`example_data.example3`
    One module per example: its camera and record, its constants, its truth tables, its
    response maps and its noiseless frames.
:mod:`example_data.truth`
    The named tuples the truth tables are returned in (:class:`Spots` ... :class:`Sky`).
:mod:`example_data.maps`, :mod:`example_data.noise`, :mod:`example_data.sources`
    The shared physics: pieces of response maps (rings, smooth fields, defects, ramps);
    shot and read noise and cosmic rays; stars, galaxies and bleeding.
:mod:`example_data.night`
    Example 3's night: the site, the pointing and its WCS, the Moon at each frame, the
    sky's brightness, gradient and colour (Krisciunas & Schaefer 1991).
:mod:`example_data.header`
    The FITS header of a frame, built from the example's and the camera's records.
:mod:`example_data.examples`
    The functions that take an example number, and :func:`true_flat`; the cameras' gain,
    read noise and saturation level as public constants, set from the records; how a frame
    is built from an example module's two builders, then given noise, cosmic rays and its
    header.
:mod:`example_data.folders`
    :func:`open_data_folder`, a notebook's first step: the course's folder (its missing
    frames written) or the reader's own (only checked); :func:`open_output_folder`, where
    the combined flats go, checked to be writable.
:mod:`example_data.writing`, :mod:`example_data.cli`
    Safe writing (:func:`ensure_example_data`, :func:`make_example` ...) and the command
    line (:func:`main`, ``python -m example_data``).
:mod:`example_data.synthetic`
    Small seeded frames with a known truth, for the tests and benchmarks (not simulations
    of the examples; import them from there).
:mod:`example_data.drift`
    :func:`~example_data.drift.make_drifting_frames`: raw night frames of a small telescope
    (5.2" pixels) whose pointing drifts through the night, with or without a galaxy that
    fills the frames, for the tests and benchmark of sky flats (import them from there).
"""

from __future__ import annotations

from example_data.cli import main
from example_data.example1 import (
    EXAMPLE1_DATE_OBS,
    EXAMPLE1_EXPTIMES,
    EXAMPLE1_FILES,
    EXAMPLE1_FILTERS,
    EXAMPLE1_MEDIANS,
    EXAMPLE1_SHAPE,
    example1_screen,
    example1_spots,
)
from example_data.example2 import (
    EXAMPLE2_DATE_OBS,
    EXAMPLE2_DITHERS,
    EXAMPLE2_EXPTIMES,
    EXAMPLE2_FILES,
    EXAMPLE2_MEDIANS,
    EXAMPLE2_SHAPE,
    EXAMPLE2_STAR_FRAMES,
    example2_donuts,
    example2_sky_gradient,
    example2_stars,
)
from example_data.example3 import (
    EXAMPLE3_DATE_OBS,
    EXAMPLE3_DITHERS,
    EXAMPLE3_EXPTIMES,
    EXAMPLE3_FILES,
    EXAMPLE3_PIXEL_SCALE,
    EXAMPLE3_SHAPE,
    EXAMPLE3_SKY_LEVELS,
    EXAMPLE3_TRACKED_FILES,
    EXAMPLE3_TRACKED_OFFSETS,
    example3_hot_pixels,
    example3_sky,
    example3_source_image,
    example3_sources,
)
from example_data.examples import (
    EXAMPLE1_GAIN,
    EXAMPLE1_READ_NOISE,
    EXAMPLE2_GAIN,
    EXAMPLE2_READ_NOISE,
    EXAMPLE2_SATURATE,
    EXAMPLE3_GAIN,
    EXAMPLE3_READ_NOISE,
    EXAMPLE3_SATURATE,
    default_folder,
    defect_pixels,
    example_cosmic_rays,
    example_defects,
    example_files,
    example_medians,
    true_flat,
)
from example_data.folders import open_data_folder, open_output_folder
from example_data.header import SIMULATION_VERSION as SIMULATION_VERSION
from example_data.truth import (
    CosmicRays,
    Defects,
    Donuts,
    Galaxies,
    HotPixels,
    Sky,
    Sources,
    Spots,
    Stars,
)
from example_data.writing import (
    ensure_example1,
    ensure_example2,
    ensure_example3,
    ensure_example_data,
    make_example,
    make_example1,
    make_example2,
    make_example3,
)

__all__ = [
    "EXAMPLE1_DATE_OBS",
    "EXAMPLE1_EXPTIMES",
    "EXAMPLE1_FILES",
    "EXAMPLE1_FILTERS",
    "EXAMPLE1_GAIN",
    "EXAMPLE1_MEDIANS",
    "EXAMPLE1_READ_NOISE",
    "EXAMPLE1_SHAPE",
    "EXAMPLE2_DATE_OBS",
    "EXAMPLE2_DITHERS",
    "EXAMPLE2_EXPTIMES",
    "EXAMPLE2_FILES",
    "EXAMPLE2_GAIN",
    "EXAMPLE2_MEDIANS",
    "EXAMPLE2_READ_NOISE",
    "EXAMPLE2_SATURATE",
    "EXAMPLE2_SHAPE",
    "EXAMPLE2_STAR_FRAMES",
    "EXAMPLE3_DATE_OBS",
    "EXAMPLE3_DITHERS",
    "EXAMPLE3_EXPTIMES",
    "EXAMPLE3_FILES",
    "EXAMPLE3_GAIN",
    "EXAMPLE3_PIXEL_SCALE",
    "EXAMPLE3_READ_NOISE",
    "EXAMPLE3_SATURATE",
    "EXAMPLE3_SHAPE",
    "EXAMPLE3_SKY_LEVELS",
    "EXAMPLE3_TRACKED_FILES",
    "EXAMPLE3_TRACKED_OFFSETS",
    "CosmicRays",
    "Defects",
    "Donuts",
    "Galaxies",
    "HotPixels",
    "Sky",
    "Sources",
    "Spots",
    "Stars",
    "default_folder",
    "defect_pixels",
    "ensure_example1",
    "ensure_example2",
    "ensure_example3",
    "ensure_example_data",
    "example1_screen",
    "example1_spots",
    "example2_donuts",
    "example2_sky_gradient",
    "example2_stars",
    "example3_hot_pixels",
    "example3_sky",
    "example3_source_image",
    "example3_sources",
    "example_cosmic_rays",
    "example_defects",
    "example_files",
    "example_medians",
    "main",
    "make_example",
    "make_example1",
    "make_example2",
    "make_example3",
    "open_data_folder",
    "open_output_folder",
    "true_flat",
]
