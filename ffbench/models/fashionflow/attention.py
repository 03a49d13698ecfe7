"""Attention parts of the pseudo-3D U-Net: factorised spatio-temporal self-attention and cross-attention.

Both work on the folded clip `(B*F, C, H, W)` with `num_frames` beside it (see `convs.py`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ContinuousPositionBias(nn.Module):
    """Relative-position attention bias from a small MLP over log-spaced offsets (Swin V2).

    An MLP rather than a table, so one set of weights serves every frame count and grid size, e.g. the
    longer clips of the interpolation stage. Returns (heads, N, N) for N = prod(dims).
    """

    def __init__(self, dim: int, heads: int, num_dims: int, layers: int = 2):
        super().__init__()
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
        table = self.mlp(torch.sign(table_pos) * torch.log1p(table_pos.abs()))  # (prod(2d-1), heads)
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


class FeedForward(nn.Module):
    """GEGLU feed-forward per token (no token shift, so it never mixes frames). (..., C) -> (..., C)."""

    def __init__(self, dim: int, mult: float = 4):
        super().__init__()
        inner = int(dim * mult * 2 / 3)
        self.proj_in = nn.Linear(dim, inner * 2, bias=False)
        self.norm = nn.LayerNorm(inner, bias=False)
        self.proj_out = nn.Linear(inner, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, gate = self.proj_in(x).chunk(2, dim=-1)
        return self.proj_out(self.norm(x * F.gelu(gate)))


class SpatioTemporalAttention(nn.Module):
    """Attention over the pixels of each frame, then over the frames at each pixel, then a feed-forward.

    x (B*F, C, H, W) -> same shape. With `enable_time=False` the temporal attention is skipped.
    """

    def __init__(self, dim: int, heads: int = 8, head_dim: int = 64, ff_mult: float = 4):
        super().__init__()
        self.spatial_attn = Attention(dim, heads, head_dim)
        self.spatial_bias = ContinuousPositionBias(dim // 2, heads, num_dims=2)
        self.temporal_attn = Attention(dim, heads, head_dim)
        self.temporal_bias = ContinuousPositionBias(dim // 2, heads, num_dims=1)
        self.ff = FeedForward(dim, ff_mult)

    def forward(self, x: torch.Tensor, num_frames: int, enable_time: bool = True) -> torch.Tensor:
        bf, c, h, w = x.shape
        b = bf // num_frames
        tokens = x.flatten(2).transpose(1, 2)  # (B*F, H*W, C)
        tokens = tokens + self.spatial_attn(tokens, self.spatial_bias(h, w))
        if enable_time:
            seq = tokens.reshape(b, num_frames, h * w, c).transpose(1, 2).reshape(b * h * w, num_frames, c)
            seq = seq + self.temporal_attn(seq, self.temporal_bias(num_frames))
            tokens = seq.reshape(b, h * w, num_frames, c).transpose(1, 2).reshape(bf, h * w, c)
        tokens = tokens + self.ff(tokens)
        return tokens.transpose(1, 2).reshape(bf, c, h, w)


class CrossAttentionBlock(nn.Module):
    """Every latent position of the clip attends to the conditioning tokens, then a GEGLU feed-forward
    and a 1x1 conv. x (B*F, C, H, W), context (B, T, D) -> (B*F, C, H, W)."""

    def __init__(self, dim: int, context_dim: int, head_dim: int = 64, ff_mult: int = 4):
        super().__init__()
        heads = max(1, dim // head_dim)
        self.heads = heads if dim % heads == 0 else 1
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
