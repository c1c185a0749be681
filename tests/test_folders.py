"""Observers' folders as they are (issue 20): runs at the same time, killed runs, ``~``,
FILTER values that are not text, and master flats that other programs made.

Each test fails on the code before issue 20 and holds after it.  The frames are the seeded
synthetic flats of `test_files`; the simulator is never involved.
"""

import re
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import pytest
from astropy.io import fits
from conftest import error_in_read_only
from test_files import SHAPE, flat_header, twilight_flats, write_frames

import convenience_functions as cf
import example_data as ed
from _flat_engine import files as engine_files
from _flat_engine import frames as engine_frames
from example_data.synthetic import write_mosaic_flats

TARGET = "combined_flat_filter_r.fit"


@pytest.fixture
def other_processes():
    """A live process of this machine and one that has ended: ``(live_pid, ended_pid)``."""
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield live.pid, ended.pid
    finally:
        live.kill()
        live.wait()


def temporary_of(pid, digits="0123456789ab"):
    """The name `write_atomically` gives a temporary of TARGET written by process ``pid``."""
    host = engine_files.process_tag().rsplit("-", 1)[0]
    return f".{TARGET}.{host}-{pid}-{digits}.tmp"


# ------------------------------------------------------------- two runs at the same time


def test_a_run_keeps_the_temporary_of_a_run_going_on_and_removes_an_ended_ones(
    tmp_path, other_processes
):
    live, ended = other_processes
    write_frames(tmp_path, twilight_flats(seed=40))
    going_on, left = tmp_path / temporary_of(live), tmp_path / temporary_of(ended, "fedcba987654")
    going_on.write_bytes(b"half a flat, still being written")
    left.write_bytes(b"half a flat of a killed run")
    cf.combine_flats_by_filter(tmp_path, imagetyp="flat")
    assert going_on.read_bytes() == b"half a flat, still being written"
    assert not left.exists()


def test_a_temporary_of_another_machine_is_never_removed(tmp_path):
    name = f".{TARGET}.elsewhere7-1-0123456789ab.tmp"
    (tmp_path / name).write_bytes(b"a run on another computer sharing the folder")
    assert engine_files.remove_stale_temporaries(tmp_path / TARGET) == []
    assert (tmp_path / name).exists()


def test_the_temporary_names_the_machine_and_the_process(tmp_path, monkeypatch):
    seen = []
    writeto = fits.HDUList.writeto

    def spy(self, name, *args, **kwargs):
        seen.append(name.name)
        return writeto(self, name, *args, **kwargs)

    monkeypatch.setattr(fits.HDUList, "writeto", spy)
    engine_files.write_atomically(tmp_path / TARGET, fits.HDUList([fits.PrimaryHDU()]))
    host, pid = engine_files.process_tag().rsplit("-", 1)
    assert int(pid) > 0
    assert host.isalnum()
    assert seen[0].startswith(f".{TARGET}.{host}-{pid}-")
    assert seen[0].endswith(".tmp")


# -------------------------------------------------------- copies of a killed run's input


def test_expanded_copies_of_a_killed_run_are_removed_and_nothing_else(
    tmp_path, system_tmp, other_processes, monkeypatch
):
    live, ended = other_processes
    host = engine_files.process_tag().rsplit("-", 1)[0]
    orphan = system_tmp / f"flat-{host}-{ended}-k1ll3d.fits"
    kept = [
        system_tmp / f"flat-{host}-{live}-running.fits",  # a run going on
        system_tmp / "flat-notes.fits",  # not a name of ours
        system_tmp / f"flat-elsewhere7-{ended}-x.fits",  # another machine's
    ]
    for path in [orphan, *kept]:
        path.write_bytes(b"SIMPLE")
    monkeypatch.setattr(engine_frames, "_FOLDERS_CLEANED", set())
    paths = write_frames(tmp_path / "in", twilight_flats(seed=41), "gzip9")
    cf.combine_flats(paths)
    assert not orphan.exists()
    assert all(path.exists() for path in kept)


# ------------------------------------------------------------------------ ~ is home


