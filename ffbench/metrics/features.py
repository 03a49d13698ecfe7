"""Streaming feature extraction for one protocol over one video source, with an .npz cache.

Videos are read one at a time (`ffbench.video.read_video`), cut into the protocol's units (one clip
with a seeded start, the first N frames, or every frame), preprocessed (bilinear stretch, value range)
and fed to the extractor in batches; the running statistics and the features themselves (float32, one
row per unit: 2048 x 400 for FVD, frames x 2048 for FID; KVD, IS and the bootstrap intervals need them)
are kept, with the video each row came from. The StyleGAN-V and cd-fvd sampling variants (`fvd_variants`)
pick their clips per side (real / fake).

The cache file name is a hash of the extractor's sha256, the protocol's feature settings, the source
listing, the seed (clip protocols only), the side (sampling variants only) and the outputs; it is
written atomically.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ffbench.distributed import DistInfo, any_rank, gather_objects, owns, single_process, together
from ffbench.metrics.cache import cache_key, load_npz, save_npz_atomic
from ffbench.metrics.i3d import MIN_FRAMES
from ffbench.metrics.protocols import FEATURE_DIMS, Protocol
from ffbench.metrics.sources import VideoSourceDir
from ffbench.metrics.stats import FeatureStats
from ffbench.metrics.weights import Extractor
from ffbench.video import VideoError, probe_video, read_video

KEEP_FEATURES = ("logits", "pool", "probs")  # every output: KVD, IS and all bootstrap intervals need them


@dataclass
class Extraction:
    """Statistics per output plus what was actually read."""

    stats: dict[str, FeatureStats]
    n_items: int = 0  # clips, videos or frames
    n_videos: int = 0
    frames_min: int = 0  # frames per unit actually used (per video for frame units)
    frames_max: int = 0
    meta: dict = field(default_factory=dict)
    item_video: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # video of each row
    skipped: list[str] = field(default_factory=list)  # videos a sampling variant dropped (too short)

    def features(self, output: str) -> np.ndarray:
        """(n_items, D) float32 features of `output`, one row per unit (for the bootstrap)."""
        return self.stats[output].features

    def video_index(self) -> np.ndarray:
        """(n_items,) int: 0..V-1 numbering of the videos the rows came from, in order of appearance."""
        _, inverse = np.unique(self.item_video, return_inverse=True)
        return inverse.astype(np.int64)


def output_dim(extractor: Extractor, output: str) -> int:
    if output == "pool":
        return FEATURE_DIMS["pool_i3d" if extractor.network == "i3d" else "pool_inception"]
    return FEATURE_DIMS[output]


def clip_start(num_frames: int, length: int, seed: int, index: int) -> int:
    """Start of the `length`-frame window of video `index`, drawn from a generator seeded (seed, index)."""
    return int(np.random.default_rng([seed, index]).integers(0, num_frames - length + 1))


def frames_of(src: Path | bytes | np.ndarray, indices: list[int] | None = None) -> np.ndarray:
    """`read_video` of a file or bytes; an already decoded uint8 (T, H, W, 3) array (the Python API's
    `ArraySource`) is indexed instead, so arrays and files go through the same units below."""
    if isinstance(src, np.ndarray):
        return src if indices is None else src[indices]
    return read_video(src, indices)


def unit_frames(src: Path | bytes | np.ndarray, protocol: Protocol, seed: int, index: int,
                name: str) -> np.ndarray:
    """The frames of one unit of video `index`: uint8 (F, H, W, 3)."""
    if protocol.unit == "frame":
        return frames_of(src)
    n = len(src) if isinstance(src, np.ndarray) else probe_video(src, check_end=False).num_frames
    if protocol.network == "i3d" and n < MIN_FRAMES:
        raise VideoError(f"{name}: {n} frames, but {protocol.name} needs at least {MIN_FRAMES} "
                         f"(I3D); generate longer videos")
    length = min(protocol.frames or n, n)
    start = clip_start(n, length, seed, index) if protocol.unit == "clip" else 0
    return frames_of(src, list(range(start, start + length)))


def preprocess(frames: np.ndarray, protocol: Protocol) -> torch.Tensor:
    """uint8 (F, H, W, 3) -> float32 (F, 3, H', W') resized (bilinear, align_corners=False) and scaled
    to the protocol's value range."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0
    if protocol.size is not None and tuple(x.shape[2:]) != tuple(protocol.size):
        x = F.interpolate(x, size=tuple(protocol.size), mode="bilinear", align_corners=False)
    lo, hi = protocol.value_range
    return x * (hi - lo) + lo


