"""How the helpers treat real observers' files (issue 11).

Compressed files (gzip, bzip2, tile compression), 16-bit camera frames, a full disk, the
temporary files of a killed run, non-ASCII FILTER values, suspicious input, the memory
promise and untouched inputs.  Every frame here is synthetic, seeded and written by the
test itself: the course's simulator (`example_data`) is never involved.
"""

import bz2
import errno
import gzip
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.utils.exceptions import AstropyUserWarning

import convenience_functions as cf

ROOT = Path(__file__).parents[1]
SHAPE = (48, 64)
KINDS = ("plain", "gzip9", "gzip0", "bzip2", "tile")
SUFFIX = {
    "plain": ".fits",
    "gzip9": ".fits.gz",
    "gzip0": ".fits.gz",
    "bzip2": ".fits.bz2",
    "tile": ".fits.fz",
}
NON_ASCII_WARNING = "non-ASCII characters are present in the FITS file header"


# ------------------------------------------------------------------------------ helpers


def twilight_flats(n=5, *, shape=SHAPE, seed=0, level=30000.0):
    """Seeded float32 flats: vignetting times a falling level, Poisson-like noise, a ray."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    response = 1 - 0.15 * ((xx / shape[1] - 0.5) ** 2 + (yy / shape[0] - 0.5) ** 2)
    frames = []
    for i in range(n):
        lev = level * (1 - 0.08 * i)
        frame = response * lev + rng.normal(0, np.sqrt(lev), shape)
        frames.append(np.round(frame).astype(np.float32))
    if n > 1:
        frames[1][5, 7] += 8000  # a cosmic ray, so that rejection has something to do
    return frames


def flat_header(filt="r", imagetyp="FLAT", **extra):
    header = fits.Header()
    header["IMAGETYP"] = imagetyp
    if filt is not None:
        header["FILTER"] = filt
    for key, value in extra.items():
        header[key] = value
    return header


def fits_bytes(data, header):
    buffer = io.BytesIO()
    fits.PrimaryHDU(data, header).writeto(buffer)
    return buffer.getvalue()


def write_frames(folder, frames, kind="plain", *, header=None, prefix="flat"):
    """Write ``frames`` as ``kind`` files (see KINDS) into ``folder``; return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    header = flat_header() if header is None else header
    paths = []
    for i, data in enumerate(frames, start=1):
        path = folder / f"{prefix}-{i:03d}{SUFFIX[kind]}"
        if kind == "tile":  # as fpack writes them: the image in HDU 1, its header there too
            hdu = fits.CompImageHDU(
                data, header, compression_type="GZIP_2", quantize_level=0.0
            )  # lossless
            fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
        else:
            raw = fits_bytes(data, header)
            if kind.startswith("gzip"):
                raw = gzip.compress(raw, compresslevel=int(kind[-1]))
            elif kind == "bzip2":
                raw = bz2.compress(raw)
            path.write_bytes(raw)
        paths.append(path)
    return paths


def fingerprint(paths):
    """SHA-256 and modification time of each file."""
    return {
        str(p): (hashlib.sha256(Path(p).read_bytes()).hexdigest(), Path(p).stat().st_mtime_ns)
        for p in paths
    }


def assert_same_flat(got, expected):
    np.testing.assert_array_equal(got.data, expected.data)
    np.testing.assert_array_equal(got.uncertainty.array, expected.uncertainty.array)
    np.testing.assert_array_equal(got.mask, expected.mask)


def only_non_ascii_warnings(caught):
    """Check that the warnings caught are (at most) astropy's notes on non-ASCII cards."""
    for warning in caught:
        assert warning.category is AstropyUserWarning, warning
        assert NON_ASCII_WARNING in str(warning.message), warning


