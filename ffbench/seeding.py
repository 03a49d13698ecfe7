"""Per-video noise seeds: a base module, so `ffbench.generation` (every model's generate) and a model's own
sampling helpers (`models/fashionflow/generate.py`) draw the same noise without importing each other."""

from __future__ import annotations

import hashlib


def noise_seed(seed: int, name: str) -> int:
    """The noise seed of the video called `name` in a set sampled with `seed`.

    Every video gets its own noise: a set sampled from one noise is not a set of independent draws (the
    demo's FashionFlow, sampled so, put its noise-driven colour shifts at the same frames of every video),
    and the metrics' bootstrap intervals assume independent videos. The name, not the position, picks it,
    so a video does not depend on which others were generated with it or in what order.
    """
    digest = hashlib.sha256(f"{seed}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1  # torch seeds are < 2**64; keep it signed-safe
