"""Groups of flats beyond the filter, and the driver that combines them here or on dask.

- `parse_grouping`: the options ``group_by``, ``night_keyword``, ``timezone`` and
  ``client``, checked before any file is read;
- `night_of`, `regroup`: the observing night of a frame (noon to noon in the site's local
  time) and the flats of a folder grouped by night and filter;
- `safe_name`, `output_name`, `planned_outputs`: the file names of the combined flats, and
  those a notebook will write, checked before any combining;
- `combine_all`, `run_groups` (with `combine_group`, one task): every group combined and
  written, one after another on this machine or as tasks of a `dask.distributed.Client`;
- `CombinedFlats`, `summary`, `write_table`: what was combined, as a dict of outputs and a
  table (ECSV beside the flats when grouping by night).

dask is imported only when a client is given, so the course runs without it.
"""

from __future__ import annotations

import math
import os
import re
import uuid
import zoneinfo
from datetime import date, timedelta, timezone, tzinfo
from pathlib import Path
from typing import NamedTuple

import numpy as np
from astropy.coordinates import Angle
from astropy.table import Table
from astropy.time import Time

from .files import _temporary_name as temporary_name
from .files import (
    check_replaceable,
    chips_of,
    combined_flat_hdus,
    mosaic_flat_hdus,
    read_header,
    remove_stale_temporaries,
    write_combined,
)
from .frames import Chip
from .options import named

GROUP_KEYS = ("night", "filter")  # the order of a group's key and of its file name
LONGITUDE_KEYWORD = "OBSGEO-L"  # FITS WCS Paper III: the site's longitude, degrees east
TABLE_NAME = "combined_flats.ecsv"
_TABLE_MARK = "combine_flats_by_filter"  # in the table's meta: a table of ours


class Grouping(NamedTuple):
    """How frames are grouped: by night too (``by_night``), and how a night is found."""

    by_night: bool
    keyword: str
    zone: object  # None (from OBSGEO-L), hours east of Greenwich, or a tzinfo


def parse_grouping(group_by, night_keyword, zone, client):
    """Return the `Grouping` of these options, else raise TypeError/ValueError."""
    keys = (group_by,) if isinstance(group_by, str) else group_by
    try:
        keys = tuple(keys)
    except TypeError:
        raise TypeError(f"group_by must be a tuple of {GROUP_KEYS}, got {group_by!r}") from None
    if "filter" not in keys or not set(keys) <= set(GROUP_KEYS) or len(set(keys)) < len(keys):
        raise ValueError(
            f"group_by must hold 'filter' and may hold 'night' (each once), got {group_by!r}"
        )
    if not isinstance(night_keyword, str) or not night_keyword.strip():
        raise ValueError(f"night_keyword must be a FITS keyword, got {night_keyword!r}")
    by_night = "night" in keys
    if not by_night and (night_keyword.strip().upper() != "DATE-OBS" or zone is not None):
        raise ValueError("night_keyword and timezone apply only with group_by=('night', 'filter')")
    if isinstance(zone, str):
        try:
            zone = zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"timezone {zone!r} is not a time zone name I know") from err
    elif zone is not None and not isinstance(zone, tzinfo):
        if isinstance(zone, bool) or not isinstance(zone, (int, float, np.number)):
            raise TypeError(f"timezone must be a name, hours or a tzinfo, got {zone!r}")
        if not (math.isfinite(zone) and -14 <= zone <= 14):
            raise ValueError(f"timezone must be from -14 to 14 hours, got {zone!r}")
        zone = float(zone)
    if client is not None and not callable(getattr(client, "map", None)):
        raise TypeError(f"client must be a dask.distributed.Client or None, got {client!r}")
    return Grouping(by_night, night_keyword.strip().upper(), zone)


def _utc(text, keyword, path):
    """Return ``text`` (an ISO date and time, UTC) as a naive datetime, naming the file."""
    try:
        if "T" not in text:  # a date alone: midnight would be a guess
            raise ValueError("no time of day")
        return Time(text, format="isot", scale="utc").to_datetime()
    except ValueError as err:
        raise ValueError(f"{path}: {keyword} = {text!r} is not an ISO date and time") from err