def non_ascii_filter(path, placeholder, value):
    """Replace the ASCII FILTER ``placeholder`` of a plain FITS file by UTF-8 ``value``.

    FITS headers are ASCII; some capture programs write UTF-8 anyway.  The card keeps
    its 80 bytes (the placeholder's padding absorbs the extra bytes).
    """
    raw = path.read_bytes()
    old = f"'{placeholder:<8}'".encode("ascii")
    new = b"'" + value.encode("utf-8").ljust(8) + b"'"
    assert len(new) == len(old), "choose a placeholder as long as the UTF-8 value's padding"
    assert raw.count(old) == 1
    path.write_bytes(raw.replace(old, new))


# ------------------------------------------------------------- 1. compressed FITS files


@pytest.mark.parametrize("kind", KINDS[1:])
def test_compressed_files_combine_like_plain_ones(tmp_path, kind, system_tmp):
    frames = twilight_flats(seed=1)
    plain = write_frames(tmp_path / "plain", frames)
    packed = write_frames(tmp_path / kind, frames, kind)
    expected, expected_used = cf.combine_flats(plain, return_counts=True)
    got, used = cf.combine_flats(packed, return_counts=True)
    assert_same_flat(got, expected)  # lossless compression: exactly the same flat
    np.testing.assert_array_equal(used, expected_used)
    assert used[5, 7] == 4  # the ray was rejected in both
    assert [got.header[f"IMCMB{i:03d}"] for i in range(1, 6)] == [p.name for p in packed]
    assert list(system_tmp.iterdir()) == []  # no expanded copy is left


def test_compression_is_recognised_by_content_not_by_name(tmp_path):
    frames = twilight_flats(seed=2)
    expected = cf.combine_flats(write_frames(tmp_path / "plain", frames))
    mixed = []
    for i, data in enumerate(frames):
        raw = fits_bytes(data, flat_header())
        if i % 2:  # gzip data named .fits
            path, raw = tmp_path / f"gz-named-plain-{i}.fits", gzip.compress(raw)
        else:  # plain data named .fits.gz
            path = tmp_path / f"plain-named-gz-{i}.fits.gz"
        path.write_bytes(raw)
        mixed.append(path)
    assert_same_flat(cf.combine_flats(mixed), expected)


@pytest.mark.parametrize("kind", KINDS[1:])
def test_a_folder_of_compressed_files_combines_like_plain_ones(tmp_path, kind, system_tmp):
    # A tile-compressed file keeps IMAGETYP and FILTER in HDU 1, where an
    # ImageFileCollection (reading HDU 0) does not look: such a folder once gave no flat.
    frames = twilight_flats(seed=3)
    write_frames(tmp_path / "plain", frames)
    write_frames(tmp_path / kind, frames, kind)
    darks = [0.01 * f for f in twilight_flats(3, seed=4)]  # other frames of the night
    write_frames(tmp_path / kind, darks, kind, header=flat_header(imagetyp="DARK"), prefix="d")
    expected = cf.combine_flats_by_filter(tmp_path / "plain", imagetyp="flat")
    got = cf.combine_flats_by_filter(tmp_path / kind, imagetyp="flat")
    assert list(got) == ["r"]
    assert fits.getheader(got["r"])["NCOMBINE"] == 5
    np.testing.assert_array_equal(fits.getdata(got["r"]), fits.getdata(expected["r"]))
    np.testing.assert_array_equal(
        fits.getdata(got["r"], "NUSED"), fits.getdata(expected["r"], "NUSED")
    )
    assert list(system_tmp.iterdir()) == []  # no expanded copy is left


@pytest.mark.parametrize("kind", ["gzip9", "bzip2"])
def test_truncated_compressed_file_is_an_error_naming_it(tmp_path, kind, system_tmp):
    paths = write_frames(tmp_path, twilight_flats(seed=5), kind)
    victim = paths[2]
    raw = victim.read_bytes()
    victim.write_bytes(raw[: int(0.9 * len(raw))])
    with pytest.raises(ValueError, match=re.escape(str(victim))):
        cf.combine_flats(paths)
    assert list(system_tmp.iterdir()) == []  # the copies of the frames before it too