@dataclass
class Batch:
    """A batch of network inputs and where each row came from.

    x: (B, 3, T, H, W) for I3D, (B, 3, H, W) for Inception; frames: frames per unit; videos: the video
    index of each row; counts: how many times each row counts in the set (cd-fvd's repeated clips);
    orders: each row's position in the reference code's item order (StyleGAN-V keeps the first N);
    block: the block of `batch_size` consecutive videos it comes from (batches never cross one: under
    torchrun the blocks are dealt to the processes, `ffbench.distributed.owns`).
    """

    x: torch.Tensor
    frames: int
    videos: list[int]
    counts: list[int]
    orders: list[int]
    block: int = 0


def _units(source: VideoSourceDir, protocol: Protocol, seed: int, side: str, skipped: list[tuple[int, str]],
           mine: Callable[[int], bool]) -> Iterator[tuple[np.ndarray, int, int, int]]:
    """(frames uint8, video index, count, order) of every unit of the videos `mine` accepts, under a
    reference project's sampling."""
    from ffbench.metrics import fvd_variants

    n_videos = source_len(source)
    passes = fvd_variants.cdfvd_fake_counts(n_videos, protocol.max_items, seed) \
        if protocol.sampling == "cdfvd" and side == "fake" else None
    for index, (name, src) in enumerate(source):
        if not mine(index):
            continue  # another process's video: not decoded here
        frames = frames_of(src)
        if len(frames) < protocol.frames:  # both projects drop videos too short for one clip
            skipped.append((index, name))
            continue
        units = fvd_variants.units_for(protocol, side, len(frames), index, n_videos, seed, passes)
        for clip, unit in fvd_variants.iter_units(frames, units, protocol):
            yield clip, index, unit.count, unit.order


def source_len(source: VideoSourceDir) -> int:
    """Number of videos in a source (a pass over the shard members for shard sources)."""
    if source.kind == "videos":
        return len(source.files)
    return sum(1 for _ in source)


