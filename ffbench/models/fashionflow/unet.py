"""The pseudo-3D U-Net of FashionFlow (a space-time U-Net in the Make-A-Video / Ho et al. family).

Per stage, down: residual blocks (the first timestep-conditioned), spatio-temporal attention at the
stages that ask for it, pixel-unshuffle downsampling (time halved where asked), then cross-attention to
the conditioning tokens. Up mirrors it: upsample, residual blocks fed the two skips of the matching
down stage (scaled by 1/sqrt(2)), attention, cross-attention. The middle is residual block, attention,
residual block. The reference configuration (widths 64/128/256/512, 3 blocks, attention at the deepest
stage, time halved only at the last) has 71.67M parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from diffusers.models.embeddings import get_timestep_embedding
from torch import nn

from ffbench.models.fashionflow.attention import CrossAttentionBlock, SpatioTemporalAttention
from ffbench.models.fashionflow.convs import Downsample, PseudoConv3d, ResnetBlock, Upsample


class DownStage(nn.Module):
    """Residual blocks, optional attention, downsample, cross-attention. Returns the two skips too."""

    def __init__(
        self,
        cin: int,
        cout: int,
        blocks: int,
        temb_dim: int,
        groups: int,
        time_down: bool,
        attention: dict | None,
        context_dim: int | None,
        cross_head_dim: int,
        cross_heads: int | None = None,
        norm_over: str = "frame",
    ):
        super().__init__()
        self.resnets = nn.ModuleList(
            [ResnetBlock(cin, cout, temb_dim, groups, norm_over)]
            + [ResnetBlock(cout, cout, None, groups, norm_over) for _ in range(blocks - 1)]
        )
        self.attention = SpatioTemporalAttention(cout, **attention) if attention else None
        self.downsample = Downsample(cout, time=time_down)
        self.cross_attention = None
        if context_dim:
            self.cross_attention = CrossAttentionBlock(cout, context_dim, cross_head_dim, heads=cross_heads)

    def forward(
        self,
        x: torch.Tensor,
        num_frames: int,
        temb: torch.Tensor,
        context: torch.Tensor | None,
        enable_time: bool,
    ) -> tuple[torch.Tensor, int, torch.Tensor, torch.Tensor]:
        x = self.resnets[0](x, num_frames, temb, enable_time)
        first = x
        for block in self.resnets[1:]:
            x = block(x, num_frames, None, enable_time)
        if self.attention is not None:
            x = self.attention(x, num_frames, enable_time)
        second = x
        x, num_frames = self.downsample(x, num_frames, enable_time)
        if self.cross_attention is not None:
            x = self.cross_attention(x, num_frames, context)
        return x, num_frames, first, second


class UpStage(nn.Module):
    """Upsample, residual blocks fed the matching down stage's skips, optional attention, cross-attention."""

    def __init__(
        self,
        cin: int,
        cout: int,
        blocks: int,
        temb_dim: int,
        groups: int,
        time_up: bool,
        attention: dict | None,
        context_dim: int | None,
        cross_head_dim: int,
        cross_heads: int | None = None,
        norm_over: str = "frame",
    ):
        # cin/cout are the matching down stage's widths: this stage maps cout back to cin
        super().__init__()
        self.upsample = Upsample(cout, time=time_up)
        self.resnets = nn.ModuleList(
            [ResnetBlock(2 * cout, cin, temb_dim, groups, norm_over),
             ResnetBlock(cin + cout, cin, None, groups, norm_over)]
            + [ResnetBlock(cin, cin, None, groups, norm_over) for _ in range(blocks - 2)]
        )
        self.attention = SpatioTemporalAttention(cin, **attention) if attention else None
        self.cross_attention = None
        if context_dim:
            self.cross_attention = CrossAttentionBlock(cin, context_dim, cross_head_dim, heads=cross_heads)

    def forward(
        self,
        x: torch.Tensor,
        num_frames: int,
        temb: torch.Tensor,
        context: torch.Tensor | None,
        first: torch.Tensor,
        second: torch.Tensor,
        enable_time: bool,
    ) -> tuple[torch.Tensor, int]:
        scale = 2**-0.5  # skip scaling, as in the reference (faster convergence)
        x, num_frames = self.upsample(x, num_frames, enable_time)
        x = self.resnets[0](torch.cat([second * scale, x], 1), num_frames, temb, enable_time)
        x = torch.cat([first * scale, x], 1)
        for block in self.resnets[1:]:
            x = block(x, num_frames, None, enable_time)
        if self.attention is not None:
            x = self.attention(x, num_frames, enable_time)
        if self.cross_attention is not None:
            x = self.cross_attention(x, num_frames, context)
        return x, num_frames


