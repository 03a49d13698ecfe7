"""Inception-v3 with the FID weights, built from pytorch-fid's own blocks.

pytorch-fid's `fid_inception_v3()` always downloads its weights, so the same network is assembled here
from the same parts (torchvision's Inception3 with 1008 classes, no aux head, and pytorch-fid's
FIDInceptionA/C/E_1/E_2 blocks) and the weights are loaded from a resolved file, or left random.
State-dict keys are exactly those of `pt_inception-2015-12-05-6726825d.pth`.

Outputs per image: the 2048-d final average pool (FID) and the 1008 classifier logits (IS; softmax over
all 1008 outputs, as the TensorFlow Inception Score does).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from pytorch_fid.inception import (
    FIDInceptionA,
    FIDInceptionC,
    FIDInceptionE_1,
    FIDInceptionE_2,
    _inception_v3,
)
from torch import nn

POOL_DIM = 2048
NUM_LOGITS = 1008
INPUT_SIZE = 299
MIN_SIZE = 75  # the smallest input Inception-v3's stride-2 stem and valid convolutions accept


def build_fid_inception() -> nn.Module:
    """The patched torchvision Inception3 of pytorch-fid, randomly initialised (no download)."""
    net = _inception_v3(num_classes=NUM_LOGITS, aux_logits=False, weights=None)
    net.Mixed_5b = FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = FIDInceptionE_1(1280)
    net.Mixed_7c = FIDInceptionE_2(2048)
    return net


class InceptionOutput(NamedTuple):
    pool: torch.Tensor  # (N, 2048)
    logits: torch.Tensor  # (N, 1008)


class FIDInception(nn.Module):
    """Images (N, 3, H, W) in [0, 1] -> pool and logits; resized bilinearly to `size` first.

    Args:
        size: input side after resizing; 299 for every published protocol (tests may use >= 75).
    """

    def __init__(self, size: int = INPUT_SIZE) -> None:
        super().__init__()
        if size < MIN_SIZE:
            raise ValueError(f"size must be >= {MIN_SIZE} for Inception-v3, got {size}")
        self.size = size
        self.net = build_fid_inception()

    def forward(self, x: torch.Tensor) -> InceptionOutput:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"Inception input must be (N, 3, H, W), got shape {tuple(x.shape)}")
        x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        x = 2 * x - 1  # the FID weights expect [-1, 1], like pytorch-fid's normalize_input
        n = self.net
        x = n.maxpool1(n.Conv2d_2b_3x3(n.Conv2d_2a_3x3(n.Conv2d_1a_3x3(x))))
        x = n.maxpool2(n.Conv2d_4a_3x3(n.Conv2d_3b_1x1(x)))
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                     "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"):
            x = getattr(n, name)(x)
        pool = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return InceptionOutput(pool=pool, logits=n.fc(pool))
