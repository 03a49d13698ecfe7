"""Pokes from optical flow: the flow cache beside the shards and the poke sampler (Poke, Blattmann 2021).

A training clip is x0 and the `span` frames after it. Its flow is the dense flow from x0 to the last
frame (OpenCV Farneback through `ffbench.flow`, the documented substitute for the FlowNet2 of the
official code, chained from consecutive frames because Farneback misses motions beyond a few pixels),
at the model's frame size, divided by the largest flow magnitude of the training set
(the official `max_norm`), so poke values are about [-1, 1].

Cache: the loader draws a fresh window start per step, so the flow of every start of every video is
computed once, before training, into `DATA/flows/<split>-<key>/`: one float16 `<sample key>.npy` of
shape (N - span, 2, h, w) per video (raw pixel flow, (dx, dy), for the window starting at each frame)
and `meta.json`, written last, holding the settings, the largest magnitude and the video list. The key
hashes the shards (their manifest sha256) and the flow settings, like the feature caches: new shards or
other settings give a new folder, never a stale flow.

Sampling (the official `_get_poke`, one poke per clip): inside the region `poke_size` pixels away from
the border, the flow magnitude is rescaled to [0, 1]; the moving pixels are those above mean + 2 std
(then mean + std, then mean, when none are); one is drawn and a zero map gets that pixel's flow vector
in a `2 * (poke_size // 2) + 1` square around it. A share `zero_poke_rate` of the clips (the official
"zero pokes", 1 in 8) instead get a moving pixel's vector placed where nothing moves (magnitude at or
below the 5th percentile), and their target is x0 repeated: poking the background moves nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ffbench import flow as flow_module
from ffbench.datasets.manifest import ManifestError, read_manifest
from ffbench.datasets.shards import sample_key
from ffbench.errors import UserError
from ffbench.fileio import write_json_atomic
from ffbench.hashing import cache_key

log = logging.getLogger(__name__)
META_NAME = "meta.json"
CACHE_VERSION = 1


class FlowCacheError(UserError, ValueError):
    """The flow cache is missing a video, or does not fit the shards or the model it is used with."""


@dataclass(frozen=True)
class FlowSettings:
    """What determines a cached flow: the frame size it is computed at, the clip span, the method."""

    height: int
    width: int
    span: int  # frames from x0 to the clip's last frame (the model's num_frames)
    method: str = "opencv-farneback-chained"
    farneback: tuple = (flow_module.PYR_SCALE, flow_module.LEVELS, flow_module.WINSIZE,
                        flow_module.ITERATIONS, flow_module.POLY_N, flow_module.POLY_SIGMA)
    resize: str = "area"

    def __post_init__(self) -> None:
        if self.height < 8 or self.width < 8 or self.span < 1:
            raise ValueError(f"flow settings need frames of at least 8x8 and span >= 1, got {self}")

    def to_dict(self) -> dict:
        return {**asdict(self), "farneback": list(self.farneback), "version": CACHE_VERSION}


def resize_video(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 (N, H, W, 3) -> uint8 (N, height, width, 3) by the pixel loader's area resize."""
    from ffbench.datasets.loader import area_resize

    if frames.shape[1:3] == (height, width):
        return frames
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    x = area_resize(x, (height, width))
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def clip_flows(frames: np.ndarray, span: int) -> np.ndarray:
    """Flow from frame s to frame s + span for every start s of a uint8 video (N, H, W, 3), chained from
    the flows between consecutive frames (`ffbench.flow.chain_flows`: Farneback misses large motions).

    Returns float32 (N - span, 2, H, W): channel 0 is dx, channel 1 dy, in pixels (empty when N <= span).
    """
    n, h, w = frames.shape[:3]
    out = np.zeros((max(0, n - span), 2, h, w), np.float32)
    if n <= span:
        return out
    steps = flow_module.video_flow(frames)  # (N - 1, H, W, 2)
    for s in range(n - span):
        out[s] = flow_module.chain_flows(steps[s:s + span]).transpose(2, 0, 1)
    return out


