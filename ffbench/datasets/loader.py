"""The training loader: a WebDataset pipeline over prepared shards giving fresh random clip windows.

Each sample in a shard is a whole video with per-frame cached latents; every time a sample passes
through, a new window of `frames` consecutive frames is drawn from it, so one video gives many
different clips (the public FashionFlow code used one fixed window per video).

Conditioning: the window's first frame is the conditioning frame. `cond_latent` is its latent. The
CLIP tokens are that same frame's when the shards hold `clip_frames.npy` (tokens of every frame, the
default with the tiny CLIP); otherwise they fall back to the tokens of the video's frame 0 (same
person and garment, possibly another pose) and `stats.clip_from_frame0` counts how often.

Pixels (the GAN baselines): with `pixels=True` the same window is also decoded from the sample's `mp4`
into `video` (B, 3, F, H, W) in [-1, 1], area-resized to `pixel_size` when given (e.g. 64x64, or the cpu
preset's 128x96 frames to 64x48); `pixel_clip_loader` gives the pixels alone, without reading the cached
features. A sample whose mp4 cannot be decoded is skipped and counted like any corrupt sample.

Determinism: every random choice (shard order or resampling, shuffle buffer, window starts) comes from
RNGs seeded by (seed, rank, worker), so the stream of batches is a function of (seed, rank,
world_size, num_workers, start_batch) and a resumed run sees exactly the batches it would have seen.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import os
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import webdataset as wds

from ffbench.datasets.manifest import MANIFEST_NAME, ManifestError, read_manifest
from ffbench.datasets.shards import ShardError, iter_shard
from ffbench.errors import UserError

log = logging.getLogger(__name__)
REQUIRED_KEYS = ("json", "latents.npy", "clip.npy", "lowres.npy")  # the latent path's keys


def wanted_keys(latents: bool, pixels: bool) -> tuple[str, ...]:
    """The sample keys a loader reading cached features (`latents`) and/or the mp4 (`pixels`) needs."""
    return ("json",) + (REQUIRED_KEYS[1:] if latents else ()) + (("mp4",) if pixels else ())


@dataclass
class LoaderStats:
    """Counts of what the loader skipped (DataLoader workers report theirs with every batch)."""

    samples: int = 0  # windows yielded
    corrupt_samples: int = 0  # unreadable or incomplete samples, skipped
    short_videos: int = 0  # videos with fewer frames than the window, skipped
    clip_from_frame0: int = 0  # windows whose CLIP tokens are frame 0's (no per-frame tokens)
    messages: list[str] = field(default_factory=list)  # the first few problems, for logs

    def note(self, message: str) -> None:
        # Only the first few are logged: the counts say how many more, and the error a run of unusable
        # samples ends with names the shards and samples itself.
        if len(self.messages) < 20:
            log.warning(message)
            self.messages.append(message)


@dataclass(frozen=True)
class _Place:
    """Where this iterator runs: rank among `world` processes, (virtual) worker among `workers`."""

    rank: int
    world: int
    worker: int
    workers: int


def _place(rank: int, world: int, start_batch: int) -> _Place:
    info = torch.utils.data.get_worker_info()
    worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
    # A DataLoader always asks worker 0 first. After fast-forwarding `start_batch` batches the next
    # batch belongs to worker start_batch % workers of the original run, so rotate the roles.
    return _Place(rank, world, (worker + start_batch) % workers, workers)


def _rng(seed: int, place: _Place, salt: str) -> random.Random:
    return random.Random(f"{seed}/{place.rank}/{place.worker}/{salt}")


class _Stage(wds.PipelineStage):
    """A pipeline stage that learns its rank/worker when iteration starts (inside the worker)."""

    def __init__(self, seed: int, rank: int, world: int, start_batch: int):
        self.seed, self.rank, self.world, self.start_batch = seed, rank, world, start_batch

    def place(self) -> _Place:
        return _place(self.rank, self.world, self.start_batch)


class ShardSource(_Stage, torch.utils.data.IterableDataset):
    """Stage 1: shard urls. Resampled: drawn with replacement forever from a per-(rank, worker) RNG.
    Otherwise: one pass in an order shuffled per epoch, split across ranks, then across workers."""

    def __init__(self, urls: list[str], resampled: bool, **kw):
        super().__init__(**kw)
        self.urls, self.resampled, self.epoch = list(urls), resampled, -1

    def __iter__(self) -> Iterator[dict]:
        self.epoch += 1
        place = self.place()
        if self.resampled:
            rng = _rng(self.seed, place, "shards")
            while True:
                yield {"url": rng.choice(self.urls)}
        order = list(self.urls)
        random.Random(f"{self.seed}/epoch{self.epoch}").shuffle(order)  # same order on every rank
        mine = order[place.rank::place.world]  # split by node
        for url in mine[place.worker::place.workers]:  # split by worker
            yield {"url": url}


def check_shard_sizes(src: Iterable[dict], sizes: dict[str, int]) -> Iterator[dict]:
    """Stage 2: refuse a shard that is missing or whose size is no longer the manifest's (replaced or
    truncated since the loader was built): the manifest vouches for the shards, nothing else is read."""
    for item in src:
        url = item["url"]
        try:
            size = os.path.getsize(url)
        except OSError:
            size = -1
        if size != sizes[url]:
            raise ShardError(_size_problem(url, size, sizes[url]))
        yield item


def _size_problem(url: str, size: int, recorded: int) -> str:
    have = "missing" if size < 0 else f"{size} bytes on disk"
    return (f"shard {url}: {have}, its manifest says {recorded} bytes (truncated, replaced or deleted "
            "after `ffbench prepare`); run `ffbench prepare --verify --out DATA` to list the damage, then "
            "`ffbench prepare` to rebuild")


def expand_shards(src: Iterable[dict]) -> Iterator[dict]:
    """Stage 3: shard url -> its samples, by `ffbench.datasets.shards.iter_shard`'s rule (the same reader
    as eval and generate): an unreadable, truncated or empty shard, or an unsafe member, is an error
    naming the shard, never a skip (a resampled source would draw broken shards forever)."""
    for item in src:
        yield from iter_shard(item["url"])


def _names(items: list[str], first: int = 5) -> str:
    """`a, b, c` or `a, b, c, d, e and 7 more`."""
    shown = ", ".join(items[:first])
    return shown + (f" and {len(items) - first} more" if len(items) > first else "")


def check_split(split_dir: Path, manifest: dict, wanted: tuple[str, ...]) -> None:
    """Before any batch: every shard the manifest lists has its recorded size, reads as a tar of safe
    members holding at least one sample (headers only, no payload is read), and some sample holds every
    key in `wanted`. Raises ShardError / UnsafeTarError naming the shard (and the samples)."""
    lacking: list[str] = []  # "shard-000000.tar: v0 lacks [...]"
    shards_lacking: list[str] = []
    total = 0
    for entry in manifest["shards"]:
        path = split_dir / entry["name"]
        size = path.stat().st_size if path.is_file() else -1
        if size != entry["bytes"]:
            raise ShardError(_size_problem(str(path), size, entry["bytes"]))
        bad_here = False
        for sample in iter_shard(path, payloads=False):
            total += 1
            if missing := [k for k in wanted if k not in sample]:
                lacking.append(f"{sample['__key__']} lacks {missing}")
                bad_here = True
        if bad_here:
            shards_lacking.append(entry["name"])
    if lacking and len(lacking) == total:
        raise ShardError(
            f"no sample of {split_dir} holds every key this model reads ({', '.join(wanted)}): all {total} "
            f"samples lack some, in shards {_names(shards_lacking, 3)} (samples: {_names(lacking)}); "
            "these shards were not written by `ffbench prepare` for this model: rebuild them with "
            "`ffbench prepare`")
    if lacking:
        log.warning("%d of %d samples of %s lack keys and will be skipped (shards %s; samples %s)",
                    len(lacking), total, split_dir, _names(shards_lacking, 3), _names(lacking))


class SampleShuffle(_Stage):
    """Stage 4: a shuffle buffer with this rank/worker's own RNG."""

    def __init__(self, bufsize: int, **kw):
        super().__init__(**kw)
        self.bufsize = bufsize

    def run(self, src: Iterable[dict]) -> Iterator[dict]:
        if self.bufsize <= 1:
            return iter(src)
        rng = _rng(self.seed, self.place(), "shuffle")
        return wds.shuffle(self.bufsize, initial=self.bufsize, rng=rng)(iter(src))