def test_truncated_file_in_a_folder_is_an_error_naming_it(tmp_path):
    # ImageFileCollection cannot read the header of a truncated .fits.gz: it logs a
    # warning and leaves the file out of its summary, so the flat was once made from 4 of
    # the 5 frames without an error.
    paths = write_frames(tmp_path, twilight_flats(seed=6), "gzip9")
    raw = paths[2].read_bytes()
    paths[2].write_bytes(raw[: int(0.9 * len(raw))])
    with pytest.raises(ValueError, match=re.escape(paths[2].name)):
        cf.combine_flats_by_filter(tmp_path, imagetyp="flat")
    assert not list(tmp_path.glob("combined_flat_*"))


def test_macos_resource_files_beside_the_flats_are_ignored(tmp_path):
    # Copied to a FAT or exFAT drive, macOS adds "._name" files (AppleDouble, not FITS)
    # that ImageFileCollection lists with the flats.  They must not stop the combination.
    paths = write_frames(tmp_path, twilight_flats(seed=7))
    for path in paths:
        path.with_name("._" + path.name).write_bytes(b"\x00\x05\x16\x07" + bytes(4092))
    result = cf.combine_flats_by_filter(tmp_path, imagetyp="flat")
    assert fits.getheader(result["r"])["NCOMBINE"] == 5


def test_upper_case_extensions_are_not_left_out(tmp_path):
    # Windows capture programs write FLAT_001.FIT; ImageFileCollection's default listing
    # matches extensions case-sensitively and would leave such files out silently.
    frames = twilight_flats(seed=8)
    paths = write_frames(tmp_path, frames)
    for path in paths[:2]:
        path.rename(path.with_name(path.name.upper().replace(".FITS", ".FIT")))
    result = cf.combine_flats_by_filter(tmp_path, imagetyp="flat")
    assert fits.getheader(result["r"])["NCOMBINE"] == 5


# ------------------------------------------------------------- 2. 16-bit camera frames


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unsigned_16_bit_frames_with_bzero(tmp_path, dtype):
    rng = np.random.default_rng(9)
    frames = [np.round(f * 1.8) for f in twilight_flats(seed=9)]  # levels 40000 to 54000
    for frame in frames:
        frame[rng.random(SHAPE) < 0.01] = 65535  # saturated pixels, as cameras clip them
        frame[0, :3] = [0, 1, 32767]
    assert max(f.max() for f in frames) == 65535
    as_uint16 = [f.astype(np.uint16) for f in frames]
    header = flat_header()  # no BUNIT, as cameras write them
    plain = write_frames(tmp_path / "u16", as_uint16, header=header)
    raw = fits.getheader(plain[0])
    assert (raw["BITPIX"], raw["BZERO"], "BUNIT" in raw) == (16, 32768, False)
    rice = tmp_path / "rice"
    rice.mkdir()
    for i, data in enumerate(as_uint16):  # fpack's default for integer frames
        hdu = fits.CompImageHDU(data, header, compression_type="RICE_1")
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(rice / f"flat-{i}.fits.fz")
    gzipped = write_frames(tmp_path / "gz", as_uint16, "gzip9", header=header)
    floats = write_frames(tmp_path / "f32", frames, header=flat_header(BUNIT="adu"))

    expected, expected_used = cf.combine_flats(floats, dtype=dtype, return_counts=True)
    assert np.isfinite(expected.data).all()
    for paths in (plain, sorted(rice.iterdir()), gzipped):
        got, used = cf.combine_flats(paths, dtype=dtype, return_counts=True)
        assert got.data.dtype == dtype
        assert_same_flat(got, expected)
        np.testing.assert_array_equal(used, expected_used)
    # A frame read as signed (BZERO ignored) would have a negative median: not the case.
    assert np.nanmedian(cf.read_frame(plain[0]).data) > 32768


# -------------------------------------------------------------------- 3. a full disk

ORIGINAL_WRITETO = fits.HDUList.writeto


