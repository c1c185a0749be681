"""Groups by night and filter, their names and table, and the run on a dask cluster.

The season of `example_data.season` (6 nights x 2 filters x 5 frames of 128 x 128 pixels)
is combined without a client and with a `LocalCluster` of 2 worker processes: the files
must be the same bytes.  Workers killed on purpose show the two outcomes dask allows: the
group retried on a new worker, or a RuntimeError naming the group, and never a partial
file.
"""

from __future__ import annotations

import functools
import os
import signal
import threading
from datetime import timezone
from pathlib import Path

import dask
import pytest
from astropy.io import fits
from astropy.nddata import CCDData
from astropy.table import Table
from distributed import Client, LocalCluster

import convenience_functions as cf
from _flat_engine import frames, groups
from example_data.season import season_night, write_season

NIGHTS, FRAMES, SMALL = 6, 5, (128, 128)


@pytest.fixture(scope="module")
def season(tmp_path_factory):
    return tmp_path_factory.mktemp("season")


@pytest.fixture(scope="module")
def season_paths(season):
    return write_season(season / "raw", nights=NIGHTS, frames=FRAMES, shape=SMALL)


@pytest.fixture(scope="module")
def client():
    # One lost worker is retried, a second loss of the same task is a KilledWorker.
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        with LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster:
            with Client(cluster) as dask_client:
                yield dask_client


def by_night(folder, out, **options):
    return cf.combine_flats_by_filter(
        folder, imagetyp="flat", output_dir=out, group_by=("night", "filter"), **options
    )


def contents(folder):
    return {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir())}


# --- the night of a frame -------------------------------------------------------------


def grouping(keyword="DATE-OBS", zone=None):
    return groups.parse_grouping(("night", "filter"), keyword, zone, None)


@pytest.mark.parametrize(
    ("date_obs", "zone", "expected"),
    [
        ("2022-03-14T01:02:11.250", None, "2022-03-13"),  # dusk at 105.5 W: 18:00 local
        ("2022-03-14T12:50:00", None, "2022-03-13"),  # dawn: 05:48 local, the same night
        ("2022-03-14T19:10:00", None, "2022-03-14"),  # 12:08 local: the next night began
        ("2022-03-14T18:59:00", "America/Phoenix", "2022-03-13"),  # 11:59 MST
        ("2022-03-14T19:01:00", "America/Phoenix", "2022-03-14"),  # 12:01 MST
        ("2022-03-14T10:00:00", 9, "2022-03-14"),  # 19:00 in Japan
        ("2022-03-14T02:00:00", 9, "2022-03-13"),  # 11:00 in Japan: still last night
        ("2022-03-14T02:00:00", timezone.utc, "2022-03-13"),
    ],
)
def test_a_night_runs_from_local_noon_to_noon(date_obs, zone, expected):
    header = fits.Header({"DATE-OBS": date_obs, "OBSGEO-L": -105.5})
    assert groups.night_of(header, grouping(zone=zone), "f.fit") == expected


def test_a_keyword_with_the_night_is_taken_as_it_is():
    header = fits.Header({"NIGHT": "2022-03-13", "DATE-OBS": "2022-03-14T12:50:00"})
    assert groups.night_of(header, grouping("night"), "f.fit") == "2022-03-13"
    # a date and time in the named keyword is UTC, moved to the site's time
    header["NIGHT"] = "2022-03-14T02:00:00"
    assert groups.night_of(header, grouping("NIGHT", 9), "f.fit") == "2022-03-13"


