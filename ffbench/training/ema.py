"""Exponential moving average of a model's weights: diffusers' `EMAModel`, made checkpointable by name.

`EMAModel` keeps its shadow weights as a list in parameter order; checkpoints store them under the
parameter names (safetensors) and the scalar state (decay, optimisation step, warm-up) as JSON, so a
resume continues the average exactly and a stale file cannot be matched to the wrong parameters.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class ModelEMA:
    """EMA of `model`'s parameters.

    The decay warms up as diffusers does by default, `min(decay, (1 + n) / (10 + n))` after n updates,
    so early averages are not dominated by the random initialisation.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        # Imported here: diffusers takes seconds to import, and runs without an EMA need none of it.
        from diffusers.training_utils import EMAModel

        self.names = [name for name, _ in model.named_parameters()]
        self.ema = EMAModel(model.parameters(), decay=decay)

    def update(self, model: nn.Module) -> None:
        """Fold the current weights of `model` (the unwrapped module) into the average."""
        self.ema.step(model.parameters())

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Overwrite `model`'s parameters with the averaged ones."""
        self.ema.copy_to(model.parameters())

    def tensors(self) -> dict[str, torch.Tensor]:
        """Shadow weights by parameter name (contiguous CPU copies, ready for safetensors)."""
        pairs = zip(self.names, self.ema.shadow_params, strict=True)
        return {name: t.detach().cpu().contiguous() for name, t in pairs}

    def scalars(self) -> dict[str, Any]:
        state = self.ema.state_dict()
        state.pop("shadow_params")
        return state

    def load(self, tensors: dict[str, torch.Tensor], scalars: dict[str, Any]) -> None:
        """Restore from `tensors()` / `scalars()` output; names must match the model's parameters."""
        missing = sorted(set(self.names) - set(tensors))
        extra = sorted(set(tensors) - set(self.names))
        if missing or extra:
            raise ValueError(
                f"EMA weights do not match the model: missing {missing[:5]}, unexpected {extra[:5]}; "
                "the checkpoint belongs to a different model configuration"
            )
        device = self.ema.shadow_params[0].device if self.ema.shadow_params else torch.device("cpu")
        shadow = []
        for name, current in zip(self.names, self.ema.shadow_params, strict=True):
            saved = tensors[name]
            if saved.shape != current.shape:
                raise ValueError(f"EMA weight {name!r} has shape {tuple(saved.shape)}, the model "
                                 f"{tuple(current.shape)}; the checkpoint belongs to a different model")
            shadow.append(saved.to(device=device, dtype=current.dtype))
        self.ema.load_state_dict({**scalars, "shadow_params": shadow})

    @property
    def optimization_step(self) -> int:
        return self.ema.optimization_step
