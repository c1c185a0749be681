"""Tests of example_data.camera: the Camera and Example records, and the package's shape."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import example_data as ed
from example_data import cli
from example_data.example1 import EXAMPLE1_CAMERA
from example_data.example2 import EXAMPLE2_CAMERA
from example_data.example3 import EXAMPLE3_CAMERA
from example_data.examples import _RECORDS


def test_example_constants():
    assert ed.EXAMPLE1_FILTERS.count("g'") == 3
    assert ed.EXAMPLE1_FILTERS.count("i'") == 3
    assert set(ed.EXAMPLE1_EXPTIMES) == {70.0, 7.0}
    assert ed.EXAMPLE2_FILES[0] == "AutoFlat-PANoRot-r-Bin1-001.fit"
    assert ed.EXAMPLE2_FILES[-1] == "AutoFlat-PANoRot-r-Bin1-010.fit"
    assert ed.example_medians(1) == ed.EXAMPLE1_MEDIANS
    assert ed.example_files(2) == ed.EXAMPLE2_FILES


def test_twilight_sequence_exposures_and_levels():
    exptimes = np.array(ed.EXAMPLE2_EXPTIMES)
    levels = np.array(ed.EXAMPLE2_MEDIANS)
    # Frames 1-5 at the 1 s minimum while the sky is too bright: the level falls.
    assert np.all(exptimes[:5] == 1.0)
    assert np.all(np.diff(levels[:5]) < 0)
    # From frame 6 the exposure is lengthened and the level holds (within 1 %).
    assert np.all(np.diff(exptimes[4:]) > 0)
    assert exptimes[-1] == 1.21
    assert np.ptp(levels[5:]) / levels[5:].mean() < 0.01
    # The sky's brightness (level per second) falls all the way through.
    assert np.all(np.diff(levels / exptimes) < 0)


# --------------------------------------------------------------------------------------------
# The Camera and Example records
# --------------------------------------------------------------------------------------------

CAMERAS = {1: EXAMPLE1_CAMERA, 2: EXAMPLE2_CAMERA, 3: EXAMPLE3_CAMERA}


def test_public_constants_are_the_records_numbers():
    assert (ed.EXAMPLE1_GAIN, ed.EXAMPLE1_READ_NOISE) == (2.0, 8.0)
    assert (ed.EXAMPLE1_GAIN, ed.EXAMPLE1_READ_NOISE) == (
        EXAMPLE1_CAMERA.gain,
        EXAMPLE1_CAMERA.read_noise,
    )
    assert EXAMPLE1_CAMERA.saturate is None
    for n, gain, read_noise, saturate in (
        (2, ed.EXAMPLE2_GAIN, ed.EXAMPLE2_READ_NOISE, ed.EXAMPLE2_SATURATE),
        (3, ed.EXAMPLE3_GAIN, ed.EXAMPLE3_READ_NOISE, ed.EXAMPLE3_SATURATE),
    ):
        camera = CAMERAS[n]
        assert (gain, read_noise, saturate) == (1.5, 10.0, 64000.0)
        assert (camera.gain, camera.read_noise, camera.saturate) == (gain, read_noise, saturate)
    for n, shape in ((1, ed.EXAMPLE1_SHAPE), (2, ed.EXAMPLE2_SHAPE), (3, ed.EXAMPLE3_SHAPE)):
        record = _RECORDS[n]
        assert record.number == n
        assert record.camera is CAMERAS[n]
        assert record.camera.shape == shape
        assert record.files == ed.example_files(n)
        assert record.medians == ed.example_medians(n)
        n_frames = len(record.files)
        assert len(record.filters) == len(record.exptimes) == len(record.date_obs) == n_frames
        assert len(record.medians) == n_frames
        assert ed.default_folder(n).name == record.folder_name
    assert _RECORDS[1].filter_names == ("g'", "i'")
    assert _RECORDS[2].filter_names == _RECORDS[3].filter_names == ("r",)
    assert _RECORDS[3].tracked_files == ed.EXAMPLE3_TRACKED_FILES
    assert _RECORDS[1].tracked_files is None
    assert _RECORDS[2].tracked_files is None


def test_example3_camera_is_example2s_binned_2x2():
    aspen, binned = EXAMPLE2_CAMERA, EXAMPLE3_CAMERA
    assert binned.binning == 2 * aspen.binning == 2
    assert binned.pixel_um == 2 * aspen.pixel_um == 18.0
    assert binned.shape == (aspen.shape[0] // 2, aspen.shape[1] // 2)
    assert binned.diffusion_px == aspen.diffusion_px / 2  # the same spread, in larger pixels
    for field in ("gain", "read_noise", "saturate", "depth_um", "identity", "temperature"):
        assert getattr(binned, field) == getattr(aspen, field), field
    assert binned.readout_s < aspen.readout_s  # a quarter of the pixels to digitise
    assert binned.defect_counts is None  # its defects are example 2's, in its response
    # A binned pixel holds four pixels' charge: 4 x 100 000 e- at 1.5 e-/ADU; the drains
    # overflow at 100 times that.
    assert binned.full_well_adu == pytest.approx(4 * 100_000 / 1.5)
    assert binned.drain_limit_adu == pytest.approx(100 * 4 * 100_000 / 1.5)
    assert aspen.full_well_adu == pytest.approx(100_000 / 1.5)
    with pytest.raises(ValueError, match="not modelled"):
        _ = EXAMPLE1_CAMERA.full_well_adu
    with pytest.raises(ValueError, match="not modelled"):
        _ = EXAMPLE1_CAMERA.drain_limit_adu


def test_records_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        EXAMPLE2_CAMERA.gain = 2.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        _RECORDS[1].files = ()


def _written_header(example, folders, night, index):
    folder = night["dithered"] if example == 3 else folders[example]
    return fits.getheader(folder / ed.example_files(example)[index])


@pytest.mark.parametrize("example", [1, 2, 3])
def test_each_camera_matches_the_header_it_writes(folders, night, example):
    camera, record = CAMERAS[example], _RECORDS[example]
    for index in (0, len(record.files) - 1):
        header = _written_header(example, folders, night, index)
        assert header["GAIN"] == camera.gain
        assert header["RDNOISE"] == camera.read_noise
        if camera.saturate is None:
            assert "SATURATE" not in header
        else:
            assert header["SATURATE"] == camera.saturate
        assert (header["NAXIS2"], header["NAXIS1"]) == camera.shape
        for key, value, comment in (*camera.identity, camera.temperature):
            assert header[key] == value
            assert header.comments[key] == comment
        assert ("XBINNING" in header) == camera.writes_binning
        if camera.writes_binning:
            assert header["XBINNING"] == header["YBINNING"] == camera.binning
        assert ("XPIXSZ" in header) == camera.writes_pixel_size
        if camera.writes_pixel_size:
            assert header["XPIXSZ"] == header["YPIXSZ"] == camera.pixel_um
        assert ("EXPOSURE" in header) == camera.writes_exposure
        assert header["IMAGETYP"] == record.imagetyp
        assert header["OBJECT"] == record.object
        assert header["FILTER"] == record.filters[index]
        assert header["EXPTIME"] == record.exptimes[index]
        assert header["DATE-OBS"] == record.date_obs[index]
        assert header["SIMFRAME"] == index


# --------------------------------------------------------------------------------------------
# The package: its modules, their imports, the public names
# --------------------------------------------------------------------------------------------

PACKAGE = Path(ed.__file__).resolve().parent
ENGINE_IMPORT = (
    "from _flat_engine.files import hdu_list, remove_stale_temporaries, write_atomically"
)


def _imports(path: Path) -> list[tuple[ast.stmt, str, tuple[str, ...]]]:
    """Every import statement of a module (anywhere in it): (node, module, names)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node, alias.name, ()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node, node.module, tuple(alias.name for alias in node.names)))
        elif isinstance(node, ast.ImportFrom):  # relative imports are not used here
            raise AssertionError(f"{path.name}: relative import")
    return found