def iter_inputs(source: VideoSourceDir, protocol: Protocol, seed: int, batch_size: int,
                max_items: int | None = None, side: str = "fake",
                skipped: list[tuple[int, str]] | None = None,
                info: DistInfo | None = None) -> Iterator[Batch]:
    """Yield `Batch`es of preprocessed units; `side` ("real" / "fake") matters for the sampling variants.

    Clips/videos of equal shape are batched together, never across a block of `batch_size` consecutive
    videos; frames are batched within a video (a block is one video). Under torchrun (`info`) only this
    process's blocks are read (`ffbench.distributed.owns`), each cut into the batches one process makes of
    it. The (index, name) of
    each video a variant drops (shorter than its clip) is appended to `skipped`.
    """
    skipped = [] if skipped is None else skipped
    block_size = 1 if protocol.unit == "frame" else batch_size  # frame batches never mix videos

    def mine(index: int) -> bool:
        return owns(index, info, block_size)

    if protocol.sampling != "ffbench":
        units = _units(source, protocol, seed, side, skipped, mine)
    else:
        limit = max_items if max_items is not None else protocol.max_items
        units = _ffbench_units(source, protocol, seed, limit, mine)
    pending: list[tuple[torch.Tensor, int, int, int]] = []
    for frames, index, count, order in units:
        x = preprocess(frames, protocol)
        block = index // block_size
        if protocol.unit == "frame":
            for start in range(0, len(x), batch_size):
                n = len(x[start:start + batch_size])
                yield Batch(x[start:start + batch_size], len(frames), [index] * n, [1] * n, [index] * n,
                            block)
            continue
        unit = x.permute(1, 0, 2, 3)  # (3, T, H, W)
        if pending and (pending[0][0].shape != unit.shape or pending[0][1] // batch_size != block):
            yield _stack(pending, batch_size)
            pending = []
        pending.append((unit, index, count, order))
        if len(pending) == batch_size:
            yield _stack(pending, batch_size)
            pending = []
    if pending:
        yield _stack(pending, batch_size)


def _stack(pending: list[tuple[torch.Tensor, int, int, int]], batch_size: int) -> Batch:
    return Batch(torch.stack([p[0] for p in pending]), pending[0][0].shape[1], [p[1] for p in pending],
                 [p[2] for p in pending], [p[3] for p in pending], pending[0][1] // batch_size)


def _ffbench_units(source: VideoSourceDir, protocol: Protocol, seed: int, limit: int | None,
                   mine: Callable[[int], bool]) -> Iterator[tuple[np.ndarray, int, int, int]]:
    # A streamed batch of the Python API continues the numbering (`first_index`): the clip starts and
    # the cap are those of the whole set. Under torchrun the index stays the one in the whole sorted list.
    for index, (name, src) in enumerate(source, getattr(source, "first_index", 0)):
        if limit is not None and index >= limit:
            return
        if not mine(index):
            continue
        yield unit_frames(src, protocol, seed, index, name), index, 1, index


def _run_network(extractor: Extractor, batch: torch.Tensor,
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


def _outputs_of(extractor: Extractor, batch: torch.Tensor,
                outputs: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """The network's `outputs` for every row of `batch`. Clips (5-d batches) it has seen before in this
    process, byte for byte, are not run again: the network is in eval mode, so a row's output does not
    depend on the rest of its batch beyond its last bits (measured on the CPU: up to 2e-10 for the random
    I3D's logits between batches of 1 and 8). Under torchrun a clip is remembered by the process that ran
    it; the same clip in two videos of blocks on different processes is then run twice, which can move
    those last bits. Frames (FID, IS) are not remembered: a real set has too many."""
    if batch.ndim != 5:
        return _run_network(extractor, batch, outputs)
    keys = [(hashlib.blake2b(row.numpy().tobytes(), digest_size=16).digest(), tuple(row.shape), outputs)
            for row in batch.detach().cpu()]
    missing = [i for i, k in enumerate(keys) if k not in extractor.memo]
    if missing:
        fresh = _run_network(extractor, batch[missing], outputs)
        for j, i in enumerate(missing):
            extractor.memo[keys[i]] = {name: value[j].detach().cpu() for name, value in fresh.items()}
    return {name: torch.stack([extractor.memo[k][name] for k in keys]) for name in outputs}


def _save(path: Path, result: Extraction) -> None:
    arrays = {"meta": np.array([result.n_items, result.n_videos, result.frames_min, result.frames_max]),
              "item_video": np.asarray(result.item_video, np.int64),
              "skipped": np.array(result.skipped, dtype=str)}
    for output, stats in result.stats.items():
        arrays.update({f"{output}.{k}": v for k, v in stats.to_arrays().items()})
    save_npz_atomic(path, arrays)


def _load(path: Path, outputs: tuple[str, ...]) -> Extraction | None:
    arrays = load_npz(path)
    if arrays is None or "meta" not in arrays or "item_video" not in arrays:
        return None  # missing, torn, or written before rows kept their video
    stats = {}
    for output in outputs:
        part = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith(output + ".")}
        if not part:
            return None
        stats[output] = FeatureStats.from_arrays(part)
    n_items, n_videos, fmin, fmax = (int(v) for v in arrays["meta"])
    return Extraction(stats, n_items, n_videos, fmin, fmax, {"cache": str(path)}, arrays["item_video"],
                      [str(x) for x in arrays.get("skipped", [])])


def _local_rows(source: VideoSourceDir, protocol: Protocol, extractor: Extractor, outputs: tuple[str, ...],
                seed: int, batch_size: int, max_items: int | None, device: str, progress: bool, side: str,
                info: DistInfo | None) -> tuple[list[tuple], list[str]]:
    """This process's batches, each (block, number in its block, {output: float64 rows}, videos, orders,
    frames), with every row repeated `count` times; and the (index, name) of the videos a variant dropped."""
    skipped: list[tuple[int, str]] = []
    records: list[tuple] = []
    bar = None
    if progress:
        from ffbench.progress import progress_bar

        bar = progress_bar(desc=f"{protocol.name} {source.root.name}", unit=protocol.unit, leave=False)
    last_block, number = -1, 0
    for batch in iter_inputs(source, protocol, seed, batch_size, max_items, side, skipped, info):
        feats = _outputs_of(extractor, batch.x.to(device), outputs)
        counts = np.asarray(batch.counts)
        number = number + 1 if batch.block == last_block else 0
        last_block = batch.block
        records.append((batch.block, number,
                        {name: np.repeat(value.double().cpu().numpy(), counts, axis=0)
                         for name, value in feats.items()},
                        np.repeat(batch.videos, counts).tolist(), np.repeat(batch.orders, counts).tolist(),
                        batch.frames))
        if bar is not None:
            bar.update(len(batch.x))
    if bar is not None:
        bar.close()
    return records, skipped


@torch.no_grad()
def extract(source: VideoSourceDir, protocol: Protocol, extractor: Extractor, outputs: tuple[str, ...],
            seed: int = 0, batch_size: int = 8, cache_dir: str | Path | None = None,
            max_items: int | None = None, device: str = "cpu", progress: bool = False,
            side: str = "fake", info: DistInfo | None = None) -> Extraction:
    """Statistics and features of `outputs` ("logits", "pool", "probs") over `source` under `protocol`.

    `side` ("real" / "fake") selects the clips of the StyleGAN-V and cd-fvd sampling variants; the
    ffbench protocols treat both sides alike.

    Under torchrun (`info` of several processes) each process runs the network on its blocks of
    `batch_size` videos (`iter_inputs`); every process then gets all batches, puts them in the order one
    process makes them and adds them to the statistics in that order, so every array is the one-process
    array, bit for bit. The main process alone writes the cache file.
    """
    outputs = tuple(sorted(set(outputs)))
    variant = protocol.sampling != "ffbench"
    info = info if info is not None else single_process(device)
    path = None
    if cache_dir is not None:
        key = cache_key(extractor=extractor.sha256, spec=protocol.feature_spec(), files=source.fingerprint(),
                        seed=seed if protocol.unit == "clip" else None, outputs=outputs, max_items=max_items,
                        side=side if variant else None)
        path = Path(cache_dir) / f"features-{protocol.network}-{key[:24]}.npz"
        cached = _load(path, outputs)
        # every process takes the same branch: the steps below meet in collectives
        if not any_rank(cached is None, info):
            return cached
    extractor.model.to(device)
    with together(info):  # a video only this process reads that fails stops every process with its message
        records, skipped = _local_rows(source, protocol, extractor, outputs, seed, batch_size, max_items,
                                       device, progress, side, info)
    if info.distributed:
        parts = gather_objects((records, skipped), info)
        records = sorted((r for part, _ in parts for r in part), key=lambda r: (r[0], r[1]))
        skipped = sorted(pair for _, pairs in parts for pair in pairs)
    stats = {o: FeatureStats(output_dim(extractor, o), keep_features=True) for o in outputs}
    result = Extraction(stats, skipped=[name for _, name in skipped])
    rows: dict[str, list[np.ndarray]] = {o: [] for o in outputs}  # sampling variants: sorted at the end
    item_video: list[int] = []
    orders: list[int] = []
    for _, _, feats, videos, batch_orders, frames in records:  # the one-process order of the batches
        for name, value in feats.items():
            if variant:
                rows[name].append(value.astype(np.float32))
            else:
                stats[name].update(value)
        item_video.extend(videos)
        orders.extend(batch_orders)
        result.frames_min = frames if result.frames_min == 0 else min(result.frames_min, frames)
        result.frames_max = max(result.frames_max, frames)
    if not item_video:
        raise ValueError(f"{source.root}: no videos were read")
    keep = np.arange(len(item_video))
    if variant:
        # The reference code keeps the first `max_items` items of its own order (StyleGAN-V lists the
        # mirrored copies after every original); cd-fvd's counts already add up to it.
        keep = np.argsort(np.asarray(orders), kind="stable")[: protocol.max_items]
        for name in outputs:
            stats[name].update(np.concatenate(rows[name])[keep])
    result.item_video = np.asarray(item_video, np.int64)[keep]
    result.n_items = len(keep)
    result.n_videos = len(np.unique(result.item_video))
    if path is not None:
        with together(info):  # the main process writes; a failed write stops every process
            if info.is_main:
                _save(path, result)
    return result

