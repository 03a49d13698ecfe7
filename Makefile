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
SEED ?= $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')

test: $(STAMP)
	@echo "test order: --randomly-seed=$(SEED) (replay with: make test SEED=$(SEED))"
	$(PY) -m pytest -q -p randomly --randomly-seed=$(SEED)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# The demo: every step is a plain ffbench command, resumable, on the embedded synthetic data and the
# offline stand-ins (tiny VAE trained here, random CLIP, random-init metric extractors, labelled so).
FFB := $(VENV)/bin/ffbench
# 1000 steps at batch 2: about 8 minutes on one free core (0.48 s/step), people in the samples (bench/quality.py)
DEMO_STEPS ?= 1000

demo: $(STAMP)
	$(FFB) prepare --synthetic --preset cpu --out $(DEMO)/data
	$(FFB) train fashionflow --shards $(DEMO)/data --preset cpu --out $(DEMO)/runs/fashionflow \
		--steps $(DEMO_STEPS) --lr 1e-3 --checkpoint-every 250 --ema-decay 0.99 --threads 1 --resume
	$(FFB) generate $(DEMO)/data/shards/test --checkpoint $(DEMO)/runs/fashionflow/pipeline \
		-o $(DEMO)/runs/fashionflow/samples --steps 25 --sampler dpmpp
	$(FFB) eval --metric all --real $(DEMO)/data/shards/test --fake $(DEMO)/runs/fashionflow/samples \
		--method fashionflow --i3d random --i3d-vfid random --inception random \
		--leaderboard-dir $(DEMO)/leaderboard --dataset synthetic-cpu --cache-dir $(DEMO)/cache
	$(FFB) leaderboard --dir $(DEMO)/leaderboard

# Every benchmark with quick settings, then one markdown table of the ratios (bench/summary.py --help).
bench: $(STAMP)
	$(PY) bench/summary.py

clean-demo:
	rm -rf $(DEMO)