def test_package_imports_the_engine_only_for_writing_in_one_line():
    modules = sorted(PACKAGE.glob("*.py"))
    assert len(modules) >= 10
    engine = []
    for path in modules:
        source = path.read_text().splitlines()
        for node, module, names in _imports(path):
            if module.split(".")[0] in ("_flat_engine", "convenience_functions"):
                engine.append((path.name, source[node.lineno - 1].strip(), names))
    assert engine == [
        ("writing.py", ENGINE_IMPORT, ("hdu_list", "remove_stale_temporaries", "write_atomically"))
    ]


def test_package_has_no_import_cycles():
    names = {path.stem for path in PACKAGE.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.glob("*.py"):
        edges = set()
        for _, module, imported in _imports(path):
            if module == "example_data":  # from example_data import example2, ...
                edges |= {name for name in imported if name in names}
                if path.stem not in ("__init__", "__main__"):
                    assert set(imported) <= names, (path.name, imported)  # only submodules
            elif module.startswith("example_data."):
                edges.add(module.split(".")[1])
        graph[path.stem] = edges
    # Only __init__ and __main__ may sit on top; no module imports either of them.
    assert not any({"__init__", "__main__"} & edges for edges in graph.values())
    order: list[str] = []
    visiting: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in visiting, f"import cycle: {' -> '.join((*path, module))}"
        if module in order:
            return
        visiting.add(module)
        for other in sorted(graph[module]):
            visit(other, (*path, module))
        visiting.discard(module)
        order.append(module)

    for module in sorted(graph):
        visit(module, ())
    # The records come first, the command line last.
    assert order.index("camera") < order.index("example1") < order.index("examples")
    assert order.index("writing") < order.index("cli")


def test_public_names():
    assert len(ed.__all__) == len(set(ed.__all__)) == 66
    assert {"open_data_folder", "open_output_folder", "defect_pixels"} <= set(ed.__all__)
    for name in ed.__all__:
        assert getattr(ed, name) is not None, name
    assert ed.main is cli.main
    assert "synthetic" not in ed.__all__
    assert not any(name in ed.__all__ for name in ("make_flats", "make_sky_frames"))
    help_text = ed.__doc__
    assert "What is modelled" in help_text
    assert "The package" in help_text
