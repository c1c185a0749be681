"""The display helpers: each figure shows what its docstring says; bad input is refused."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

import convenience_functions as cf


@pytest.fixture
def shown(monkeypatch):
    """Keep the figures the helpers would show, instead of displaying them."""
    figures = []
    monkeypatch.setattr(cf, "show_figure", lambda fig, *, alt: figures.append(fig))
    yield figures
    plt.close("all")


def images_of(figure):
    """The image artists of a figure's main axes (not its colour bars), left to right."""
    return [ax.images[0] for ax in figure.axes if ax.images]


def seeded(shape=(64, 96), seed=0, noise=0.001):
    rng = np.random.default_rng(seed)
    truth = 1 + 0.05 * np.linspace(-1, 1, shape[1])[np.newaxis, :] * np.ones(shape)
    return truth, truth + rng.normal(0, noise, shape)


# region_around ---------------------------------------------------------------------------


def test_region_around_centres_odd_sizes_and_cuts_at_the_edges():
    assert cf.region_around((100, 200), 41) == (slice(80, 121), slice(180, 221))
    assert cf.region_around((100, 200), 600) == (slice(0, 400), slice(0, 500))
    assert cf.region_around((10.4, 59.6), 40, shape=(64, 60)) == (slice(0, 30), slice(40, 60))


@pytest.mark.parametrize(
    ("center", "size", "shape"),
    [
        ((5, 5), 0, None),
        (("a", 5), 3, None),
        ((5,), 3, None),
        ((500, 500), 10, (64, 64)),
    ],
)
def test_region_around_refuses_bad_input(center, size, shape):
    with pytest.raises(ValueError, match="region_around"):
        cf.region_around(center, size, shape=shape)


# show_image: region and block ------------------------------------------------------------


def test_show_image_region_keeps_the_image_pixel_numbers():
    image = np.arange(100.0 * 80).reshape(100, 80)
    region = np.s_[20:50, 30:70]
    artist = cf.show_image(image, region=region)
    np.testing.assert_array_equal(artist.get_array(), image[region])
    assert artist.get_extent() == [29.5, 69.5, 19.5, 49.5]
    plt.close("all")


def test_show_image_block_map_counts_the_chip_pixels():
    blocks = cf.block_mean(np.ones((64, 96)), 16)
    artist = cf.show_image(blocks, block=16)
    assert artist.get_extent() == [-0.5, 95.5, -0.5, 63.5]
    plt.close("all")


@pytest.mark.parametrize(
    "options",
    [
        {"region": np.s_[0:10:2, 0:10]},
        {"region": (slice(0, 5),)},
        {"region": np.s_[5:5, 0:3]},
        {"region": [slice(0, 5), slice(0, 5)]},
        {"block": 0},
    ],
)
def test_show_image_refuses_bad_region_or_block(options):
    with pytest.raises(ValueError, match=r"region|block"):
        cf.show_image(np.ones((20, 20)), **options)
    plt.close("all")


# show_panels -----------------------------------------------------------------------------


def test_show_panels_shares_one_stretch(shown):
    images = {"dark": np.zeros((10, 10)), "bright": np.full((10, 10), 4.0)}
    cf.show_panels(images, alt="two squares")
    (figure,) = shown
    norms = [artist.norm for artist in images_of(figure)]
    assert len(norms) == 2
    assert {(n.vmin, n.vmax) for n in norms} == {(norms[0].vmin, norms[0].vmax)}
    assert [ax.get_title() for ax in figure.axes if ax.images][:2] == ["dark", "bright"]


@pytest.mark.parametrize(
    ("images", "options"),
    [
        ({}, {"alt": "x"}),
        ({"a": np.ones((4, 4))}, {"alt": " "}),
        ({"a": np.ones((4, 4))}, {"alt": "x", "percentiles": (50, 10)}),
    ],
)
def test_show_panels_refuses_bad_input(images, options, shown):
    with pytest.raises(ValueError, match=r"show_panels|percentiles"):
        cf.show_panels(images, **options)
    assert not shown


# show_residuals --------------------------------------------------------------------------