def night_of(header, grouping, path):
    """Return the night (``'YYYY-MM-DD'``, the local date of its evening) of a frame.

    The value of ``grouping.keyword`` is either a date, taken as the night itself (not for
    DATE-OBS, a UTC date), or a UTC date and time, moved to the site's local time (from
    ``grouping.zone``, else the longitude OBSGEO-L / 15 hours: local mean solar time) and
    12 hours back: a night runs from local noon to the next local noon.
    """
    keyword = grouping.keyword
    value = header.get(keyword)
    if value is None or not str(value).strip():
        raise ValueError(f"{path} has no {keyword}: its night cannot be told")
    text = str(value).strip()
    if len(text) == 10 and keyword != "DATE-OBS":  # a date: the night, as the user named it
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError as err:
            raise ValueError(f"{path}: {keyword} = {text!r} is not a date") from err
    utc, zone = _utc(text, keyword, path), grouping.zone
    if zone is None:
        longitude = header.get(LONGITUDE_KEYWORD)
        if longitude is None:
            raise ValueError(
                f"{path} has no {LONGITUDE_KEYWORD} (the site's longitude): pass the site's "
                "timezone, a name such as 'America/Phoenix' or hours east of Greenwich"
            )
        try:
            zone = Angle(longitude, unit="deg").wrap_at("180d").degree / 15.0
        except (ValueError, TypeError) as err:
            raise ValueError(f"{path}: {LONGITUDE_KEYWORD} = {longitude!r} is no angle") from err
    if isinstance(zone, tzinfo):
        local = utc.replace(tzinfo=timezone.utc).astimezone(zone).replace(tzinfo=None)
    else:
        local = utc + timedelta(hours=zone)
    return (local - timedelta(hours=12)).date().isoformat()


def regroup(groups, grouping, label):
    """Return ``{key: paths}``: ``groups`` ({FILTER: paths}) split by night if asked.

    The key is the FILTER value when grouping by filter only (as earlier versions of the
    function returned), else the tuple ``(night, FILTER)``; keys come in sorted order.
    """
    if not grouping.by_night:
        return dict(groups)
    split = {}
    for filt, paths in groups.items():
        for path in paths:
            try:
                night = night_of(read_header(path), grouping, path)
            except ValueError as err:
                raise ValueError(f"{label}: {err}") from err
            split.setdefault((night, filt), []).append(path)
    return {key: split[key] for key in sorted(split)}


def safe_name(name, what="filter name"):
    """Return ``name`` as a safe file name: primes as ``p``, other unsafe characters ``_``."""
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a string, got {type(name).__name__}")
    stripped = name.strip()
    if not stripped:
        raise ValueError(f"{what} is empty; cannot build a file name from it")
    stripped = stripped.replace("'", "p").replace("\u2032", "p")
    return re.sub(r"[^A-Za-z0-9_-]", "_", stripped)


def output_name(key):
    """Return the file name of a group's combined flat (``key`` as `regroup` gives it)."""
    if isinstance(key, str):
        return f"combined_flat_filter_{safe_name(key)}.fit"
    night, filt = key
    return f"combined_flat_{safe_name(night, 'night')}_filter_{safe_name(filt)}.fit"


def planned_outputs(folder, filters, sky, label):
    """Return ``{filter: path}`` of the combined flats to be written into ``folder``, checked.

    The names are the writers' (`output_name`; ``combined_sky_flat_filter_<name>.fit`` for
    a sky flat).  Each path is checked at once with `check_replaceable`: a file of that name
    that is not a combined flat raises its ValueError now, before any combining, rather
    than when the flat is written.  Errors start with ``label``.
    """
    folder = Path(folder).expanduser()
    with named(label):
        if isinstance(filters, str):  # a lone filter name would be split into letters
            raise TypeError(f"filters must be a list of filter names, got {filters!r}")
        names = {}
        for filt in filters:
            safe = safe_name(filt)  # a TypeError or ValueError for what is no filter name
            names[filt] = f"combined_sky_flat_filter_{safe}.fit" if sky else output_name(filt)
    return checked_targets({filt: folder / name for filt, name in names.items()}, label)


