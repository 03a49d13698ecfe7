"""PokeModel: image-to-video from one frame and a sparse "poke" (Blattmann et al., CVPR 2021).

The parts, as in the official `SkipSequenceModel` (fixed-length setting):

- image encoder: stride-2 conv blocks keeping every scale, then a residual bottleneck; the features of
  x0 at every scale are the initial hidden states of the GRU;
- poke encoder: the same down path on the 2-channel poke, then two residual blocks, giving one
  embedding at the bottleneck scale;
- hierarchical ConvGRU: one cell per scale, coarse to fine; the poke embedding enters the coarsest cell
  at every step and each finer cell takes the new state above it;
- decoder: a residual block on the bottleneck state, then one upsampling residual block per scale that
  first concatenates the GRU state of that scale (the skips); tanh output, one frame per step.

Shapes at the official size (64x64, widths 128/256, bottleneck 512): image features 128@32x32,
256@16x16, 512@16x16; poke embedding 512@16x16.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from ffbench.errors import UserError
from ffbench.models.loading import LoadAlignedMixin
from ffbench.models.poke.blocks import NORMS, ConvNormAct, HierarchicalConvGRU, ResBlock

PERCEPTUAL_LOSSES = ("vgg19", "pyramid-l1")


class PokeConfigError(UserError, ValueError):
    """A Poke model configuration or input that does not fit together."""


class ImageEncoder(nn.Module):
    """x (B, 3, H, W) -> features fine to coarse: [(B, c_0, H/2, W/2), ..., (B, c_{n-1}, H/2^n, W/2^n),
    (B, bottleneck, H/2^n, W/2^n)]."""

    def __init__(self, c_in: int, channels: Sequence[int], bottleneck: int, norm: str = "instance"):
        super().__init__()
        widths = [c_in, *channels]
        pairs = zip(widths[:-1], widths[1:], strict=True)
        self.down = nn.ModuleList(ConvNormAct(a, b, stride=2, norm=norm) for a, b in pairs)
        self.bottleneck = ResBlock(widths[-1], bottleneck, norm=norm)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for block in self.down:
            x = block(x)
            features.append(x)
        features.append(self.bottleneck(x))
        return features


class PokeEncoder(nn.Module):
    """poke (B, 2, H, W) -> embedding (B, out, H/2^n, W/2^n): stride-2 conv blocks, then residual blocks."""

    def __init__(self, channels: Sequence[int], out: int, res_blocks: int, norm: str = "instance"):
        super().__init__()
        widths = [2, *channels]
        pairs = zip(widths[:-1], widths[1:], strict=True)
        layers: list[nn.Module] = [ConvNormAct(a, b, stride=2, norm=norm) for a, b in pairs]
        layers += [ResBlock(widths[-1] if i == 0 else out, out, norm=norm) for i in range(res_blocks)]
        self.net = nn.Sequential(*layers)

    def forward(self, poke: torch.Tensor) -> torch.Tensor:
        return self.net(poke)


class SkipDecoder(nn.Module):
    """Hidden states fine to coarse (as ImageEncoder returns them) -> a frame (B, 3, H, W) in [-1, 1].

    A residual block maps the bottleneck state to the coarsest skip width; then, per scale from coarse
    to fine, concatenate that scale's state and upsample with a residual block.
    """

    def __init__(self, channels: Sequence[int], bottleneck: int, norm: str = "instance"):
        super().__init__()
        skips = list(channels)[::-1]  # coarse to fine
        outs = skips[1:] + skips[-1:]  # each block ends at the next (finer) skip's width
        self.inp = ResBlock(bottleneck, skips[0], norm=norm)
        self.up = nn.ModuleList(ResBlock(2 * s, o, up=True, norm=norm)
                                for s, o in zip(skips, outs, strict=True))
        self.out = ConvNormAct(outs[-1], 3, norm="none", act="tanh")

    def forward(self, states: list[torch.Tensor]) -> torch.Tensor:
        x = self.inp(states[-1])
        for block, skip in zip(self.up, states[-2::-1], strict=True):
            x = block(torch.cat([x, skip], dim=1))
        return self.out(x)


class PokeModel(LoadAlignedMixin, ModelMixin, ConfigMixin):
    """Roll a frame forward under a poke: forward(image (B, 3, H, W), poke (B, 2, H, W), num_frames)
    -> video (B, 3, num_frames, H, W) in [-1, 1], the frames after `image` (which is not repeated).

    Args:
        sample_size: (H, W) of the frames; both divisible by 2 ** len(encoder_channels).
        num_frames: frames predicted after x0 in training (the official fixed-length setting: 10).
        fps: frame rate of the training videos, the rate generated videos are written at.
        encoder_channels: widths of the stride-2 blocks of the image encoder (and the GRU skip states).
        bottleneck_channels: width of the bottleneck features, the poke embedding and the coarsest state.
        poke_channels: widths of the stride-2 blocks of the poke encoder (as many as encoder_channels).
        poke_res_blocks: residual blocks at the end of the poke encoder.
        poke_size: side of the square patch a poke fills, in pixels at sample_size.
        flow_norm: the flow magnitude (pixels at sample_size) that maps to 1 in a poke: the largest
            first-to-last-frame flow of the training set. Test pokes are divided by the same number.
        perceptual_loss: the reconstruction loss the weights were trained with, "vgg19" (the paper's)
            or "pyramid-l1" (the weight-free substitute used when no VGG19 weights are present).
        norm: the normalisation of the conv blocks, "instance" (official, affine-free), "batch" or
            "none" (the official code's `norm_layer` choices; residual shortcuts keep instance norm).
    """

    @register_to_config
    def __init__(
        self,
        sample_size: Sequence[int] = (64, 64),
        num_frames: int = 10,
        fps: float = 30.0,
        encoder_channels: Sequence[int] = (128, 256),
        bottleneck_channels: int = 512,
        poke_channels: Sequence[int] = (32, 64),
        poke_res_blocks: int = 2,
        poke_size: int = 3,
        flow_norm: float = 1.0,
        perceptual_loss: str = "vgg19",
        norm: str = "instance",
    ):
        super().__init__()
        stages = len(encoder_channels)
        if stages < 1 or len(poke_channels) != stages:
            raise PokeConfigError(f"encoder_channels={tuple(encoder_channels)} and poke_channels="
                                  f"{tuple(poke_channels)} must be non-empty and of the same length")
        if len(sample_size) != 2 or any(s % 2 ** stages or s <= 0 for s in sample_size):
            raise PokeConfigError(f"sample_size={tuple(sample_size)}: height and width must be positive "
                                  f"multiples of {2 ** stages} ({stages} stride-2 stages)")
        if num_frames < 1 or poke_size < 1 or not flow_norm > 0:
            raise PokeConfigError(f"num_frames={num_frames}, poke_size={poke_size} and flow_norm={flow_norm} "
                                  "must be positive")
        if norm not in NORMS:
            raise PokeConfigError(f"norm={norm!r}; choose one of {NORMS}")
        if perceptual_loss not in PERCEPTUAL_LOSSES:
            raise PokeConfigError(f"perceptual_loss={perceptual_loss!r}; choose one of {PERCEPTUAL_LOSSES}")
        self.image_encoder = ImageEncoder(3, encoder_channels, bottleneck_channels, norm)
        self.poke_encoder = PokeEncoder(poke_channels, bottleneck_channels, poke_res_blocks, norm)
        # GRU states coarse to fine: the bottleneck, then the encoder scales from the coarsest; a cell
        # upsamples its input where its state is twice the size of the one above it.
        hidden = [bottleneck_channels, *list(encoder_channels)[::-1]]
        upsample = [False, False] + [True] * (stages - 1)
        self.gru = HierarchicalConvGRU(bottleneck_channels, hidden, upsample)
        self.decoder = SkipDecoder(encoder_channels, bottleneck_channels, norm)

    def encode(self, image: torch.Tensor) -> list[torch.Tensor]:
        """Image features fine to coarse (see ImageEncoder): the GRU's initial states and the targets of
        the latent-dynamics loss."""
        return self.image_encoder(image)

    def decode(self, states: list[torch.Tensor]) -> torch.Tensor:
        """States fine to coarse -> one frame (B, 3, H, W) in [-1, 1]."""
        return self.decoder(states)

    def rollout(self, image: torch.Tensor, poke: torch.Tensor, num_frames: int,
                features: list[torch.Tensor] | None = None) -> tuple[torch.Tensor, list[list[torch.Tensor]]]:
        """The video and the GRU states of every step.

        `features` may pass `encode(image)` computed already (training reuses one batched encoder pass).

        Returns:
            video (B, 3, num_frames, H, W) and, per step, the states fine to coarse (the shapes of
            `encode`'s output), which the latent-dynamics loss compares with the real frames' features.
        """
        self._check(image, poke)
        embedding = self.poke_encoder(poke)
        states = (self.encode(image) if features is None else features)[::-1]  # coarse to fine: GRU order
        frames, all_states = [], []
        for _ in range(num_frames):
            states = self.gru(embedding, states)  # the poke enters at every step
            fine_to_coarse = states[::-1]
            frames.append(self.decode(fine_to_coarse))
            all_states.append(fine_to_coarse)
        return torch.stack(frames, dim=2), all_states

    def forward(self, image: torch.Tensor, poke: torch.Tensor, num_frames: int | None = None) -> torch.Tensor:
        return self.rollout(image, poke, num_frames or self.config.num_frames)[0]

    def _check(self, image: torch.Tensor, poke: torch.Tensor) -> None:
        h, w = self.config.sample_size
        if image.ndim != 4 or image.shape[1:] != (3, h, w):
            raise PokeConfigError(f"image has shape {tuple(image.shape)}; this model takes (B, 3, {h}, {w})")
        if poke.shape != (image.shape[0], 2, h, w):
            raise PokeConfigError(f"poke has shape {tuple(poke.shape)}; expected "
                                  f"({image.shape[0]}, 2, {h}, {w})")
