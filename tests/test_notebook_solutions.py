"""Every exercise of the notebooks has one solution, folded in JupyterLab and in the book.

A solution is a markdown heading "#### Solution to Exercise N" whose cell JupyterLab opens
collapsed (``jp-MarkdownHeadingCollapsed``), followed by its explanation and its code cell, and
nothing else before the next heading: JupyterLab hides exactly those cells, before and after Run
All, and the book (book/conf.py) folds the same section into one <details> element.
"""

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9]*.ipynb"))
HEADING = re.compile(r"^(#{1,6}) ", re.MULTILINE)
SOLUTION = re.compile(r"^#### Solution to Exercise (\d+)$")
EXERCISE = re.compile(r"^> \*\*Exercise (\d+)\b", re.MULTILINE)  # a quoted statement


def _cells(notebook):
    return json.loads(notebook.read_text(encoding="utf-8"))["cells"]


def _text(cell):
    return "".join(cell["source"])


def _sections(cells):
    """List each solution: number, heading cell, and the cells under it up to the next heading."""
    found = []
    for i, cell in enumerate(cells):
        match = SOLUTION.match(_text(cell)) if cell["cell_type"] == "markdown" else None
        if match:
            body = []
            for later in cells[i + 1 :]:
                if later["cell_type"] == "markdown" and HEADING.search(_text(later)):
                    break
                body.append(later)
            found.append((int(match.group(1)), i, cell, body))
    return found


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_each_exercise_has_one_folded_solution_after_it(notebook):
    cells = _cells(notebook)
    asked = {}
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "markdown":
            for number in EXERCISE.findall(_text(cell)):
                asked.setdefault(int(number), i)
    solutions = _sections(cells)
    assert sorted(asked) == list(range(1, len(asked) + 1)), notebook.name
    assert sorted(number for number, *_ in solutions) == sorted(asked), notebook.name
    for number, index, heading, body in solutions:
        assert index > asked[number], f"{notebook.name}: solution {number} before its exercise"
        assert heading["metadata"].get("jp-MarkdownHeadingCollapsed") is True
        assert body, f"{notebook.name}: solution {number} is empty"
        for cell in body:
            if cell["cell_type"] == "code":
                assert _text(cell).startswith(f"# Exercise {number}:"), (notebook.name, number)
                # Hidden by the heading, not by the cell: one click shows code and output.
                assert "source_hidden" not in cell["metadata"].get("jupyter", {})
                assert "outputs_hidden" not in cell["metadata"].get("jupyter", {})
            else:
                assert "<details" not in _text(cell)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_no_exercise_code_outside_its_solution(notebook):
    cells = _cells(notebook)
    inside = {id(cell) for *_, body in _sections(cells) for cell in body}
    for cell in cells:
        if cell["cell_type"] == "code" and _text(cell).startswith("# Exercise"):
            assert id(cell) in inside, f"{notebook.name}: {_text(cell).splitlines()[0]}"