def checked_targets(targets, label):
    """Return ``targets`` (``{key: path}``) once each may be written; raise ValueError if not.

    Two keys never on one file (compared without case: on macOS and Windows "R" and "r"
    name the same file), and never over a file that is not a combined flat
    (`check_replaceable`).
    """
    seen = {}
    for key, target in targets.items():
        other = seen.setdefault(str(target).casefold(), key)
        if other != key:
            raise ValueError(
                f"{label}: groups {other!r} and {key!r} would both be written to {target}"
            )
        check_replaceable(target, label)
    return targets


def combine_group(combine, paths, target, label):
    """Combine one group with ``combine(paths)`` and write it; return the table's numbers.

    ``combine`` returns ``(flat, n_used)`` (`combine_flats` with ``return_counts=True``).
    The file is written as `write_flat` writes it, through a temporary file and a rename.
    Files of a mosaic camera (several chips, one image extension each) are combined chip
    by chip, matched by name, into one file of one image extension per chip
    (`mosaic_flat_hdus`).  Returns the number of frames, the share of their pixel values
    left out (rejected, or masked as NaN, saturated or defective) and the names of the
    frames the frame checks left out.
    """
    chips = chips_of(paths[0])
    if len(chips) > 1:
        parts = [(name, *combine([Chip(p, name) for p in paths])) for _, name in chips]
        hdus = mosaic_flat_hdus(parts)
    else:
        flat, n_used = combine(paths)
        parts, hdus = [(None, flat, n_used)], combined_flat_hdus(flat, n_used)
    write_combined(target, hdus, label)
    total = len(paths) * sum(n_used.size for *_, n_used in parts)
    used = sum(float(np.sum(n_used, dtype=np.int64)) for *_, n_used in parts)
    # the frames the frame checks left out (LEFTnnn in each flat's header), chips merged
    names = {
        re.sub(r"\[.*\]$", "", str(value))
        for _, flat, _ in parts
        for key, value in flat.meta.items()
        if re.fullmatch(r"LEFT\d{3}", key)
    }
    return {
        "n_frames": len(paths),
        "left_out": 1.0 - used / total,
        "frames_left_out": ", ".join(sorted(names)),
    }


def run_groups(jobs, combine, client, label):
    """Combine every job ``(key, paths, target)``; return each job's numbers, in order.

    With ``client=None`` the groups run one after another here; a group that fails (a
    ValueError or OSError: a damaged frame, a full disk) does not stop the others, and
    once all have run, one error says which groups were written and which were not, each
    failure with its reason (`_failed_groups`).  With a `dask.distributed.Client` each group is a
    task on its workers (dask's text progress bar shows the run); once every task has
    ended, the failed groups' errors are raised as without a client (a worker that died
    ``allowed-failures`` times: RuntimeError naming the group), after removing the failed
    groups' temporary files: a failed group never leaves a partial output.
    """
    if client is None:
        numbers, failures = [], []
        for key, paths, target in jobs:
            try:
                numbers.append(combine_group(combine, paths, target, label))
            except (ValueError, OSError) as err:
                numbers.append(None)
                failures.append((key, err))
        if len(jobs) == 1 and failures:
            raise failures[0][1]  # nothing else was to be written: the error as it is
        if failures:
            raise _failed_groups(jobs, numbers, failures, label) from failures[0][1]
        return numbers
    from distributed import KilledWorker, progress, wait

    run = uuid.uuid4().hex[:8]  # new task names: never the results of an earlier run
    futures = [
        client.submit(
            combine_group, combine, paths, target, label, key=f"{target.name}-{run}", pure=False
        )
        for _, paths, target in jobs
    ]
    progress(futures, notebook=False, scheduler=client.scheduler.address)  # this client's
    wait(futures)
    failed = [(job, f) for job, f in zip(jobs, futures, strict=True) if f.status != "finished"]
    for (_, _, target), _future in failed:
        remove_stale_temporaries(target)
    if not failed:
        return client.gather(futures)
    (key, _, target), future = failed[0]
    err = future.exception() if future.status == "error" else None
    if err is not None and not isinstance(err, KilledWorker):
        # the errors of combine_flats or of the file system, named as without a client
        errors = [(job[0], f.exception()) for job, f in failed if f.status == "error"]
        if all(isinstance(e, (ValueError, OSError)) for _, e in errors) and len(jobs) > 1:
            numbers = [f.result() if f.status == "finished" else None for f in futures]
            raise _failed_groups(jobs, numbers, errors, label) from err
        raise err
    others = f"; {len(failed) - 1} other groups failed too" if len(failed) > 1 else ""
    why = (
        "the dask workers running it were lost (killed, or out of memory) as many times as "
        "dask allows (distributed.scheduler.allowed-failures)"
        if err is not None
        else f"its dask task ended {future.status!r}"
    )
    raise RuntimeError(
        f"{label}: group {key} was not combined: {why}; {target} was not written (an "
        f"earlier file of that name is left as it was){others}.  "
        "Give the workers more memory, or pass a smaller mem_limit."
    ) from err


