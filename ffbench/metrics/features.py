"""Streaming feature extraction for one protocol over one video source, with an .npz cache.

Videos are read one at a time (`ffbench.video.read_video`), cut into the protocol's units (one clip
with a seeded start, the first N frames, or every frame), preprocessed (bilinear stretch, value range)
and fed to the extractor in batches; only the running statistics (and, for KVD/IS, the features
themselves: at most `max_items` x 400 or frames x 1008 floats) are kept.

The cache file name is a hash of the extractor's sha256, the protocol's feature settings, the source
listing, the seed (clip protocols only) and the outputs; it is written atomically.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ffbench.metrics.cache import cache_key, load_npz, save_npz_atomic
from ffbench.metrics.i3d import MIN_FRAMES
from ffbench.metrics.protocols import FEATURE_DIMS, Protocol
from ffbench.metrics.sources import VideoSourceDir
from ffbench.metrics.stats import FeatureStats
from ffbench.metrics.weights import Extractor
from ffbench.video import VideoError, probe_video, read_video

KEEP_FEATURES = ("logits", "probs")  # outputs whose raw features KVD / IS need


@dataclass
class Extraction:
    """Statistics per output plus what was actually read."""

    stats: dict[str, FeatureStats]
    n_items: int = 0  # clips, videos or frames
    n_videos: int = 0
    frames_min: int = 0  # frames per unit actually used (per video for frame units)
    frames_max: int = 0
    meta: dict = field(default_factory=dict)


def output_dim(extractor: Extractor, output: str) -> int:
    if output == "pool":
        return FEATURE_DIMS["pool_i3d" if extractor.network == "i3d" else "pool_inception"]
    return FEATURE_DIMS[output]


def clip_start(num_frames: int, length: int, seed: int, index: int) -> int:
    """Start of the `length`-frame window of video `index`, drawn from a generator seeded (seed, index)."""
    return int(np.random.default_rng([seed, index]).integers(0, num_frames - length + 1))


def unit_frames(src: Path | bytes, protocol: Protocol, seed: int, index: int, name: str) -> np.ndarray:
    """The frames of one unit of video `index`: uint8 (F, H, W, 3)."""
    if protocol.unit == "frame":
        return read_video(src)
    n = probe_video(src, check_end=False).num_frames
    if protocol.network == "i3d" and n < MIN_FRAMES:
        raise VideoError(f"{name}: {n} frames, but {protocol.name} needs at least {MIN_FRAMES} "
                         f"(I3D); generate longer videos")
    length = min(protocol.frames or n, n)
    start = clip_start(n, length, seed, index) if protocol.unit == "clip" else 0
    return read_video(src, list(range(start, start + length)))


def preprocess(frames: np.ndarray, protocol: Protocol) -> torch.Tensor:
    """uint8 (F, H, W, 3) -> float32 (F, 3, H', W') resized (bilinear, align_corners=False) and scaled
    to the protocol's value range."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0
    if protocol.size is not None and tuple(x.shape[2:]) != tuple(protocol.size):
        x = F.interpolate(x, size=tuple(protocol.size), mode="bilinear", align_corners=False)
    lo, hi = protocol.value_range
    return x * (hi - lo) + lo


def iter_inputs(source: VideoSourceDir, protocol: Protocol, seed: int, batch_size: int,
                max_items: int | None = None) -> Iterator[tuple[torch.Tensor, int, int]]:
    """Yield (batch, frames per unit, index of the last video in it): the batch is (B, 3, T, H, W)
    for I3D and (B, 3, H, W) for Inception.

    Clips/videos of equal shape are batched together; frames are batched within a video.
    """
    limit = max_items if max_items is not None else protocol.max_items
    pending: list[torch.Tensor] = []
    emitted = last = 0
    for index, (name, src) in enumerate(source):
        if limit is not None and emitted + len(pending) >= limit:
            break
        frames = unit_frames(src, protocol, seed, index, name)
        x = preprocess(frames, protocol)
        if protocol.unit == "frame":
            for start in range(0, len(x), batch_size):
                yield x[start:start + batch_size], len(frames), index
            continue
        unit = x.permute(1, 0, 2, 3)  # (3, T, H, W)
        if pending and pending[0].shape != unit.shape:
            yield torch.stack(pending), pending[0].shape[1], last
            emitted += len(pending)
            pending = []
        pending.append(unit)
        last = index
        if len(pending) == batch_size:
            yield torch.stack(pending), unit.shape[1], index
            emitted += len(pending)
            pending = []
    if pending:
        yield torch.stack(pending), pending[0].shape[1], last


