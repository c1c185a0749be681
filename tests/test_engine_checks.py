"""Tests of `_flat_engine.checks`: each frame check, its verdict and its warning."""

import math

import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import CCDData

from _flat_engine import checks, frames
from example_data.synthetic import make_flats, make_sky_frames, spoil_frame


def ccd(data, name, **meta):
    return CCDData(np.asarray(data, dtype=np.float32), unit="adu", meta={"FILENAME": name, **meta})


def good_frames(n=5):
    return [ccd(d, f"flat-{i}.fits") for i, d in enumerate(make_flats(n, spread=0.2, seed=3))]


def surveys_of(images):
    with frames.frames_stack() as stack:
        opened = frames.open_frames(images, stack)
        return opened, [checks.survey_frame(np.asarray(f.ccd.data), f) for f in opened]


def verdicts_of(images):
    return checks.judge_frames(surveys_of(images)[1])


def test_good_frames_pass_every_check():
    verdicts = verdicts_of(good_frames())
    assert all(v.reason == "" for v in verdicts)
    assert all(v.plane < 0.005 and v.residual < 0.005 for v in verdicts)


@pytest.mark.parametrize(
    ("kind", "amount", "words"),
    [
        ("leak", 0.10, "gradient"),
        ("gradient", 0.05, "gradient"),
        ("overexposed", 4.0, "saturated"),
    ],
)
def test_a_spoilt_frame_fails_and_only_it(kind, amount, words):
    images = good_frames()
    images[2] = spoil_frame(images[2], kind, amount)
    verdicts = verdicts_of(images)
    assert words in verdicts[2].reason
    assert [bool(v.reason) for v in verdicts] == [False, False, True, False, False]


def test_a_smooth_bump_fails_the_residual_check():
    images = good_frames()
    yy, xx = np.mgrid[0:64, 0:96]
    bump = 1 + 0.04 * np.exp(-((yy - 16) ** 2 + (xx - 24) ** 2) / 800.0)  # not a plane
    images[1] = ccd(images[1].data * bump, "bump.fits")
    verdict = verdicts_of(images)[1]
    assert verdict.residual > checks.RESIDUAL_LIMIT
    assert "smooth structure" in verdict.reason


def test_a_moonlit_sky_frame_fails():
    sky, _, _ = make_sky_frames(9, seed=1)
    sky[3] = spoil_frame(sky[3], "moonlight", 20000.0)
    verdicts = verdicts_of(sky)
    assert "gradient" in verdicts[3].reason
    assert sum(bool(v.reason) for v in verdicts) == 1


def test_saturated_share_counts_pixels_at_or_above_saturate():
    data = np.full((64, 64), 1000.0)
    data[:8] = 5000.0  # 8 of 64 rows
    _, (survey,) = surveys_of([ccd(data, "a.fits", SATURATE=5000.0)])
    assert survey.saturated == pytest.approx(0.125)
    assert survey.scale == pytest.approx(1e-3)
    _, (survey,) = surveys_of([ccd(data, "b.fits")])  # no SATURATE: not judged
    assert math.isnan(survey.saturated)


def test_too_few_or_too_small_frames_are_not_compared():
    verdicts = verdicts_of(good_frames(2))
    assert all(math.isnan(v.plane) and v.reason == "" for v in verdicts)
    small = [ccd(np.full((16, 16), 100.0 + i), f"s{i}.fits") for i in range(4)]
    assert all(math.isnan(v.residual) for v in verdicts_of(small))


def test_table_has_a_row_per_frame_with_units():
    images = good_frames(3)
    images[0].meta.update(EXPTIME=2.5, FILTER="R ")
    opened, surveys = surveys_of(images)
    table = checks.check_table(opened, surveys, checks.judge_frames(surveys))
    assert table.colnames == [
        "file", "filter", "exptime", "level", "saturated", "plane", "residual", "verdict",
        "reason",
    ]  # fmt: skip
    assert table["file"].tolist() == ["flat-0.fits", "flat-1.fits", "flat-2.fits"]
    assert table["filter"][0] == "R"
    assert table["exptime"][0] == 2.5
    assert math.isnan(table["exptime"][1])
    assert str(table["level"].unit) == "adu"
    assert table["level"][0] == pytest.approx(20000, rel=0.01)


def test_leave_out_warns_naming_each_frame_and_keeps_on_request():
    images = good_frames()
    images[4] = spoil_frame(images[4], "gradient", 0.05)
    with frames.frames_stack() as stack:
        opened = frames.open_frames(images, stack)
        verdicts = checks.judge_frames([checks.survey_frame(f.ccd.data, f) for f in opened])
        with pytest.warns(UserWarning, match=r"combine_flats: flat-4.fits left out: a gradient"):
            kept, left = checks.leave_out(opened, verdicts, False, 3, "combine_flats")
        assert kept == [0, 1, 2, 3]
        assert left == [("flat-4.fits", verdicts[4].reason)]
        with pytest.warns(UserWarning, match=r"flat-4.fits kept \(keep_bad_frames=True\)"):
            kept, left = checks.leave_out(opened, verdicts, True, 3, "combine_flats")
        assert kept == [0, 1, 2, 3, 4]
        assert left == []
        with (
            pytest.warns(UserWarning, match="left out"),
            pytest.raises(ValueError, match=r"leaving 4 \(at least 5 needed\).*flat-4.fits"),
        ):
            checks.leave_out(opened, verdicts, False, 5, "combine_flats")


def test_left_out_frames_are_recorded_in_the_header():
    header = fits.Header()
    checks.record_left_out(header, [("bad.fits", "a gradient of 5.0% against the median frame")])
    assert header["NLEFTOUT"] == 1
    assert header["LEFT001"] == "bad.fits"
    assert "left out bad.fits: a gradient of 5.0%" in " ".join(header["HISTORY"])
    empty = fits.Header()
    checks.record_left_out(empty, [])
    assert empty["NLEFTOUT"] == 0
    assert "LEFT001" not in empty


def test_keep_bad_frames_must_be_a_bool():
    assert checks.parse_keep(True) is True
    with pytest.raises(TypeError, match="keep_bad_frames must be True or False"):
        checks.parse_keep("yes")