def raise_after_a_partial_write(self, name, **kwargs):
    """HDUList.writeto that writes half of the file and then finds the disk full."""
    buffer = io.BytesIO()
    ORIGINAL_WRITETO(self, buffer, **kwargs)
    Path(name).write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class _FullDisk(io.FileIO):
    """A file on a disk that is full after 8 kB."""

    def write(self, data):
        if self.tell() + memoryview(data).nbytes > 8192:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(data)


def fill_the_disk_inside_astropy(self, name, **kwargs):
    """HDUList.writeto whose writes fail with ENOSPC, as astropy itself meets them.

    astropy's ``_free_space_check`` catches the error and raises a new OSError whose
    errno is None (the ENOSPC is only in its ``__context__``).
    """
    with _FullDisk(name, "wb") as handle:
        ORIGINAL_WRITETO(self, handle, **kwargs)


@pytest.mark.parametrize("earlier_output", [False, True])
@pytest.mark.parametrize(
    "failing_writeto",
    [raise_after_a_partial_write, fill_the_disk_inside_astropy],
    ids=["writeto-raises", "inside-astropy"],
)
def test_full_disk(tmp_path, monkeypatch, failing_writeto, earlier_output, system_tmp):
    folder, out = tmp_path / "night", tmp_path / "out"
    inputs = write_frames(folder, twilight_flats(seed=10), "gzip9")
    target = out / "combined_flat_filter_r.fit"
    old = None
    if earlier_output:
        assert cf.combine_flats_by_filter(folder, imagetyp="flat", output_dir=out) == {"r": target}
        old = target.read_bytes()
    before = fingerprint(inputs)
    monkeypatch.setattr(fits.HDUList, "writeto", failing_writeto)
    with pytest.raises(OSError, match=re.escape(str(target))) as info:
        cf.combine_flats_by_filter(folder, imagetyp="flat", output_dir=out, sigma_upper=3.0)
    monkeypatch.undo()
    assert [p.name for p in out.iterdir()] == (["combined_flat_filter_r.fit"] * earlier_output)
    if earlier_output:
        assert target.read_bytes() == old
    assert fingerprint(inputs) == before
    assert list(system_tmp.iterdir()) == []
    assert info.value.errno == errno.ENOSPC, repr(info.value)
    assert "No space left on device" in str(info.value)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux /dev/full")
def test_full_temporary_disk_while_expanding(tmp_path, monkeypatch):
    # The expanded copy of a compressed input goes to a file whose every write fails with
    # the kernel's own ENOSPC (/dev/full).
    paths = write_frames(tmp_path / "night", twilight_flats(3, seed=11), "bzip2")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    made = []

    def mkstemp_on_a_full_disk(suffix=None, prefix=None, dir=None, text=False):
        name = scratch / f"{prefix or 'tmp'}{len(made)}{suffix or ''}"
        name.write_bytes(b"")
        made.append(name)
        return os.open("/dev/full", os.O_WRONLY), str(name)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp_on_a_full_disk)
    with pytest.raises(OSError, match=re.escape(str(paths[0]))) as info:
        cf.combine_flats(paths)
    monkeypatch.undo()
    assert made, "the copy was not made through tempfile.mkstemp: rewrite this test"
    assert info.value.errno == errno.ENOSPC  # the file system's error, not a bad file
    assert "No space left on device" in str(info.value)
    assert list(scratch.iterdir()) == []  # the copy is removed


