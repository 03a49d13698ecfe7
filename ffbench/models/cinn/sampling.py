"""Sampling from a trained cINN baseline: u ~ N(0, I), z = cINN^-1(u | c(x0)), clip = [x0, G(x0, z)]."""

from __future__ import annotations

import torch

from ffbench.models.cinn.autoencoder import CINNAutoencoder
from ffbench.models.cinn.condition import CINNConditionEncoder
from ffbench.models.cinn.flow import CINNFlow


def check_compatible(autoencoder: CINNAutoencoder, condition: CINNConditionEncoder, flow: CINNFlow) -> None:
    """Raise ValueError naming the mismatch when the three stages were not built for each other."""
    problems = []
    if autoencoder.config.z_dim != flow.config.z_dim:
        problems.append(f"autoencoder z_dim {autoencoder.config.z_dim} != flow z_dim {flow.config.z_dim}")
    if condition.config.c_dim != flow.config.c_dim:
        problems.append(f"condition c_dim {condition.config.c_dim} != flow c_dim {flow.config.c_dim}")
    if tuple(condition.config.sample_size) != tuple(autoencoder.config.sample_size):
        problems.append(f"condition sample_size {tuple(condition.config.sample_size)} != autoencoder "
                        f"sample_size {tuple(autoencoder.config.sample_size)}")
    if problems:
        raise ValueError("the cINN stages do not fit together: " + "; ".join(problems))


@torch.no_grad()
def sample_clips(autoencoder: CINNAutoencoder, condition: CINNConditionEncoder, flow: CINNFlow,
                 x0: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """x0 (B, 3, H, W) in [-1, 1] at the models' sample_size -> clips (B, 3, num_frames, H, W) in [-1, 1]
    whose frame 0 is x0 itself and whose other frames are G(x0, z) for z drawn from the cINN given c(x0)."""
    check_compatible(autoencoder, condition, flow)
    c = condition.condition(x0)
    z = flow.sample(c, generator=generator)
    frames = autoencoder.decode(x0, z)
    return torch.cat([x0.unsqueeze(2).to(frames.dtype), frames], dim=2)
