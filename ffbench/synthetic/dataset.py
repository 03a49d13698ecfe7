"""`make_dataset`: write the synthetic videos as a folder shaped like a downloaded Fashion dataset.

Layout of `out_dir` (with the default splits; `splits=` gives others, e.g. a dataset spec's)::

    videos/synth_train_0000.mp4 ...   H.264, 30 fps
    fashion_train.txt                 one relative path per line: videos/synth_train_0000.mp4
    fashion_test.txt

so `prepare --source DIR` treats it exactly like a download whose URL lists were fetched.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ffbench.fileio import write_text_atomic
from ffbench.progress import progress_bar
from ffbench.synthetic.render import FPS, render_video

# Seed streams: the train split draws from stream 0, the test split from 1, the tiny VAE's extra looks
# from 2 (in neither split); a dataset's other splits (e.g. val) take 3 and on.
TRAIN_STREAM, TEST_STREAM, VAE_STREAM = 0, 1, 2
_DEFAULT_STREAMS = {"train": TRAIN_STREAM, "test": TEST_STREAM}


@dataclass(frozen=True)
class SyntheticSplit:
    """One split to render: its name (in the video ids), its list file, its size and its seed stream."""

    name: str
    list_file: str
    videos: int
    stream: int


@dataclass(frozen=True)
class DatasetSummary:
    out_dir: Path
    n_train: int
    n_test: int
    written: int  # videos rendered and encoded by this call
    skipped: int  # videos already present with the right frame count and size
    seconds: float
    bytes: int  # total size of all listed videos


def video_id(split: str, index: int) -> str:
    """Name of a synthetic video, e.g. `synth_train_0000`."""
    return f"synth_{split}_{index:04d}"


def default_splits(n_train: int, n_test: int) -> tuple[SyntheticSplit, ...]:
    """The default layout: `train` and `test`, listed in fashion_train.txt / fashion_test.txt."""
    return tuple(SyntheticSplit(name, f"fashion_{name}.txt", count, _DEFAULT_STREAMS[name])
                 for name, count in (("train", n_train), ("test", n_test)))


def video_seed(seed: int, split: str, index: int, stream: int | None = None) -> int:
    """Seed of one video, derived from the dataset seed so that two splits never share a video.
    `stream`: the split's seed stream (None: that of the default split `split`, train or test)."""
    stream = _DEFAULT_STREAMS[split] if stream is None else stream
    return int(np.random.SeedSequence([seed, stream, index]).generate_state(1)[0])


def vae_frames(seed: int, looks: int, height: int, width: int, per_look: int = 3) -> np.ndarray:
    """Frames of `looks` extra synthetic videos that are in neither split, for the tiny VAE: uint8
    (looks * per_look, H, W, 3), `per_look` moments of each, rendered straight to pixels (no video file).

    The VAE must carry colours it has never seen: a 48-video training split holds only 48 garment hues,
    and a test garment of another hue came back in a neighbour's. Hundreds of looks cost seconds.
    """
    from ffbench.synthetic.render import render_clip, sample_video

    out = []
    for i in range(looks):
        look, motion = sample_video(int(np.random.SeedSequence([seed, VAE_STREAM, i]).generate_state(1)[0]))
        for k in range(per_look):
            out.append(render_clip(look, motion, 1, height, width, start=21 * k))
    if not out:
        return np.zeros((0, height, width, 3), np.uint8)
    return np.concatenate(out)


def _is_complete(path: Path, frames: int, height: int, width: int) -> bool:
    from ffbench.video import VideoError, probe_video

    if not path.is_file():
        return False
    try:
        info = probe_video(path)
    except VideoError:
        return False
    return (info.num_frames, info.height, info.width) == (frames, height, width)


def _make_one(path: str, seed: int, frames: int, height: int, width: int) -> tuple[bool, int]:
    """Render and write one video unless a complete copy exists; returns (written, size in bytes)."""
    from ffbench.video import write_video

    target = Path(path)
    if _is_complete(target, frames, height, width):
        return False, target.stat().st_size
    write_video(target, render_video(seed, frames, height, width), fps=FPS)
    return True, target.stat().st_size


def _write_list(path: Path, lines: list[str]) -> None:
    write_text_atomic(path, "".join(line + "\n" for line in lines))


def make_dataset(out_dir: str | os.PathLike, n_train: int = 48, n_test: int = 16, frames: int = 64,
                 height: int = 128, width: int = 96, seed: int = 0, workers: int | None = None,
                 progress: bool = True, splits: tuple[SyntheticSplit, ...] | None = None) -> DatasetSummary:
    """Write `n_train` + `n_test` synthetic videos and their list files into `out_dir`.

    Resumable: videos already present with the right frame count and size are kept. Each video is
    written atomically, so an interrupted run leaves no partial mp4 behind.

    Args:
        out_dir: output folder (created if needed).
        n_train, n_test: number of videos per split (of the default splits; recorded in the summary).
        frames, height, width: size of every video (H and W even, as H.264 needs).
        seed: dataset seed; the same seed gives the same videos.
        workers: processes rendering in parallel; default min(2, CPU count). 1 renders in this process.
        progress: show a tqdm progress bar.
        splits: the splits, their list files, sizes and seed streams (None: `default_splits`).
    """
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer; got {value!r}")
    if not isinstance(frames, int) or frames < 1:
        raise ValueError(f"frames must be a positive integer; got {frames!r}")
    for name, value in (("height", height), ("width", width)):
        if not isinstance(value, int) or value < 8 or value % 2:
            raise ValueError(f"{name} must be an even integer >= 8 (H.264 needs even sizes); got {value!r}")
    splits = default_splits(n_train, n_test) if splits is None else tuple(splits)
    streams = [s.stream for s in splits]
    if VAE_STREAM in streams or len(set(streams)) != len(streams):
        raise ValueError(f"split seed streams must differ from each other and from {VAE_STREAM}; "
                         f"got {streams}")
    for s in splits:
        if not isinstance(s.videos, int) or s.videos < 0:
            raise ValueError(f"split {s.name}: videos must be a non-negative integer; got {s.videos!r}")
    if workers is None:
        workers = min(2, os.cpu_count() or 1)
    if workers < 1:
        raise ValueError(f"workers must be >= 1; got {workers!r}")

    start = time.perf_counter()
    out = Path(out_dir)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    jobs = []
    lists: dict[str, list[str]] = {}
    for split in splits:
        lists[split.name] = [f"videos/{video_id(split.name, i)}.mp4" for i in range(split.videos)]
        jobs += [(str(out / rel), video_seed(seed, split.name, i, split.stream), frames, height, width)
                 for i, rel in enumerate(lists[split.name])]

    bar = progress_bar(total=len(jobs), desc="synthetic videos", unit="video", disable=not progress)
    results = []
    if workers == 1 or len(jobs) <= 1:
        for job in jobs:
            results.append(_make_one(*job))
            bar.update()
    else:
        # fork: spawn would re-import the caller's main script, which breaks scripts without a
        # `__main__` guard. The workers only run numpy and PyAV, never torch, so torch thread pools
        # held by the parent (which do not survive a fork) are never touched.
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(_make_one, *job) for job in jobs]
            for future in futures:
                results.append(future.result())
                bar.update()
    bar.close()

    for split in splits:
        _write_list(out / split.list_file, lists[split.name])
    written = sum(w for w, _ in results)
    return DatasetSummary(out_dir=out, n_train=n_train, n_test=n_test, written=written,
                          skipped=len(results) - written, seconds=time.perf_counter() - start,
                          bytes=sum(size for _, size in results))