FILE_SIZE_CHILD = textwrap.dedent(
    """
    import json, resource, signal, sys, tempfile
    from pathlib import Path

    scratch, limit, paths = json.loads(sys.argv[1])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails: EFBIG
    tempfile.tempdir = scratch
    import convenience_functions as cf

    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    try:
        cf.combine_flats(paths)
        error = None
    except Exception as err:
        error = [type(err).__name__, getattr(err, "errno", None), str(err)]
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
    print(json.dumps({"error": error, "left": [p.name for p in Path(scratch).iterdir()]}))
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs POSIX file-size limits")
@pytest.mark.parametrize("room", [100, "all but 1000 bytes"])
def test_temporary_folder_filling_up_while_expanding(tmp_path, room):
    # In a child process whose files may not grow beyond ``room`` bytes (RLIMIT_FSIZE):
    # like a disk that fills at that byte.  With room for all but the last 1000 bytes, the
    # kernel takes part of the last write and the rest waits in Python's write buffer, so
    # the error comes only when the copy is closed.
    paths = write_frames(tmp_path / "night", twilight_flats(3, seed=13), "bzip2")
    size = len(bz2.decompress(paths[0].read_bytes()))
    limit = room if isinstance(room, int) else size - 1000
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    argument = json.dumps([str(scratch), limit, [str(p) for p in paths]])
    out = subprocess.run(
        [sys.executable, "-c", FILE_SIZE_CHILD, argument],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["error"] is not None
    kind, code, message = report["error"]
    assert (kind, code) == ("OSError", errno.EFBIG), report
    assert str(paths[0]) in message  # names the input being expanded
    assert report["left"] == []  # and no copy is left in the temporary folder


# ------------------------------------------------------- 4. temporaries of a killed run


def test_temporaries_of_a_killed_run_are_removed_and_nothing_else(tmp_path):
    write_frames(tmp_path, twilight_flats(seed=12))
    stale = [
        ".combined_flat_filter_r.fit.0123456789ab.tmp",
        ".combined_flat_filter_r.fit.fedcba987654.tmp",
    ]
    kept = [
        ".notes.tmp",
        ".combined_flat_filter_r.fit.backup.tmp",
        "combined_flat_filter_r.fit.0123456789ab.tmp",  # not hidden: not ours
        ".combined_flat_filter_r.fit.0123456789AB.tmp",  # upper case: not ours
        ".combined_flat_filter_r.fit.0123456789a.tmp",  # 11 digits: not ours
        ".combined_flat_filter_r.fits.0123456789ab.tmp",  # another target
    ]
    for i, name in enumerate(stale + kept):
        (tmp_path / name).write_bytes(f"file {i}".encode())
    kept_bytes = {name: (tmp_path / name).read_bytes() for name in kept}
    result = cf.combine_flats_by_filter(tmp_path, imagetyp="flat")
    assert result == {"r": tmp_path / "combined_flat_filter_r.fit"}
    for name in stale:
        assert not (tmp_path / name).exists(), name
    assert {name: (tmp_path / name).read_bytes() for name in kept} == kept_bytes
    hidden = {p.name for p in tmp_path.iterdir() if p.name.startswith(".")}
    assert hidden == {name for name in kept if name.startswith(".")}


# ------------------------------------------------------------ 5. non-ASCII FILTER values


def write_h_alpha_and_h_beta(folder, kind="plain", n=3, comments=("", "")):
    """Flats with FILTER Hα (files a-*) and Hβ (files b-*) in raw UTF-8; return paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for seed, (prefix, value) in enumerate((("a", "Hα"), ("b", "Hβ"))):
        paths[value] = []
        for i, data in enumerate(twilight_flats(n, seed=20 + seed)):
            header = flat_header()
            comment = comments[i % 2]
            header["FILTER"] = ("HX", comment) if comment else "HX"
            path = folder / f"{prefix}-{i}.fits"
            path.write_bytes(fits_bytes(data, header))
            non_ascii_filter(path, "HX", value)
            if kind == "gzip9":
                packed = path.with_name(path.name + ".gz")
                packed.write_bytes(gzip.compress(path.read_bytes()))
                path.unlink()
                path = packed
            paths[value].append(path)
    return paths


@pytest.mark.parametrize("kind", ["plain", "gzip9"])
def test_h_alpha_and_h_beta_in_a_folder_are_never_one_flat(tmp_path, kind):
    paths = write_h_alpha_and_h_beta(tmp_path, kind)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = cf.combine_flats_by_filter(tmp_path, imagetyp="flat")
        except ValueError as err:
            result = err
    # astropy reads each non-ASCII byte as "?" (both values read "H??"), and warns so
    # whenever it parses such a header; no other warning may appear.
    only_non_ascii_warnings(caught)
    if isinstance(result, ValueError):  # either an error that says why ...
        for part in ("FILTER", "ASCII", "\\xce\\xb1", "\\xce\\xb2"):  # and the raw bytes
            assert part in str(result)
        assert not list(tmp_path.glob("combined_flat_*"))
        return
    assert len(result) == 2  # ... or two flats, each of one filter's frames
    for flat in result.values():
        header = fits.getheader(flat)
        names = {header[f"IMCMB{i:03d}"] for i in range(1, header["NCOMBINE"] + 1)}
        assert names in ({p.name for p in paths["Hα"]}, {p.name for p in paths["Hβ"]})


def test_h_alpha_and_h_beta_given_directly_are_refused(tmp_path):
    paths = write_h_alpha_and_h_beta(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match="FILTER"):
            cf.combine_flats(paths["Hα"] + paths["Hβ"])
    only_non_ascii_warnings(caught)


@pytest.mark.parametrize(("n", "comments"), [(3, ("", "")), (4, ("", "filter name"))])
def test_one_non_ascii_filter_is_one_flat(tmp_path, n, comments):
    # Two capture programs may write the same FILTER = 'Hα' card, one with a comment: only
    # the values may be compared, not the whole raw cards.
    paths = write_h_alpha_and_h_beta(tmp_path, n=n, comments=comments)
    for path in paths["Hβ"]:
        path.unlink()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = cf.combine_flats_by_filter(tmp_path, imagetyp="flat")
    only_non_ascii_warnings(caught)
    assert list(result) == ["H??"]
    header = fits.getheader(result["H??"])
    assert header["NCOMBINE"] == n
    assert header["FILTER"].isascii()  # the output is valid FITS


# ------------------------------------------------------------- 6. suspicious input warns


def one_warning_at_the_callers_line(record, *words):
    """Exactly one warning, naming ``words``, pointing at this file (the caller's line)."""
    assert len(record) == 1
    for word in words:
        assert word in str(record[0].message)
    assert record[0].filename == __file__


def test_mixed_imagetyp_warns(tmp_path):
    frames = twilight_flats(3, seed=30)
    paths = write_frames(tmp_path, frames[:2])
    paths += write_frames(tmp_path, frames[2:], header=flat_header(imagetyp="BIAS"), prefix="b")
    with pytest.warns(UserWarning, match="different IMAGETYP") as record:
        cf.combine_flats(paths)
    one_warning_at_the_callers_line(record, "BIAS", "FLAT")


def test_the_same_file_three_times_is_one_frame(tmp_path, monkeypatch):
    path = write_frames(tmp_path, twilight_flats(1, seed=31))[0]
    monkeypatch.chdir(tmp_path)
    same = [str(path), Path(path.name), Path(".") / ".." / tmp_path.name / path.name]
    with (
        pytest.warns(UserWarning, match="the same pixel values as") as record,
        pytest.raises(ValueError, match="2 of 3 frames fail the frame checks, leaving 1"),
    ):
        cf.combine_flats(same)
    assert len(record) == 2  # the second and the third name


def test_adu_and_electron_frames_warn(tmp_path):
    frames = twilight_flats(4, seed=32)
    paths = write_frames(tmp_path, frames[:2])  # no BUNIT: ADU
    paths += write_frames(tmp_path, frames[2:3], header=flat_header(BUNIT="adu"), prefix="a")
    paths += write_frames(tmp_path, frames[3:], header=flat_header(BUNIT="electron"), prefix="e")
    with pytest.warns(UserWarning, match="different units") as record:
        cf.combine_flats(paths)
    one_warning_at_the_callers_line(record, "electron", "adu")


def test_frames_without_bunit_and_in_adu_do_not_warn(tmp_path):
    frames = twilight_flats(4, seed=33)
    paths = write_frames(tmp_path, frames[:2])
    paths += write_frames(tmp_path, frames[2:], header=flat_header(BUNIT="adu"), prefix="a")
    cf.combine_flats(paths)  # any warning is an error here


def test_imagetyp_differing_only_in_case_in_a_folder_does_not_warn(tmp_path):
    frames = twilight_flats(4, seed=34)
    write_frames(tmp_path, frames[:2])
    write_frames(tmp_path, frames[2:], header=flat_header(imagetyp="flat"), prefix="b")
    result = cf.combine_flats_by_filter(tmp_path, imagetyp="flat")
    assert fits.getheader(result["r"])["NCOMBINE"] == 4


# ------------------------------------------------------------------- 7. memory promise

MEMORY_CHILD = textwrap.dedent(
    """
    import ctypes
    import json
    import os
    import sys
    import traceback

    import numpy as np

    import convenience_functions as cf

    def status(key):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
        raise KeyError(key)

    # The address of each page of a file (the modules' code) that this process has in its
    # page tables.  A forked child maps them again only when it touches them, which would
    # count against its run where a fresh process after its imports has them already: the
    # child touches them before its peak is reset.
    def mapped_file_pages():
        size = os.sysconf("SC_PAGE_SIZE")
        addresses = []
        with open("/proc/self/maps") as maps, open("/proc/self/pagemap", "rb") as pagemap:
            for line in maps:
                fields = line.split(maxsplit=5)  # a path may hold spaces
                span, permissions = fields[:2]
                if not permissions.startswith("r") or not fields[-1].startswith("/"):
                    continue
                start, end = (int(value, 16) for value in span.split("-"))
                pagemap.seek(start // size * 8)
                entries = np.frombuffer(pagemap.read((end - start) // size * 8), np.uint64)
                present = np.flatnonzero(entries >> np.uint64(63))
                addresses += (start + present * size).tolist()
        return addresses

    def measure(paths, mem_limit, dtype):
        for address in pages:
            ctypes.string_at(address, 1)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak (VmHWM) to the present resident size
        base = status("VmRSS")
        result = cf.combine_flats(paths, mem_limit=mem_limit, dtype=dtype)
        peak = status("VmHWM")
        return {
            "extra": peak - base,
            "median": float(np.nanmedian(result.data)),
            "dtype": str(result.data.dtype),
            "simulator": "example_data" in sys.modules,
        }

    # Each run in a child forked from this process after the imports: a fresh heap and a
    # peak of its own each, without paying the imports again; two at a time.
    runs, failed, running = list(enumerate(json.loads(sys.argv[1]))), 0, {}
    pages = mapped_file_pages()
    while runs or running:
        while runs and len(running) < 2:
            index, run = runs.pop(0)
            pid = os.fork()
            if pid == 0:  # the child: one run, then out without Python's clean-up
                try:
                    report = measure(*run)
                except BaseException:
                    traceback.print_exc()
                    sys.stderr.flush()
                    os._exit(1)
                os.write(1, (json.dumps([index, report]) + "\\n").encode())
                os._exit(0)
            running[pid] = index
        pid, code = os.wait()
        failed += code != 0
        del running[pid]
    sys.exit(failed)
    """
)


@pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc peak-RSS reset"
)
def test_memory_stays_within_mem_limit(tmp_path):
    shape, n = (600, 800), 10
    rng = np.random.default_rng(40)
    kinds = {"float32": tmp_path / "f32", "uint16": tmp_path / "u16"}
    paths = {}
    for kind, folder in kinds.items():
        frames = [rng.normal(30000 * (1 - 0.03 * i), 170, shape) for i in range(n)]
        frames = [f.astype(np.float32 if kind == "float32" else np.uint16) for f in frames]
        paths[kind] = [str(p) for p in write_frames(folder, frames)]
    runs, minimum = [], {}
    for dtype in ("float32", "float64"):
        with pytest.raises(ValueError, match="too small") as info:
            cf.combine_flats(paths["float32"], mem_limit=1e6, dtype=dtype)
        least = float(re.search(r"at least ([0-9.e+]+) bytes", str(info.value)).group(1))
        with pytest.raises(ValueError, match="too small"):
            cf.combine_flats(paths["float32"], mem_limit=0.98 * least, dtype=dtype)
        minimum[dtype] = least
        runs += [("float32", dtype, f * least) for f in (1.02, 2.0, 4.0)]
    # float64 at the minimum once overran in about half of the runs (memory a worker thread
    # freed stayed with its allocator arena, now avoided): measured three times.
    runs += [("float32", "float64", 1.02 * minimum["float64"])] * 2
    # Camera integers are read through astropy's section: the worst case (and a slow one).
    runs += [("uint16", "float64", 1.02 * minimum["float64"])]
    # glibc's defaults, as a reader's kernel has them: `make test`'s MALLOC_* settings (one heap for
    # all threads, freed memory kept) would lower the peaks and hide an arena's overrun.
    env = {key: value for key, value in os.environ.items() if not key.startswith("MALLOC_")}
    env["PYTHONPATH"] = str(ROOT)
    started = time.monotonic()
    argument = json.dumps([[paths[kind], limit, dtype] for kind, dtype, limit in runs])
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, argument],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    reports = dict(json.loads(line) for line in out.stdout.strip().splitlines())
    assert sorted(reports) == list(range(len(runs)))
    results = [(run, reports[index]) for index, run in enumerate(runs)]
    ratios = []
    for (kind, dtype, limit), report in results:
        assert abs(report["median"] - 1) < 1e-3
        assert report["dtype"] == dtype
        assert not report["simulator"]  # 9. the simulator is never imported
        ratios.append((kind, dtype, round(limit / 1e6, 2), round(report["extra"] / limit, 3)))
    print(f"\nfiles, dtype, mem_limit (MB), peak/mem_limit ({time.monotonic() - started:.1f} s):")
    print("\n".join(map(str, ratios)))
    assert all(ratio <= 1.15 for *_, ratio in ratios), ratios


