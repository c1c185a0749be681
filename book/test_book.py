"""The built book read in a real browser, and the reader's workspace in a real JupyterLab.

Run by ``make book-test`` after ``make book`` (``.ci/run`` does both). Chromium is Debian's
(``/usr/bin/chromium``, or ``$CHROMIUM``), driven by playwright; no browser is downloaded.
Every page of ``_build/book`` is opened from a server on 127.0.0.1 with every other host
blocked: no console error, no request that fails or leaves the machine, every image loaded and
described, every internal link and anchor found, every solution folded until its line is
clicked. Screenshots go to ``_build/screenshots`` (git-ignored), the test's artefacts.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlparse

import conf  # the book's own settings: its chapters
import pytest

playwright = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "_build" / "book"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Headless Chromium as root in a container with no network: no sandbox, no GPU, and none of its
# background calls home (each would be refused, and logged as an error).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHAPTERS = ["README.html", *(f"{chapter}.html" for chapter in conf.CHAPTERS)]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site():
    if not (BOOK / "index.html").is_file():
        pytest.fail(f"no book in {BOOK}: run `make book` first")
    handler = functools.partial(_QuietHandler, directory=str(BOOK))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"no Chromium at {CHROMIUM}: `apt-get install chromium` (.ci/run does)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _open(browser, url, problems, width=1280):
    """Open ``url``; console errors, failed or outside requests are appended to problems."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    local = urlparse(url).netloc

    def route(r):
        if urlparse(r.request.url).netloc in (local, "") or r.request.url.startswith("data:"):
            r.continue_()
        else:
            problems.append(f"request to another host: {r.request.url}")
            r.abort()

    page.route("**/*", route)
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url}"))
    page.on(
        "response",
        lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
    )
    page.goto(url, wait_until="load")
    return page


def _pages():
    return sorted(str(p.relative_to(BOOK)) for p in BOOK.rglob("*.html"))


def test_the_book_has_every_chapter(site):
    pages = _pages()
    assert all(chapter in pages for chapter in CHAPTERS), pages
    assert (BOOK / "index.html").read_bytes() == (BOOK / "README.html").read_bytes()


def test_every_page_opens_cleanly_with_its_images_and_links(site, browser):
    problems, anchors, links = [], {}, []
    for name in _pages():
        url = urljoin(site, name)
        page = _open(browser, url, problems)
        images = page.evaluate(
            """() => Array.from(document.images).map(i => ({
                src: i.currentSrc.slice(0, 80), loaded: i.complete && i.naturalWidth > 0,
                alt: i.getAttribute('alt'),
                decorative: !!i.closest('.sidebar-brand, .theme-toggle')}))"""
        )
        for image in images:
            if not image["loaded"]:
                problems.append(f"{name}: image not loaded: {image['src']}")
            if not image["decorative"] and not (image["alt"] or "").strip():
                problems.append(f"{name}: image without alternative text: {image['src']}")
        ids = "() => Array.from(document.querySelectorAll('[id]'), e => e.id)"
        anchors[url] = set(page.evaluate(ids))
        hrefs = page.evaluate("() => Array.from(document.querySelectorAll('a[href]'), a => a.href)")
        links += [(name, href) for href in hrefs if urlparse(href).netloc == urlparse(site).netloc]
        if name in CHAPTERS[:3]:
            page.screenshot(path=SHOTS / f"book-{Path(name).stem}.png")
        page.close()
    assert len(anchors) >= len(CHAPTERS)
    assert len(links) > 50  # the navigation alone links every chapter from every page
    for name, href in links:
        target, fragment = urldefrag(href)
        target = target if not target.endswith("/") else target + "index.html"
        if target not in anchors:
            problems.append(f"{name}: link to a missing page: {href}")
        elif fragment and fragment not in anchors[target]:
            problems.append(f"{name}: link to a missing anchor: {href}")
    assert problems == []


def test_chapters_link_to_each_other(site, browser):
    problems = []
    page = _open(browser, urljoin(site, CHAPTERS[2]), problems)
    nav = page.evaluate(
        "() => Array.from(document.querySelectorAll('.related-pages a'), a => a.href)"
    )
    assert sorted(urlparse(h).path for h in nav) == ["/" + CHAPTERS[1], "/" + CHAPTERS[3]]
    start = _open(browser, site, problems)
    first_screen = start.evaluate(
        """() => Array.from(document.querySelectorAll('article a'))
            .filter(a => a.getBoundingClientRect().top < window.innerHeight)
            .map(a => new URL(a.href).pathname)"""
    )
    assert all("/" + c in first_screen for c in CHAPTERS[1:5]), first_screen
    start.screenshot(path=SHOTS / "book-start-page.png")
    assert problems == []


def test_solutions_are_folded_until_clicked(site, browser):
    problems, counted = [], 0
    for name in CHAPTERS[1:5]:
        page = _open(browser, urljoin(site, name), problems)
        solutions = page.locator("details.solution")
        assert solutions.count() >= 2, name
        for i in range(solutions.count()):
            solution = solutions.nth(i)
            summary = solution.locator("summary")
            assert summary.inner_text().startswith("Solution to Exercise"), name
            body = solution.locator(".cell, p").first
            assert solution.get_attribute("open") is None, f"{name}: solution {i + 1} is open"
            assert not body.is_visible(), f"{name}: solution {i + 1} shows before a click"
            summary.click()
            assert solution.get_attribute("open") is not None
            assert body.is_visible(), f"{name}: solution {i + 1} does not open"
            counted += 1
        if name == CHAPTERS[2]:
            solutions.first.scroll_into_view_if_needed()
            page.screenshot(path=SHOTS / "book-solution-opened.png")
        page.close()
    assert counted >= 10
    assert problems == []


