"""Frame geometry: the resize policy (stretch or centre crop) and latent-resolution downsampling.

Arrays here are video frames as uint8 (F, H, W, 3), the layout the video reader returns. Resizing
uses torch's antialiased bilinear filter, which is deterministic on CPU, so prepared shards have
reproducible bytes.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

RESIZE_POLICIES = ("stretch", "crop")


def crop_box(height: int, width: int, target_height: int, target_width: int) -> tuple[int, int, int, int]:
    """Largest centred box of the target aspect ratio inside a (height, width) frame.

    Returns (top, left, box_height, box_width).
    """
    # Compare aspect ratios with integers to avoid float ties.
    if height * target_width > width * target_height:  # source is taller: trim top and bottom
        box_w = width
        box_h = max(1, round(width * target_height / target_width))
    else:  # source is wider (or equal): trim left and right
        box_h = height
        box_w = max(1, round(height * target_width / target_height))
    top = (height - box_h) // 2
    left = (width - box_w) // 2
    return top, left, box_h, box_w


def _to_tensor(frames: np.ndarray) -> torch.Tensor:
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 (F, H, W, 3), got {frames.dtype} {frames.shape}")
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def resize_frames(frames: np.ndarray, height: int, width: int, policy: str = "stretch") -> np.ndarray:
    """Resize uint8 (F, H, W, 3) frames to (F, height, width, 3).

    `stretch` scales each axis independently (the aspect ratio may change); `crop` cuts the largest
    centred box of the target aspect ratio first, then scales (nothing is distorted, edges are lost).
    """
    if policy not in RESIZE_POLICIES:
        raise ValueError(f"resize policy {policy!r} is unknown; choose one of {RESIZE_POLICIES}")
    if height <= 0 or width <= 0:
        raise ValueError(f"target size must be positive, got height={height}, width={width}")
    x = _to_tensor(frames)
    if policy == "crop":
        top, left, bh, bw = crop_box(x.shape[2], x.shape[3], height, width)
        x = x[:, :, top:top + bh, left:left + bw]
    if tuple(x.shape[2:]) == (height, width):
        return _to_uint8(x)
    out = [F.interpolate(chunk, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
           for chunk in x.split(64)]  # chunks bound memory for long videos
    return _to_uint8(torch.cat(out))


def area_downsample(frames: np.ndarray, factor: int) -> np.ndarray:
    """Average-pool uint8 (F, H, W, 3) frames by `factor`: returns uint8 (F, 3, H/factor, W/factor).

    This is the RGB input at latent resolution that the interpolation stage consumes.
    """
    if factor < 1 or frames.shape[1] % factor or frames.shape[2] % factor:
        raise ValueError(f"frame size {frames.shape[1:3]} is not divisible by the downsample factor {factor}")
    x = _to_tensor(frames)
    y = F.avg_pool2d(x, kernel_size=factor) if factor > 1 else x
    return y.round().clamp(0, 255).to(torch.uint8).contiguous().numpy()
