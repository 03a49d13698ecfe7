"""Builders of checkpoints in the public FashionFlow code's layout, from the committed key/shape fixtures
(tests/data/official_fashionflow_*.json; no tests here)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

DATA = Path(__file__).parent / "data"


def official_layout(name: str) -> dict[str, dict[str, list[int]]]:
    """{"net": {key: shape}, "adapter": {key: shape}} of fixture `name` ("paper" or "width8")."""
    layout = json.loads((DATA / f"official_fashionflow_{name}.json").read_text())
    return {part: layout[part] for part in ("net", "adapter")}


def official_state(name: str, seed: int | None = 0) -> dict[str, dict[str, torch.Tensor]]:
    """Tensors of the fixture's shapes: random (scaled by 1/sqrt(fan-in)) from `seed`, or zeros if None."""
    g = None if seed is None else torch.Generator().manual_seed(seed)
    out: dict[str, dict[str, torch.Tensor]] = {}
    for part, shapes in official_layout(name).items():
        out[part] = {}
        for key, shape in shapes.items():
            if g is None:
                out[part][key] = torch.zeros(shape)
            else:
                fan_in = math.prod(shape[1:]) if len(shape) > 1 else 1
                out[part][key] = torch.randn(shape, generator=g) / math.sqrt(fan_in)
    return out


def save_official(path: Path, name: str = "width8", seed: int | None = 0, **edit) -> Path:
    """torch.save an official-layout checkpoint as the published file is ({"net": ..., "adapter": ...})."""
    state = official_state(name, seed)
    state.update(edit)
    torch.save(state, path)
    return path
