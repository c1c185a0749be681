# One command to open the course, one to test it. Both set up .venv first when needed.
#   make lab                     set up, then open the course in JupyterLab (README.md first)
#   make lab ARGS="--no-browser --port 8899"
#   make workspace               only prepare workspace/, the reader's own copies that make lab serves
#   make test                    set up, then unit tests and every notebook under nbval
#   make lint                    ruff on the modules, tests, benchmarks and notebooks
#   make data                    write the example data before a workshop (no network needed)
#   make book                    the course as a static website in _build/book (no network needed)
#   make book-test               open every page of the book in headless Chromium, and the workspace
#                                in JupyterLab (screenshots in _build/screenshots)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# JupyterLab settings for this project only (no news prompt, Markdown opens as a page, no
# "Modified" column in the file browser), installed into the environment, never into the
# user's home folder.
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json
ARGS ?=
# JupyterLab refuses to start as root unless told; containers and CI machines often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root,)

# Keep pip quiet about the version check; the pinned set is in requirements-lock.txt.
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# Memory settings (README, "Memory settings"); `make ... MEMORY_SETTINGS=0` leaves them out, and a
# value already in the environment wins, for that variable alone. For every command, the notebooks'
# kernels included: NumPy asks Linux to back each large array with huge pages, and on this machine
# the kernel's work to find them at each first touch cost more than it saved. For the tests only,
# because a process then keeps memory it no longer uses: glibc maps fresh memory for each array above
# a threshold (128 kB at first, rising to at most 32 MB) and returns it when the array is freed, so the
# next one is faulted in again page by page; with these every thread's arrays come from one heap (a
# thread's own heap would hold 64 MiB at most), and freed memory stays there for reuse. 1 GiB, not
# more: glibc before 2.26 reads the value as a C int.
MEMORY_SETTINGS ?= 1
ifeq ($(MEMORY_SETTINGS),1)
export NUMPY_MADVISE_HUGEPAGE ?= 0
test: export MALLOC_MMAP_MAX_ ?= 0
test: export MALLOC_ARENA_MAX ?= 1
test: export MALLOC_TRIM_THRESHOLD_ ?= 1073741824
endif

# Readers work in their own copies: `make lab` serves workspace/ (git-ignored), where README.md,
# INSTRUCTORS.md and convenience_functions.py are links to the tracked files and notebooks/ holds a
# copy of each notebook, made once and never overwritten, beside links to the example data. The
# tracked notebooks, which `make test` checks, are never opened by JupyterLab.
WORKSPACE ?= workspace
BOOK_STAMP := $(VENV)/.installed-book

.PHONY: setup lab test lint data clean workspace book book-setup book-test

setup: $(STAMP)

# (Re)install when .venv is missing or a dependency file is newer than the last install.
$(STAMP): pyproject.toml requirements-lock.txt jupyter-settings/overrides.json
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || \
		{ echo "Python 3.10 or newer is needed (found: $$($(PYTHON) --version))"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --constraint requirements-lock.txt --editable .
	@mkdir -p $(dir $(LAB_SETTINGS)) && cp jupyter-settings/overrides.json $(LAB_SETTINGS)
	@touch $(STAMP)

# The whole course is reachable from JupyterLab; the README is the first page a newcomer sees.
lab: $(STAMP) workspace
	$(BIN)/jupyter lab --ServerApp.root_dir=$(WORKSPACE) --LabApp.default_url=/lab/tree/README.md \
		$(ROOT_FLAG) $(ARGS)

workspace:
	@mkdir -p $(WORKSPACE)/notebooks
	@for f in README.md INSTRUCTORS.md convenience_functions.py; do \
		ln -sfn "$(CURDIR)/$$f" $(WORKSPACE)/$$f; done
	@for n in 1 2 3; do mkdir -p notebooks/example$$n-reduced; \
		ln -sfn "$(CURDIR)/notebooks/example$$n-reduced" $(WORKSPACE)/notebooks/example$$n-reduced; done
	@for nb in notebooks/[0-9][0-9]-*.ipynb; do \
		test -e $(WORKSPACE)/$$nb || { cp $$nb $(WORKSPACE)/$$nb && echo "copied $$nb into $(WORKSPACE)/"; }; \
	done

# On both cores (pytest-xdist), a file's tests on one worker; the longest files first
# (tests/conftest.py: LONGEST_FIRST).  The example data is written once, before the workers
# start (tests/conftest.py).
test: $(STAMP)
	$(BIN)/python -m pytest notebooks/[0-9][0-9]-*.ipynb tests --nbval --nbval-current-env \
		--doctest-modules convenience_functions.py _flat_engine example_data \
		--numprocesses 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

data: $(STAMP)
	$(BIN)/python -m example_data

# The book's tools (Sphinx, MyST-NB, Furo; playwright for its test) are an extra of the project.
book-setup: $(BOOK_STAMP)

$(BOOK_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --constraint requirements-lock.txt --editable ".[book]"
	@touch $(BOOK_STAMP)

# Built from the notebooks' stored outputs, never executed; warnings (a broken link) are errors.
book: $(BOOK_STAMP)
	rm -rf _build/book
	$(BIN)/python -m sphinx -b html -c book -q -W --keep-going -n . _build/book
	@echo "the book: _build/book/index.html"

book-test: $(BOOK_STAMP)
	$(BIN)/python -m pytest book -p no:cacheprovider

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache _build
