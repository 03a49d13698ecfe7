"""Layers of the Poke generator: conv blocks, residual blocks and the convolutional GRU cell.

Layer facts follow the official code (Blattmann et al., CVPR 2021, `models/blocks.py`): 3x3 convs with
zero padding, affine-free instance norm, ELU in the down path; transposed 3x3 stride-2 convs (padding 1,
output padding 1) in the up path, where the official blocks apply ReLU; GRU gates are 3x3 convs with
orthogonal weights and zero bias. Tensors are (B, C, H, W) frames here; the model loops over time.
"""

from __future__ import annotations

import torch
from torch import nn

NORMS = ("instance", "batch", "none")


def _act(name: str) -> nn.Module:
    return {"elu": nn.ELU(), "relu": nn.ReLU(), "tanh": nn.Tanh(), "none": nn.Identity()}[name]


def _norm(name: str, channels: int) -> nn.Module:
    # affine-free instance norm is the official default (`norm_layer: in`); "batch" and "none" are the
    # official code's other choices.
    return {"instance": lambda: nn.InstanceNorm2d(channels), "batch": lambda: nn.BatchNorm2d(channels),
            "none": nn.Identity}[name]()


class ConvNormAct(nn.Sequential):
    """conv (3x3 unless told) -> instance norm (optional) -> activation; `up` makes it a stride-2
    transposed conv that doubles H and W."""

    def __init__(self, c_in: int, c_out: int, *, stride: int = 1, up: bool = False, norm: str = "instance",
                 act: str = "elu", kernel: int = 3):
        if up:
            conv = nn.ConvTranspose2d(c_in, c_out, kernel, stride=2, padding=kernel // 2, output_padding=1)
        else:
            conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2)
        super().__init__(conv, _norm(norm, c_out), _act(act))


class ResBlock(nn.Module):
    """Two 3x3 convs plus a shortcut; `stride=2` halves and `up=True` doubles H and W.

    (B, c_in, H, W) -> (B, c_out, H', W'). The shortcut is a 3x3 conv block when the shape changes, the
    identity otherwise; there is no activation after the sum (as in the official block).
    """

    def __init__(self, c_in: int, c_out: int, *, stride: int = 1, up: bool = False, norm: str = "instance"):
        super().__init__()
        act = "relu" if up else "elu"
        self.conv1 = ConvNormAct(c_in, c_out, stride=stride, up=up, act=act, norm=norm)
        self.conv2 = ConvNormAct(c_out, c_out, act="none", norm=norm)
        reshape = c_in != c_out or up or stride != 1
        # the official shortcut conv always uses instance norm, whatever the blocks' norm
        self.shortcut = ConvNormAct(c_in, c_out, stride=stride, up=up, act=act) if reshape else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x)) + self.shortcut(x)


class ConvGRUCell(nn.Module):
    """A convolutional GRU cell: h' = (1 - z) * h + z * tanh(W [x, r * h]).

    x (B, c_in, H, W) (or (B, c_in, H/2, W/2) with `upsample_input`, which doubles it first with a
    transposed conv), h (B, c_hidden, H, W) -> h' (B, c_hidden, H, W).
    """

    def __init__(self, c_in: int, c_hidden: int, kernel: int = 3, upsample_input: bool = False):
        super().__init__()
        pad = kernel // 2
        self.upsample = (nn.ConvTranspose2d(c_in, c_in, kernel, stride=2, padding=pad, output_padding=1)
                         if upsample_input else None)
        self.reset_gate = nn.Conv2d(c_in + c_hidden, c_hidden, kernel, padding=pad)
        self.update_gate = nn.Conv2d(c_in + c_hidden, c_hidden, kernel, padding=pad)
        self.candidate = nn.Conv2d(c_in + c_hidden, c_hidden, kernel, padding=pad)
        for conv in (self.reset_gate, self.update_gate, self.candidate, self.upsample):
            if conv is not None:
                nn.init.orthogonal_(conv.weight)
                nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        if self.upsample is not None:
            x = self.upsample(x)
        xh = torch.cat([x, h], dim=1)
        update = torch.sigmoid(self.update_gate(xh))
        reset = torch.sigmoid(self.reset_gate(xh))
        candidate = torch.tanh(self.candidate(torch.cat([x, reset * h], dim=1)))
        return h * (1 - update) + candidate * update


class HierarchicalConvGRU(nn.Module):
    """A stack of ConvGRU cells from the coarsest state to the finest.

    Cell 0 takes the step input (the poke embedding); cell i > 0 takes the new state of cell i - 1,
    doubled in size by a transposed conv where cell i's state is twice as large. `hidden` lists the
    states coarse to fine; the call returns the new list in the same order.
    """

    def __init__(self, c_in: int, hidden_channels: list[int], upsample: list[bool]):
        super().__init__()
        if len(hidden_channels) != len(upsample):
            raise ValueError(f"{len(hidden_channels)} hidden widths but {len(upsample)} upsample flags")
        inputs = [c_in] + list(hidden_channels[:-1])
        self.cells = nn.ModuleList(ConvGRUCell(i, h, upsample_input=u)
                                   for i, h, u in zip(inputs, hidden_channels, upsample, strict=True))

    def forward(self, x: torch.Tensor, hidden: list[torch.Tensor]) -> list[torch.Tensor]:
        out = []
        for cell, h in zip(self.cells, hidden, strict=True):
            x = cell(x, h)
            out.append(x)
        return out
