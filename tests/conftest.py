"""Shared test settings: offline hub, deterministic small thread pools."""

from __future__ import annotations

import os

# Set before any test imports huggingface_hub: a hub id then fails at once instead of retrying.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