class FlowCache:
    """Read side of a finished cache folder: `flow(video_id, start)` and `max_norm`."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        try:
            self.meta = json.loads((self.folder / META_NAME).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise FlowCacheError(f"flow cache {self.folder} is incomplete ({exc}); delete the folder and "
                                 "train again to rebuild it") from None
        self.max_norm = float(self.meta["max_norm"])
        self.settings = self.meta["settings"]
        self._arrays: dict[str, np.ndarray] = {}

    def flow(self, video_id: str, start: int) -> np.ndarray:
        """Raw flow (2, h, w) float32 in pixels of the clip of `video_id` starting at frame `start`."""
        key = sample_key(video_id)
        if key not in self._arrays:
            if key not in self.meta["videos"]:
                raise FlowCacheError(f"flow cache {self.folder} has no flow for video {video_id!r}: it was "
                                     "built from other shards; delete the folder and train again")
            self._arrays[key] = np.load(self.folder / f"{key}.npy", mmap_mode="r", allow_pickle=False)
        flows = self._arrays[key]
        if not 0 <= start < len(flows):
            raise FlowCacheError(f"flow cache {self.folder}: video {video_id!r} has {len(flows)} clip "
                                 f"starts, asked for {start}")
        return np.asarray(flows[start], dtype=np.float32)

    def normalised(self, ids: list[str], starts: list[int] | torch.Tensor) -> torch.Tensor:
        """Flows of a batch divided by the dataset maximum: (B, 2, h, w) float32."""
        starts = [int(s) for s in starts]
        flows = [self.flow(i, s) for i, s in zip(ids, starts, strict=True)]
        return torch.from_numpy(np.stack(flows)) / self.max_norm


def flow_cache_dir(data_dir: str | Path, split: str, settings: FlowSettings) -> Path:
    """`DATA/flows/<split>-<key>`: the key hashes the split's shards (manifest sha256) and the settings."""
    data_dir = Path(data_dir)
    manifest = read_manifest(data_dir / "shards" / split)
    shards = sorted((s["name"], s["sha256"]) for s in manifest["shards"])
    return data_dir / "flows" / f"{split}-{cache_key(shards=shards, flow=settings.to_dict())[:16]}"


