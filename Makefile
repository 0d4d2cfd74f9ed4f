# make course: set up, prefetch, run every lesson (default profile). make test: the test suite.
# make test-browser: lesson 09 in JupyterLab under headless Chromium (installs Debian's chromium).
# make bundle: wheels, assets and source in bundle/ (BUNDLE_DIR=...) for a room with no network;
# then make course BUNDLE=DIR (or make test BUNDLE=DIR) sets up from it alone (see WORKSHOP.md).
# make colab REPO=https://github.com/OWNER/NAME: the copy of the course the Colab badges and cell use.
VENV ?= .venv
TEST_WORKERS ?= 2  # pytest-xdist processes; each notebook or test file stays on one
TEST_THREADS ?= 1  # torch threads per worker: workers x threads = the cores
PY := $(VENV)/bin/python
# BUNDLE=DIR: install the wheels and prefetch the assets from a folder made by `make bundle`.
BUNDLE ?=
BUNDLE_DIR ?= bundle
# --no-compile: Python compiles only the modules it imports, on first import (+7 s once), instead of every
# module of every package at install (a fresh venv's install took 99 s with, 48 s without, on 2 cores);
# so Python must keep what it compiled, whatever the shell says (PYTHONDONTWRITEBYTECODE set made every
# process compile its imports again: +7 s each).
export PYTHONDONTWRITEBYTECODE :=
PIP_INSTALL := $(PY) -m pip install -q --no-compile --disable-pip-version-check --root-user-action=ignore \
	$(if $(BUNDLE),--no-index --find-links $(abspath $(BUNDLE))/wheels)
ifneq ($(BUNDLE),)
export TLCOURSE_BUNDLE := $(abspath $(BUNDLE))
endif
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup prefetch course test test-browser test-bundle bundle colab lab exercises results curves bench gpu-check doctor clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(if $(BUNDLE),python3 -m tlcourse.tools.cli bundle --check $(BUNDLE))
	python3 -m venv $(VENV)
	$(PIP_INSTALL) -r requirements.txt
	$(PIP_INSTALL) --no-deps -e .
	touch $@

prefetch: setup
	$(VENV)/bin/tlcourse prefetch

course: prefetch
	$(VENV)/bin/tlcourse run $(NOTEBOOKS)

# Lessons 05 and 06 run once, live, in tests/tools/test_outputs.py (which also reads what they print).
test: prefetch
	TLCOURSE_PROFILE=smoke OMP_NUM_THREADS=$(TEST_THREADS) $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile \
		tests notebooks solutions --nbval-lax --nbval-current-env --nbval-sanitize-with tests/sanitize.cfg -q \
		--ignore notebooks/05_full_fine_tuning.ipynb --ignore notebooks/06_lora.ipynb

test-browser: prefetch
	test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium)
	$(PY) -m pip install -q --no-compile --disable-pip-version-check -r requirements-browser.txt
	$(PY) -m pytest browser -q

# A fresh venv installs from the bundle and prefetches every asset with no network (tests/tools/test_bundle.py).
test-bundle: bundle
	TLCOURSE_TEST_BUNDLE=$(abspath $(BUNDLE_DIR)) $(PY) -m pytest tests/tools/test_bundle.py -q

bundle: setup
	$(VENV)/bin/tlcourse bundle $(BUNDLE_DIR)

colab: setup
	$(if $(REPO),,$(error give the course's GitHub URL: make colab REPO=https://github.com/OWNER/NAME))
	$(PY) -m tlcourse.tools.colab $(REPO)
	$(VENV)/bin/tlcourse exercises

exercises: setup
	$(VENV)/bin/tlcourse exercises

results: prefetch
	TLCOURSE_PROFILE=$${TLCOURSE_PROFILE:-cpu} $(VENV)/bin/tlcourse results --run --readme

curves: prefetch
	TLCOURSE_PROFILE=$${TLCOURSE_PROFILE:-cpu} $(VENV)/bin/tlcourse results --curves --run --readme

bench: prefetch
	$(VENV)/bin/tlcourse bench trainer
	$(VENV)/bin/tlcourse bench precision
	$(VENV)/bin/tlcourse bench llm

gpu-check: prefetch
	bash scripts/gpu_check.sh

doctor: setup
	$(VENV)/bin/tlcourse doctor

lab: prefetch
	$(VENV)/bin/jupyter lab notebooks

clean:
	rm -rf $(VENV) data/cache