def test_a_folder_and_frames_under_home_are_found(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    paths = write_frames(tmp_path / "flats", twilight_flats(seed=42))
    result = cf.combine_flats_by_filter("~/flats", imagetyp="flat")
    assert result == {"r": tmp_path / "flats" / TARGET}
    tilde = [f"~/flats/{path.name}" for path in paths]
    np.testing.assert_array_equal(cf.combine_flats(tilde).data, cf.combine_flats(paths).data)
    assert cf.read_frame(tilde[0]).shape == SHAPE


# ------------------------------------------------------------- FILTER values not text


def test_integer_filters_zero_and_one_are_both_combined(tmp_path):
    write_frames(tmp_path, twilight_flats(seed=43), header=flat_header(filt=0), prefix="zero")
    write_frames(tmp_path, twilight_flats(seed=44), header=flat_header(filt=1), prefix="one")
    result = cf.combine_flats_by_filter(tmp_path, imagetyp="flat")
    assert sorted(result) == ["0", "1"]
    assert all(path.exists() for path in result.values())


def test_a_blank_filter_is_still_no_filter(tmp_path):
    write_frames(tmp_path, twilight_flats(seed=45), header=flat_header(filt="  "))
    with pytest.raises(ValueError, match=r"no frame .* has IMAGETYP 'flat' and a FILTER"):
        cf.combine_flats_by_filter(tmp_path, imagetyp="flat")


# ------------------------------------------------- other programs' master flats left out


@pytest.mark.parametrize("ncombine", [5, 2.0])
def test_a_master_flat_with_ncombine_is_left_out_with_a_warning(tmp_path, ncombine):
    write_frames(tmp_path / "alone", twilight_flats(seed=46))
    alone = cf.combine_flats_by_filter(tmp_path / "alone", imagetyp="flat")["r"]
    expected = fits.getdata(alone)
    folder = tmp_path / "with-master"
    write_frames(folder, twilight_flats(seed=46))
    master = np.ones(SHAPE, dtype=np.float32)
    fits.writeto(folder / "master_flat_r.fits", master, flat_header(NCOMBINE=ncombine))
    with pytest.warns(UserWarning, match=r"master_flat_r.fits has NCOMBINE .* left out"):
        result = cf.combine_flats_by_filter(folder, imagetyp="flat")
    with pytest.warns(UserWarning, match=r"master_flat_r.fits has NCOMBINE .* left out"):
        assert "master_flat_r.fits" not in cf.fits_files(folder)
    np.testing.assert_array_equal(fits.getdata(result["r"]), expected)


def test_a_single_frame_with_ncombine_1_is_a_frame(tmp_path):
    write_frames(tmp_path, twilight_flats(seed=47), header=flat_header(NCOMBINE=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = cf.combine_flats_by_filter(tmp_path, imagetyp="flat")
    assert list(result) == ["r"]


# ------------------------------------------------------------ any FITS name, in notebooks


def test_fits_files_finds_every_fits_file_whatever_its_name(tmp_path):
    frames = twilight_flats(3, seed=48)
    paths = write_frames(tmp_path, frames[:1], prefix="upper")
    paths[0].rename(tmp_path / "FLAT_001.FIT")
    write_frames(tmp_path, frames[1:2], "gzip9", prefix="packed")
    (tmp_path / "packed-001.fits.gz").rename(tmp_path / "FLAT_002.FITS.GZ")
    fits.writeto(tmp_path / "flat_003", frames[2], flat_header())
    (tmp_path / "log.txt").write_text("clear")
    (tmp_path / ".hidden.fits").write_bytes((tmp_path / "flat_003").read_bytes())
    cf.combine_flats_by_filter(tmp_path, imagetyp="flat")  # writes a combined flat
    assert cf.fits_files(tmp_path) == ["FLAT_001.FIT", "FLAT_002.FITS.GZ", "flat_003"]
    assert cf.fits_files(str(tmp_path)) == cf.fits_files(tmp_path)


def test_fits_files_refuses_a_missing_folder_and_names_a_damaged_file(tmp_path):
    with pytest.raises(ValueError, match=r"fits_files: .*missing is not a folder"):
        cf.fits_files(tmp_path / "missing")
    (tmp_path / "cut.fits").write_bytes(b"SIMPLE  =                    T" + b" " * 20)
    with pytest.raises(ValueError, match=r"cut\.fits"):
        cf.fits_files(tmp_path)


# ------------------------------------------------------------------ the output folder


def test_the_output_folder_is_beside_the_data_unless_named(tmp_path):
    assert ed.open_output_folder(None, data_folder=tmp_path) == tmp_path
    named = ed.open_output_folder(str(tmp_path / "flats"), data_folder=tmp_path)
    assert named == tmp_path / "flats"
    assert named.is_dir()
    assert list(named.iterdir()) == []  # the check leaves nothing behind
    with pytest.raises(FileNotFoundError, match="set output_folder"):
        ed.open_output_folder(tmp_path / "typo" / "flats", data_folder=tmp_path)


def test_an_output_folder_that_cannot_be_written_is_refused_at_once(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", refuse)
    with pytest.raises(PermissionError, match="set output_folder in the parameters cell"):
        ed.open_output_folder(None, data_folder=tmp_path)
    (tmp_path / "a file").write_text("not a folder")
    monkeypatch.undo()
    with pytest.raises(OSError, match=r"cannot write the combined flats into .*a file"):
        ed.open_output_folder(tmp_path / "a file", data_folder=tmp_path)


def test_a_read_only_data_folder_is_refused_without_an_output_folder(tmp_path):
    last = error_in_read_only(tmp_path, "open_output_folder(None, data_folder=folder)")
    assert re.match(
        r"(PermissionError|OSError): \[Errno \d+\] cannot write the combined flats ", last
    )
    assert "set output_folder in the parameters cell to a folder you can write to" in last
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------- keywords of the primary header (inheritance)


def write_extension_frames(folder, *, inherit=None, bunit=None):
    """Flats with an empty primary holding FILTER, GAIN, RDNOISE (and BUNIT), the image in
    extension 1 with only its own structure; return the paths."""
    folder.mkdir()
    paths = []
    for i, data in enumerate(twilight_flats(seed=49)):
        primary = fits.PrimaryHDU(header=flat_header(GAIN=1.5, RDNOISE=8.0))
        if bunit:
            primary.header["BUNIT"] = bunit
        image = fits.ImageHDU(data, name="CCD1")
        if inherit is not None:
            image.header["INHERIT"] = inherit
        paths.append(folder / f"flat-{i}.fits")
        fits.HDUList([primary, image]).writeto(paths[-1])
    return paths


def test_keywords_missing_in_the_extension_come_from_the_primary(tmp_path):
    paths = write_extension_frames(tmp_path / "in")
    flat = cf.combine_flats(paths, stdfunc="ccdclip")  # needs GAIN and RDNOISE
    assert flat.header["FILTER"] == "r"
    assert flat.header["IMAGETYP"] == "FLAT"
    assert cf.read_frame(paths[0]).header["GAIN"] == 1.5
    result = cf.combine_flats_by_filter(tmp_path / "in", imagetyp="flat", stdfunc="ccdclip")
    assert fits.getheader(result["r"])["FILTER"] == "r"


def test_bunit_of_the_primary_is_the_unit_of_the_extension(tmp_path):
    paths = write_extension_frames(tmp_path / "in", bunit="electron")
    assert str(cf.read_frame(paths[0]).unit) == "electron"


def test_an_extension_with_inherit_false_takes_nothing_from_the_primary(tmp_path):
    paths = write_extension_frames(tmp_path / "in", inherit=False)
    with pytest.raises(ValueError, match="GAIN"):
        cf.combine_flats(paths, stdfunc="ccdclip")
    assert "FILTER" not in cf.read_frame(paths[0]).header


# ------------------------------------------------------------- the memory bound holds


def test_whole_frames_are_read_into_buffers_of_the_calling_thread(tmp_path, monkeypatch):
    """Memory a worker thread frees stays in its malloc arena (glibc), out of reach of the
    outputs made next: with whole frames allocated by the workers, ten 2048 x 2048 frames
    at mem_limit 94 MB peaked at 1.13 x the limit (benchmarks/bench_memory.py; 0.82 x
    now).  Every frame-sized buffer of the median pass must come from the calling thread,
    and be reused."""
    import threading

    from _flat_engine import stack

    paths = write_frames(tmp_path, twilight_flats(6, seed=50))
    with engine_frames.frames_stack() as files:
        frames = engine_frames.open_frames(paths, files)
        plan = stack.plan_memory(frames[0].shape, len(frames), np.dtype(np.float32), 1e9)
        assert plan.frame_workers == 2
        made = []
        empty = np.empty

        def spy(shape, *args, **kwargs):
            if tuple(np.atleast_1d(shape)) == SHAPE:
                made.append(threading.current_thread() is threading.main_thread())
            return empty(shape, *args, **kwargs)

        monkeypatch.setattr(engine_frames.np, "empty", spy)
        scales = stack.frame_scales(frames, plan, np.dtype(np.float32))
    assert made == [True, True]  # one buffer per reader, both made here, for six frames
    assert len(scales) == 6


# ----------------------------------------------------------------- mosaic cameras


def write_mosaic_frames(folder, chips=("CCD1", "CCD2", "CCD3")):
    """Three flats of a mosaic camera (`write_mosaic_flats`); return paths and truths."""
    paths, truths, _ = write_mosaic_flats(folder, chips=chips, seed=51)
    return paths, truths


def test_a_mosaic_file_is_never_silently_one_chip(tmp_path):
    paths, _ = write_mosaic_frames(tmp_path / "in")
    with pytest.raises(ValueError, match=r"holds 3 chips \(CCD1, CCD2, CCD3\)"):
        cf.combine_flats(paths)


def test_a_chip_is_chosen_by_name_or_index(tmp_path):
    paths, truths = write_mosaic_frames(tmp_path / "in")
    by_name = cf.combine_flats(paths, chip="ccd2")
    by_index = cf.combine_flats(paths, chip=2)
    np.testing.assert_array_equal(by_name.data, by_index.data)
    assert by_name.header["IMCMB001"] == "mosaic-001.fits[ccd2]"
    assert by_name.header["FILTER"] == "g'"  # from the primary
    residual = by_name.data / np.median(by_name.data) - truths["CCD2"] / np.median(truths["CCD2"])
    assert np.std(residual) < 0.005
    with pytest.raises(ValueError, match=r"no chip 'CCD9'; its chips: CCD1 \(HDU 1\)"):
        cf.combine_flats(paths, chip="CCD9")
    for wrong in ("", " ", -1, np.int64(-2)):
        with pytest.raises(ValueError, match="combine_flats: chip must be an EXTNAME"):
            cf.combine_flats(paths, chip=wrong)
    for wrong in (True, 1.5, 2.0, np.float32(2), b"ccd2", ["ccd2"]):  # never truncated or guessed
        with pytest.raises(TypeError, match=r"combine_flats: chip must be an EXTNAME \(a str\)"):
            cf.combine_flats(paths, chip=wrong)
    with pytest.raises(TypeError, match=r"read_frame: chip must be an EXTNAME \(a str\)"):
        cf.read_frame(paths[0], chip=2.0)
    with pytest.raises(ValueError, match=r"read_frame: chip must be an EXTNAME or an HDU index"):
        cf.read_frame(paths[0], chip=-1)
    with pytest.raises(ValueError, match=r"read_frame: .*furlong"):  # before the file is opened
        cf.read_frame(tmp_path / "no such file.fits", unit="furlong")
    with pytest.raises(TypeError, match="chip are not options"):
        cf.combine_flats_by_filter(tmp_path / "in", imagetyp="flat", chip="CCD1")


def test_a_mosaic_flat_is_one_file_that_ccddata_reads_chip_by_chip(tmp_path):
    from astropy.nddata import CCDData

    paths, _ = write_mosaic_frames(tmp_path / "in", chips=("A", "B"))
    chips = []
    for name in ("A", "B"):
        flat, n_used = cf.combine_flats(paths, chip=name, return_counts=True)
        chips.append((name, flat, n_used))
    path = tmp_path / "combined_flat_filter_R.fit"
    engine_files.write_combined(path, engine_files.mosaic_flat_hdus(chips), "test")
    with fits.open(path) as hdul:
        names = [hdu.name for hdu in hdul]
        assert hdul[0].header["COMBINED"] is True
        assert hdul[0].header["NCHIPS"] == 2
    assert names == [
        "PRIMARY",
        *(f"{c}{s}" for c in "AB" for s in ("", "_UNCERT", "_MASK", "_NUSED")),
    ]
    for name, flat, n_used in chips:
        read = CCDData.read(
            path, hdu=name, hdu_uncertainty=f"{name}_UNCERT", hdu_mask=f"{name}_MASK"
        )
        np.testing.assert_array_equal(read.data, flat.data)
        np.testing.assert_array_equal(read.uncertainty.array, flat.uncertainty.array)
        assert str(read.unit) == ""
        np.testing.assert_array_equal(fits.getdata(path, f"{name}_NUSED"), n_used)


def test_a_combined_flat_with_its_extensions_is_one_chip(tmp_path):
    paths = write_frames(tmp_path / "in", twilight_flats(seed=52))
    combined = cf.combine_flats_by_filter(tmp_path / "in", imagetyp="flat")["r"]
    with fits.open(combined) as hdul:
        assert len(hdul) == 4  # the flat, UNCERT, MASK and NUSED
    with engine_frames.frames_stack() as files:
        (frame,) = engine_frames.open_frames([combined], files)
    assert frame.hdu_index == 0
    assert frame.shape == fits.getdata(combined).shape
    assert len(paths) == 5


def test_a_folder_of_mosaic_flats_gives_one_file_with_every_chip_near_its_truth(tmp_path):
    from astropy.nddata import CCDData

    paths, truths, levels = write_mosaic_flats(tmp_path / "lfc", n=5, seed=53)
    result = cf.combine_flats_by_filter(tmp_path / "lfc", imagetyp="flat")
    path = result["g'"]
    assert path.name == "combined_flat_filter_gp.fit"
    assert result.table["n_frames"].tolist() == [5]
    with fits.open(path) as hdul:
        assert hdul[0].header["NCHIPS"] == 6
        assert hdul[0].header["FILTER"] == "g'"
    for name, truth in truths.items():
        chip = CCDData.read(
            path, hdu=name, hdu_uncertainty=f"{name}_UNCERT", hdu_mask=f"{name}_MASK"
        )
        ideal = cf.ideal_flat_noise(levels[name], gain=2.0, read_noise=8.0, response=truth)
        residual = (chip.data - truth / np.median(truth)) / ideal
        assert np.std(residual) < 1.15, name
        assert np.max(np.abs(residual)) < 6, name
        assert chip.header["IMCMB001"] == f"mosaic-001.fits[{name}]"
    assert len(paths) == 5


# ------------------------------------------------------ the same data under two names


@pytest.mark.parametrize("twin", ["copy", "gzip", "link"])
def test_the_same_data_under_two_names_is_used_once(tmp_path, twin):
    import gzip

    paths = write_frames(tmp_path / "in", twilight_flats(4, seed=54))
    alone = cf.combine_flats(paths)
    extra = {
        "copy": tmp_path / "in" / "copy-of-flat-002.fits",
        "gzip": tmp_path / "in" / "flat-002.fits.gz",
        "link": tmp_path / "in" / "link-to-flat-002.fits",
    }[twin]
    if twin == "copy":
        extra.write_bytes(paths[1].read_bytes())
    elif twin == "gzip":
        extra.write_bytes(gzip.compress(paths[1].read_bytes()))
    else:
        extra.symlink_to(paths[1])
    with pytest.warns(UserWarning, match=r"left out: the same pixel values as .*flat-002\.fits"):
        again = cf.combine_flats([*paths, extra])
    np.testing.assert_array_equal(again.data, alone.data)
    assert again.header["NLEFTOUT"] == 1
    with pytest.warns(UserWarning, match="the same pixel values"):
        written = cf.combine_flats_by_filter(tmp_path / "in", imagetyp="flat")["r"]
    np.testing.assert_array_equal(fits.getdata(written), alone.data)


# -------------------------------------------------- one filter failing among several


def test_a_failing_filter_does_not_stop_the_others_and_is_named(tmp_path):
    for filt, seed in (("B", 55), ("R", 56), ("V", 57)):
        write_frames(
            tmp_path, twilight_flats(4, seed=seed), header=flat_header(filt=filt), prefix=filt
        )
    damaged = tmp_path / "R-002.fits"
    damaged.write_bytes(damaged.read_bytes()[: 2880 + 1000])  # cut: half a frame
    with pytest.raises(ValueError, match=r"1 of 3 groups failed") as info:
        cf.combine_flats_by_filter(tmp_path, imagetyp="flat")
    message = str(info.value)
    assert "R: " in message
    assert "R-002.fits" in message
    assert "written: B -> combined_flat_filter_B.fit, V -> combined_flat_filter_V.fit" in message
    assert (tmp_path / "combined_flat_filter_B.fit").exists()
    assert (tmp_path / "combined_flat_filter_V.fit").exists()
    assert not (tmp_path / "combined_flat_filter_R.fit").exists()


def test_the_table_of_a_run_names_the_frames_left_out(tmp_path):
    from astropy.nddata import CCDData

    from example_data.synthetic import spoil_frame

    frames = [CCDData(data, unit="adu") for data in twilight_flats(5, seed=58)]
    frames[3] = spoil_frame(frames[3], "leak", 0.5)
    paths = write_frames(tmp_path, [frame.data for frame in frames])
    with pytest.warns(UserWarning, match=r"flat-004\.fits left out"):
        result = cf.combine_flats_by_filter(tmp_path, imagetyp="flat")
    assert result.table["frames_left_out"].tolist() == ["flat-004.fits"]
    assert result.table["n_frames"].tolist() == [5]
    assert len(paths) == 5


# ----------------------------------------------------------------- the review's cases


def test_two_bad_frames_of_five_are_left_out_and_the_good_ones_kept(tmp_path):
    from astropy.nddata import CCDData

    from example_data.synthetic import make_flats_with_rays, spoil_frame

    frames = make_flats_with_rays(5, shape=(128, 128)).frames
    for bad in (1, 3):
        frames[bad] = spoil_frame(frames[bad], "leak", 0.10)
    table = cf.check_flats(frames)
    assert table["verdict"].tolist() == ["ok", "leave out", "ok", "leave out", "ok"]
    assert isinstance(frames[0], CCDData)


def test_dusk_and_dawn_flats_tilted_two_per_cent_apart_all_pass(tmp_path):
    from example_data.synthetic import make_flats_with_rays, spoil_frame

    frames = make_flats_with_rays(6, shape=(128, 128)).frames
    dusk = [spoil_frame(frame, "gradient", 0.02) for frame in frames[:3]]
    dawn = [spoil_frame(frame, "gradient", -0.02) for frame in frames[3:]]
    table = cf.check_flats(dusk + dawn)
    assert table["verdict"].tolist() == ["ok"] * 6
    assert max(table["plane"]) < 3.0


def write_pipeline_file(path, data, *, layout):
    """A calibrated frame as pipelines write it: the image in the primary with ERR and DQ
    extensions ('primary'), or HST's empty primary with SCI, ERR and DQ ('sci')."""
    header = flat_header()
    quality = (
        fits.ImageHDU(np.sqrt(data), name="ERR"),
        fits.ImageHDU(np.zeros(data.shape, np.int16), name="DQ"),
    )
    if layout == "primary":
        hdus = [fits.PrimaryHDU(data, header), *quality]
    else:
        hdus = [fits.PrimaryHDU(header=header), fits.ImageHDU(data, name="SCI"), *quality]
    fits.HDUList(hdus).writeto(path)


@pytest.mark.parametrize("layout", ["primary", "sci"])
def test_an_image_with_error_and_quality_extensions_is_one_image(tmp_path, layout):
    frames = twilight_flats(4, seed=59)
    paths = write_frames(tmp_path / "plain", frames)
    (tmp_path / "pipeline").mkdir()
    piped = [tmp_path / "pipeline" / f"f{i}.fits" for i in range(4)]
    for path, data in zip(piped, frames, strict=True):
        write_pipeline_file(path, data, layout=layout)
    np.testing.assert_array_equal(cf.combine_flats(piped).data, cf.combine_flats(paths).data)
    written = cf.combine_flats_by_filter(tmp_path / "pipeline", imagetyp="flat")["r"]
    np.testing.assert_array_equal(fits.getdata(written), cf.combine_flats(paths).data)
    assert cf.read_frame(piped[0]).shape == SHAPE


def test_a_twin_is_left_out_even_with_keep_bad_frames(tmp_path):
    paths = write_frames(tmp_path, twilight_flats(4, seed=60))
    twin = tmp_path / "flat-001-copy.fits"
    twin.write_bytes(paths[0].read_bytes())
    with pytest.warns(UserWarning, match="left out: the same pixel values") as record:
        flat = cf.combine_flats([*paths, twin], keep_bad_frames=True)
    assert flat.header["NCOMBINE"] == 4
    assert "keep_bad_frames=True to combine" not in str(record[0].message)


def test_constant_frames_are_not_taken_for_twins():
    from _flat_engine import checks

    assert checks.fingerprint(np.full((32, 32), 65535.0)) is None
    assert checks.fingerprint(np.full((32, 32), np.nan)) is None
    assert checks.fingerprint(np.arange(1024.0).reshape(32, 32)) is not None


def test_reading_one_image_of_a_mosaic_needs_its_chip(tmp_path):
    paths, truths, _ = write_mosaic_flats(tmp_path / "lfc", chips=("A", "B"), seed=61)
    with pytest.raises(ValueError, match=r"holds 2 chips \(A, B\).*chip="):
        cf.read_frame(paths[0])
    assert cf.read_frame(paths[0], chip="b").shape == truths["B"].shape
    assert cf.read_frame(paths[0], chip="b").header["FILTER"] == "g'"
    with pytest.raises(ValueError, match=r"holds 2 chips"):
        cf.check_flats(paths)
    assert cf.check_flats(paths, chip="A")["verdict"].tolist() == ["ok"] * 3
    with pytest.raises(ValueError, match=r"holds 2 chips"):
        cf.ccdproc_recipe(paths)
