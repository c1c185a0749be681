# One command to open the course, one to test it. Both set up .venv first when needed.
#   make lab                     set up, then open the course in JupyterLab (README.md first)
#   make lab ARGS="--no-browser --port 8899"
#   make test                    set up, then unit tests and every notebook under nbval
#   make lint                    ruff on the modules, tests, benchmarks and notebooks
#   make data                    write the example data before a workshop (no network needed)

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

.PHONY: setup lab test lint data clean

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
lab: $(STAMP)
	$(BIN)/jupyter lab --LabApp.default_url=/lab/tree/README.md $(ROOT_FLAG) $(ARGS)

# On both cores (pytest-xdist), a file's tests on one worker; the notebooks, the longest
# files, first.  The example data is written once, before the workers start (tests/conftest.py).
test: $(STAMP)
	$(BIN)/python -m pytest notebooks tests --nbval --nbval-current-env \
		--doctest-modules convenience_functions.py _flat_engine example_data \
		--numprocesses 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

data: $(STAMP)
	$(BIN)/python -m example_data

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
