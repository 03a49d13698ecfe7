"""Builders shared by the FashionFlow tests: tiny random models, encoders and pipelines (no tests here)."""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL

from ffbench.models.fashionflow import (
    FashionFlowModel,
    FashionFlowPipeline,
    fashionflow_config,
    make_noise_scheduler,
)

# Two stages (time halved in the second), attention and cross-attention: every kind of layer, ~60k params.
TINY = dict(
    block_out_channels=(8, 16),
    layers_per_block=2,
    temporal_downsample=(False, True),
    self_attention=(False, True),
    attention_heads=2,
    attention_head_dim=8,
    cross_attention_head_dim=8,
    norm_num_groups=4,
    sample_size=(8, 6),
    num_frames=6,
    # The paper's frame space, which most tests check against closed forms; the residual tests (and every
    # run trained through the CLI at the cpu preset) turn it on.
    cond_residual=False,
)



def tiny_config(**overrides) -> dict:
    """A `cpu`-preset config (4 latent channels, CLIP 17 x 64) shrunk to test size."""
    return fashionflow_config("cpu", **{**TINY, **overrides})


def tiny_model(seed: int = 0, **overrides) -> FashionFlowModel:
    torch.manual_seed(seed)
    return FashionFlowModel(**tiny_config(**overrides)).eval()


def tiny_vae(seed: int = 0) -> AutoencoderKL:
    """3 blocks -> downsample 4, 4 latent channels."""
    torch.manual_seed(seed)
    return AutoencoderKL(
        block_out_channels=(8, 16, 16),
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        latent_channels=4,
        norm_num_groups=4,
        layers_per_block=1,
    ).eval()


def tiny_pipeline(
    seed: int = 0, interpolator: bool = True, kind: str = "dpmpp", **overrides
) -> FashionFlowPipeline:
    """Frames of 32 x 24 pixels (latent 8 x 6), tiny CLIP with 17 tokens of 64."""
    from ffbench.encoders import build_tiny_clip

    clip, processor = build_tiny_clip(seed)
    return FashionFlowPipeline(
        unet=tiny_model(seed, **overrides),
        vae=tiny_vae(seed),
        image_encoder=clip,
        feature_extractor=processor,
        scheduler=make_noise_scheduler("cosine", kind),
        interpolator=tiny_model(seed + 1, stage="interpolation", **overrides) if interpolator else None,
    )
