"""The `static` sampler: video (B, 3, F, H, W) = the condition frame (B, 3, H, W) repeated F times."""

from __future__ import annotations

from typing import Any

import torch


class StaticSampler:
    """Takes and makes any size and any number of frames; the frame rate is the data's."""

    size = None
    num_frames = None
    max_frames = None
    fps = None

    def __init__(self) -> None:
        self.settings: dict[str, Any] = {}
        self.flags: list[str] = []

    def __call__(self, cond: torch.Tensor, num_frames: int, generator: torch.Generator | None = None,
                 real: torch.Tensor | None = None) -> torch.Tensor:
        return cond[:, :, None].expand(-1, -1, num_frames, -1, -1).clone()