def _outputs_of(extractor: Extractor, batch: torch.Tensor,
                outputs: tuple[str, ...]) -> dict[str, torch.Tensor]:
    out = extractor.model(batch)
    result = {}
    for name in outputs:
        if name == "probs":
            result[name] = torch.softmax(out.logits.double(), dim=1)
        elif name == "pool" and out.pool.shape[1] == 0:
            raise ValueError(f"{extractor.label} gives no pooled features; VFID needs the rgb_imagenet I3D")
        else:
            result[name] = getattr(out, name)
    return result


def _save(path: Path, result: Extraction) -> None:
    arrays = {"meta": np.array([result.n_items, result.n_videos, result.frames_min, result.frames_max])}
    for output, stats in result.stats.items():
        arrays.update({f"{output}.{k}": v for k, v in stats.to_arrays().items()})
    save_npz_atomic(path, arrays)


def _load(path: Path, outputs: tuple[str, ...]) -> Extraction | None:
    arrays = load_npz(path)
    if arrays is None or "meta" not in arrays:
        return None
    stats = {}
    for output in outputs:
        part = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith(output + ".")}
        if not part:
            return None
        stats[output] = FeatureStats.from_arrays(part)
    n_items, n_videos, fmin, fmax = (int(v) for v in arrays["meta"])
    return Extraction(stats, n_items, n_videos, fmin, fmax, {"cache": str(path)})


@torch.no_grad()
def extract(source: VideoSourceDir, protocol: Protocol, extractor: Extractor, outputs: tuple[str, ...],
            seed: int = 0, batch_size: int = 8, cache_dir: str | Path | None = None,
            max_items: int | None = None, device: str = "cpu", progress: bool = False) -> Extraction:
    """Statistics of `outputs` ("logits", "pool", "probs") over `source` under `protocol`."""
    outputs = tuple(sorted(set(outputs)))
    path = None
    if cache_dir is not None:
        key = cache_key(extractor=extractor.sha256, spec=protocol.feature_spec(), files=source.fingerprint(),
                        seed=seed if protocol.unit == "clip" else None, outputs=outputs, max_items=max_items)
        path = Path(cache_dir) / f"features-{protocol.network}-{key[:24]}.npz"
        cached = _load(path, outputs)
        if cached is not None:
            return cached
    stats = {o: FeatureStats(output_dim(extractor, o), keep_features=o in KEEP_FEATURES) for o in outputs}
    result = Extraction(stats)
    extractor.model.to(device)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(desc=f"{protocol.name} {source.root.name}", unit=protocol.unit, leave=False)
    for batch, frames, index in iter_inputs(source, protocol, seed, batch_size, max_items):
        feats = _outputs_of(extractor, batch.to(device), outputs)
        for name, value in feats.items():
            stats[name].update(value.double().cpu().numpy())
        result.n_items += len(batch)
        result.frames_min = frames if result.frames_min == 0 else min(result.frames_min, frames)
        result.frames_max = max(result.frames_max, frames)
        result.n_videos = index + 1
        if bar is not None:
            bar.update(len(batch))
    if bar is not None:
        bar.close()
    if result.n_items == 0:
        raise ValueError(f"{source.root}: no videos were read")
    if path is not None:
        _save(path, result)
    return result