def build_flow_cache(data_dir: str | Path, split: str, settings: FlowSettings,
                     progress: Callable | None = None) -> FlowCache:
    """The flow cache of one split, computed now unless a finished one with the same key exists.

    Resumable: per-video files already written (atomically) are reused. Unreadable videos are skipped
    and listed in meta.json; the loader skips the same samples.
    """
    from ffbench.datasets.shards import iter_split_entries
    from ffbench.video import VideoError, read_video

    folder = flow_cache_dir(data_dir, split, settings)
    if (folder / META_NAME).is_file():
        cache = FlowCache(folder)
        if cache.meta.get("settings") == settings.to_dict():
            return cache
    folder.mkdir(parents=True, exist_ok=True)
    split_dir = Path(data_dir) / "shards" / split
    videos, skipped, max_norm = {}, {}, 0.0
    entries = iter_split_entries(split_dir, "mp4")
    for key, payload in (progress(entries) if progress else entries):
        path = folder / f"{key}.npy"
        flows = _load_complete(path)
        if flows is None:
            try:
                frames = resize_video(read_video(payload), settings.height, settings.width)
            except VideoError as exc:
                skipped[key] = str(exc)
                continue
            flows = clip_flows(frames, settings.span).astype(np.float16)
            _save_npy_atomic(path, flows)
        videos[key] = len(flows)
        if len(flows):
            max_norm = max(max_norm, float(np.sqrt((flows.astype(np.float32) ** 2).sum(axis=1)).max()))
    if not videos:
        shards = sorted(path.name for path in split_dir.glob("*.tar"))
        named = ", ".join(list(skipped)[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
        example = next(iter(skipped.items()), None)
        raise ManifestError(
            f"{split_dir}: no readable videos to compute flow from: {len(skipped)} mp4s that do not decode "
            f"({named}) in shards {', '.join(shards[:3])}{' ...' if len(shards) > 3 else ''}"
            + (f"; e.g. {example[0]}: {example[1]}" if example else "")
            + "; rebuild the shards with `ffbench prepare`")
    if max_norm <= 0:
        raise FlowCacheError(f"every clip of {split_dir} is static (zero flow between the first and the last "
                             f"of {settings.span + 1} frames): there is no motion to sample pokes from")
    write_json_atomic(folder / META_NAME, {"settings": settings.to_dict(), "max_norm": max_norm,
                                           "videos": videos, "skipped": skipped})
    log.info("flow cache %s: %d videos, max flow %.2f px, %d skipped", folder, len(videos), max_norm,
             len(skipped))
    return FlowCache(folder)


def _load_complete(path: Path) -> np.ndarray | None:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None


def _save_npy_atomic(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, array, allow_pickle=False)
    tmp.replace(path)


# --- sampling ---------------------------------------------------------------------------------------


def _pick(mask: torch.Tensor, generator: torch.Generator) -> tuple[int, int]:
    """A uniformly drawn (row, col) where `mask` (h, w) is True."""
    where = mask.nonzero()
    i = int(torch.randint(len(where), (1,), generator=generator))
    return int(where[i, 0]), int(where[i, 1])


def _moving(amplitude: torch.Tensor) -> torch.Tensor:
    """Pixels of clearly above-average motion: > mean + 2 std, relaxed to + std, then to > mean."""
    mean, std = amplitude.mean(), amplitude.std()
    for threshold in (mean + 2 * std, mean + std, mean):
        mask = amplitude > threshold
        if mask.any():
            return mask
    return torch.ones_like(amplitude, dtype=torch.bool)


def sample_poke(flow: torch.Tensor, poke_size: int, zero_poke: bool, generator: torch.Generator
                ) -> tuple[torch.Tensor, tuple[int, int]] | None:
    """One poke from one normalised flow (2, h, w): (poke (2, h, w), its centre (row, col)).

    With `zero_poke`, the centre is a still pixel (magnitude at or below the 5th percentile) and the
    value a moving pixel's. Returns None when the clip does not move at all (no vector to give).
    """
    _, h, w = flow.shape
    m = poke_size
    if h <= 2 * m or w <= 2 * m:
        raise ValueError(f"poke_size {poke_size} leaves no valid centre in a {h}x{w} flow")
    inner = flow[:, m:h - m, m:w - m]
    amplitude = inner.norm(dim=0)
    if float(amplitude.max()) <= 1e-6:
        return None
    amplitude = (amplitude - amplitude.min()) / (amplitude.max() - amplitude.min()).clamp_min(1e-12)
    source = _pick(_moving(amplitude), generator)
    centre = _pick(amplitude <= torch.quantile(amplitude, 0.05), generator) if zero_poke else source
    value = inner[:, source[0], source[1]]
    half = poke_size // 2
    r, c = centre[0] + m, centre[1] + m
    poke = torch.zeros_like(flow)
    poke[:, r - half:r + half + 1, c - half:c + half + 1] = value[:, None, None]
    return poke, (r, c)


def poke_batch(video: torch.Tensor, flow: torch.Tensor, poke_size: int, zero_poke_rate: float,
               generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Turn clips and their flows into the model's training inputs.

    Args:
        video: (B, 3, 1 + T, H, W) in [-1, 1]: x0 and the T frames after it.
        flow: (B, 2, H, W), normalised flow from x0 to the last frame.
        zero_poke_rate: share of clips that get a poke where nothing moves and x0 repeated as target.

    Returns:
        image (B, 3, H, W) = x0; poke (B, 2, H, W); target (B, 3, T, H, W); zero_poke (B,) bool;
        still (B,) bool, clips without any motion (their poke is all zeros and their target the clip);
        poke_at (B, 2) the poke centres (row, col), -1 for still clips.
    """
    if video.ndim != 5 or video.shape[2] < 2 or flow.shape != (video.shape[0], 2, *video.shape[3:]):
        raise ValueError(f"expected video (B, 3, 1 + T, H, W) and flow (B, 2, H, W), got "
                         f"{tuple(video.shape)} and {tuple(flow.shape)}")
    b = video.shape[0]
    image, target = video[:, :, 0], video[:, :, 1:].clone()
    zero = torch.rand(b, generator=generator) < zero_poke_rate
    pokes, still, at = torch.zeros_like(flow), torch.zeros(b, dtype=torch.bool), torch.full((b, 2), -1)
    for i in range(b):
        sampled = sample_poke(flow[i].float().cpu(), poke_size, bool(zero[i]), generator)
        if sampled is None:
            still[i], zero[i] = True, False
            continue
        pokes[i], at[i] = sampled[0].to(flow.dtype), torch.tensor(sampled[1])
        if zero[i]:
            target[i] = image[i, :, None].expand_as(target[i])
    return {"image": image, "poke": pokes, "target": target, "zero_poke": zero, "still": still, "poke_at": at}


def poke_from_video(frames: np.ndarray, sample_size: tuple[int, int], span: int, flow_norm: float,
                    poke_size: int, generator: torch.Generator) -> tuple[torch.Tensor, np.ndarray]:
    """The test-time poke of a real video: flow from its frame 0 to frame `span` (clamped to the video),
    chained through the frames between, as in training.

    This is privileged input: it comes from the real future of the test video, which image-only methods
    never see. Returns (poke (2, h, w) float32, x0 uint8 (h, w, 3) at the model's size); a video without
    motion gets a zero poke.
    """
    if len(frames) < 2:
        raise ValueError(f"a test poke needs a video of >= 2 frames, got {len(frames)}")
    h, w = sample_size
    span = min(span, len(frames) - 1)
    small = resize_video(frames[:span + 1], h, w)
    flow = torch.from_numpy(clip_flows(small, span)[0]) / flow_norm
    sampled = sample_poke(flow, poke_size, False, generator)
    return (torch.zeros_like(flow) if sampled is None else sampled[0]), small[0]
