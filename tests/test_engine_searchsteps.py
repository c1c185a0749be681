"""Tests of `_flat_engine.searchsteps`: the fast steps of the sky search against the slow ones.

The slow forms are those the search used before issue 23, kept runnable in
``benchmarks/bench_sky_flats.py`` (`reference_search`); photutils and astropy themselves
are the references where they can be called directly.
"""

import numpy as np
import pytest
from astropy.stats import SigmaClip, mad_std, sigma_clipped_stats
from photutils.background import Background2D, MedianBackground
from scipy import ndimage

from _flat_engine import searchsteps, sky
from benchmarks import bench_sky_flats as bench
from example_data.drift import make_drifting_frames
from example_data.synthetic import make_sky_frames


def _sky_with_holes(rng, shape, holes):
    """Return a sky with a gradient, noise, a few bright stars and ``holes`` NaN boxes."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    image = 3000.0 + 0.2 * yy - 0.1 * xx + rng.normal(0, 40.0, shape)
    for y, x in rng.uniform(0, 1, (30, 2)) * shape:
        image += 2e4 * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / 6.0)
    for _ in range(holes):
        y, x = (rng.uniform(0, 1, 2) * shape).astype(int)
        image[y : y + 90, x : x + 70] = np.nan
    return image.astype(np.float32)


def _background(image, filter_size):
    invalid = ~np.isfinite(image)
    return Background2D(
        image,
        64,
        mask=invalid if invalid.any() else None,
        exclude_percentile=50,
        filter_size=filter_size,
        sigma_clip=SigmaClip(sigma=3.0, maxiters=5),
        bkg_estimator=MedianBackground(),
    )


@pytest.mark.parametrize(("shape", "holes"), [((256, 256), 0), ((300, 421), 3), ((130, 70), 1)])
def test_background_image_and_filter_are_photutils_own(shape, holes):
    image = _sky_with_holes(np.random.default_rng(sum(shape)), shape, holes)
    with sky.quiet_detection():
        photutils_own, unfiltered = _background(image, 3), _background(image, 1)
        mesh = searchsteps.median_filtered(unfiltered.background_mesh)
        rms = searchsteps.median_filtered(unfiltered.background_rms_mesh)
        expected = photutils_own.background
    np.testing.assert_array_equal(mesh, photutils_own.background_mesh)
    assert np.median(rms) == photutils_own.background_rms_median
    got = searchsteps.background_image(mesh, 64, shape)
    assert got.dtype == expected.dtype == np.float32
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got, bench.reference_background_image(mesh, 64, shape))


def test_background_image_of_a_constant_mesh_is_that_constant():
    mesh = np.full((3, 4), 7.5, dtype=np.float32)
    got = searchsteps.background_image(mesh, 16, (40, 60))
    np.testing.assert_array_equal(got, bench.reference_background_image(mesh, 16, (40, 60)))
    assert got.dtype == np.float32
    assert np.all(got == 7.5)


def test_median_filter_keeps_nan_boxes_out_as_photutils_does():
    rng = np.random.default_rng(4)
    for shape in ((1, 1), (2, 5), (9, 7), (32, 32)):
        mesh = rng.normal(100.0, 3.0, shape).astype(np.float32)
        mesh[rng.random(shape) < 0.2] = np.nan
        mesh.flat[0] = 100.0  # one finite value at least
        with sky.quiet_detection():  # an all-NaN neighbourhood gives NaN (and a warning)
            np.testing.assert_array_equal(
                searchsteps.median_filtered(mesh), bench.reference_median_filtered(mesh)
            )


def test_grow_by_windows_equals_the_transform_of_the_whole_frame():
    rng = np.random.default_rng(23)
    for trial in range(40):
        shape = tuple(int(n) for n in rng.integers(20, 160, 2))
        seeds = rng.random(shape) < rng.choice([0.0005, 0.003, 0.02, 0.08])
        mask = ndimage.binary_dilation(seeds, iterations=int(rng.integers(0, 5)))
        mask[tuple(rng.integers(0, shape))] = True  # the search grows only a mask with sources
        if trial % 4 == 0:  # a large source (a galaxy) among small ones, at an edge
            yy, xx = np.mgrid[: shape[0], : shape[1]]
            mask |= (yy - shape[0] * rng.random()) ** 2 + (xx - 3) ** 2 < rng.uniform(9, 900)
        grow, factor = float(rng.uniform(0, 6)), float(rng.choice([0.0, 0.5, 2.5]))
        expected = bench.reference_grow(mask, grow, factor)
        np.testing.assert_array_equal(searchsteps.grow(mask, grow, factor), expected)
    assert not searchsteps.grow(np.zeros((30, 40), bool), 3.0, 1.0).any()  # nothing to grow


def test_grow_decides_each_pixel_by_its_nearest_source():
    # A single pixel beside a large source: pixels nearer the small one are left out
    # even within the large one's reach (the nearest source decides), as the transform.
    mask = np.zeros((60, 80), bool)
    mask[20:40, 10:30] = True  # area 400: radius 11.28, reach 2 + 11.28 = 13.28
    mask[29, 45] = True  # area 1: reach 2 + 0.56 = 2.56
    got = searchsteps.grow(mask, 2.0, 1.0)
    np.testing.assert_array_equal(got, bench.reference_grow(mask, 2.0, 1.0))
    assert got[29, 36]  # 7 pixels from the large source, 9 from the small one
    assert not got[29, 42]  # 13 from the large (within its reach), 3 from the small
    assert got[29, 43]  # 2 from the small one
    assert not got[29, 48]  # 3 from the small one


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clipped_median_is_astropys(dtype):
    rng = np.random.default_rng(7)
    for trial in range(30):
        size = int(rng.integers(100, 20_000))
        values = rng.normal(3000.0, rng.uniform(1, 80), size)
        bright = rng.random(size) < rng.uniform(0, 0.2)  # stars' outskirts, cosmic rays
        values[bright] += rng.exponential(rng.uniform(10, 3000), np.count_nonzero(bright))
        if trial % 5 == 0:
            values = np.round(values)  # integer ADU: many ties, on the bounds too
        values = values.astype(dtype)
        for maxiters in (1, 5, 20):
            expected = sigma_clipped_stats(values, sigma=3.0, maxiters=maxiters)[1]
            got = searchsteps.clipped_median(values, sigma=3.0, maxiters=maxiters)
            assert got == expected
            assert type(got) is type(expected)
    assert searchsteps.clipped_median(np.full(500, 12.5, dtype=dtype)) == 12.5


def test_mad_std_is_astropys():
    rng = np.random.default_rng(8)
    for size in (1, 2, 3, 1000, 12_345):
        for dtype in (np.float32, np.float64):
            values = (rng.standard_cauchy(size) * 5 + 100).astype(dtype)
            got, expected = searchsteps.mad_std(values), mad_std(values)
            assert got == expected
            assert got.dtype == expected.dtype
            assert searchsteps.mad_std(values.reshape(1, -1)) == expected  # any shape


def _searches(frames, flat=None):
    detection = sky.Detection()
    with sky.quiet_detection():
        return [
            sky.sky_of_frame(frame.data.astype(np.float32), flat, detection, 64000.0)
            for frame in frames
        ]


def test_sky_of_frame_equals_the_reference_search():
    # Whole searches, fast steps against the slow ones: the same masks, levels and FWHM,
    # on sky frames with saturated stars and on the drifting frames of a small telescope.
    frames = make_sky_frames(4, seed=5)[0] + make_drifting_frames(3, seed=1).frames
    fast = _searches(frames)
    with bench.reference_search():
        slow = _searches(frames)
    assert sky.background_image is searchsteps.background_image  # put back after the block
    for got, expected in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(got.mask, expected.mask)
        assert (got.level, got.masked, got.found) == (
            expected.level,
            expected.masked,
            expected.found,
        )
        assert got.fwhm == expected.fwhm or (np.isnan(got.fwhm) and np.isnan(expected.fwhm))


def _scattered_sources(rng, shape, n_sources, sizes=(0, 1, 2)):
    """Return a mask of ``n_sources`` small blobs at random places, some on the edges."""
    mask = np.zeros(shape, bool)
    for i in range(n_sources):
        y, x = (rng.random(2) * shape).astype(int)
        if i % 7 == 0:  # on an edge or in a corner
            y = (0, shape[0] - 1)[i % 2]
        if i % 11 == 0:
            x = (0, shape[1] - 1)[i % 3 % 2]
        half = int(rng.choice(sizes))
        mask[max(y - half, 0) : y + half + 1, max(x - half, 0) : x + half + 1] = True
    return mask


@pytest.mark.parametrize("key", range(1, 60))
def test_grow_stamps_sources_alone_as_the_transform_grows_them(monkeypatch, key):
    # Sparse small sources: all alone in their windows, grown by stamping their discs
    # (no distance transform at all), with reaches exactly at the root of an integer
    # (sqrt(3) * sqrt(3) < 3 in floating point: the disc must still include distance
    # sqrt(3)) and just below it, as the transform of the whole frame grows them.
    rng = np.random.default_rng(key)
    mask = np.zeros((150, 170), bool)
    for y in (0, 40, 80, 120, 149):  # 40 pixels apart, on the edges too
        for x in (0, 42, 84, 126, 169):
            half = int(rng.integers(0, 3))
            y0, x0 = max(y - half - int(rng.integers(0, 2)), 0), max(x - half, 0)
            mask[y0 : y + half + 1, x0 : x + half + 1] = True
    for reach in (np.sqrt(key), np.nextafter(np.sqrt(key), 0)):
        expected = bench.reference_grow(mask, float(reach), 0.0)
        with monkeypatch.context() as patch:
            patch.setattr(ndimage, "distance_transform_edt", _no_transform)
            got = searchsteps.grow(mask, float(reach), 0.0)
        np.testing.assert_array_equal(got, expected)


def _no_transform(*args, **kwargs):
    raise AssertionError("a distance transform where stamping should do")


def test_grow_stamps_small_sources_and_windows_the_rest_in_one_frame():
    # Sources alone and small (stamped), alone and large (candidates' transform) and
    # close together (windows), with a growth in proportion to their size.
    rng = np.random.default_rng(31)
    mask = _scattered_sources(rng, (400, 500), 150, sizes=(0, 1, 2, 4))
    mask[100:160, 200:270] = True  # a galaxy: reach 2 + 0.5 * 36.6, beyond the stamps
    mask[300, 40:44] = mask[303, 40:44] = True  # two close together
    calls = []
    stamp = searchsteps._stamp
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(searchsteps, "_stamp", lambda *a: calls.append(a[2].size) or stamp(*a))
        got = searchsteps.grow(mask, 2.0, 0.5)
    assert calls[0] > 50  # most sources stamped
    np.testing.assert_array_equal(got, bench.reference_grow(mask, 2.0, 0.5))


@pytest.mark.parametrize("share", [0.3, 0.94])
def test_grow_takes_the_whole_frame_transform_on_crowded_frames(share):
    # Crowded frames (sources touching each other's windows, most of the frame masked):
    # one transform of the whole frame instead of windows that overlap; the same masks.
    rng = np.random.default_rng(int(share * 100))
    mask = ndimage.binary_dilation(rng.random((300, 280)) < share / 8, iterations=1)
    calls = []
    whole = searchsteps._grow_whole
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(searchsteps, "_grow_whole", lambda *a: calls.append(1) or whole(*a))
        got = searchsteps.grow(mask, 3.0, 0.5)
        sparse = _scattered_sources(rng, (300, 280), 20)
        np.testing.assert_array_equal(
            searchsteps.grow(sparse, 3.0, 0.5), bench.reference_grow(sparse, 3.0, 0.5)
        )
    assert calls == [1]  # the crowded frame only
    np.testing.assert_array_equal(got, bench.reference_grow(mask, 3.0, 0.5))
    full = np.ones((20, 30), bool)
    np.testing.assert_array_equal(searchsteps.grow(full, 3.0, 0.5), full)  # nothing outside


def test_summed_area_counts_the_pixels_above_and_left():
    mask = np.random.default_rng(3).random((37, 53)) < 0.3
    table = searchsteps._summed_area(mask)
    assert table.shape == (38, 54)
    for y, x in ((0, 0), (1, 1), (37, 53), (20, 7), (5, 50)):
        assert table[y, x] == np.count_nonzero(mask[:y, :x])


def _boxes(rng, shape, integer=False):
    """Return sky boxes (last axis) with stars' light, NaN pixels and an all-NaN box."""
    boxes = rng.normal(3000.0, rng.uniform(5, 60), shape)
    bright = rng.random(shape) < 0.08
    boxes[bright] += rng.exponential(400.0, np.count_nonzero(bright))
    if integer:
        boxes = np.round(boxes)  # integer ADU: ties, also on the clipping bounds
    boxes[rng.random(shape) < 0.05] = np.nan
    boxes[0, 0, : shape[-1] // 2 + 3] = np.nan  # more than half NaN
    boxes[-1, -1] = np.nan  # no value at all
    return boxes.astype(np.float32)


@pytest.mark.parametrize("integer", [False, True])
@pytest.mark.parametrize("shape", [(5, 7, 4096), (3, 4, 64), (2, 3, 5)])
def test_box_clip_and_median_are_astropys_and_photutils(shape, integer):
    from photutils.background import MedianBackground

    boxes = _boxes(np.random.default_rng(shape[-1] + integer), shape, integer)
    with sky.quiet_detection():
        expected = SigmaClip(sigma=3.0, maxiters=5)(boxes, axis=-1, masked=False, copy=True)
        medians = MedianBackground(sigma_clip=None)(expected, axis=-1)
        clip, estimator = searchsteps.box_statistics()
        got = clip(boxes.copy(), axis=-1, masked=False, copy=False)
        got_medians = estimator(got, axis=-1)
    np.testing.assert_array_equal(got, expected)  # the same pixels clipped (NaN)
    assert got_medians.dtype == medians.dtype == np.float32
    np.testing.assert_array_equal(got_medians, medians)
    assert np.isnan(got_medians[-1, -1])


def test_clip_bounds_are_astropys_round_by_round():
    rng = np.random.default_rng(12)
    ordered = np.sort(_boxes(rng, (6, 8, 300)).reshape(-1, 300), axis=1)
    for maxiters in (1, 2, 5, 20):
        clipper = SigmaClip(sigma=2.5, maxiters=maxiters)
        with sky.quiet_detection():  # NaN pixels: astropy warns
            _, low, high = clipper(ordered, axis=1, masked=False, return_bounds=True)
        got_low, got_high, first, last = searchsteps.clip_bounds(ordered, 2.5, maxiters)
        # the standard deviation summed in another order: bounds within float64 rounding
        np.testing.assert_allclose(got_low, low, rtol=1e-14, atol=0)
        np.testing.assert_allclose(got_high, high, rtol=1e-14, atol=0)
        assert np.isnan(low[-1])  # no value: no bound
        assert np.isnan(got_low[-1])
        kept = (ordered >= low[:, np.newaxis]) & (ordered <= high[:, np.newaxis])
        np.testing.assert_array_equal(last - first, np.count_nonzero(kept, axis=1))


def test_background2d_with_box_statistics_is_photutils_own():
    # The whole mesh: boxes at the edges (a shape no multiple of the box), NaN holes.
    image = _sky_with_holes(np.random.default_rng(5), (300, 421), 3)
    invalid = ~np.isfinite(image)
    with sky.quiet_detection():
        own = _background(image, 1)
        clip, median = searchsteps.box_statistics()
        fast = Background2D(
            image,
            64,
            mask=invalid,
            exclude_percentile=50,
            filter_size=1,
            sigma_clip=clip,
            bkg_estimator=median,
        )
        np.testing.assert_array_equal(fast.background_mesh, own.background_mesh)
        np.testing.assert_array_equal(fast.background_rms_mesh, own.background_rms_mesh)


def test_box_clip_leaves_other_calls_to_astropy():
    values = np.random.default_rng(2).normal(0, 1, 500)
    values[:3] = 40.0
    clip, _ = searchsteps.box_statistics()
    got = clip(values)  # masked, no axis: astropy's own
    assert np.ma.count_masked(got) == np.ma.count_masked(SigmaClip(sigma=3.0, maxiters=5)(values))
    with_inf = np.array([[1.0, 2.0, np.inf, 2.5, 1.5]] * 3 + [[1.0, 2.0, -np.inf, 2.5, 1.5]])
    with sky.quiet_detection():
        got = clip(with_inf.copy(), axis=-1, masked=False, copy=False)
    assert np.isnan(got[:, 2]).all()  # either infinity clipped, as astropy clips it


def test_clip_bounds_keep_values_on_a_bound_as_astropy():
    # Mean 0, standard deviation 1 exactly: the bounds fall on -3 and 3, which are kept.
    row = np.array([[-3.0, 3.0] + [0.0] * 16, [-3.0, 3.0, 0.5] + [0.0] * 15], np.float32)
    ordered = np.sort(row, axis=1)
    _, low, high = SigmaClip(sigma=3.0, maxiters=5)(row, axis=1, return_bounds=True)
    got_low, got_high, first, last = searchsteps.clip_bounds(ordered, 3.0, 5)
    np.testing.assert_array_equal((got_low[0], got_high[0]), (-3.0, 3.0))
    np.testing.assert_allclose(got_high, high, rtol=1e-14, atol=0)
    np.testing.assert_allclose(got_low, low, rtol=1e-14, atol=0)
    np.testing.assert_array_equal(last - first, [18, 18])


def test_grow_stamps_a_source_whose_neighbours_have_larger_discs():
    # Close pairs of sources of different sizes: the smaller disc of each pair is
    # stamped (a pixel within it is within its nearest source's disc), the larger one
    # goes to a window, where the nearest source decides; pairs of equal sources are
    # both stamped.  The same masks as the whole-frame transform.
    mask = np.zeros((120, 400), bool)
    for i, x in enumerate(range(10, 390, 40)):
        size = 1 + i % 4
        mask[30 : 30 + size, x : x + size] = True  # a small source
        mask[36 : 36 + size + i % 2, x + 3 : x + 3 + size + i % 3] = True  # a neighbour
        mask[80, x] = mask[80, x + 4] = True  # two equal ones
    stamped = []
    stamp = searchsteps._stamp
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(searchsteps, "_stamp", lambda *a: stamped.extend(a[2]) or stamp(*a))
        got = searchsteps.grow(mask, 2.0, 1.0)
    labels, n_sources = ndimage.label(mask, structure=np.ones((3, 3), bool))
    assert 0 < len(stamped) < n_sources  # some stamped although not alone, not all
    assert {labels[80, 10], labels[80, 14]} <= set(stamped)
    np.testing.assert_array_equal(got, bench.reference_grow(mask, 2.0, 1.0))


@pytest.mark.parametrize("far", [-1e10, -1e12, -1e15])
def test_clipping_keeps_its_digits_beside_a_value_far_below_the_sky(far):
    # A pixel far below the sky (a negative value divided by a flat near zero) is clipped
    # in the first round; the kept values' sums must then not be found by subtracting its
    # square, which would leave none of their digits.
    rng = np.random.default_rng(31)
    boxes = rng.normal(3000.0, 30.0, (40, 4096)).astype(np.float32)
    boxes[:, :3] = far
    ordered = np.sort(boxes, axis=1)
    _, low, high = SigmaClip(sigma=3.0, maxiters=5)(boxes, axis=1, return_bounds=True)
    got_low, got_high, first, last = searchsteps.clip_bounds(ordered, 3.0, 5)
    np.testing.assert_allclose(got_low, low, rtol=1e-12, atol=0)
    np.testing.assert_allclose(got_high, high, rtol=1e-12, atol=0)
    assert (last - first > 4000).all()
    for row in boxes[:5]:
        expected = sigma_clipped_stats(row, sigma=3.0, maxiters=5)[1]
        assert searchsteps.clipped_median(row, sigma=3.0, maxiters=5) == expected


@pytest.mark.parametrize("key", [289, 290, 325, 400, 425, 450])
def test_grow_takes_a_large_source_alone_to_its_exact_reach(key):
    # A source whose reach passes the stamps' (here 17 to 21 pixels, no proportional
    # part) and alone in its window: its candidates' transform, with the pixels at
    # exactly the reach's distance kept (dy**2 + dx**2 == key has solutions for each).
    mask = np.zeros((120, 130), bool)
    mask[50:54, 60:64] = True
    mask[0, 0] = True  # far away: a second source, stamped
    for reach in (np.sqrt(key), np.nextafter(np.sqrt(key), 0)):
        got = searchsteps.grow(mask, float(reach), 0.0)
        np.testing.assert_array_equal(got, bench.reference_grow(mask, float(reach), 0.0))


def test_grow_decides_a_crowded_frame_before_looking_at_each_source():
    # Thousands of small sources touching each other's windows: the whole-frame transform
    # is chosen from the windows' sizes alone, before the loop over each source's window.
    rng = np.random.default_rng(63)
    mask = _scattered_sources(rng, (400, 400), 6000, sizes=(0, 0, 1))
    calls = []
    whole = searchsteps._grow_whole
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(searchsteps, "_no_smaller_disc_near", _no_transform)
        patch.setattr(searchsteps, "_grow_whole", lambda *a: calls.append(1) or whole(*a))
        got = searchsteps.grow(mask, 3.0, 0.5)
    assert calls == [1]
    np.testing.assert_array_equal(got, bench.reference_grow(mask, 3.0, 0.5))


def test_grow_decides_a_frame_of_large_sources_by_their_windows_alone():
    # Sources grown by more than the stamps' margin whose windows alone cover the frame,
    # but not twice (fourteen sources: 1.39 frames): one transform of the whole frame,
    # decided before the small sources' neighbours are looked at or any is stamped.
    rng = np.random.default_rng(17)
    mask = _scattered_sources(rng, (200, 200), 14, sizes=(0, 1))
    calls = []
    whole = searchsteps._grow_whole
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(searchsteps, "_no_smaller_disc_near", _no_transform)
        patch.setattr(searchsteps, "_stamp", _no_transform)
        patch.setattr(searchsteps, "_grow_whole", lambda *a: calls.append(1) or whole(*a))
        got = searchsteps.grow(mask, searchsteps._STAMP_MARGIN + 2.0, 0.0)
    assert calls == [1]
    np.testing.assert_array_equal(
        got, bench.reference_grow(mask, searchsteps._STAMP_MARGIN + 2.0, 0.0)
    )


@pytest.mark.parametrize("key", [1, 2, 3, 8, 13, 50, 289])
def test_grow_of_the_whole_frame_takes_each_source_to_its_exact_reach(key):
    # The whole-frame path compares integer squared distances with each reach's disc:
    # reaches at the root of an integer and just below it, as the transform's distances.
    rng = np.random.default_rng(key)
    mask = _scattered_sources(rng, (120, 130), 40, sizes=(0, 1, 3))
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3), bool))
    for reach in (np.sqrt(key), np.nextafter(np.sqrt(key), 0)):
        reaches = np.full(labels.max() + 1, reach)
        got = searchsteps._grow_whole(labels, reaches)
        np.testing.assert_array_equal(got, bench.reference_grow(mask, float(reach), 0.0))


