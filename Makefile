# Two entry points, both from a fresh clone:
#   make demo   create .venv if missing, install, run the whole pipeline on the synthetic default
#   make test   create .venv if missing, install, run the test suite
# Install is idempotent: the stamp file is newer than pyproject.toml, so a second run skips it.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.ffbench-installed
DEMO ?= demo
# Offline hub: a missing hub id fails at once instead of retrying for ~23 s.
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test lint bench clean-demo

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

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
