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

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

demo: $(STAMP)
	$(PY) -m ffbench.demo --out $(DEMO)

bench: $(STAMP)
	$(PY) bench/loader.py
	$(PY) bench/sampling.py
	$(PY) bench/metrics.py

clean-demo:
	rm -rf $(DEMO)
