"""Tests of issue 19's public side: check_flats, bad frames left out, the mask, grow."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import CCDData
from astropy.table import Table
from conftest import make_flats, make_sky_frames, write_frames

import convenience_functions as cf
from example_data.synthetic import spoil_frame


def flat_files(folder, spoil=None, index=2, n=5):
    """Five seeded flats on disk; with ``spoil`` (kind, amount) frame ``index`` spoilt."""
    frames = make_flats(n, spread=0.2, seed=11)
    if spoil is not None:
        bad = spoil_frame(CCDData(frames[index], unit="adu"), *spoil)
        frames[index] = bad.data
        extra = {"SATURATE": bad.meta["SATURATE"]} if "SATURATE" in bad.meta else None
    paths = write_frames(folder, frames)
    if spoil is not None and extra:
        with fits.open(paths[index], mode="update") as hdul:
            hdul[0].header.update(extra)
    return [str(p) for p in paths]


def test_check_flats_returns_a_table_of_verdicts(tmp_path):
    files = flat_files(tmp_path, ("overexposed", 4.0))
    table = cf.check_flats(files)
    assert isinstance(table, Table)
    assert len(table) == 5
    assert table["verdict"].tolist() == ["ok", "ok", "leave out", "ok", "ok"]
    assert "saturated" in table["reason"][2]
    assert table["saturated"][2] > 50
    assert np.isnan(table["saturated"][0])


def test_check_flats_refuses_bad_input(tmp_path):
    with pytest.raises(ValueError, match="check_flats: no image given"):
        cf.check_flats([])
    with pytest.raises(TypeError, match="mem_limit"):
        cf.check_flats(["never-read.fits"], mem_limit="1e9")
    files = flat_files(tmp_path)
    other = CCDData(np.ones((8, 8)), unit="adu")
    with pytest.raises(ValueError, match=r"check_flats: .* has shape"):
        cf.check_flats([*files, other])


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (("leak", 0.1), "gradient"),
        (("gradient", 0.05), "gradient"),
        (("overexposed", 4.0), "saturated"),
    ],
)
def test_combine_flats_leaves_a_bad_frame_out_with_a_warning(tmp_path, spoil, reason):
    files = flat_files(tmp_path, spoil)
    name = files[2].rsplit("/", 1)[-1]
    with pytest.warns(UserWarning, match=rf"combine_flats: .*{name} left out: .*{reason}"):
        flat = cf.combine_flats(files)
    good = cf.combine_flats(files[:2] + files[3:])
    assert np.array_equal(flat.data, good.data, equal_nan=True)
    assert flat.meta["NCOMBINE"] == 4
    assert flat.meta["NLEFTOUT"] == 1
    assert flat.meta["LEFT001"] == name
    assert reason in " ".join(flat.meta["HISTORY"])


def test_keep_bad_frames_combines_it_with_a_warning(tmp_path):
    files = flat_files(tmp_path, ("gradient", 0.05))
    with pytest.warns(UserWarning, match=r"kept \(keep_bad_frames=True\): a gradient"):
        flat = cf.combine_flats(files, keep_bad_frames=True)
    assert flat.meta["NCOMBINE"] == 5
    assert flat.meta["NLEFTOUT"] == 0
    with pytest.raises(TypeError, match="combine_flats: keep_bad_frames must be True or False"):
        cf.combine_flats(["never-read.fits"], keep_bad_frames="yes")


def test_good_frames_give_no_warning_and_leave_nothing_out(tmp_path):
    flat = cf.combine_flats(flat_files(tmp_path))  # a warning would be an error here
    assert flat.meta["NLEFTOUT"] == 0
    assert flat.meta["NCOMBINE"] == 5


def test_too_many_bad_frames_is_an_error(tmp_path):
    frames = make_flats(3, spread=0.2, seed=2)
    frames[0] = spoil_frame(CCDData(frames[0], unit="adu"), "gradient", 0.2).data
    with (
        pytest.warns(UserWarning, match="left out"),
        pytest.raises(ValueError, match="at least 3 needed"),
    ):
        cf.combine_flats([CCDData(f, unit="adu") for f in frames])


def test_combine_flats_by_filter_writes_what_was_left_out(tmp_path):
    files = flat_files(tmp_path / "in", ("leak", 0.5))
    with pytest.warns(UserWarning, match="left out"):
        written = cf.combine_flats_by_filter(tmp_path / "in", imagetyp="flat")
    header = fits.getheader(written["r"])
    assert header["NLEFTOUT"] == 1
    assert header["LEFT001"] == files[2].rsplit("/", 1)[-1]


def test_combine_sky_flats_leaves_a_moonlit_frame_out(tmp_path):
    frames, _, _ = make_sky_frames(9, seed=1)
    frames[4] = spoil_frame(frames[4], "moonlight", 20000.0)
    frames[4].meta["FILENAME"] = "moonlit.fits"
    with pytest.warns(UserWarning, match="combine_sky_flats: moonlit.fits left out: a gradient"):
        flat = cf.combine_sky_flats(frames)
    assert flat.meta["NLEFTOUT"] == 1
    assert flat.meta["NCOMBINE"] == 8
    with pytest.warns(UserWarning, match="moonlit.fits kept"):
        kept = cf.combine_sky_flats(frames, keep_bad_frames=True)
    assert kept.meta["NCOMBINE"] == 9
    with pytest.raises(TypeError, match="combine_sky_flats: keep_bad_frames"):
        cf.combine_sky_flats(frames, keep_bad_frames=1)


def test_a_combined_flat_masks_its_dead_and_low_pixels():
    frames = make_flats(3, seed=5, shape=(64, 96))
    for frame in frames:
        frame[10, 20] = 0.0  # dead
        frame[30, 40] *= 0.7  # low
        frame[:, 60] *= 0.05  # below the floor
    flat = cf.combine_flats([CCDData(f, unit="adu") for f in frames])
    assert flat.mask[10, 20]
    assert flat.mask[30, 40]
    assert flat.mask[:, 60].all()
    assert np.count_nonzero(flat.mask) <= 64 + 2 + 64  # and hardly anything else
    unmasked = flat.data[~flat.mask]
    assert unmasked.min() >= flat.meta["BPFLOOR"]
    assert flat.meta["NBADPIX"] == np.count_nonzero(flat.mask)


def test_grow_rejects_more_and_is_recorded(tmp_path):
    files = flat_files(tmp_path)
    frames = [CCDData(fits.getdata(f).astype(np.float32), unit="adu") for f in files]
    frames[1].data[20:23, 30:33] += 3000  # a small star in one frame
    plain, n_plain = cf.combine_flats(frames, return_counts=True)
    grown, n_grown = cf.combine_flats(frames, grow=2.0, return_counts=True)
    assert grown.meta["REJGROW"] == 2.0
    assert "REJGROW" not in plain.meta
    assert grown.meta["NREJECT"] > plain.meta["NREJECT"]
    assert (n_grown <= n_plain).all()
    assert n_grown[19, 29] == 4
    assert n_plain[19, 29] == 5
    with pytest.raises(ValueError, match="combine_flats: grow"):
        cf.combine_flats(["never-read.fits"], grow=-1.0)
