"""The layout of the code: one subject per module, small modules, imports one way.

These tests hold the structure that the repository's README describes: the engine and the
simulator as packages of modules of at most 600 lines, no import circle, the simulator
standing only on the engine's file access, the public module's code under 600 lines, and
notebook code cells of at most 25 lines.  (The simulator's own imports are tested in
test_example_data_camera.py.)
"""

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("_flat_engine", "example_data")
MAX_MODULE_LINES = 600
MAX_CELL_LINES = 25


def package_modules(package):
    """Return the modules of a package (or the lone module of that name) as paths."""
    folder = ROOT / package
    if folder.is_dir():
        return sorted(folder.glob("*.py"))
    return [ROOT / f"{package}.py"]


def imported_names(path, package):
    """Return the dotted names of the course's modules and objects that ``path`` imports.

    ``from .files import write_atomically`` inside ``_flat_engine`` gives
    ``_flat_engine.files.write_atomically``; ``import numpy`` gives nothing.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: inside the package
                base = f"{package}.{base}" if base else package
            names.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    ours = ("_flat_engine", "example_data", "convenience_functions")
    return {name for name in names if name.split(".")[0] in ours}


def code_lines(path):
    """Count the lines of code of a module: not blank, not comments, not docstrings."""
    source = path.read_text(encoding="utf-8")
    docstrings = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.update(range(first.lineno, first.end_lineno + 1))
    return sum(
        1
        for number, line in enumerate(source.splitlines(), start=1)
        if line.strip() and not line.strip().startswith("#") and number not in docstrings
    )


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_of_the_engine_or_simulator_is_over_600_lines(package):
    for path in package_modules(package):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= MAX_MODULE_LINES, f"{path.relative_to(ROOT)} has {lines} lines"


def test_the_public_module_has_under_600_lines_of_code():
    assert code_lines(ROOT / "convenience_functions.py") < MAX_MODULE_LINES


def test_the_engine_never_imports_the_public_module_or_the_simulator():
    for path in package_modules("_flat_engine"):
        for name in imported_names(path, "_flat_engine"):
            assert name.startswith("_flat_engine."), f"{path.name} imports {name}"


def test_no_import_circle_inside_the_engine():
    modules = {f"_flat_engine.{p.stem}": p for p in package_modules("_flat_engine")}
    modules.pop("_flat_engine.__init__")
    graph = {
        name: {m for m in modules for n in imported_names(path, "_flat_engine") if n.startswith(m)}
        for name, path in modules.items()
    }

    def visit(node, trail):
        assert node not in trail, f"import circle: {' -> '.join([*trail, node])}"
        for target in graph[node]:
            visit(target, [*trail, node])

    for node in graph:
        visit(node, [])


NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_no_notebook_code_cell_is_over_25_lines(notebook):
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    for index, cell in enumerate(cells):
        if cell["cell_type"] == "code":
            lines = len("".join(cell["source"]).splitlines())
            assert lines <= MAX_CELL_LINES, f"{notebook.name} cell {index}: {lines} lines"
