"""One prepared sample per video: the resized mp4, metadata, conditioning frame and cached features.

Features come from two callables (see `FeatureEncoders`), so this module does not care whether the
VAE/CLIP are the paper's or the offline stand-ins. What a sample holds (see `build_sample`):

- `latents.npy`: float16 (F, 4, h, w), every frame's VAE latent, already times the VAE scaling factor;
- `clip.npy`: float16 (T, D), CLIP tokens of frame 0 (the conditioning frame of the full video);
- `clip_frames.npy` (optional): float16 (F, T, D), CLIP tokens of every frame, so a training window
  that starts at frame s can be conditioned on frame s's tokens. Written when `clip_all_frames` is on
  (default for the tiny CLIP, where it is cheap; at the paper preset it would be ~27 MB per video);
- `lowres.npy`: uint8 (F, 3, h, w), RGB frames area-downsampled to latent resolution;
- `mp4`, `cond.png`, `json`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ffbench.datasets.clips import area_downsample, resize_frames
from ffbench.datasets.shards import sample_bytes, sample_key


@dataclass
class FeatureEncoders:
    """The two feature extractors a prepared sample needs.

    latents: uint8 (N, H, W, 3) frames -> float array (N, 4, h, w), scaled by the VAE scaling factor.
    clip_tokens: uint8 (N, H, W, 3) frames -> float array (N, T, D), CLIP last hidden state.
    identities: {"vae": {...}, "clip": {...}} recorded in the manifest.
    """

    latents: Callable[[np.ndarray], np.ndarray]
    clip_tokens: Callable[[np.ndarray], np.ndarray]
    identities: dict
    batch_frames: int = 16  # frames per encoder call, bounds memory at the paper size


def _batched(fn: Callable[[np.ndarray], np.ndarray], frames: np.ndarray, batch: int) -> np.ndarray:
    return np.concatenate([np.asarray(fn(frames[i:i + batch]), dtype=np.float32)
                           for i in range(0, len(frames), batch)])


def png_bytes(frame: np.ndarray) -> bytes:
    """Lossless PNG of one uint8 (H, W, 3) frame, with no timestamp chunks (stable bytes)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def build_sample(
    video_id: str,
    frames: np.ndarray,
    *,
    split: str,
    url: str,
    native: dict,
    height: int,
    width: int,
    downsample: int,
    resize: str,
    fps: float,
    encoders: FeatureEncoders,
    clip_all_frames: bool,
) -> dict:
    """Resize one decoded video and compute everything a shard sample holds.

    Args:
        frames: uint8 (F, H0, W0, 3), the whole source video.
        native: the source's probed {"width", "height", "fps", "frames"}.
        height, width: the preset's frame size; downsample: pixels per latent cell.
        resize: "stretch" or "crop" (see `ffbench.datasets.clips.resize_frames`).
        fps: frame rate written into the resized mp4 (the source's own rate).

    Returns:
        a WebDataset sample dict, every value bytes.
    """
    from ffbench.video import encode_video

    small = resize_frames(frames, height, width, resize)  # (F, H, W, 3)
    latents = _batched(encoders.latents, small, encoders.batch_frames)
    if latents.ndim != 4 or latents.shape[0] != len(small):
        raise ValueError(f"VAE features for {video_id} have shape {latents.shape}; expected (F, C, h, w) "
                         f"with F={len(small)}")
    tokens = _batched(encoders.clip_tokens, small if clip_all_frames else small[:1], encoders.batch_frames)
    meta = {
        "id": video_id,
        "url": url,
        "split": split,
        "native": native,
        "frames": int(len(small)),
        "fps": float(fps),
        "height": height,
        "width": width,
        "latent_shape": list(latents.shape[1:]),
        "resize": resize,
        "clip_all_frames": clip_all_frames,
    }
    arrays = {
        "mp4": encode_video(small, fps=fps),
        "json": json.dumps(meta, sort_keys=True).encode("utf-8"),
        "cond.png": png_bytes(small[0]),
        "latents.npy": latents.astype(np.float16),
        "clip.npy": tokens[0].astype(np.float16),
        "lowres.npy": area_downsample(small, downsample),
    }
    if clip_all_frames:
        arrays["clip_frames.npy"] = tokens.astype(np.float16)
    return {"__key__": sample_key(video_id), **sample_bytes(arrays)}