def _npy(sample: dict, key: str) -> np.ndarray:
    return np.load(io.BytesIO(sample[key]), allow_pickle=False)


def area_resize(video: torch.Tensor, size: tuple[int, int] | None) -> torch.Tensor:
    """Resize frames (..., C, H, W) to `size` = (height, width) by area averaging (adaptive average
    pooling: exact box means for integer factors, overlapping boxes otherwise); None or the same size
    returns the input."""
    if size is None or tuple(video.shape[-2:]) == tuple(size):
        return video
    lead = video.shape[:-3]
    flat = video.reshape(-1, *video.shape[-3:])
    return F.interpolate(flat, size=tuple(size), mode="area").reshape(*lead, video.shape[-3], *size)


def decode_window(mp4: bytes, start: int, stop: int, size: tuple[int, int] | None = None) -> torch.Tensor:
    """Frames [start, stop) of an mp4 as float (3, F, H, W) in [-1, 1], area-resized to `size`."""
    from ffbench.video import read_video

    frames = torch.from_numpy(read_video(mp4, indices=range(start, stop)))  # (F, H, W, 3) uint8
    video = area_resize(frames.permute(0, 3, 1, 2).float(), size)  # (F, 3, H, W) in [0, 255]
    return (video / 127.5 - 1.0).permute(1, 0, 2, 3).contiguous()


