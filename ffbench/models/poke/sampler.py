"""The Poke sampler: condition frames plus the real test clips in, videos out.

Poke needs more than the first frame: its poke comes from the ground-truth flow of the real test video
(frame 0 to frame T, T the training horizon, Farneback as in training), which the image-only methods
never see. Every video set it makes therefore carries `privileged-input: ground-truth flow` (the flag
of its registry entry, `ffbench.models.poke.entry`, which `generate` writes); a model trained with the
weight-free stand-in of the perceptual loss adds its own flag. `generate` hands over frames 0..F-1 of
the real video for an F-frame request, so asking for fewer frames than x0 + the training horizon takes
the flow over the frames given (frame 0 -> F-1), a shorter poke.
"""

from __future__ import annotations

from typing import Any

import torch

from ffbench.encoders import tensor_to_frames
from ffbench.errors import UserError

PRIVILEGED_INPUT = "ground-truth flow"


class PokeNeedsRealVideoError(UserError, ValueError):
    """Poke was asked to generate without the real clips its pokes come from."""


class PokeSampler:
    """The generator protocol of the model registry over a trained `PokeModel`.

    `__call__(cond (B, 3, H, W), num_frames, generator, real (B, 3, F, H, W))` -> (B, 3, num_frames, H, W):
    frame 0 is the condition frame, the others the GRU's steps under the poke (the poke enters every
    step, so any number of frames can be made; the model was trained for `config.num_frames` after x0).
    """

    def __init__(self, model: Any) -> None:
        self.model = model.eval()
        config = model.config
        self.size = tuple(config.sample_size)
        self.num_frames = int(config.num_frames) + 1  # x0 and the training horizon
        self.max_frames = None
        self.fps = float(config.fps)
        side = 2 * (config.poke_size // 2) + 1
        self.settings = {"poke": f"one {side}x{side} square holding a moving pixel's flow vector, from the "
                                 f"flow of the real video's frame 0 -> {config.num_frames}",
                         "flow": "opencv-farneback (substitute for FlowNet2)",
                         "flow_norm": float(config.flow_norm), "perceptual_loss": config.perceptual_loss}
        self.flags: list[str] = []  # the privileged-input flag comes from the registry entry
        if config.perceptual_loss != "vgg19":
            self.flags.append(f"perceptual-loss: {config.perceptual_loss} (weight-free substitute of VGG-19)")

    def pokes(self, real: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The test pokes (B, 2, H, W) from the real clips (B, 3, F, H, W) in [-1, 1]."""
        from ffbench.datasets.pokes import poke_from_video

        config = self.model.config
        cpu = generator
        if generator.device.type != "cpu":  # the poke sampler draws on the CPU
            cpu = torch.Generator().manual_seed(generator.initial_seed())
        return torch.stack([poke_from_video(tensor_to_frames(clip), self.size, int(config.num_frames),
                                            float(config.flow_norm), int(config.poke_size), cpu)[0]
                            for clip in real])

    @torch.no_grad()
    def __call__(self, cond: torch.Tensor, num_frames: int, generator: torch.Generator,
                 real: torch.Tensor | None = None) -> torch.Tensor:
        if real is None or real.ndim != 5 or real.shape[2] < 2:
            raise PokeNeedsRealVideoError(
                "poke generates from the ground-truth flow of the real test video (privileged input): give "
                "the real split (e.g. `ffbench generate DATA/shards/test --checkpoint RUN`), with clips of "
                ">= 2 frames")
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        param = next(self.model.parameters())
        cond = cond.to(param)
        poke = self.pokes(real, generator).to(param)
        if num_frames == 1:
            return cond[:, :, None]
        video = self.model(cond, poke, num_frames - 1)
        return torch.cat([cond[:, :, None], video], dim=2)
