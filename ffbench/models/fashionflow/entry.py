"""FashionFlow in the model registry: `ffbench train fashionflow`, `ffbench generate --checkpoint RUN`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ffbench.models.registry import ModelEntry, register, reject_unused

TRAIN_OPTIONS = ("schedule", "conditioning", "stage")


class FashionFlowSampler:
    """The registry's generator protocol over a `FashionFlowPipeline`.

    Without interpolation it samples `num_frames` frames jointly. With it, the interpolation model doubles
    the frame rate: k keyframes give 2k - 1 frames at twice the fps, so for `num_frames` it samples
    k = num_frames // 2 + 1 keyframes and keeps the first `num_frames` frames. With inference="official"
    it samples as the public inference.py (70 frames by default, written at 25 fps, the conditioning frame
    stretched to the model's size: `resize`).
    """

    def __init__(self, pipe: Any, steps: int, sampler: str, guidance_scale: float, interpolate: bool,
                 inference: str = "ffbench") -> None:
        from ffbench.models.fashionflow.pipeline import OFFICIAL_FPS, OFFICIAL_NUM_FRAMES

        self.pipe, self.steps, self.guidance_scale = pipe, steps, guidance_scale
        self.interpolate, self.inference = interpolate, inference
        self.size = tuple(pipe.frame_size)
        keyframes = int(pipe.unet.config.num_frames)
        self.num_frames = 2 * keyframes - 1 if interpolate else keyframes
        self.max_frames = None
        self.fps = float(pipe.unet.config.fps) * (2 if interpolate else 1)
        # generation.py fits each conditioning frame to the model's size this way (crop or stretch)
        self.resize = "cover"
        self.flags: list[str] = []
        if inference == "official":  # inference.py: 70 frames written at 25 fps, the image stretched
            self.num_frames, self.fps, self.resize = OFFICIAL_NUM_FRAMES, OFFICIAL_FPS, "stretch"
            if pipe.device.type != "cuda":
                self.flags.append(f"official inference on {pipe.device.type}: float32, not the public "
                                  "code's fp16 autocast (CUDA only)")
        self.settings = {"steps": steps, "sampler": sampler, "guidance_scale": guidance_scale,
                         "interpolate": interpolate, "inference": inference}

    def __call__(self, cond: torch.Tensor, num_frames: int, generator: torch.Generator,
                 real: torch.Tensor | None = None) -> torch.Tensor:
        # cond came from uint8 frames, so this round trip is exact.
        from ffbench.encoders import signed_to_pixels

        pixels = signed_to_pixels(cond)
        keyframes = num_frames // 2 + 1 if self.interpolate else num_frames
        frames = self.pipe(list(pixels.permute(0, 2, 3, 1).numpy()), num_frames=keyframes,
                           num_inference_steps=self.steps, guidance_scale=self.guidance_scale,
                           generator=generator, output_type="np", interpolate=self.interpolate,
                           inference=self.inference).frames
        video = torch.from_numpy(np.clip(np.asarray(frames, dtype=np.float32), 0.0, 1.0))  # (B, F, H, W, 3)
        if self.inference == "official":  # inference.py writes frame.mul(255).byte(): truncated, not rounded
            video = torch.floor(video * 255) / 255
        return (video * 2 - 1).permute(0, 4, 1, 2, 3)[:, :, :num_frames]


def load(checkpoint: Path, device: str | torch.device = "cpu", *, steps: int | None = None,
         sampler: str | None = None, guidance_scale: float = 1.0, interpolate: bool = False,
         interpolator: str | None = None, inference: str | None = None,
         **options: Any) -> FashionFlowSampler:
    """The sampler of a saved pipeline. `inference` defaults to the pipeline's own ("official" for a
    converted published checkpoint, see `generate.resolve_inference`); with "ffbench", `sampler` defaults
    to DEFAULT_SAMPLER and `steps` to its own default."""
    from ffbench.models.fashionflow.generate import load_pipeline, resolve_inference
    from ffbench.models.fashionflow.pipeline import check_inference
    from ffbench.models.fashionflow.schedule import SAMPLERS

    reject_unused("fashionflow", options)
    if sampler is not None and sampler not in SAMPLERS:
        raise ValueError(f"sampler={sampler!r}; choose one of {', '.join(SAMPLERS)}")
    if inference is not None:
        check_inference(inference)  # before the weights load
    pipe = load_pipeline(checkpoint, interpolator, device)
    inference, sampler, steps = resolve_inference(pipe, inference, sampler, steps, guidance_scale,
                                                  interpolate)
    if interpolate and pipe.interpolator is None:
        raise ValueError(
            f"--interpolate: checkpoint {str(checkpoint)!r} has no interpolator; pass the directory of a "
            "model trained with `ffbench train fashionflow --stage interpolate` (its <run>/interpolator)"
        )
    pipe.set_progress_bar_config(disable=True)
    return FashionFlowSampler(pipe, steps, sampler, guidance_scale, interpolate, inference)


def train(shards: str | Path, out: str | Path, config: Any, *, preset: str, resume: bool, progress: bool,
          num_workers: int, **options: Any):
    from ffbench.models.fashionflow.training import FashionFlowOptions, train_fashionflow

    reject_unused("fashionflow", options, used=TRAIN_OPTIONS)
    fashionflow = FashionFlowOptions(preset=preset, num_workers=num_workers, **options)
    result = train_fashionflow(shards, out, config, fashionflow, resume=resume, progress=progress)
    if result.step >= config.steps:
        result.exported = Path(out) / ("pipeline" if fashionflow.stage == "base" else "interpolator")
    return result


def networks(size: str) -> dict[str, torch.nn.Module]:
    """The denoiser (U-Net + adapter) at `size`: "official" is the public code's (the `paper` preset)."""
    from ffbench.models.fashionflow import FashionFlowModel, fashionflow_config

    return {"unet+adapter": FashionFlowModel(**fashionflow_config("paper" if size == "official" else size))}


register(ModelEntry(
    name="fashionflow",
    description="FashionFlow (Islam et al., 2023): latent video diffusion from one image",
    load=load,
    train=train,
    class_names=("FashionFlowPipeline",),
    export="pipeline",
    config_options=("cond_dropout",),  # its diffusion and interpolation losses drop the condition
    networks=networks,
))
