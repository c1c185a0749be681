"""The machinery behind `convenience_functions`: not part of the course's public interface.

`convenience_functions` holds what a student reads, each public function as its steps;
this package holds what those steps stand on, one subject per module, in the order
`combine_flats` uses them:

==============  ==========================================================================
`options`       numbers, precision, memory budget and display options, checked once
`files`         FITS access and atomic writing (the only module the simulator imports)
`frames`        input frames read in blocks of rows; the flats of a folder by FILTER
`groups`        the flats by night too, their file names, the run here or on dask
`rejection`     the rejection options, the CCD's noise model and the per-block kernel
`network`       each pixel's median by a sorting network laid out across pixels
`checks`        each frame against the others before combining: verdicts, frames left out
`badpix`        the bad-pixel mask of a combined flat, found in the flat itself
`stack`         input checks, memory plan, the pass over blocks of rows, the header
`pixels`        pixel values of in-memory images, block means and medians, a plane fit
`sky`           night-sky flats: the sources of each frame found and masked
`searchsteps`   the sky search's costly steps in fast forms that give the same answers
`illumination`  a flat's small scales times the smoothed large scales of a sky flat
`truth`         a flat judged against the response it should have recovered
`quality`       a flat judged without a truth: the flats of two halves of its frames
`display`       the drawing behind the notebooks' figures
==============  ==========================================================================

Imports run one way: `illumination` stands on `pixels` and `options`; `stack`, `checks` and
`sky` stand on `frames`, `rejection`, `badpix` and
`pixels`, which stand on `network`, `files` and `options`; `groups` stands on `frames`,
`options` and `files` (and on dask, imported only when a client is given); `sky` on
`searchsteps`.
Nothing here imports `convenience_functions` or `example_data`; they import this.
"""