@pytest.mark.parametrize(
    ("cards", "keyword", "match"),
    [
        ({"OBSGEO-L": -105.5}, "DATE-OBS", "f.fit has no DATE-OBS"),
        ({"DATE-OBS": "2022-03-14T01:02:11"}, "DATE-OBS", "f.fit has no OBSGEO-L"),
        ({"DATE-OBS": "2022-03-14", "OBSGEO-L": 0.0}, "DATE-OBS", "not an ISO date and time"),
        ({"DATE-OBS": "yesterday", "OBSGEO-L": 0.0}, "DATE-OBS", "not an ISO date and time"),
        ({"DATE-OBS": "2022-03-14T01:00", "OBSGEO-L": "west"}, "DATE-OBS", "is no angle"),
        ({"NIGHT": "2022-13-45"}, "NIGHT", "is not a date"),
    ],
)
def test_a_frame_whose_night_cannot_be_told_is_refused_by_name(cards, keyword, match):
    with pytest.raises(ValueError, match=match):
        groups.night_of(fits.Header(cards), grouping(keyword), "f.fit")


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"group_by": ("night",)}, ValueError, "must hold 'filter'"),
        ({"group_by": ("filter", "chip")}, ValueError, "must hold 'filter'"),
        ({"group_by": ("filter", "filter")}, ValueError, "each once"),
        ({"group_by": 3}, TypeError, "group_by must be a tuple"),
        ({"timezone": -7}, ValueError, "only with group_by"),
        ({"night_keyword": "NIGHT"}, ValueError, "only with group_by"),
        ({"group_by": ("night", "filter"), "night_keyword": ""}, ValueError, "FITS keyword"),
        ({"group_by": ("night", "filter"), "timezone": "Mars/Olympus"}, ValueError, "time zone"),
        ({"group_by": ("night", "filter"), "timezone": 15}, ValueError, "-14 to 14"),
        ({"group_by": ("night", "filter"), "timezone": True}, TypeError, "timezone must be"),
        ({"client": "localhost:8786"}, TypeError, "dask.distributed.Client"),
    ],
)
def test_grouping_options_are_refused_before_anything_is_read(tmp_path, options, error, match):
    out = tmp_path / "out"
    with pytest.raises(error, match=rf"^combine_flats_by_filter: .*{match}"):
        cf.combine_flats_by_filter(tmp_path / "nowhere", imagetyp="flat", output_dir=out, **options)
    assert not out.exists()


def test_output_names_are_stable_and_safe():
    assert groups.output_name("r") == "combined_flat_filter_r.fit"
    assert groups.output_name(("2022-03-13", "g'")) == "combined_flat_2022-03-13_filter_gp.fit"
    assert groups.output_name(("2022/03/13", "H\u03b1")) == "combined_flat_2022_03_13_filter_H_.fit"
    with pytest.raises(ValueError, match="night is empty"):
        groups.output_name(("  ", "r"))


# --- the public function, without a client ---------------------------------------------


def test_the_default_call_writes_what_it_wrote_before(season, season_paths):
    out = season / "default"
    written = cf.combine_flats_by_filter(season / "raw", imagetyp="flat", output_dir=out)
    assert sorted(p.name for p in out.iterdir()) == [
        "combined_flat_filter_g.fit",
        "combined_flat_filter_r.fit",
    ]  # no table: the same files as before group_by existed
    assert written == {
        "g": out / "combined_flat_filter_g.fit",
        "r": out / "combined_flat_filter_r.fit",
    }
    for filt, path in written.items():  # the former code path: combine_flats, then write_flat
        frames = [p for p in season_paths if f"-{filt}-" in p.name]
        flat, n_used = cf.combine_flats(frames, return_counts=True)
        reference = cf.write_flat(flat, season / f"reference-{filt}.fit", n_used=n_used)
        assert path.read_bytes() == reference.read_bytes()
    assert written.table["n_frames"].tolist() == [NIGHTS * FRAMES] * 2


def test_by_night_one_flat_per_night_and_filter_and_a_table(season, season_paths):
    out = season / "by-night"
    written = by_night(season / "raw", out)
    nights = [season_night(n) for n in range(NIGHTS)]
    assert list(written) == [(night, filt) for night in nights for filt in ("g", "r")]
    table = Table.read(out / groups.TABLE_NAME, format="ascii.ecsv")
    assert table["night"].tolist() == [night for night in nights for _ in "gr"]
    assert table["n_frames"].tolist() == [FRAMES] * 2 * NIGHTS
    assert table["output"].tolist() == [p.name for p in written.values()]
    assert all(0 <= share < 1e-3 for share in table["left_out"])
    for (night, filt), path in written.items():
        number = nights.index(night) + 1
        assert written.table["frames"][list(written).index((night, filt))] == ", ".join(
            f"AutoFlat-{filt}-n{number:02d}-{i:03d}.fit" for i in range(1, FRAMES + 1)
        )
        assert CCDData.read(path).meta["NCOMBINE"] == FRAMES


def test_a_foreign_table_is_never_replaced(season, season_paths):
    out = season / "foreign"
    out.mkdir()
    (out / groups.TABLE_NAME).write_text("my notes\n")
    with pytest.raises(ValueError, match="is not a table of ours"):
        by_night(season / "raw", out)
    assert sorted(p.name for p in out.iterdir()) == [groups.TABLE_NAME]  # nothing combined


