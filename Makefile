# Two entry points, both from a fresh clone:
#   make demo   create .venv if missing, install, run the whole pipeline on the synthetic default
#   make test   create .venv if missing, install, run the test suite
# Both install the exact versions of requirements.lock (with hashes), then ffbench itself without deps.
# Install is idempotent: the stamp file is newer than pyproject.toml and the lock, so a second run skips it.
# Also: make lock (regenerate the lock), make wheel-check (build wheel + sdist, check their contents),
# make wheel-env-check (the wheel beside an older torch), make test-pythons (the suite on other Pythons).

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.ffbench-installed
LOCK := requirements.lock
DEMO ?= demo
# Offline hub: a missing hub id fails at once instead of retrying for ~23 s.
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test lint bench clean-demo lock wheel-check wheel-env-check test-pythons test-python

# The lock holds every package but ffbench, hashed; ffbench goes in editable on top, with no deps so that
# nothing outside the lock is resolved.
$(STAMP): pyproject.toml $(LOCK)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

# Regenerate requirements.lock from pyproject.toml (ranges + [dev]) for CI's Python 3.11 on Linux x86_64.
# uv keeps every pin already in the lock that still fits the ranges; `make lock UPGRADE=1` takes the newest.
UV_VERSION := 0.13.10
TOOLS := .venv-tools
lock:
	@test -x $(TOOLS)/bin/uv || ($(PYTHON) -m venv $(TOOLS) && $(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION))
	$(TOOLS)/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
		--generate-hashes $(if $(UPGRADE),--upgrade,) -o $(LOCK)

# Tests run in a random order (pytest-randomly). The seed is printed first and last; replay an order
# with `make test SEED=1234`.
# Drawn once (:=): a recursive variable would draw a new seed at every use and print the wrong one.
ifndef SEED
SEED := $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')
endif

# The report's browser test needs Debian's Chromium and its driver; install them when missing (as root).
BROWSER := /usr/bin/chromium /usr/bin/chromedriver

$(BROWSER):
	@echo "installing Debian's chromium and chromium-driver for the browser test"
	apt-get install -y -q chromium chromium-driver >/dev/null || (apt-get update -q && apt-get install -y -q chromium chromium-driver)

test: $(STAMP) $(BROWSER)
	@echo "test order: --randomly-seed=$(SEED) (replay with: make test SEED=$(SEED))"
	$(PY) -m pytest -q -p randomly --randomly-seed=$(SEED)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# The demo: FashionFlow, the three baselines and `static`, trained briefly on the embedded synthetic data
# with the offline stand-ins (tiny VAE trained here, random CLIP, random-init metric extractors, labelled
# so), every method's test videos scored into one leaderboard and one HTML report. Every step is a plain
# ffbench command and resumes (scripts/demo.sh runs them in two lanes, one per core).
FFB := $(VENV)/bin/ffbench

demo: $(STAMP)
	DEMO=$(DEMO) FFB=$(FFB) bash scripts/demo.sh

# Every benchmark with quick settings, then one markdown table of the ratios (bench/summary.py --help).
bench: $(STAMP)
	$(PY) bench/summary.py

clean-demo:
	rm -rf $(DEMO)

# Build the wheel and the sdist into dist/ and check what is inside (scripts/check_dist.py --help).
wheel-check: $(STAMP)
	rm -rf dist
	$(PY) -m build --quiet --outdir dist .
	$(PY) scripts/check_dist.py dist

# The wheel in a fresh venv that already holds another supported torch (not CI: it installs that torch).
# The venv goes to $(ENVCHECK_VENV); `ffbench --help` and a small weight-free `ffbench eval` must run there
# and torch must keep its version (scripts/wheel_env_check.sh).
OLD_TORCH ?= torch==2.9.1 torchvision==0.24.1
ENVCHECK_VENV ?= /tmp/ffbench-wheel-env
wheel-env-check: wheel-check
	OLD_TORCH='$(OLD_TORCH)' PYTHON=$(PYTHON) bash scripts/wheel_env_check.sh $(ENVCHECK_VENV) dist/*.whl

# The suite on other Pythons (not CI: it downloads their wheels). One venv per Python under $(PYVENVS);
# the lowest Python installs the lowest versions pyproject.toml claims (constraints-lowest.txt), the others
# the newest releases the ranges admit. Each run's log is $(PYVENVS)/pyVERSION.log; the last lines sum up.
# Pythons come from pyenv (PYENV_VERSION=3.12.1 python); set PYTHONS to other versions to change the set.
PYTHONS ?= 3.10.13 3.12.1 3.13.0
LOWEST_PYTHON ?= 3.10.13
PYVENVS ?= .venvs
test-pythons: $(BROWSER)
	@fail=0; for v in $(PYTHONS); do \
		$(MAKE) --no-print-directory test-python PYV=$$v SEED=$(SEED) || fail=1; \
	done; \
	for v in $(PYTHONS); do echo "Python $$v: $$(tail -n 1 $(PYVENVS)/py$$v.log)"; done; exit $$fail

# bash for pipefail: the run fails when pytest does, not when tee succeeds.
test-python: SHELL := /bin/bash
test-python:
	@test -n "$(PYV)" || (echo "set PYV, e.g. make test-python PYV=3.12.1"; exit 2)
	@test -x $(PYVENVS)/py$(PYV)/bin/python || PYENV_VERSION=$(PYV) python -m venv $(PYVENVS)/py$(PYV)
	$(PYVENVS)/py$(PYV)/bin/python -m pip install --quiet \
		$(if $(filter $(LOWEST_PYTHON),$(PYV)),-c constraints-lowest.txt,) '.[dev]'
	$(PYVENVS)/py$(PYV)/bin/python -m pip freeze > $(PYVENVS)/py$(PYV).freeze
	@echo "Python $(PYV): suite with --randomly-seed=$(SEED)"
	set -o pipefail; $(PYVENVS)/py$(PYV)/bin/python -m pytest -q -p randomly --randomly-seed=$(SEED) \
		-p no:cacheprovider 2>&1 | tee $(PYVENVS)/py$(PYV).log
