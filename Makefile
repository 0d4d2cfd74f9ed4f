# make course: set up, prefetch, run every lesson (default profile). make test: the test suite.
# make test-browser: lesson 09 in JupyterLab under headless Chromium (installs Debian's chromium).
VENV ?= .venv
PY := $(VENV)/bin/python
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup prefetch course test test-browser lab exercises results curves bench gpu-check doctor clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

prefetch: setup
	$(VENV)/bin/tlcourse prefetch

course: prefetch
	$(VENV)/bin/tlcourse run $(NOTEBOOKS)

test: prefetch
	TLCOURSE_PROFILE=smoke $(PY) -m pytest tests notebooks solutions --nbval-lax \
		--nbval-current-env --nbval-sanitize-with tests/sanitize.cfg -q

test-browser: prefetch
	test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-browser.txt
	$(PY) -m pytest browser -q

exercises: setup
	$(VENV)/bin/tlcourse exercises

results: prefetch
	TLCOURSE_PROFILE=$${TLCOURSE_PROFILE:-cpu} $(VENV)/bin/tlcourse results --run --readme

curves: prefetch
	TLCOURSE_PROFILE=$${TLCOURSE_PROFILE:-cpu} $(VENV)/bin/tlcourse results --curves --run --readme

bench: prefetch
	$(VENV)/bin/tlcourse bench trainer
	$(VENV)/bin/tlcourse bench precision

gpu-check: prefetch
	bash scripts/gpu_check.sh

doctor: setup
	$(VENV)/bin/tlcourse doctor

lab: prefetch
	$(VENV)/bin/jupyter lab notebooks

clean:
	rm -rf $(VENV) data/cache
