"""Content keys: one sha256 of everything that determines a cached result (features, flows, weights).

A base module (it imports nothing of ffbench), so the datasets' flow cache and the metrics' feature cache
key their files the same way without either importing the other.
"""

from __future__ import annotations

import hashlib
import json


def cache_key(**parts: object) -> str:
    """A sha256 hex digest of the JSON form of `parts` (sorted keys), e.g. extractor sha256,
    protocol, file list and seed."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()