# ------------------------------------------------------------- 8. inputs never modified


def test_inputs_are_never_modified(tmp_path):
    frames = twilight_flats(seed=50)
    inputs = []
    for kind in KINDS:
        paths = write_frames(tmp_path / kind, frames, kind)
        inputs += paths
        before = fingerprint(paths)
        cf.combine_flats(paths)
        cf.combine_flats(paths, stdfunc="mad_std", dtype=np.float64, mem_limit=20e6)
        assert fingerprint(paths) == before, kind
    u16 = write_frames(tmp_path / "u16", [f.astype(np.uint16) for f in frames], "gzip0")
    before = fingerprint(u16)
    cf.combine_flats(u16)
    assert fingerprint(u16) == before
    before = fingerprint(inputs)
    cf.combine_flats_by_filter(tmp_path / "gzip9", imagetyp="flat")
    cf.combine_flats_by_filter(tmp_path / "bzip2", imagetyp="flat", output_dir=tmp_path / "o")
    assert fingerprint(inputs) == before


def test_mosaic_chips_lists_a_mosaics_chips_and_nothing_for_one_image(tmp_path):
    import numpy as np
    from astropy.io import fits

    import convenience_functions as cf

    one, mosaic, text = tmp_path / "one.fits", tmp_path / "mosaic.fits.gz", tmp_path / "x.fits"
    fits.writeto(one, np.zeros((4, 4)))
    chips = [fits.ImageHDU(np.zeros((4, 4)), name=f"AMP{k}") for k in range(3)]
    fits.HDUList([fits.PrimaryHDU(), *chips]).writeto(mosaic)
    text.write_text("not FITS")
    assert cf.mosaic_chips(one) == []
    assert cf.mosaic_chips(mosaic) == ["AMP0", "AMP1", "AMP2"]
    with pytest.raises(ValueError, match=r"mosaic_chips: .*x\.fits is not a FITS file"):
        cf.mosaic_chips(text)
    with pytest.raises(OSError, match=r"mosaic_chips: .*missing\.fits"):
        cf.mosaic_chips(tmp_path / "missing.fits")
