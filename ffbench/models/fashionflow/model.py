"""FashionFlowModel: the pseudo-3D U-Net and the CLIP+VAE adapter as one diffusers model.

The conditioning image enters twice (paper section 3): locally, its clean latent replaces frame 0 of
the noisy clip; globally, CLIP tokens plus tokens from its latent (the adapter) feed cross-attention.
`conditioning` switches either off (paper Table 2). `stage="interpolation"` builds the second model
of section 3.3, which takes 4 extra input channels per frame (masked RGB + mask) and fills frames.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

from ffbench.errors import UserError
from ffbench.models.fashionflow.adapter import ImageAdapter
from ffbench.models.fashionflow.schedule import check_prediction_type
from ffbench.models.fashionflow.unet import PseudoUNet3D
from ffbench.models.loading import LoadAlignedMixin

CONDITIONING_MODES = ("both", "global", "local")
STAGES = ("keyframes", "interpolation")
INTERPOLATION_EXTRA_CHANNELS = 4  # 3 for the RGB of the known frames at latent resolution, 1 for the mask


class FashionFlowConfigError(UserError, ValueError):
    """A model, checkpoint or pipeline component does not fit the configuration it is used with."""


class FashionFlowModel(LoadAlignedMixin, ModelMixin, ConfigMixin):
    """Noise (or velocity) prediction for a latent clip, conditioned on one image.

    forward(sample (B, C, F, h, w), timestep (B,), cond_latent (B, 4, h, w), clip_tokens (B, T, D))
    -> eps or v (B, 4, F, h, w), as `prediction_type` says. C is `latent_channels` for the keyframe
    stage and `latent_channels + 4` for the interpolation stage.

    Args:
        sample_size: latent (h, w) the model is trained at; the adapter's size depends on it.
        num_frames: frames per training clip, the default clip length for sampling.
        fps: frame rate of the training videos, the rate generated videos are written at.
        latent_channels: channels of the VAE latent.
        block_out_channels, layers_per_block, temporal_downsample, self_attention, attention_heads,
        attention_head_dim, cross_attention_head_dim, norm_num_groups: U-Net shape (see PseudoUNet3D).
        clip_tokens, clip_dim: shape of the CLIP last hidden state the adapter takes.
        conditioning: "both" (paper), "global" (adapter + cross-attention only) or "local" (frame 0 only).
        stage: "keyframes" (image to clip) or "interpolation" (fill every other frame).
        prediction_type: what the output is, "epsilon" (the paper) or "v_prediction"; losses and
            samplers read it from here, so a saved model always carries the meaning of its output.
        concat_cond_latent: not in the paper (off in its preset). Also give every frame the clean
            conditioning latent as `latent_channels` extra input channels, as image-to-video models
            such as Stable Video Diffusion do, so each frame sees the person and garment directly
            rather than only through frame 0 and the temporal layers. Needs local conditioning.
        cond_residual: not in the paper (off in its preset). Diffuse each frame's difference from the
            conditioning latent instead of the frame itself (`diffusion_space`; the samplers add it back), so
            an untrained or uncertain model stays near the conditioning image instead of drifting to
            the dataset's mean colours; frame 0's residual is exactly zero. Keyframe stage, local
            conditioning.
        group_norm_over, feed_forward_token_shift, feed_forward_norm, position_bias_input,
        cross_attention_heads: four computations the weights' shapes do not show, where the public
            FashionFlow code (the `paper` preset) differs from ffbench's first U-Net. The defaults are
            that first U-Net, so configs saved before these fields existed load as they were trained:
            - group_norm_over: "frame" (GroupNorm statistics per frame) or "clip" (per sample over all
              its frames; the public code, which normalises the 5-D clip).
            - feed_forward_token_shift: after the self-attention feed-forward's GEGLU, shift half of
              the channels one frame later (frame 0 zeros); the public code does.
            - feed_forward_norm: the norm after that GEGLU, "layer_norm" (eps added to the variance)
              or "layer_norm_clamped" (variance clamped at eps: 1e-5 in float32, 1e-3 in half; the
              public code's channel LayerNorm).
            - position_bias_input: the relative offsets the position-bias MLP reads, "signed_log"
              (sign * log1p |d|) or "raw" (the public code).
            - cross_attention_heads: cross-attention heads per stage, the same down and up (the public
              code fixes (1, 1, 2, 4)); None derives width // cross_attention_head_dim.
    """

    _supports_gradient_checkpointing = True

    @register_to_config
    def __init__(
        self,
        sample_size: Sequence[int] = (80, 64),
        num_frames: int = 70,
        fps: float = 30.0,
        latent_channels: int = 4,
        block_out_channels: Sequence[int] = (64, 128, 256, 512),
        layers_per_block: int = 3,
        temporal_downsample: Sequence[bool] = (False, False, False, True),
        self_attention: Sequence[bool] = (False, False, False, True),
        attention_heads: int = 8,
        attention_head_dim: int = 64,
        cross_attention_head_dim: int = 64,
        norm_num_groups: int = 8,
        clip_tokens: int = 50,
        clip_dim: int = 768,
        conditioning: str = "both",
        stage: str = "keyframes",
        prediction_type: str = "epsilon",
        concat_cond_latent: bool = False,
        cond_residual: bool = False,
        group_norm_over: str = "frame",
        feed_forward_token_shift: bool = False,
        feed_forward_norm: str = "layer_norm",
        position_bias_input: str = "signed_log",
        cross_attention_heads: Sequence[int] | None = None,
    ):
        super().__init__()
        check_prediction_type(prediction_type)
        if concat_cond_latent and conditioning == "global":
            raise ValueError("concat_cond_latent=True gives every frame the conditioning latent, which is "
                             "local conditioning; it cannot be combined with conditioning='global'")
        if cond_residual and (conditioning == "global" or stage != "keyframes"):
            raise ValueError("cond_residual=True diffuses differences from the conditioning latent, which "
                             "needs local conditioning and the keyframe stage")
        if conditioning not in CONDITIONING_MODES:
            raise ValueError(f"conditioning={conditioning!r}; choose one of {', '.join(CONDITIONING_MODES)}")
        if stage not in STAGES:
            raise ValueError(f"stage={stage!r}; choose one of {', '.join(STAGES)}")
        if len(sample_size) != 2 or min(sample_size) < 2:
            raise ValueError(f"sample_size={sample_size!r}; give the latent (height, width), each >= 2")
        extra = INTERPOLATION_EXTRA_CHANNELS if stage == "interpolation" else 0
        extra += latent_channels if concat_cond_latent else 0
        self.unet = PseudoUNet3D(
            in_channels=latent_channels + extra,
            out_channels=latent_channels,
            block_out_channels=block_out_channels,
            layers_per_block=layers_per_block,
            temporal_downsample=temporal_downsample,
            self_attention=self_attention,
            attention_heads=attention_heads,
            attention_head_dim=attention_head_dim,
            cross_attention_dim=clip_dim if conditioning != "local" else None,
            cross_attention_head_dim=cross_attention_head_dim,
            norm_num_groups=norm_num_groups,
            group_norm_over=group_norm_over,
            feed_forward_token_shift=feed_forward_token_shift,
            feed_forward_norm=feed_forward_norm,
            position_bias_input=position_bias_input,
            cross_attention_heads=cross_attention_heads,
        )
        self.adapter = None
        if conditioning != "local":
            self.adapter = ImageAdapter(latent_channels, tuple(sample_size), clip_tokens, clip_dim)

    @property
    def in_channels(self) -> int:
        """Channels of the `sample` forward takes (the concatenated conditioning latent not counted)."""
        extra = INTERPOLATION_EXTRA_CHANNELS if self.config.stage == "interpolation" else 0
        return self.config.latent_channels + extra

    @property
    def uses_global(self) -> bool:
        return self.config.conditioning != "local"

    @property
    def replaces_first_frame(self) -> bool:
        """Whether the clean conditioning latent replaces frame 0 (keyframe stage, local conditioning)."""
        return self.config.conditioning != "global" and self.config.stage == "keyframes"

    def diffusion_space(self, latents: torch.Tensor, cond_latent: torch.Tensor) -> torch.Tensor:
        """What the diffusion runs on: the clean latents (B, C, F, h, w) themselves, or with
        `cond_residual` their differences from the conditioning latent (B, C, h, w)."""
        if not self.config.cond_residual:
            return latents
        return latents - cond_latent.to(latents.dtype)[:, :, None]

    def _check(
        self, sample: torch.Tensor, cond_latent: torch.Tensor, clip_tokens: torch.Tensor | None
    ) -> None:
        if sample.ndim != 5 or sample.shape[1] != self.in_channels:
            raise ValueError(
                f"sample has shape {tuple(sample.shape)}; expected (B, {self.in_channels}, F, h, w) "
                f"for a {self.config.stage} model with {self.config.latent_channels} latent channels"
            )
        b, _, _, h, w = sample.shape
        want = (b, self.config.latent_channels, h, w)
        if tuple(cond_latent.shape) != want:
            raise ValueError(
                f"cond_latent has shape {tuple(cond_latent.shape)}; expected {want} (B, C, h, w)"
            )
        if self.uses_global:
            want_tokens = (b, self.config.clip_tokens, self.config.clip_dim)
            if clip_tokens is None or tuple(clip_tokens.shape) != want_tokens:
                got = None if clip_tokens is None else tuple(clip_tokens.shape)
                raise ValueError(
                    f"clip_tokens has shape {got}; conditioning={self.config.conditioning!r} "
                    f"needs {want_tokens} (B, T, D)"
                )

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | int,
        cond_latent: torch.Tensor,
        clip_tokens: torch.Tensor | None = None,
        enable_time: bool = True,
    ) -> torch.Tensor:
        """Predict the noise (or v) of `sample` (B, C, F, h, w) at `timestep` (B,) -> (B, latent_channels,
        F, h, w).

        cond_latent (B, 4, h, w) is the clean latent of the conditioning image; clip_tokens (B, T, D) its
        CLIP last hidden state (unused with conditioning="local"). With `enable_time=False` frames are
        processed independently (the image model inside the video model).
        """
        self._check(sample, cond_latent, clip_tokens)
        timestep = torch.as_tensor(timestep, device=sample.device)
        if timestep.ndim == 0:
            timestep = timestep.expand(sample.shape[0])
        if self.replaces_first_frame:
            sample = sample.clone()
            # in residual space frame 0 (the conditioning frame minus itself) is exactly zero
            first = torch.zeros_like(cond_latent) if self.config.cond_residual else cond_latent
            sample[:, : self.config.latent_channels, 0] = first.to(sample.dtype)
        if self.config.concat_cond_latent:
            frames = cond_latent.to(sample.dtype)[:, :, None].expand(-1, -1, sample.shape[2], -1, -1)
            sample = torch.cat([sample, frames], dim=1)
        context = None
        if self.adapter is not None:
            context = self.adapter(clip_tokens.to(sample.dtype), cond_latent.to(sample.dtype))
        return self.unet(sample, timestep, context, enable_time=enable_time)


# Saved pipelines record a component's class by module path: record the package's public path so
# checkpoints keep loading if the file layout inside the package changes.
FashionFlowModel.__module__ = "ffbench.models.fashionflow"