def test_show_residuals_shows_the_residual_in_ideal_sigmas(shown):
    truth, flat = seeded()
    region = np.s_[10:40, 20:60]
    cf.show_residuals({"flat": flat}, truth, ideal=0.001, region=region, alt="noise")
    (artist,) = images_of(shown[0])
    expected = (flat[region] - truth[region]) / 0.001
    np.testing.assert_allclose(artist.get_array(), expected, rtol=1e-5, atol=1e-4)
    assert artist.get_extent() == [19.5, 59.5, 9.5, 39.5]


def test_show_residuals_normalize_divides_out_a_level(shown):
    truth, flat = seeded()
    ideal = np.full(truth.shape, 0.002)
    cf.show_residuals({"a": 1.03 * flat}, truth, ideal=ideal, normalize=True, alt="noise")
    (artist,) = images_of(shown[0])
    scale = np.median(1.03 * flat / truth)
    np.testing.assert_allclose(
        artist.get_array(), (1.03 * flat / scale - truth) / 0.002, rtol=1e-5, atol=1e-4
    )


@pytest.mark.parametrize(
    ("flats", "options"),
    [
        ({}, {"ideal": 0.001}),
        ({"a": np.ones((5, 5))}, {"ideal": 0.001}),
        ({"a": None}, {"ideal": 0.0}),
        ({"a": None}, {"ideal": 0.001, "alt": ""}),
        ({"a": None}, {"ideal": 0.001, "region": np.s_[0:0, 0:5]}),
    ],
)
def test_show_residuals_refuses_bad_input(flats, options, shown):
    truth, flat = seeded()
    flats = {name: flat if value is None else value for name, value in flats.items()}
    options = {"alt": "noise", **options}
    with pytest.raises(ValueError, match="show_residuals"):
        cf.show_residuals(flats, truth, **options)
    assert not shown


# show_block_residuals --------------------------------------------------------------------


def test_show_block_residuals_returns_and_shows_block_means_in_sigmas(shown):
    truth, flat = seeded(noise=0.01)
    ideal = np.full(truth.shape, 0.01)
    ideal[:16, :16] = np.inf  # no frame reached the first block
    blocks = cf.show_block_residuals({"flat": (flat, ideal)}, truth, size=16, alt="blocks")
    mean, sigma = blocks["flat"]
    assert mean.shape == (4, 6)
    assert np.isnan(mean[0, 0])
    assert np.isnan(sigma[0, 0])
    plane = cf.fit_plane(flat / truth)
    residual = flat / truth / plane - 1
    np.testing.assert_allclose(mean[1:, 1:], cf.block_mean(residual, 16)[1:, 1:], atol=1e-6)
    # the residual's noise is the flat's divided by truth x plane, averaged over a block
    variance = cf.block_mean((0.01 / (truth * plane)) ** 2, 16)
    np.testing.assert_allclose(sigma[1:, 1:], np.sqrt(variance[1:, 1:] / 256), rtol=1e-6)
    assert not np.allclose(sigma[1:, 1:], 0.01 / 16, rtol=1e-3)  # the truth is not flat
    (artist,) = images_of(shown[0])
    np.testing.assert_allclose(artist.get_array().filled(np.nan), mean / sigma, rtol=1e-5)
    assert artist.get_extent() == [-0.5, 95.5, -0.5, 63.5]


@pytest.mark.parametrize(
    "options",
    [
        {"size": 0},
        {"min_fraction": 0},
        {"min_fraction": 1.5},
        {"alt": ""},
        {"flats": {}},
        {"flats": {"a": (np.ones((4, 4)), 0.01)}},
    ],
)
def test_show_block_residuals_refuses_bad_input(options, shown):
    truth, flat = seeded()
    options = {"flats": {"a": (flat, 0.01)}, "alt": "blocks", **options}
    flats = options.pop("flats")
    with pytest.raises(ValueError, match="show_block_residuals"):
        cf.show_block_residuals(flats, truth, **options)
    assert not shown


# truth_table -----------------------------------------------------------------------------


