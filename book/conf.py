"""Sphinx settings of the course's book: README, the notebooks and INSTRUCTORS as static pages.

The notebooks are rendered with the outputs stored in them (MyST-NB, never executed here), with the
Furo theme, whose fonts and scripts ship with it: the built site reads with no network. A solution
(a "Solution to Exercise N" heading and the cells under it) is folded into a <details> element, so
that it stays hidden, outputs included, until the reader clicks it.
"""

import shutil
from pathlib import Path

from docutils import nodes

project = "Combining flat frames"
author = "The course's authors"
copyright = "the course's authors (BSD-3-Clause)"

extensions = ["myst_nb"]
root_doc = "README"
# The sources are the repository's own files; everything else in it is left out.
include_patterns = ["README.md", "INSTRUCTORS.md", "notebooks/[0-9][0-9]-*.ipynb"]
exclude_patterns = ["_build", ".venv", "workspace"]

nb_execution_mode = "off"  # the stored outputs of one clean run are the book's
nb_merge_streams = True
myst_enable_extensions = ["colon_fence", "html_image"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]  # notebooks open with their title; nothing above it

html_theme = "furo"
html_title = "Combining flat frames"
html_static_path = ["static"]
html_css_files = ["solutions.css"]
html_show_sourcelink = False
html_copy_source = False
# No request to any other host when a page is read: no search index from a CDN, no analytics.
html_theme_options = {"navigation_with_keys": True}


def _is_solution(section):
    title = section.next_node(nodes.title)
    return title is not None and title.astext().startswith("Solution to Exercise")


def fold_solutions(app, doctree):
    """Turn each "Solution to Exercise N" section into a closed <details> element."""
    for section in list(doctree.findall(nodes.section)):
        if not _is_solution(section):
            continue
        title = section.next_node(nodes.title)
        summary = nodes.raw(
            "",
            f'<details class="solution"><summary>{title.astext()}</summary>',
            format="html",
        )
        body = [child for child in section.children if child is not title]
        folded = [summary, *body, nodes.raw("", "</details>", format="html")]
        section.replace_self(folded)


CHAPTERS = [
    "notebooks/00-the-example-data",
    "notebooks/01-combining-dome-flats",
    "notebooks/02-combining-twilight-flats",
    "notebooks/03-sky-flats-from-science-frames",
    "notebooks/04-a-season-of-flats",
    "INSTRUCTORS",
]


def add_chapters(app, docname, source):
    """Give the start page (README) the book's chapters as a hidden table of contents.

    README.md stays plain Markdown for readers of the repository; the directive is the book's.
    """
    if docname == root_doc:
        entries = "\n".join(CHAPTERS)
        source[0] += f"\n\n```{{toctree}}\n:hidden:\n:maxdepth: 1\n\n{entries}\n```\n"


def start_page(app, exception):
    """Copy the start page to index.html, the page a browser opens for the book's folder."""
    if exception is None and app.builder.format == "html":
        out = Path(app.outdir)
        shutil.copyfile(out / f"{root_doc}.html", out / "index.html")


def setup(app):
    """Fold the solutions before Sphinx collects the pages' tables of contents."""
    app.connect("source-read", add_chapters)
    app.connect("doctree-read", fold_solutions, priority=100)
    app.connect("build-finished", start_page)
    return {"parallel_read_safe": True}