# -- The reader's workspace in JupyterLab -------------------------------------------------------


# Each cell of the open notebook: its first characters, whether JupyterLab hides it, its outputs.
CELLS = """() => jupyterapp.shell.currentWidget.content.widgets.map(c => ({
    text: c.model.sharedModel.getSource().slice(0, 40), hidden: c.isHidden,
    outputs: c.model.type === 'code' ? c.model.outputs.length : 0}))"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("[0-9]*.ipynb")}


@pytest.fixture
def lab(tmp_path):
    """JupyterLab on a workspace made by `make workspace`, as `make lab` starts it."""
    workspace = tmp_path / "workspace"
    make = ["make", "--no-print-directory", "-C", str(ROOT), "workspace", f"WORKSPACE={workspace}"]
    subprocess.run(make, check=True, capture_output=True)
    port, token = _free_port(), "course-test"
    # The same command as the Makefile's lab target, with this test's folder and port.
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={workspace}"]
    command += ["--LabApp.default_url=/lab/tree/README.md", "--no-browser", "--allow-root"]
    command += ["--LabApp.expose_app_in_browser=True"]  # the test reads the cells' state
    command += [f"--port={port}", f"--IdentityProvider.token={token}", "--ServerApp.ip=127.0.0.1"]
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config")}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    server = subprocess.Popen(command, env=env, **quiet)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start")
        yield url, token, workspace, make
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_workshop_run_all_add_a_cell_save(lab, browser):
    """Open a notebook, run all, add a cell, save: tests still see the course, the work stays."""
    url, token, workspace, make = lab
    tracked = _digest(ROOT / "notebooks")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{url}/lab/tree/README.md?token={token}")
    page.wait_for_selector(".jp-RenderedMarkdown h1", timeout=60_000)
    page.screenshot(path=SHOTS / "lab-start-page.png")
    listing = page.locator(".jp-DirListing-itemText").all_inner_texts()
    assert not [n for n in listing if n.endswith(".egg-info") or n.startswith(".")], listing
    page.get_by_role("link", name="00 The example data").click()  # README's course table
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_function("() => !!jupyterapp.shell.currentWidget?.sessionContext?.session")
    dialog = page.locator(".jp-Dialog button.jp-mod-accept")  # "Select Kernel", if Lab asks
    if dialog.count():
        dialog.click()
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
    # The copy holds the course's outputs: clear them, so that what shows after Run All is new.
    page.evaluate("jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
    assert not any(c["outputs"] for c in page.evaluate(CELLS))
    page.get_by_role("menuitem", name="Run", exact=True).click()  # the Run menu: Run All Cells
    page.get_by_text("Run All Cells", exact=True).click()
    page.wait_for_function(
        """() => jupyterapp.shell.currentWidget.content.widgets
            .every(c => c.model.type !== 'code' || c.model.executionCount !== null)""",
        timeout=600_000,
    )
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=600_000)
    # After Run All every solution is still folded under its collapsed heading, output and all.
    # (JupyterLab draws only the cells in view: the cells' state is read from its widgets.)
    cells = page.evaluate(CELLS)
    solutions = [i for i, c in enumerate(cells) if c["text"].startswith("#### Solution to")]
    exercise_code = [i for i, c in enumerate(cells) if c["text"].startswith("# Exercise")]
    assert len(solutions) == 2
    assert len(exercise_code) == 1
    assert all(cells[i]["outputs"] for i in exercise_code)  # it ran ...
    assert all(cells[i]["hidden"] for i in exercise_code)  # ... and stays hidden
    assert all(cells[i]["hidden"] for i in range(solutions[0] + 1, solutions[0] + 3))
    assert not any(cells[i]["hidden"] for i in solutions)  # the headings show
    page.evaluate(f"jupyterapp.shell.currentWidget.content.scrollToItem({solutions[0]}, 'center')")
    heading = page.locator(".jp-MarkdownCell:has(h4)").first
    heading.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    page.screenshot(path=SHOTS / "lab-after-run-all.png")
    # One click on the heading's fold button opens the solution, code and output.
    heading.hover()  # the fold button shows when the pointer is over the heading
    heading.locator(".jp-collapseHeadingButton").click()
    cells = page.evaluate(CELLS)
    assert not any(cells[i]["hidden"] for i in range(solutions[0], solutions[0] + 3))
    assert cells[solutions[1] + 1]["hidden"]  # the other solution stays folded
    page.wait_for_timeout(500)
    page.screenshot(path=SHOTS / "lab-solution-opened.png")
    # The reader adds a cell of their own and saves.
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    page.keyboard.type("my_note = 'a cell of my own'")
    page.keyboard.press("Control+s")
    copy = workspace / "notebooks" / "00-the-example-data.ipynb"
    for _ in range(60):
        if "a cell of my own" in copy.read_text():
            break
        time.sleep(0.5)
    page.close()
    assert "a cell of my own" in copy.read_text()
    # `make lab` again (the workspace is prepared anew) keeps the reader's copy as it is ...
    subprocess.run(make, check=True, capture_output=True)
    assert "a cell of my own" in copy.read_text()
    cells = json.loads(copy.read_text())["cells"]
    assert sum(bool(c["cell_type"] == "code" and c.get("execution_count")) for c in cells) > 5
    # ... and the notebooks that `make test` runs were never touched.
    assert _digest(ROOT / "notebooks") == tracked
    shutil.rmtree(workspace / "notebooks" / ".ipynb_checkpoints", ignore_errors=True)
