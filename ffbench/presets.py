"""Named size presets: the data geometry and encoders every stage agrees on.

`paper` is the FashionFlow reference (70 frames at 640x512, Stable Diffusion VAE, CLIP ViT-B/32);
it is meant for GPUs. `cpu` is small enough to prepare, train and sample on this project's 2-core CI.
Model widths live in each model's own config; a preset only fixes what the data and the encoders look
like, so shards prepared for a preset serve every model trained on it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Preset:
    name: str
    height: int  # video frame height in pixels (H)
    width: int  # video frame width in pixels (W)
    frames: int  # frames per training clip (F)
    fps: float  # frame rate of written videos
    vae: str  # default VAE: hub id, local directory, or "tiny" (trained during prepare)
    clip: str  # default CLIP vision tower: hub id, local directory, or "tiny" (random, offline)
    vae_downsample: int  # pixels per latent cell along each axis
    latent_channels: int
    clip_tokens: int  # tokens of the CLIP last hidden state (CLS + patches)
    clip_dim: int  # width of a CLIP token

    @property
    def latent_height(self) -> int:
        return self.height // self.vae_downsample

    @property
    def latent_width(self) -> int:
        return self.width // self.vae_downsample

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, Preset] = {
    "paper": Preset(
        name="paper",
        height=640,
        width=512,
        frames=70,
        fps=30.0,
        vae="CompVis/stable-diffusion-v1-4",
        clip="openai/clip-vit-base-patch32",
        vae_downsample=8,
        latent_channels=4,
        clip_tokens=50,
        clip_dim=768,
    ),
    "cpu": Preset(
        name="cpu",
        height=128,
        width=96,
        frames=16,
        fps=30.0,
        vae="tiny",
        clip="tiny",
        vae_downsample=4,
        latent_channels=4,
        clip_tokens=17,
        clip_dim=64,
    ),
}


def get_preset(name: str) -> Preset:
    """Return the preset called `name`, or raise a ValueError listing the valid names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown preset {name!r}; choose one of: {', '.join(sorted(PRESETS))}"
        ) from None