class RandomWindow(_Stage):
    """Stage 5: cut a fresh window of `frames` frames from each video; skip and count bad samples.

    `latents`: read the cached features (latents, CLIP tokens, low-res frames) of the window;
    `pixels`: decode the window from the mp4, area-resized to `pixel_size` (None: the stored size).
    """

    def __init__(self, frames: int, stats: LoaderStats, give_up_after: int, latents: bool = True,
                 pixels: bool = False, pixel_size: tuple[int, int] | None = None, **kw):
        super().__init__(**kw)
        self.frames, self.stats, self.give_up_after = frames, stats, give_up_after
        self.latents, self.pixels, self.pixel_size = latents, pixels, pixel_size

    def run(self, src: Iterable[dict]) -> Iterator[dict]:
        rng = _rng(self.seed, self.place(), "window")
        # The unusable samples since the last usable one, as (shard, key, problem): resampling over
        # nothing but unusable samples would never end, so enough of them in a row stop the run, naming them.
        failed: list[tuple[str, str, str]] = []
        yielded = 0
        for sample in src:
            try:
                out = self.window(sample, rng)
                problem = f"shorter than frames={self.frames}" if out is None else ""
            except Exception as exc:  # noqa: BLE001 - any unreadable sample is skipped, never fatal
                self.stats.corrupt_samples += 1
                problem = f"{type(exc).__name__}: {exc}"
                self.stats.note(f"skipping corrupt sample {sample.get('__key__')!r} from "
                                f"{sample.get('__url__')}: {problem}")
                out = None
            if out is None:
                failed.append((str(sample.get("__url__")), str(sample.get("__key__")), problem))
                if len(failed) >= self.give_up_after:
                    raise self.no_usable_sample(failed)
                continue
            failed = []
            yielded += 1
            self.stats.samples += 1
            yield out
        place = self.place()
        if failed and not yielded and place.workers == place.world == 1:
            # A whole pass over the split gave nothing (with workers the main process checks the sum).
            raise self.no_usable_sample(failed)

    def no_usable_sample(self, failed: list[tuple[str, str, str]]) -> ShardError:
        short = sum(problem.startswith("shorter than") for _, _, problem in failed)
        shards = sorted({Path(url).name for url, _, _ in failed})
        keys = list(dict.fromkeys(key for _, key, _ in failed))
        folder = Path(failed[0][0]).parent
        url, key, problem = next((f for f in failed if not f[2].startswith("shorter than")), failed[0])
        return ShardError(
            f"no usable sample among the last {len(failed)} read from {folder}: {short} shorter than "
            f"frames={self.frames}, {len(failed) - short} corrupt; shards {_names(shards, 3)}; samples "
            f"{_names(keys)} ({len(keys)} distinct); e.g. {Path(url).name} sample {key!r}: {problem}. "
            "Rebuild the shards with `ffbench prepare`" + (", or lower `frames`" if short else ""))

    def window(self, sample: dict, rng: random.Random) -> dict | None:
        wanted = wanted_keys(self.latents, self.pixels)
        missing = [k for k in wanted if k not in sample]
        if missing:
            raise ValueError(f"sample lacks {missing}")
        meta = json.loads(sample["json"])
        if self.latents:
            latents = _npy(sample, "latents.npy")  # (N, 4, h, w) float16
            n = len(latents)
        else:
            n = int(meta["frames"])
        if n < self.frames:
            self.stats.short_videos += 1
            return None
        start = rng.randrange(n - self.frames + 1)
        stop = start + self.frames
        out: dict = {"start": start, "id": meta["id"]}
        if self.latents:
            window = torch.from_numpy(latents[start:stop].astype(np.float32))  # (F, 4, h, w)
            if "clip_frames.npy" in sample:
                clip = _npy(sample, "clip_frames.npy")[start]
            else:
                clip = _npy(sample, "clip.npy")
                self.stats.clip_from_frame0 += 1
            lowres = _npy(sample, "lowres.npy")[start:stop].astype(np.float32)  # (F, 3, h, w)
            lowres = torch.from_numpy(lowres)
            out.update({
                "latents": window.permute(1, 0, 2, 3),  # (4, F, h, w)
                "cond_latent": window[0],  # (4, h, w)
                "clip": torch.from_numpy(clip.astype(np.float32)),  # (T, D)
                "lowres": (lowres / 127.5 - 1.0).permute(1, 0, 2, 3),  # (3, F, h, w) in [-1, 1]
            })
        if self.pixels:
            out["video"] = decode_window(sample["mp4"], start, stop, self.pixel_size)  # (3, F, H, W)
        return out


