"""`static` in the model registry: `ffbench generate SPLIT --model static` (no checkpoint, no training)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ffbench.models.registry import ModelEntry, register, reject_unused


def load(checkpoint: Path | None = None, device: Any = "cpu", **options: Any):
    from ffbench.models.static.sampler import StaticSampler

    reject_unused("static", options)
    return StaticSampler()


register(ModelEntry(
    name="static",
    description="the conditioning frame repeated: the no-motion floor",
    load=load,
    needs_checkpoint=False,
))
