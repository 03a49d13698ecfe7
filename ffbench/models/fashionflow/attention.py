"""Attention parts of the pseudo-3D U-Net: factorised spatio-temporal self-attention and cross-attention.

Both work on the folded clip `(B*F, C, H, W)` with `num_frames` beside it (see `convs.py`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

POSITION_BIAS_INPUTS = ("signed_log", "raw")
FEED_FORWARD_NORMS = ("layer_norm", "layer_norm_clamped")


class ContinuousPositionBias(nn.Module):
    """Relative-position attention bias from a small MLP over the relative offsets (Swin V2).

    An MLP rather than a table, so one set of weights serves every frame count and grid size, e.g. the
    longer clips of the interpolation stage. Returns (heads, N, N) for N = prod(dims). `offsets` is what
    the MLP reads: "signed_log" = sign(d) * log(1 + |d|) (Swin V2's log-spaced input), "raw" = d itself
    (the public FashionFlow code).
    """

    def __init__(self, dim: int, heads: int, num_dims: int, layers: int = 2, offsets: str = "signed_log"):
        super().__init__()
        if offsets not in POSITION_BIAS_INPUTS:
            raise ValueError(
                f"position_bias_input={offsets!r}; choose one of {', '.join(POSITION_BIAS_INPUTS)}"
            )
        self.offsets = offsets
        mlp: list[nn.Module] = [nn.Linear(num_dims, dim), nn.SiLU()]
        for _ in range(layers - 1):
            mlp += [nn.Linear(dim, dim), nn.SiLU()]
        mlp.append(nn.Linear(dim, heads))
        self.mlp = nn.Sequential(*mlp)
        self.num_dims = num_dims

    def forward(self, *dims: int) -> torch.Tensor:
        if len(dims) != self.num_dims:
            raise ValueError(f"expected {self.num_dims} grid sizes, got {dims}")
        weight = self.mlp[0].weight
        # evaluate the MLP once per distinct offset, then gather it for every (query, key) pair
        offsets = [torch.arange(1 - d, d, device=weight.device) for d in dims]
        table_pos = torch.stack(torch.meshgrid(*offsets, indexing="ij"), -1).reshape(-1, len(dims))
        table_pos = table_pos.to(weight.dtype)
        if self.offsets == "signed_log":
            table_pos = torch.sign(table_pos) * torch.log1p(table_pos.abs())
        table = self.mlp(table_pos)  # (prod(2d-1), heads)
        axes = [torch.arange(d, device=weight.device) for d in dims]
        coords = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(dims))  # (N, nd)
        delta = coords[:, None, :] - coords[None, :, :] + torch.tensor(dims, device=weight.device) - 1
        index = torch.zeros(delta.shape[:2], dtype=torch.long, device=weight.device)
        for axis, d in enumerate(dims):
            index = index * (2 * d - 1) + delta[..., axis]
        return table[index].permute(2, 0, 1)


class Attention(nn.Module):
    """Pre-norm multi-head self-attention with an additive bias; output projection zero-initialised,
    so `x + attn(x)` starts as the identity. x (N, L, C), bias (heads, L, L) -> (N, L, C)."""

    def __init__(self, dim: int, heads: int = 8, head_dim: int = 64):
        super().__init__()
        self.heads = heads
        inner = heads * head_dim
        self.norm = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)
        nn.init.zeros_(self.to_out.weight)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        n, length, _ = x.shape
        x = self.norm(x)
        q, k, v = (self.to_q(x), *self.to_kv(x).chunk(2, dim=-1))
        q, k, v = (t.reshape(n, length, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        mask = None if bias is None else bias.to(q.dtype)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.to_out(out.transpose(1, 2).reshape(n, length, -1))


def clamped_layer_norm(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """LayerNorm over the last axis that clamps the variance at eps instead of adding eps to it, with eps
    1e-5 in float32 and 1e-3 in lower precision (the public FashionFlow code's channel LayerNorm); no bias."""
    eps = 1e-5 if x.dtype == torch.float32 else 1e-3
    mean = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, unbiased=False, keepdim=True)
    return (x - mean) * var.clamp(min=eps).rsqrt() * weight


def token_shift(x: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Shift the second half of the channels one frame later (frame 0 gets zeros), so the feed-forward
    after it mixes each frame with the previous one. x (B*F, L, C) -> same; the first ceil(C/2) channels
    stay, as torch.chunk splits them."""
    bf, length, c = x.shape
    keep = (c + 1) // 2
    clip = x.reshape(bf // num_frames, num_frames, length, c)
    shifted = F.pad(clip[:, :-1, :, keep:], (0, 0, 0, 0, 1, 0))  # (B, F, L, C - keep), frame 0 zeros
    return torch.cat([clip[..., :keep], shifted], dim=-1).reshape(bf, length, c)


class FeedForward(nn.Module):
    """GEGLU feed-forward per token, then a LayerNorm and the output projection. (B*F, L, C) -> same.

    `token_shift`: shift half of the GEGLU's channels by one frame before the norm (the public FashionFlow
    code; only with `enable_time`). `norm`: "layer_norm" (eps added to the variance) or
    "layer_norm_clamped" (variance clamped at eps, see `clamped_layer_norm`).
    """

    def __init__(self, dim: int, mult: float = 4, token_shift: bool = False, norm: str = "layer_norm"):
        super().__init__()
        if norm not in FEED_FORWARD_NORMS:
            raise ValueError(f"feed_forward_norm={norm!r}; choose one of {', '.join(FEED_FORWARD_NORMS)}")
        inner = int(dim * mult * 2 / 3)
        self.proj_in = nn.Linear(dim, inner * 2, bias=False)
        self.norm = nn.LayerNorm(inner, bias=False)
        self.proj_out = nn.Linear(inner, dim, bias=False)
        self.shift_tokens = token_shift
        self.norm_kind = norm

    def forward(self, x: torch.Tensor, num_frames: int = 1, enable_time: bool = True) -> torch.Tensor:
        x, gate = self.proj_in(x).chunk(2, dim=-1)
        x = x * F.gelu(gate)
        if self.shift_tokens and enable_time:
            x = token_shift(x, num_frames)
        x = self.norm(x) if self.norm_kind == "layer_norm" else clamped_layer_norm(x, self.norm.weight)
        return self.proj_out(x)


class SpatioTemporalAttention(nn.Module):
    """Attention over the pixels of each frame, then over the frames at each pixel, then a feed-forward.

    x (B*F, C, H, W) -> same shape. With `enable_time=False` the temporal attention (and the
    feed-forward's token shift) is skipped. `position_bias_input`, `feed_forward_token_shift` and
    `feed_forward_norm`: see ContinuousPositionBias and FeedForward.
    """

    def __init__(
        self,
        dim: int,
        heads: int = 8,
        head_dim: int = 64,
        ff_mult: float = 4,
        position_bias_input: str = "signed_log",
        feed_forward_token_shift: bool = False,
        feed_forward_norm: str = "layer_norm",
    ):
        super().__init__()
        self.spatial_attn = Attention(dim, heads, head_dim)
        self.spatial_bias = ContinuousPositionBias(dim // 2, heads, num_dims=2, offsets=position_bias_input)
        self.temporal_attn = Attention(dim, heads, head_dim)
        self.temporal_bias = ContinuousPositionBias(dim // 2, heads, num_dims=1, offsets=position_bias_input)
        self.ff = FeedForward(dim, ff_mult, token_shift=feed_forward_token_shift, norm=feed_forward_norm)

    def forward(self, x: torch.Tensor, num_frames: int, enable_time: bool = True) -> torch.Tensor:
        bf, c, h, w = x.shape
        b = bf // num_frames
        tokens = x.flatten(2).transpose(1, 2)  # (B*F, H*W, C)
        tokens = tokens + self.spatial_attn(tokens, self.spatial_bias(h, w))
        if enable_time:
            seq = tokens.reshape(b, num_frames, h * w, c).transpose(1, 2).reshape(b * h * w, num_frames, c)
            seq = seq + self.temporal_attn(seq, self.temporal_bias(num_frames))
            tokens = seq.reshape(b, h * w, num_frames, c).transpose(1, 2).reshape(bf, h * w, c)
        tokens = tokens + self.ff(tokens, num_frames, enable_time)
        return tokens.transpose(1, 2).reshape(bf, c, h, w)


class CrossAttentionBlock(nn.Module):
    """Every latent position of the clip attends to the conditioning tokens, then a GEGLU feed-forward
    and a 1x1 conv. x (B*F, C, H, W), context (B, T, D) -> (B*F, C, H, W).

    `heads`: the head count (the public FashionFlow code fixes it per stage); None derives it as
    dim // head_dim.
    """

    def __init__(
        self, dim: int, context_dim: int, head_dim: int = 64, ff_mult: int = 4, heads: int | None = None
    ):
        super().__init__()
        if heads is None:
            heads = max(1, dim // head_dim)
            heads = heads if dim % heads == 0 else 1
        elif heads < 1 or dim % heads:
            raise ValueError(f"cross_attention_heads: {heads} heads do not divide the stage width {dim}")
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(context_dim, dim, bias=False)
        self.to_v = nn.Linear(context_dim, dim, bias=False)
        self.to_out = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ff_in = nn.Linear(dim, dim * ff_mult * 2)
        self.ff_out = nn.Linear(dim * ff_mult, dim)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor, num_frames: int, context: torch.Tensor) -> torch.Tensor:
        bf, c, h, w = x.shape
        b = bf // num_frames
        if context.shape[0] != b:
            raise ValueError(f"context has batch {context.shape[0]}, the clip has batch {b}")
        tokens = x.reshape(b, num_frames, c, h, w).permute(0, 1, 3, 4, 2).reshape(b, -1, c)  # (B, F*H*W, C)
        q = self.to_q(self.norm1(tokens)).reshape(b, -1, self.heads, c // self.heads).transpose(1, 2)
        k, v = (
            proj(context).reshape(b, -1, self.heads, c // self.heads).transpose(1, 2)
            for proj in (self.to_k, self.to_v)
        )
        attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, -1, c)
        tokens = tokens + self.to_out(attended)
        hidden, gate = self.ff_in(self.norm2(tokens)).chunk(2, dim=-1)
        tokens = tokens + self.ff_out(hidden * F.gelu(gate))
        x = tokens.reshape(b, num_frames, h, w, c).permute(0, 1, 4, 2, 3).reshape(bf, c, h, w)
        return self.proj(x)