def _failed_groups(jobs, numbers, failures, label):
    """Return the error of a run in which some groups failed.

    An OSError (with the first failure's errno) if the first failure was one, else a
    ValueError; its message names the groups not written, each with its reason, and the
    groups written, each with its file.
    """
    pairs = zip(jobs, numbers, strict=True)
    written = [f"{key} -> {target.name}" for (key, _, target), n in pairs if n is not None]
    reasons = "; ".join(f"{key}: {err}" for key, err in failures)
    message = (
        f"{label}: {len(failures)} of {len(jobs)} groups failed and were not written "
        f"({reasons}); written: {', '.join(written) or 'none'}"
    )
    first = failures[0][1]
    if isinstance(first, OSError):  # its errno kept: a full disk stays ENOSPC
        return OSError(first.errno, message)
    return ValueError(message)


def combine_all(groups, grouping, out_folder, combine, client, label):
    """Combine and write every group of `regroup`; return `CombinedFlats`.

    The targets are checked first (`checked_targets`: never over a foreign file, two groups
    never on one name); with the
    night among the keys, the table is written beside the flats (`write_table`).
    """
    targets = checked_targets({key: out_folder / output_name(key) for key in groups}, label)
    jobs = [(key, paths, targets[key]) for key, paths in groups.items()]
    if grouping.by_night:
        check_table(out_folder / TABLE_NAME, label)
    result = summary(jobs, run_groups(jobs, combine, client, label), grouping)
    if grouping.by_night:
        write_table(result.table, out_folder / TABLE_NAME, label)
    return result


class CombinedFlats(dict):
    """The combined flats written: ``{key: path}``, and ``table``, what was combined."""

    table: Table


def summary(jobs, numbers, grouping):
    """Return `CombinedFlats` of the jobs ``(key, paths, target)`` and `run_groups`' numbers."""
    rows = []
    for (key, paths, target), done in zip(jobs, numbers, strict=True):
        night, filt = key if grouping.by_night else (None, key)
        names = ", ".join(Path(p).name for p in paths)
        left = done["frames_left_out"]
        rows.append((night, filt, done["n_frames"], done["left_out"], left, target.name, names))
    columns = ("night", "filter", "n_frames", "left_out", "frames_left_out", "output", "frames")
    table = Table(rows=rows, names=columns) if rows else Table(names=columns)
    if not grouping.by_night:
        table.remove_column("night")
    table["left_out"].format = ".5f"
    table["left_out"].description = "share of the frames' pixel values rejected or masked"
    table["frames_left_out"].description = "frames the frame checks left out (check_flats)"
    table.meta["written_by"] = _TABLE_MARK
    result = CombinedFlats((key, target) for key, _, target in jobs)
    result.table = table
    return result


def check_table(path, label):
    """Raise ValueError unless ``path`` is missing or a table of this function."""
    if not Path(path).exists():
        return
    try:
        ours = Table.read(path, format="ascii.ecsv").meta.get("written_by") == _TABLE_MARK
    except Exception:  # not ECSV, unreadable: not ours
        ours = False
    if not ours:
        raise ValueError(
            f"{label}: {path} exists and is not a table of ours; refusing to replace it"
        )


def write_table(table, path, label):
    """Write ``table`` as ECSV to ``path`` through a temporary file and a rename."""
    path = Path(path)
    check_table(path, label)
    remove_stale_temporaries(path)
    temporary = temporary_name(path)
    try:
        table.write(temporary, format="ascii.ecsv")
        os.replace(temporary, path)
    except OSError as err:
        temporary.unlink(missing_ok=True)
        raise OSError(err.errno, f"{label}: cannot write {path}: {err.strerror or err}") from err
    return path