def test_grow_of_the_whole_frame_far_from_its_source():
    # Squared distances beyond 2**31 (46,341 pixels): a source at one end of a long strip
    # masks only its own disc, not the far end (32-bit squares wrapped to negative values).
    labels = np.zeros((50_000, 3), np.int32)
    labels[0, 1] = 1
    got = searchsteps._grow_whole(labels, np.array([0.0, 10.0]))
    yy, xx = np.mgrid[: labels.shape[0], : labels.shape[1]]
    np.testing.assert_array_equal(got, (yy - 0) ** 2 + (xx - 1) ** 2 <= 100)


@pytest.mark.parametrize("chunk", [1, 7, 1 << 20])
def test_grow_stamps_the_same_discs_in_chunks(chunk):
    # The stamps' indices made a chunk of edge pixels at a time (a bounded temporary on
    # frames with many sources of one disc): the same masks whatever the chunk.
    rng = np.random.default_rng(chunk)
    mask = _scattered_sources(rng, (300, 320), 120, sizes=(0, 1, 2))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(searchsteps, "_STAMP_CHUNK", chunk)
        got = searchsteps.grow(mask, 2.5, 0.5)
    np.testing.assert_array_equal(got, bench.reference_grow(mask, 2.5, 0.5))


@pytest.mark.parametrize(
    ("m", "k", "n"),
    [(2048, 32, 2048), (600, 10, 600), (5, 3, 7), (3, 600, 600), (4, 128, 8192), (2, 3, 10**6)],
)
def test_matmul_is_numpys_in_products_one_blas_thread_makes(monkeypatch, m, k, n):
    # The background's products cut into rows, and columns when one row alone is more, of
    # at most _ONE_THREAD multiply-adds, which OpenBLAS does on the calling thread.
    rng = np.random.default_rng(m + k + n)
    a, b = rng.normal(size=(m, k)), rng.normal(size=(k, n))
    expected = a @ b
    sizes, matmul = [], np.matmul
    monkeypatch.setattr(
        np, "matmul", lambda x, y, out: sizes.append(x.shape + y.shape) or matmul(x, y, out=out)
    )
    got = searchsteps._matmul(a, b, np.full((m, n), np.nan))
    monkeypatch.undo()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert sum(rows * cols for rows, _, _, cols in sizes) == m * n  # each value once
    assert all(terms == k for _, _, terms, _ in sizes)
    assert all(rows * k * cols <= searchsteps._ONE_THREAD for rows, _, _, cols in sizes)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sigma", [1e-300, 1e-16, 0.1, 1.0, 2.5])
@pytest.mark.parametrize("shape", [(300, 257), (70, 3), (2, 9), (1, 40)])
def test_smoothed_is_scipys_gaussian_filter(shape, sigma, dtype):
    # Rows of the image at a time down the columns, fewer rows than the kernel's half
    # width (reflected more than once), the last chunk short: scipy's values, bit for bit.
    rng = np.random.default_rng(shape[0] + int(10 * sigma))
    image = (rng.normal(0, 30.0, shape) + 1e3 * (rng.random(shape) < 0.01)).astype(dtype)
    got = searchsteps.smoothed(image, sigma, truncate=3.0)
    assert got.dtype == image.dtype
    np.testing.assert_array_equal(got, ndimage.gaussian_filter(image, sigma, truncate=3.0))
    np.testing.assert_array_equal(got, bench.reference_smoothed(image, sigma))