def collate(samples: list[dict]) -> dict:
    """Stack windows into a batch: latents (B, 4, F, h, w), cond_latent (B, 4, h, w), clip (B, T, D),
    lowres (B, 3, F, h, w) and/or video (B, 3, F, H, W); `start` (B,) and `id` (list) for logs."""
    tensors = [k for k, v in samples[0].items() if isinstance(v, torch.Tensor)]
    batch = {k: torch.stack([s[k] for s in samples]) for k in tensors}
    batch["start"] = torch.tensor([s["start"] for s in samples])
    batch["id"] = [s["id"] for s in samples]
    return batch


class FastForward(_Stage):
    """Stage 7: drop the batches this worker produced before `start_batch` (exact training resume)."""

    def run(self, src: Iterable[dict]) -> Iterator[dict]:
        place = self.place()
        # The worker playing role v made the original batches v, v + W, v + 2W, ...; those below
        # start_batch number ceil((start_batch - v) / W).
        skip = max(0, -(-(self.start_batch - place.worker) // place.workers))
        return itertools.islice(src, skip, None)


STATS_ONLY = "__stats_only__"  # marks the counts-only item a worker sends when its stream ends
COUNTERS = ("samples", "corrupt_samples", "short_videos", "clip_from_frame0")
ERROR = "__error__"  # the expected failure (a UserError) a worker hands to the main process


class ReportStats:
    """Stage 8 (DataLoader workers only): attach to every batch what this worker's LoaderStats counted
    since its previous batch, as `batch["loader_stats"]` = (counts, new messages). A worker's counters
    live in its own process; this is how they reach the main process (see `MergedStatsLoader`)."""

    def __init__(self, stats: LoaderStats):
        self.stats = stats

    def __call__(self, src: Iterable[dict]) -> Iterator[dict]:
        last = {k: getattr(self.stats, k) for k in COUNTERS}
        seen_messages = len(self.stats.messages)

        def report() -> tuple[dict, list[str]]:
            nonlocal last, seen_messages
            now = {k: getattr(self.stats, k) for k in COUNTERS}
            out = ({k: now[k] - last[k] for k in COUNTERS}, self.stats.messages[seen_messages:])
            last, seen_messages = now, len(self.stats.messages)
            return out

        try:
            for batch in src:
                batch["loader_stats"] = report()
                yield batch
        except UserError as err:
            # Raised here, torch would re-raise it in the main process with the worker's traceback pasted
            # into the message; sent as data, the main process raises it as it is (`MergedStatsLoader`).
            yield {"loader_stats": report(), STATS_ONLY: True, ERROR: err}
            return
        # What was skipped after the last batch (or in a worker that made none) still has to arrive.
        yield {"loader_stats": report(), STATS_ONLY: True}


class MergedStatsLoader:
    """A multi-worker WebLoader whose `.stats` adds up what every worker counted (main process)."""

    def __init__(self, loader: wds.WebLoader, stats: LoaderStats, manifest: dict):
        self.loader, self.stats, self.manifest = loader, stats, manifest

    def __iter__(self) -> Iterator[dict]:
        before = (self.stats.samples, self.stats.short_videos, self.stats.corrupt_samples)
        for batch in self.loader:
            counts, messages = batch.pop("loader_stats")
            for key, delta in counts.items():
                setattr(self.stats, key, getattr(self.stats, key) + delta)
            self.stats.messages.extend(messages[: max(0, 20 - len(self.stats.messages))])
            if ERROR in batch:
                raise batch[ERROR]
            if not batch.pop(STATS_ONLY, False):
                yield batch
        samples, short, corrupt = (now - then for now, then in zip(
            (self.stats.samples, self.stats.short_videos, self.stats.corrupt_samples), before, strict=True))
        if not samples and short + corrupt:  # a whole pass over the split gave nothing
            raise ShardError(
                f"no usable sample in a whole pass over the shards: {short} shorter than the window, "
                f"{corrupt} corrupt ({_names(self.stats.messages, 3) or 'none logged'}); rebuild the shards "
                "with `ffbench prepare`" + (", or lower `frames`" if short else ""))


def _dist_info(rank: int | None, world_size: int | None) -> tuple[int, int]:
    if rank is not None and world_size is not None:
        return rank, world_size
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def _check_encoders(manifest: dict, expect: dict | None, split_dir: Path) -> None:
    if not expect:
        return
    have = manifest.get("encoders", {})
    for name, want in expect.items():
        got = have.get(name)
        if isinstance(want, dict) and isinstance(got, dict):
            differs = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
        else:
            differs = {} if got == want else {name: (got, want)}
        if differs:
            raise ManifestError(
                f"shards in {split_dir} were made with a different {name} encoder ({differs}, as "
                "(in shards, expected)); rerun `ffbench prepare` with the encoder you train with, or "
                "train with the shards' encoder")


def latent_clip_loader(
    shards_dir: str | Path,
    split: str = "train",
    frames: int = 16,
    batch_size: int = 2,
    seed: int = 0,
    resampled: bool = True,
    shuffle_buffer: int = 64,
    num_workers: int = 0,
    start_batch: int = 0,
    pixels: bool = False,
    expect_encoders: dict | None = None,
    rank: int | None = None,
    world_size: int | None = None,
    pixel_size: tuple[int, int] | None = None,
    latents: bool = True,
):
    """Batches of random clip windows from prepared shards.

    Args:
        shards_dir: `DATA`, `DATA/shards` or the split's own folder `DATA/shards/<split>`.
        frames: window length F; videos shorter than F are skipped and counted.
        resampled: draw shards with replacement forever (training by steps); False = one epoch per
            iteration, shards split across ranks and workers.
        start_batch: batches to skip (resume a training run exactly where it stopped).
        pixels: also decode the window from the mp4 into `video` (for the pixel-space GAN baselines).
        pixel_size: (H, W) the video frames are area-resized to; None keeps the stored size.
        latents: read the cached features; False gives pixels alone (see `pixel_clip_loader`).
        expect_encoders: e.g. {"vae": identity, "clip": identity}; shards made by other encoders are refused.
        rank, world_size: default to torch.distributed (or RANK / WORLD_SIZE).

    Returns:
        an iterable (a `wds.DataPipeline`, or a `MergedStatsLoader` when num_workers > 0) of dicts:
        latents (B, 4, F, h, w) float32, cond_latent (B, 4, h, w), clip (B, T, D) float32,
        lowres (B, 3, F, h, w) in [-1, 1], with pixels also video (B, 3, F, H, W) in [-1, 1] (without
        latents only video); `start` (B,) window starts and `id` (list of B video ids);
        `.stats` is the LoaderStats (with workers: the sum of every worker's counts so far) and
        `.manifest` the split's manifest.
    """
    shards_dir = Path(shards_dir)
    for split_dir in (shards_dir / split, shards_dir / "shards" / split, shards_dir):
        if (split_dir / MANIFEST_NAME).is_file():
            break
    else:  # read_manifest names what is missing
        split_dir = next((d for d in (shards_dir / split, shards_dir / "shards" / split) if d.is_dir()),
                         shards_dir / split)
    if not (latents or pixels):
        raise ValueError("latents=False needs pixels=True: the loader would yield nothing")
    if pixel_size is not None and (len(pixel_size) != 2 or min(pixel_size) < 1):
        raise ValueError(f"pixel_size={pixel_size!r}; give (height, width), each >= 1")
    if frames < 1 or batch_size < 1 or start_batch < 0:
        raise ValueError(f"frames={frames} and batch_size={batch_size} must be >= 1, "
                         f"start_batch={start_batch} >= 0")
    manifest = read_manifest(split_dir)
    if latents:
        _check_encoders(manifest, expect_encoders, split_dir)
    if not manifest["shards"]:
        raise ManifestError(f"{split_dir}: the manifest lists no shards (no usable {split} videos)")
    # Read every shard's headers now, in this process: a broken split is refused before any batch (and
    # before a training run writes anything), naming the shard, not in a worker.
    check_split(split_dir, manifest, wanted_keys(latents, pixels))
    sizes = {str(split_dir / s["name"]): s["bytes"] for s in manifest["shards"]}
    total = sum(s["samples"] for s in manifest["shards"])
    rank, world = _dist_info(rank, world_size)
    stats = LoaderStats()
    place = dict(seed=seed, rank=rank, world=world, start_batch=start_batch)
    pipeline = wds.DataPipeline(
        # 1. shard urls: resampled per (rank, worker) RNG, or shuffled per epoch and split by node/worker
        ShardSource(sorted(sizes), resampled, **place),
        # 2. refuse a shard whose size is no longer the manifest's (changed since check_split)
        partial(check_shard_sizes, sizes=sizes),
        # 3. tar -> samples by the one shard-reading rule: an unreadable shard is an error naming it
        expand_shards,
        # 4. sample shuffle buffer
        SampleShuffle(shuffle_buffer, **place),
        # 5. a fresh random window per sample; corrupt and short samples skipped and counted
        RandomWindow(frames, stats, give_up_after=max(64, 4 * total), latents=latents, pixels=pixels,
                     pixel_size=tuple(pixel_size) if pixel_size else None, **place),
        # 6. batches of dicts of tensors (B, C, F, H, W)
        wds.batched(batch_size, collation_fn=collate, partial=not resampled),
        # 7. fast-forward to start_batch
        FastForward(**place) if start_batch else None,
        # 8. with DataLoader workers: each batch carries its worker's new counts to the main process
        ReportStats(stats) if num_workers > 0 else None,
    )
    if num_workers > 0:
        return MergedStatsLoader(wds.WebLoader(pipeline, batch_size=None, num_workers=num_workers), stats,
                                 manifest)
    pipeline.stats = stats
    pipeline.manifest = manifest
    return pipeline


def pixel_clip_loader(
    shards_dir: str | Path,
    size: tuple[int, int] | None,
    split: str = "train",
    frames: int = 16,
    batch_size: int = 2,
    seed: int = 0,
    **kwargs,
):
    """Batches of random pixel clips from prepared shards, for models that work in pixel space.

    The same pipeline as `latent_clip_loader` (fresh window per step, skip-and-count of bad samples,
    sharding over ranks and workers, exact resume via `start_batch`), reading only `json` and `mp4`.

    Args:
        size: (H, W) the frames are area-resized to (64x64 for the official GAN configs); None keeps
            the stored size. Other arguments as in `latent_clip_loader`.

    Returns:
        an iterable of dicts: video (B, 3, F, H, W) float32 in [-1, 1], start (B,), id (list).
    """
    return latent_clip_loader(shards_dir, split=split, frames=frames, batch_size=batch_size, seed=seed,
                              pixels=True, latents=False, pixel_size=size, **kwargs)