def test_frames_without_a_site_longitude_are_refused_before_anything_is_written(tmp_path):
    write_season(tmp_path / "raw", nights=1, frames=3, shape=(64, 64))
    for path in (tmp_path / "raw").iterdir():
        with fits.open(path, mode="update") as hdul:
            del hdul[0].header["OBSGEO-L"]
    with pytest.raises(ValueError, match=r"^combine_flats_by_filter: .*AutoFlat-g-n01-001"):
        by_night(tmp_path / "raw", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    written = by_night(tmp_path / "raw", tmp_path / "out", timezone="America/Phoenix")
    assert list(written) == [("2022-03-13", "g"), ("2022-03-13", "r")]


# --- on a dask cluster ------------------------------------------------------------------


def test_a_local_cluster_writes_the_same_bytes(season, season_paths, client):
    here = by_night(season / "raw", season / "here")
    there = by_night(season / "raw", season / "cluster", client=client)
    assert list(there) == list(here)
    assert len(contents(season / "here")) == 2 * NIGHTS + 1  # the flats and the table
    assert contents(season / "cluster") == contents(season / "here")


def die_once(marker, paths):
    """Kill this worker the first time (the task that makes ``marker``), else combine the group.

    ``marker`` is made atomically (O_EXCL): when both workers start a group at once, only
    one of them dies.  Checking for the file first, then making it, let both see it missing
    and both die, and the group whose retry had been queued on the second worker was lost
    twice: a KilledWorker, as under a heavy load in about one run of ten.
    """
    try:
        Path(marker).touch(exist_ok=False)
    except FileExistsError:
        return cf.combine_flats(paths, return_counts=True)
    os.kill(os.getpid(), signal.SIGKILL)


def die_writing(target, paths):
    """Leave what a write interrupted by a lost worker leaves, and kill the worker."""
    (target.parent / f".{target.name}.0123456789ab.tmp").write_bytes(b"SIMPLE  =" + b" " * 100)
    os.kill(os.getpid(), signal.SIGKILL)


def jobs_of(season, out, nights):
    _, by_filter = frames.flats_by_filter(season / "raw", "flat", "test")
    found = groups.regroup(by_filter, grouping(), "test")
    keys = [key for key in found if key[0] in nights]
    out.mkdir(exist_ok=True)
    return [(key, found[key], out / groups.output_name(key)) for key in keys]


def test_a_killed_worker_is_retried_on_another(season, season_paths, client, tmp_path):
    jobs = jobs_of(season, season / "retried", [season_night(0)])
    combine = functools.partial(die_once, tmp_path / "killed-once")
    numbers = groups.run_groups(jobs, combine, client, "test")
    assert (tmp_path / "killed-once").exists()  # a worker did die
    assert [n["n_frames"] for n in numbers] == [FRAMES, FRAMES]
    reference = jobs_of(season, season / "reference", [season_night(0)])
    groups.run_groups(reference, functools.partial(cf.combine_flats, return_counts=True), None, "")
    for (_, _, target), (_, _, expected) in zip(jobs, reference, strict=True):
        assert target.read_bytes() == expected.read_bytes()


def test_a_worker_killed_every_time_is_a_clear_error_and_no_partial_file(season, client, tmp_path):
    out = season / "killed"
    [job] = jobs_of(season, out, [season_night(1)])[:1]
    combine = functools.partial(die_writing, job[2])
    with pytest.raises(RuntimeError, match=r"^test: group \('2022-03-14', 'g'\) was not combined"):
        groups.run_groups([job], combine, client, "test")
    assert list(out.iterdir()) == []  # neither the flat nor a temporary file
    # the cluster recovers: the next run works
    (tmp_path / "done").touch()  # die_once: no more killing
    [numbers] = groups.run_groups([job], functools.partial(die_once, tmp_path / "done"), client, "")
    assert numbers["n_frames"] == FRAMES
    assert [p.name for p in out.iterdir()] == [job[2].name]


def test_the_given_client_is_used_when_another_is_the_default(season, season_paths, client):
    # dask's progress bar follows the newest client unless told: it must follow ours
    jobs = jobs_of(season, season / "two-clients", [season_night(2)])
    combine = functools.partial(cf.combine_flats, return_counts=True)
    numbers = []
    with (
        LocalCluster(n_workers=0, processes=False, dashboard_address=":0") as other,
        Client(other),  # now the default client, with no workers
    ):
        # a daemon thread: waiting on the other scheduler would never end, nor block exit
        run = threading.Thread(
            target=lambda: numbers.extend(groups.run_groups(jobs, combine, client, "test")),
            daemon=True,
        )
        run.start()
        run.join(timeout=120)
        assert not run.is_alive(), "the run waited on the default client's scheduler"
    assert [n["n_frames"] for n in numbers] == [FRAMES, FRAMES]