class MidStage(nn.Module):
    """Residual block, spatio-temporal attention, residual block, at the lowest resolution."""

    def __init__(self, dim: int, temb_dim: int, groups: int, attention: dict, norm_over: str = "frame"):
        super().__init__()
        self.resnet1 = ResnetBlock(dim, dim, temb_dim, groups, norm_over)
        self.attention = SpatioTemporalAttention(dim, **attention)
        self.resnet2 = ResnetBlock(dim, dim, temb_dim, groups, norm_over)

    def forward(
        self, x: torch.Tensor, num_frames: int, temb: torch.Tensor, enable_time: bool
    ) -> torch.Tensor:
        x = self.resnet1(x, num_frames, temb, enable_time)
        x = self.attention(x, num_frames, enable_time)
        return self.resnet2(x, num_frames, temb, enable_time)


class PseudoUNet3D(nn.Module):
    """Space-time U-Net: noisy latent clip + timestep (+ conditioning tokens) -> noise estimate.

    Any frame count and size is accepted: the clip is padded (edge-replicated) up to a multiple of
    2**stages in space and 2**(time-halving stages) in time, and the output cropped back.

    Args:
        in_channels / out_channels: channels of the input clip and of the prediction.
        block_out_channels: width of each stage; the middle uses the last.
        layers_per_block: residual blocks per stage (>= 2: the up path takes two skips per stage).
        temporal_downsample: per stage, whether its downsampling also halves the frame count.
        self_attention: per stage, whether it has spatio-temporal self-attention (the middle always has).
        attention_heads / attention_head_dim: heads and width per head of the self-attention.
        cross_attention_dim: width of the conditioning tokens; None builds no cross-attention.
        cross_attention_head_dim: width per head of the cross-attention (when its heads are derived).
        norm_num_groups: GroupNorm groups.
        group_norm_over: "frame" (statistics per frame) or "clip" (over all frames of a sample).
        feed_forward_token_shift / feed_forward_norm: the self-attention feed-forward (see FeedForward).
        position_bias_input: what the position-bias MLP reads, "signed_log" or "raw" offsets.
        cross_attention_heads: heads of the cross-attention per stage (the same on the way down and up);
            None derives each as width // cross_attention_head_dim.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        block_out_channels: Sequence[int],
        layers_per_block: int,
        temporal_downsample: Sequence[bool],
        self_attention: Sequence[bool],
        attention_heads: int,
        attention_head_dim: int,
        cross_attention_dim: int | None,
        cross_attention_head_dim: int,
        norm_num_groups: int,
        group_norm_over: str = "frame",
        feed_forward_token_shift: bool = False,
        feed_forward_norm: str = "layer_norm",
        position_bias_input: str = "signed_log",
        cross_attention_heads: Sequence[int] | None = None,
    ):
        super().__init__()
        widths = list(block_out_channels)
        if cross_attention_heads is not None and len(cross_attention_heads) != len(widths):
            raise ValueError(
                f"cross_attention_heads {list(cross_attention_heads)} must have one entry per stage "
                f"(block_out_channels {widths}), or be None to derive them from the widths"
            )
        if not (len(widths) == len(temporal_downsample) == len(self_attention)):
            raise ValueError(
                f"block_out_channels {widths}, temporal_downsample {list(temporal_downsample)} and "
                f"self_attention {list(self_attention)} must have one entry per stage"
            )
        if layers_per_block < 2:
            raise ValueError(
                f"layers_per_block must be >= 2 (got {layers_per_block}): each up stage takes two skips"
            )
        bad = [w for w in widths if w % norm_num_groups]
        if bad:
            raise ValueError(
                f"block_out_channels {bad} are not divisible by norm_num_groups={norm_num_groups}"
            )
        self.gradient_checkpointing = False
        self.base = widths[0]
        self.space_multiple = 2 ** len(widths)
        self.time_halvings = sum(bool(t) for t in temporal_downsample)
        temb_dim = 4 * widths[0]
        attn = dict(
            heads=attention_heads,
            head_dim=attention_head_dim,
            position_bias_input=position_bias_input,
            feed_forward_token_shift=feed_forward_token_shift,
            feed_forward_norm=feed_forward_norm,
        )
        cross_heads = [None] * len(widths) if cross_attention_heads is None else list(cross_attention_heads)
        self.time_embedding = nn.Sequential(nn.Linear(widths[0], temb_dim), nn.SiLU())
        self.conv_in = PseudoConv3d(in_channels, widths[0], kernel_size=7, temporal_kernel_size=3)
        ins = [widths[0], *widths[:-1]]
        common = dict(
            blocks=layers_per_block,
            temb_dim=temb_dim,
            groups=norm_num_groups,
            context_dim=cross_attention_dim,
            cross_head_dim=cross_attention_head_dim,
            norm_over=group_norm_over,
        )
        stages = list(zip(ins, widths, temporal_downsample, self_attention, cross_heads, strict=True))
        self.down_stages = nn.ModuleList(
            DownStage(cin, cout, time_down=bool(t), attention=attn if a else None, cross_heads=n, **common)
            for cin, cout, t, a, n in stages
        )
        self.mid = MidStage(widths[-1], temb_dim, norm_num_groups, attn, group_norm_over)
        self.up_stages = nn.ModuleList(
            UpStage(cin, cout, time_up=bool(t), attention=attn if a else None, cross_heads=n, **common)
            for cin, cout, t, a, n in stages
        )
        self.conv_out = PseudoConv3d(widths[0], out_channels, kernel_size=3, temporal_kernel_size=3)

    def _call(self, module: nn.Module, *args):
        if self.gradient_checkpointing and torch.is_grad_enabled():
            return self._gradient_checkpointing_func(module, *args)
        return module(*args)

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        context: torch.Tensor | None = None,
        enable_time: bool = True,
    ) -> torch.Tensor:
        """sample (B, C_in, F, H, W), timestep (B,), context (B, T, D) -> (B, C_out, F, H, W).

        With `enable_time=False` every temporal layer is skipped and frames are processed independently.
        """
        b, _, f, h, w = sample.shape
        time_multiple = 2**self.time_halvings if enable_time else 1
        pad_f, pad_h, pad_w = (-f % time_multiple, -h % self.space_multiple, -w % self.space_multiple)
        if pad_f or pad_h or pad_w:
            sample = F.pad(sample, (0, pad_w, 0, pad_h, 0, pad_f), mode="replicate")
        num_frames = f + pad_f
        x = sample.transpose(1, 2).reshape(b * num_frames, -1, h + pad_h, w + pad_w)

        emb = get_timestep_embedding(timestep, self.base, flip_sin_to_cos=False, downscale_freq_shift=1)
        temb = self.time_embedding(emb.to(x.dtype))

        x = self.conv_in(x, num_frames, enable_time)
        skips = []
        for stage in self.down_stages:
            x, num_frames, first, second = self._call(stage, x, num_frames, temb, context, enable_time)
            skips.append((first, second))
        x = self._call(self.mid, x, num_frames, temb, enable_time)
        for stage in reversed(self.up_stages):
            x, num_frames = self._call(stage, x, num_frames, temb, context, *skips.pop(), enable_time)
        x = self.conv_out(x, num_frames, enable_time)
        x = x.reshape(b, num_frames, -1, h + pad_h, w + pad_w).transpose(1, 2)
        return x[:, :, :f, :h, :w]


def count_parameters(module: nn.Module) -> int:
    """Number of parameters of `module` (trainable or not)."""
    return sum(p.numel() for p in module.parameters())