def test_truth_table_has_one_row_of_compare_with_truth_per_flat():
    truth, flat = seeded()
    noisy = flat.copy()
    noisy[3, 3] += 0.05
    noise = {"levels": [20000.0, 20000.0], "gain": 1.0}
    table = cf.truth_table({"clean": flat, "hit": (noisy, None)}, truth, **noise)
    assert list(table["method"]) == ["clean", "hit"]
    for row, image in zip(table, (flat, noisy), strict=True):
        q = cf.compare_with_truth(image, truth, **noise)
        assert row["noise / ideal"] == pytest.approx(q.noise_ratio)
        assert (row["> 5 sigma above"], row["> 5 sigma below"]) == (q.n_high, q.n_low)
    assert "good rejected (%)" not in table.colnames


def test_truth_table_masks_good_rejected_without_counts(tmp_path):
    from astropy.io import fits

    truth, flat = seeded()
    frames = []
    for i, level in enumerate((20000.0, 20000.0)):
        frames.append(tmp_path / f"f{i}.fits")
        fits.PrimaryHDU((truth * level).astype(np.float32)).writeto(frames[-1])
    counts = np.full(truth.shape, 2)
    counts[0, 0] = 1  # one good value rejected
    table = cf.truth_table(
        {"with": (flat, counts), "without": flat},
        truth,
        levels=[20000.0, 20000.0],
        gain=1.0,
        frames=frames,
    )
    column = table["good rejected (%)"]
    assert list(column.mask) == [False, True]
    assert column[0] == pytest.approx(100 / (2 * truth.size))


@pytest.mark.parametrize(
    "options",
    [
        {"gain": 0.0},
        {"gain": -1.0},
        {"threshold": 0},
        {"threshold": np.nan},
        {"flats": {}},
        {"flats": {"a": np.ones((4, 4))}},
    ],
)
def test_truth_table_refuses_bad_input(options):
    truth, flat = seeded()
    options = {"flats": {"a": flat}, "levels": [20000.0], "gain": 1.0, **options}
    flats = options.pop("flats")
    with pytest.raises(ValueError, match="truth_table"):
        cf.truth_table(flats, truth, **options)


# show_clip_bands -------------------------------------------------------------------------


def test_show_clip_bands_draws_the_values_and_each_band(shown):
    bands = {"model": (0.97, 1.03), "mad": (0.995, 1.005)}
    cf.show_clip_bands([1.0, 0.99, 1.01], bands, title="pixel", alt="three values")
    (ax,) = shown[0].axes
    assert len(ax.collections) == 2
    for band, (low, high) in zip(ax.collections, bands.values(), strict=True):
        ys = band.get_paths()[0].vertices[:, 1]
        assert (ys.min(), ys.max()) == pytest.approx((low, high))
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [1.0, 0.99, 1.01])
    assert [t.get_text() for t in ax.get_legend().get_texts()][:2] == ["model", "mad"]


@pytest.mark.parametrize(
    ("values", "bands", "alt"),
    [
        ([], {"a": (0, 1)}, "x"),
        ([1.0, np.nan], {"a": (0, 1)}, "x"),
        ([1.0, 2.0], {"a": (2, 1)}, "x"),
        ([1.0, 2.0], {"a": (0, 1)}, ""),
    ],
)
def test_show_clip_bands_refuses_bad_input(values, bands, alt, shown):
    with pytest.raises(ValueError, match="show_clip_bands"):
        cf.show_clip_bands(values, bands, alt=alt)
    assert not shown


def test_truth_table_refuses_unknown_or_missing_keywords():
    truth, flat = seeded()
    with pytest.raises(TypeError, match="theshold"):
        cf.truth_table({"a": flat}, truth, levels=[20000.0], gain=1.0, theshold=5)
    with pytest.raises(TypeError, match="gain"):
        cf.truth_table({"a": flat}, truth, levels=[20000.0])


def test_region_around_refuses_a_square_wholly_outside_the_image():
    for center in ((-100, 50), (50, -100)):
        with pytest.raises(ValueError, match=r"^region_around: .* is outside the image"):
            cf.region_around(center, 10, shape=(4096, 4096))
    assert cf.region_around((2, 2), 10) == (slice(0, 7), slice(0, 7))  # cut, not moved


def test_a_figure_without_a_description_is_refused():
    with pytest.raises(ValueError, match="needs a description"):
        cf.show_panels({"a": np.ones((4, 4))}, alt=None)
    with pytest.raises(ValueError, match="must be a dict of title: image"):
        cf.show_panels([np.ones((4, 4))], alt="a list")
