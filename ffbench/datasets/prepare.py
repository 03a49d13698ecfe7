"""`prepare`: source videos -> probed videos -> encoders -> per-video samples -> shards + manifests.

Every stage is resumable and skips work already done and checked, so a prepare killed at any moment
(even SIGKILL) and run again ends with the same manifests, byte for byte, as an uninterrupted run:

Everything a run does is said by one `PrepareOptions` (the CLI builds it from its flags) and the
dataset's `DatasetSpec` (its splits and list file names; UBC Fashion by default, `datasets/spec.py`).

1. source: `--synthetic` renders videos into `DATA/generated/`; that folder, `--source DIR`, `--urls
   FILE` or the official lists then go through `fetch_dataset` into `DATA/source/` (verified copies,
   download_report.csv, quarantine/), which skips files it verified before;
2. probe: `probe_all` records each video's real width, height, fps and frame count (probe.csv);
3. encoders: hub/local weights are loaded first of all (a missing one fails in seconds, before any
   download); the tiny VAE is trained on the training videos unless `DATA/encoders/vae.prepare.json`
   says the one on disk was trained with the same settings; the tiny CLIP is built once;
4. samples: each video is decoded, resized, encoded and stored alone in
   `DATA/shards/.work/<fingerprint>/<split>/` (atomic; done videos are never recomputed). The
   fingerprint covers the encoders' identities and every setting that changes the bytes, so features
   of different encoders are never mixed: a new fingerprint starts an empty cache;
5. shards + manifest: samples are packed in sorted key order into reproducible shards and the
   manifest is written last, atomically, with `skipped.csv` (every video left out, and why) beside it.
   An existing manifest with the same content and shards that verify is left alone.

Failing clean. Everything a run reads is checked before anything is written: the options, the thread
count recorded in `DATA/prepare.json`, hub or local weights, every line of the URL lists (one error names
each bad line) and whether --out can be written; a run refused there leaves --out as it found it, and a
new --out is not created. Then work starts: --out is created and `DATA/.prepare.lock` taken. A failure
from there keeps what was finished (a rerun resumes) but removes the lock file if this run made it, and
a new --out that holds nothing else. The verdict on the dataset (`--strict` and any skipped video, or a
split with no usable video) comes after the download and again after the samples, before any shard or
manifest: it names the skipped videos and their reasons and leaves in each split a failure marker that
every reader refuses (`manifest.mark_failed`). SIGINT and SIGTERM stop the run with PrepareInterrupted
(exit 130 / 143 from the CLI), saying what was finished; the caller adds how to rerun it (the CLI, which
knows its flags, prints the command).

Same settings, same bytes: the videos, shards and manifests of a run are a function of its settings
(`bench/determinism.py` checks five runs, two of them killed). One setting changes bytes without
changing what is computed: the number of torch threads, which reorders float sums in the tiny VAE's
training and in the encoders. It is recorded in `DATA/prepare.json` before any work and in the
manifests, and a rerun or resume with another value is refused (ThreadCountMismatch, naming the count to
use), so one dataset never mixes features of two thread counts. A dataset other than the default is
recorded in `DATA/dataset.json` the same way, and a rerun with another spec is refused.

Many processes: `torchrun --nproc_per_node=N -m ffbench.cli prepare ...` runs every step on the main
process (rank 0: the checks, the lock and the record, the source videos, the tiny VAE's training, the
shards, manifests and skipped.csv) except the per-video samples of stage 4: each split's sorted ids are
shared by the fixed rule of `distributed.share` (rank r takes r, r+N, ...) and every process writes its
own samples into the same cache, atomically, after loading the encoders from the files the main process
saved (so every process encodes with the same bytes). --threads is per process. The manifests, shards
and samples are the bytes one process writes, for any N (with the same --threads), and a run killed
anywhere resumes with any N. Each step ends in an exchange (`distributed.together`): a user error on
one process stops all of them with its message.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import torch
from filelock import FileLock

from ffbench.datasets.clips import RESIZE_POLICIES
from ffbench.datasets.encoder_stage import make_encoders, stage_vae
from ffbench.datasets.features import FeatureEncoders, build_sample
from ffbench.datasets.manifest import (
    MANIFEST_NAME,
    MANIFEST_VERSION,
    ManifestError,
    fingerprint,
    mark_failed,
    read_manifest,
    verify_split,
)
from ffbench.datasets.shards import pack_shards, sample_key
from ffbench.datasets.sources import MAX_NAMED
from ffbench.datasets.spec import DATASET_NAME, DatasetSpec, get_dataset, is_default, write_dataset
from ffbench.datasets.tiny_vae import SYNTHETIC_LOOKS as VAE_SYNTHETIC_LOOKS
from ffbench.distributed import DistInfo, gather_objects, share, single_process, together
from ffbench.errors import UserError, check_writable_dir, ensure_writable_dir
from ffbench.fileio import sha256_file, write_json_atomic, write_text_atomic
from ffbench.presets import Preset, get_preset
from ffbench.progress import progress_bar, quiet_libraries
from ffbench.threads import threads_limited

SAMPLE_FORMAT = 1  # bump when the bytes of a sample change for the same inputs
# Payload per shard: large shards for full-size data (fewer files, sequential reads); small ones
# at small frame sizes so that even the cpu preset's ~35 MB split has shards to shuffle and to
# split across ranks and workers.
SHARD_MB_LARGE, SHARD_MB_SMALL = 256.0, 8.0
RECORD_NAME = "prepare.json"  # DATA/prepare.json: settings a resume must keep (torch threads)
SKIPPED_NAME = "skipped.csv"  # DATA/shards/<split>/skipped.csv: id, listed source, reason
LOCK_NAME = ".prepare.lock"  # DATA/.prepare.lock: one prepare per DATA at a time


class PrepareError(UserError, ValueError):
    """A prepare that cannot start or must not count as done (bad options, another thread count,
    no usable video, a skip under --strict)."""


class PrepareInterrupted(PrepareError):
    """SIGINT or SIGTERM stopped a prepare: the signal, the stage it stopped, what was finished and kept
    (`finished`; empty when it stopped before writing anything, `started` False). `describe(rerun)` is the
    message with the caller's way to rerun it; `exit_code` is the shell's code for the signal (130 for
    SIGINT, 143 for SIGTERM)."""

    def __init__(self, signame: str, data_dir: Path, stage: str, started: bool, finished: list[str]):
        self.signame, self.data_dir, self.stage = signame, data_dir, stage
        self.started, self.finished = started, finished
        self.exit_code = 128 + int(getattr(signal, signame, signal.SIGINT))
        super().__init__(self.describe())

    def describe(self, rerun: str | None = None) -> str:
        """The message; `rerun`: the command that reruns this prepare, shown after it."""
        how = f" again to {'resume' if self.started else 'start it'}"
        how = f"Run the same command{how}" if rerun else f"Run the same prepare{how}"
        tail = f":\n  {rerun}" if rerun else "."
        if not self.started:
            return f"{self.signame} while {self.stage}: prepare stopped before writing anything. {how}{tail}"
        done = ", ".join(self.finished) or "nothing yet"
        return (f"{self.signame} while {self.stage}: prepare of {self.data_dir} stopped. Finished and kept: "
                f"{done}. {how} (finished work is not redone){tail}")


class ThreadCountMismatch(PrepareError):
    """DATA was prepared with `recorded` torch threads and this run would use `requested`.
    `describe(rerun)` is the message with the caller's command that continues with `recorded`."""

    def __init__(self, data_dir: Path, recorded: object, requested: int):
        self.data_dir, self.recorded, self.requested = data_dir, recorded, requested
        super().__init__(self.describe())

    def describe(self, rerun: str | None = None) -> str:
        """The message; `rerun`: the command that continues DATA with the recorded count."""
        how = f":\n  {rerun}\nor" if rerun else f" (threads={self.recorded}), or"
        return (f"{self.data_dir} was prepared with {self.recorded} torch thread(s), and this run would use "
                f"{self.requested}: thread counts change float sums in the tiny VAE and the encoders, so the "
                f"two runs' features would differ. Continue it with the same count{how} prepare into another "
                "--out.")


@dataclass(frozen=True)
class PrepareOptions:
    """Everything a `prepare` run does (the CLI's flags; the defaults are the CLI's). Checked on creation,
    with messages naming the flag: ValueError (a PrepareError) before anything is read or written.

    preset: "cpu", "paper" or a Preset; `height`/`width` override its frame size.
    dataset: the splits and list file names (default: the registered default, UBC Fashion).
    synthetic / source_dir / urls_file: where videos come from (at most one; none = the dataset's
        published lists).
    vae, clip: hub id, local directory or "tiny"; default: the preset's. A local directory may be the
        `encoders/vae` folder of another prepared dataset (a set too small to train its own tiny VAE
        borrows one); it is recorded by its absolute path.
    resize: "stretch" (scale each axis) or "crop" (centre crop to the aspect, then scale).
    shard_size_mb: payload per shard before a new one starts (None: 8 MB up to 256x256 frames, else 256).
    download_workers: parallel downloads.
    seed: seed of the synthetic set and of the tiny encoders.
    synthetic_train, synthetic_test, synthetic_frames: size of the synthetic set (a split of the dataset
        other than its train and test splits gets `synthetic_test` videos).
    vae_steps: training steps of the tiny VAE (None = its default).
    clip_all_frames: store CLIP tokens of every frame (None: only with the tiny CLIP).
    threads: torch threads while preparing. None: 1 when both encoders are the tiny stand-ins (their ops
        are too small to gain from threads, and on a busy 2-core machine two threads measured 4x slower
        than one), else torch's default. Recorded; a rerun of DATA with another value is refused.
    strict: any skipped video is an error (PrepareError, and failure markers in place of the manifests).
    progress: progress bars (False silences every bar, the Hugging Face libraries' included).
    """

    preset: str | Preset = "cpu"
    dataset: DatasetSpec = field(default_factory=get_dataset)
    synthetic: bool = False
    source_dir: str | Path | None = None
    urls_file: str | Path | None = None
    vae: str | None = None
    clip: str | None = None
    resize: str = "stretch"
    shard_size_mb: float | None = None
    download_workers: int = 4
    seed: int = 0
    synthetic_train: int = 48
    synthetic_test: int = 16
    synthetic_frames: int = 64
    vae_steps: int | None = None
    clip_all_frames: bool | None = None
    height: int | None = None
    width: int | None = None
    threads: int | None = None
    strict: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.dataset, DatasetSpec):
            object.__setattr__(self, "dataset", get_dataset(self.dataset))  # a registered name or JSON file
        if self.threads is not None and self.threads < 1:
            raise PrepareError(f"--threads must be >= 1, got {self.threads}")
        if self.resize not in RESIZE_POLICIES:
            raise PrepareError(f"--resize {self.resize!r} is not a policy; choose one of "
                               f"{', '.join(RESIZE_POLICIES)}")
        if self.shard_size_mb is not None and not self.shard_size_mb > 0:
            raise PrepareError(f"--shard-size-mb must be positive, got {self.shard_size_mb}")
        given = [n for n, v in (("synthetic", self.synthetic), ("source", self.source_dir),
                                ("urls", self.urls_file)) if v]
        if len(given) > 1:
            raise PrepareError(f"pass at most one of --synthetic, --source, --urls; got {', '.join(given)}")
        if self.download_workers < 1:
            raise PrepareError(f"--workers must be >= 1, got {self.download_workers}")
        sizes = (("--n-train", self.synthetic_train, 0), ("--n-test", self.synthetic_test, 0),
                 ("--frames", self.synthetic_frames, 1))
        for flag, value, least in sizes:
            if value < least:
                raise PrepareError(f"{flag} must be >= {least}, got {value}")
        self.frame_preset  # noqa: B018 (checks the preset and the frame size now)

    @property
    def frame_preset(self) -> Preset:
        """The preset with the frame size overridden by height/width."""
        return resolve_preset(self.preset, self.height, self.width)

    @property
    def shard_bytes(self) -> int:
        p = self.frame_preset
        mb = self.shard_size_mb
        if mb is None:
            mb = SHARD_MB_SMALL if p.height * p.width <= 256 * 256 else SHARD_MB_LARGE
        return int(mb * 1e6)

    @property
    def source_kind(self) -> str:
        """Where the videos come from, as recorded in the manifests."""
        return "synthetic" if self.synthetic else "source_dir" if self.source_dir else "urls_file" \
            if self.urls_file else "official"

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


class _Interrupt(KeyboardInterrupt):
    """Raised in the main thread by SIGINT/SIGTERM during a prepare (a KeyboardInterrupt, so no
    `except Exception` on the way swallows it)."""

    def __init__(self, signame: str):
        super().__init__(signame)
        self.signame = signame


@contextmanager
def _signals_interrupt():
    """SIGINT and SIGTERM raise _Interrupt while the block runs (main thread only; the handlers in place
    before are restored). SIGTERM would otherwise end the process at once, with no word of what was done.
    Every stage writes atomically, so stopping anywhere keeps what was finished."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: object) -> None:
        raise _Interrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    except KeyboardInterrupt as exc:  # a plain one (e.g. raised by a library's own handler) counts too
        if isinstance(exc, _Interrupt):
            raise
        raise _Interrupt("SIGINT") from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Progress:
    """The running stage of a prepare and, read from disk when it is interrupted, what was finished."""

    def __init__(self, data_dir: Path, splits: tuple[str, ...]):
        self.data_dir, self.splits, self.stage = data_dir, splits, "checking the inputs"

    def finished(self) -> list[str]:
        d = self.data_dir
        done = []
        rendered = len(list((d / "generated" / "videos").glob("*.mp4")))
        if rendered:
            done.append(f"{rendered} synthetic videos rendered")
        verified = len(list((d / "source" / "videos").glob("*.mp4")))
        if verified:
            done.append(f"{verified} source videos verified")
        if (d / "encoders" / "vae.prepare.json").is_file():
            done.append("the tiny VAE trained")
        for split in self.splits:
            built = len(list((d / "shards" / ".work").glob(f"*/{split}/*--*.tar")))
            if built:
                done.append(f"{built} {split} samples built")
        for split in self.splits:
            try:
                read_manifest(d / "shards" / split)
                done.append(f"the {split} shards and manifest")
            except ManifestError:
                pass
        return done

    def interrupted(self, signame: str) -> PrepareInterrupted:
        started = self.stage != "checking the inputs"
        return PrepareInterrupted(signame, self.data_dir, self.stage, started,
                                  self.finished() if started else [])


@dataclass
class SplitResult:
    videos: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    short: int = 0
    shards: int = 0
    bytes: int = 0
    listed: int = 0  # videos the source lists for this split
    skipped_csv: Path | None = None


@dataclass
class PrepareResult:
    data_dir: Path
    splits: dict[str, SplitResult] = field(default_factory=dict)
    vae_psnr: float | None = None
    vae_test: dict | None = None  # the tiny VAE on test-split frames (tiny_vae.reconstruction_scores)
    download: str = ""
    seconds: float = 0.0
    processes: int = 1  # processes that shared the work (torchrun's WORLD_SIZE)
    # under torchrun, per process (rank order): {split: {"encoded": n, "cached": n, "skipped": n}}
    by_process: list[dict[str, dict[str, int]]] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return sum(len(s.skipped) for s in self.splits.values())

    def summary(self) -> str:
        """Every split's counts, every skipped video by name, and a last line saying whether the splits
        are usable."""
        by = f" by {self.processes} processes" if self.processes > 1 else ""
        lines = [f"prepared {self.data_dir} in {self.seconds:.0f} s{by}"]
        if self.download:
            lines.append(f"  source: {self.download}{' (process 0)' if by else ''}")
        for rank, done in enumerate(self.by_process):
            what = "; ".join(f"{split} {c['encoded']} encoded, {c['cached']} cached, {c['skipped']} skipped"
                             for split, c in done.items())
            extra = " (and the source, the tiny VAE, the shards and manifests)" if rank == 0 else ""
            lines.append(f"  process {rank}: {what}{extra}")
        for name, s in self.splits.items():
            lines.append(f"  {name}: {s.videos} videos in {s.shards} shards ({s.bytes / 1e6:.1f} MB), "
                         f"{len(s.skipped)} skipped, {s.short} shorter than a training clip")
            for vid, why in s.skipped.items():
                lines.append(f"    skipped {vid}: {why}")
        if self.vae_psnr is not None:
            lines.append(f"  tiny VAE held-out PSNR: {self.vae_psnr:.2f} dB (offline stand-in)")
        if self.vae_test is not None:
            colour = "/".join(f"{c:.1f}" for c in self.vae_test["colour_error"])
            lines.append(f"  tiny VAE on test frames: {self.vae_test['psnr']:.2f} dB, mean-colour error "
                         f"{colour} grey levels (R/G/B)")
        usable = ", ".join(f"{n} {s.videos}" for n, s in self.splits.items() if s.videos)
        if self.skipped:
            where = ", ".join(str(s.skipped_csv) for s in self.splits.values() if s.skipped)
            lines.append(f"done with {self.skipped} video(s) skipped (named above and in {where}); the "
                         f"prepared splits are usable: {usable}")
        else:
            lines.append(f"done: every listed video prepared ({usable})")
        return "\n".join(lines)


def resolve_preset(preset: str | Preset, height: int | None = None, width: int | None = None) -> Preset:
    """The preset, with the frame size optionally overridden (small sizes for tests and experiments)."""
    p = get_preset(preset) if isinstance(preset, str) else preset
    if height is not None or width is not None:
        p = replace(p, name=f"{p.name}-{height or p.height}x{width or p.width}", height=height or p.height,
                    width=width or p.width)
    for name, value in (("height", p.height), ("width", p.width)):
        if value % p.vae_downsample or value % 2:
            raise PrepareError(f"--{name} {value} must be even and a multiple of the VAE downsample "
                               f"{p.vae_downsample}; pick another size")
    return p


# -- stage 1 and 2: source videos ------------------------------------------------------------------


def _stage_source(data_dir: Path, o: PrepareOptions, sources: list | None, synth: dict):
    """Fetch the videos of `sources` (the lists, checked before any write), or of the synthetic set,
    rendered first."""
    from ffbench.datasets.download import fetch_dataset

    kw = {"workers": o.download_workers, "progress": o.progress, "dataset": o.dataset}
    if o.synthetic:
        source = _generate(data_dir / "generated", synth, synthetic_splits(o), o.progress)
        return fetch_dataset(data_dir / "source", source_dir=source, **kw)
    return fetch_dataset(data_dir / "source", sources=sources, **kw)


def synthetic_splits(o: PrepareOptions) -> tuple:
    """The synthetic generator's splits for the options' dataset: its names and list files, the train
    split sized `synthetic_train`, every other `synthetic_test`, each on its own seed stream."""
    from ffbench.synthetic.dataset import TEST_STREAM, TRAIN_STREAM, VAE_STREAM, SyntheticSplit

    ds = o.dataset
    streams = {ds.test_split: TEST_STREAM, ds.train_split: TRAIN_STREAM}
    for name in ds.split_names:  # the other splits (e.g. val): 3, 4, ... in the spec's order
        streams.setdefault(name, VAE_STREAM + 1 + len(streams) - len({ds.train_split, ds.test_split}))
    return tuple(SyntheticSplit(s.name, s.list_file,
                                o.synthetic_train if s.name == ds.train_split else o.synthetic_test,
                                streams[s.name])
                 for s in ds.splits)


def _generate(out: Path, synth: dict, splits: tuple, progress: bool) -> Path:
    """Render the synthetic set once; a marker written last records the settings it was made with."""
    from ffbench.synthetic import make_dataset

    marker = out / ".complete.json"
    if marker.is_file():
        if json.loads(marker.read_text()) == synth:
            return out
        shutil.rmtree(out)  # made with other settings: start again
    size = {k: v for k, v in synth.items() if k != "splits"}
    make_dataset(out, **size, splits=splits, progress=progress)  # resumes a partial set itself
    write_json_atomic(marker, synth)
    return out


# -- stage 4 and 5: samples, shards, manifest ------------------------------------------------------


def _stage_samples(data_dir: Path, split: str, probes: list, work: Path, encoders: FeatureEncoders,
                   preset: Preset, resize: str, clip_all_frames: bool, progress: bool,
                   info: DistInfo) -> tuple[dict[str, Path], dict[str, str], dict[str, int]]:
    """Build (or find) one cached sample per video of `split` in this process's share of the ids (all of
    them on one process); returns ({sample key: file}, {id: why skipped}, counts of encoded / cached /
    skipped). Each sample is written alone and atomically, so processes never touch the same file."""
    from ffbench import interrupts
    from ffbench.datasets.shards import write_sample_file
    from ffbench.video import VideoError, read_video

    rows = sorted((p for p in probes if p.split == split), key=lambda p: sample_key(p.id))
    keys = [sample_key(p.id) for p in rows]
    if len(set(keys)) != len(keys):
        clash = sorted(p.url for p in rows if keys.count(sample_key(p.id)) > 1)
        raise PrepareError(f"two {split} videos map to the same sample key ({', '.join(clash[:4])}); "
                           "rename one of them")
    mine = set(share([p.id for p in rows], info))  # the fixed rule: sorted ids, rank r takes r, r+N, ...
    files, skipped, counts = {}, {}, {"encoded": 0, "cached": 0, "skipped": 0}
    for p in progress_bar([p for p in rows if p.id in mine], desc=f"{split} samples", unit="video",
                          disable=not progress):
        src = data_dir / "source" / p.path
        stem = f"{sample_key(p.id)}--{sha256_file(src)[:16]}"  # a changed source file gets a new sample
        done, skip = work / f"{stem}.tar", work / f"{stem}.skip.json"
        if done.is_file():
            files[sample_key(p.id)] = done
            counts["cached"] += 1
            continue
        if done.exists():
            raise PrepareError(f"{done} is in the way of the cached sample of {split} video {p.id!r}: it is "
                               "not a file. Remove it and run the same prepare again (finished work is "
                               "kept).")
        if skip.is_file():
            skipped[p.id] = json.loads(skip.read_text())["reason"]
            counts["skipped"] += 1
            continue
        try:
            frames = read_video(src)
            sample = build_sample(
                p.id, frames, split=split, url=p.url,
                native={"width": p.width, "height": p.height, "fps": p.fps, "frames": p.frames},
                height=preset.height, width=preset.width, downsample=preset.vae_downsample, resize=resize,
                fps=p.fps, encoders=encoders, clip_all_frames=clip_all_frames)
        except VideoError as exc:
            skipped[p.id] = f"unreadable: {exc}"
            write_json_atomic(skip, {"reason": skipped[p.id]})
            counts["skipped"] += 1
            continue
        write_sample_file(done, sample)
        files[sample_key(p.id)] = done
        counts["encoded"] += 1
        interrupts.pause_point("between-samples")  # test hook: a kill or signal with some samples written
    return files, skipped, counts


def _manifest_body(split: str, preset: Preset, resize: str, settings: dict, encoders: FeatureEncoders,
                   vae_psnr: float | None, fingerprint: str, skipped: dict, short: int,
                   vae_test: dict | None = None) -> dict:
    return {
        "version": MANIFEST_VERSION,
        "split": split,
        "preset": preset.to_dict(),
        "resize": resize,
        "settings": settings,
        "encoders": encoders.identities,
        "offline_stand_ins": sorted(k for k, v in encoders.identities.items() if v.get("offline_stand_in")),
        "tiny_vae_heldout_psnr": vae_psnr,
        "tiny_vae_test": vae_test,
        "fingerprint": fingerprint,
        "skipped": dict(sorted(skipped.items())),
        "short_videos": short,
    }


def _write_skipped(split_dir: Path, skipped: dict[str, str], urls: dict[str, str]) -> Path:
    """DATA/shards/<split>/skipped.csv: one row per video left out (id, listed source, reason), by id."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", "source", "reason"])
    for vid, why in sorted(skipped.items()):
        writer.writerow([vid, urls.get(vid, ""), why])
    path = split_dir / SKIPPED_NAME
    write_text_atomic(path, buf.getvalue())
    return path


def _stage_shards(split_dir: Path, files: list[Path], body: dict, shard_bytes: int) -> dict:
    """Pack shards and write the manifest, unless an identical manifest already vouches for them."""
    keys = [f.name.rsplit("--", 1)[0] for f in files]
    try:
        old = read_manifest(split_dir)
    except ValueError:
        old = None
    if old is not None:
        kept = {k: v for k, v in old.items() if k not in ("shards", "samples")}
        same = kept == json.loads(json.dumps(body))
        old_keys = [k for s in old["shards"] for k in s["keys"]]
        if same and old_keys == keys and not verify_split(split_dir):
            return old
    (split_dir / MANIFEST_NAME).unlink(missing_ok=True)  # never leave a manifest over changing shards
    shards = pack_shards(files, split_dir, shard_bytes)
    manifest = body | {"shards": [s.to_dict() for s in shards], "samples": sum(s.samples for s in shards)}
    write_json_atomic(split_dir / MANIFEST_NAME, manifest)
    return manifest


def verify(data_dir: str | Path) -> dict[str, list[str]]:
    """Check every split's shards against its manifest; {split: [problem, ...]} (all empty = OK)."""
    shards = Path(data_dir) / "shards"
    splits = sorted(p.name for p in shards.iterdir() if p.is_dir() and not p.name.startswith(".")) \
        if shards.is_dir() else []
    if not splits:
        return {"(none)": [f"no prepared splits under {shards}; run `ffbench prepare` first"]}
    return {s: verify_split(shards / s) for s in splits}


def prepare(data_dir: str | Path, options: PrepareOptions | None = None,
            info: DistInfo | None = None) -> PrepareResult:
    """Prepare a dataset directory: source videos, encoders, shards with cached features, manifests.

    Args:
        data_dir: DATA (see the module docstring for its layout).
        options: what to do (None: the defaults, the CLI's); see PrepareOptions.

    Returns:
        a PrepareResult (print `.summary()`). Videos that cannot be used are skipped, named in the
        summary and in each split's skipped.csv; PrepareError when no listed video of a split could be
        used or any was skipped under `strict` (both refusals name the skipped videos and leave markers
        that every reader refuses: manifest.mark_failed). Bad lists, weights, another thread count
        (ThreadCountMismatch) or an unwritable DATA are refused before anything is written.
        SIGINT/SIGTERM raise PrepareInterrupted, saying what was finished (its `describe(rerun)` adds the
        caller's command to rerun).
        info: the process group under torchrun (`distributed.init_distributed`); None: one process. Every
        process calls prepare with the same options; the main one returns the full result, the others
        one without counts (see the module docstring, "Many processes").
    """
    options = PrepareOptions() if options is None else options
    info = single_process() if info is None else info
    start = time.monotonic()
    data_dir = Path(data_dir)
    progress_state = _Progress(data_dir, options.dataset.split_names)
    with _signals_interrupt():
        try:
            return _prepare(data_dir, options, progress_state, start, info)
        except _Interrupt as exc:
            raise progress_state.interrupted(exc.signame) from None


def _prepare(data_dir: Path, o: PrepareOptions, state: _Progress, start: float,
             info: DistInfo) -> PrepareResult:
    """`prepare` itself, under the interrupt handler; on every process of `info` (one, or torchrun's)."""
    synthetic, progress, resize, seed, strict = o.synthetic, o.progress, o.resize, o.seed, o.strict
    ds = o.dataset
    main = info.is_main
    result = PrepareResult(data_dir=data_dir, processes=info.world_size)

    # Checks that write nothing (the options checked themselves on creation): a run refused here leaves
    # --out as it found it (a new one is not created). Under torchrun the main process reads the lists and
    # the record; every process loads the weights it will encode with; an error on one stops all.
    p = o.frame_preset
    vae_spec, clip_spec = _local_spec(o.vae) or p.vae, _local_spec(o.clip) or p.clip
    clip_all_frames = clip_spec == "tiny" if o.clip_all_frames is None else o.clip_all_frames
    threads = o.threads
    if threads is None:
        threads = 1 if vae_spec == clip_spec == "tiny" else torch.get_num_threads()
    from ffbench.datasets.download import read_probe
    from ffbench.datasets.sources import collect_sources
    from ffbench.encoders import load_clip, load_vae

    vae_model = clip_model = sources = None
    with together(info):
        if main:
            _check_record(data_dir, threads, ds, write=False)
            check_writable_dir(data_dir, "--out")  # a read-only or full disk fails now, creating nothing
        # weights that cannot be trained here must exist before anything slow starts (a hub id that is not
        # cached offline fails here, in seconds, naming its flag, before the lists are fetched)
        if vae_spec != "tiny":
            vae_model, _ = stage_vae(data_dir, vae_spec, [], p, resize, o.vae_steps, seed, dataset=ds)
        clip_model = None if clip_spec == "tiny" else load_clip(clip_spec, seed=seed)
        # the lists, whole (every bad line named at once); the official ones are fetched into memory
        if main and not synthetic:
            sources = collect_sources(data_dir / "source", urls_file=o.urls_file, source_dir=o.source_dir,
                                      dataset=ds)

    # Work starts: create --out and take the lock. A failure from here keeps what was finished (a rerun
    # resumes), but a lock file or a folder that holds nothing else is removed again. The main process
    # owns both (and the record); the others only wait for it at the steps below.
    state.stage = "starting"
    created = _first_missing(data_dir) if main else None  # the top folder this run creates, if any
    lock = data_dir / LOCK_NAME
    new_lock = main and not lock.exists()
    try:
        with together(info):
            if main:
                ensure_writable_dir(data_dir, "--out")
        # One prepare per directory at a time; the OS drops the lock if the holder is killed.
        with _main_lock(lock, info), threads_limited(threads), _library_bars(progress):
            # 1-2. source videos, verified and probed (the main process; the others wait)
            synth = {"n_train": o.synthetic_train, "n_test": o.synthetic_test, "frames": o.synthetic_frames,
                     "height": p.height, "width": p.width, "seed": seed}
            if not is_default(ds):  # the default's record keeps its keys (and so its manifests' bytes)
                synth["splits"] = [[s.name, s.list_file] for s in ds.splits]
            state.stage = "rendering the synthetic videos" if synthetic else "fetching the source videos"
            listed_urls, report = {}, data_dir / "source" / "download_report.csv"
            with together(info):
                if main:
                    _check_record(data_dir, threads, ds)
                    if clip_model is None:
                        clip_model = load_clip(clip_spec, data_dir=data_dir, seed=seed)  # a tiny one: built
                    listed_urls, report = _fetch(data_dir, o, sources, synth, result)
            probes = read_probe(data_dir / "source")

            # 3. encoders: a tiny VAE trains on the main process; every process then loads the same file
            state.stage = "training the tiny VAE" if vae_model is None else "loading the encoders"
            with together(info):
                if main and vae_model is None:
                    looks = VAE_SYNTHETIC_LOOKS if synthetic else 0
                    vae_model, figures = stage_vae(data_dir, vae_spec, probes, p, resize, o.vae_steps, seed,
                                                   progress, looks, dataset=ds)
                    if figures is not None:
                        result.vae_psnr, result.vae_test = figures["heldout_psnr"], figures["test"]
            with together(info):
                if vae_model is None:  # what stage_vae returns on the main process: the saved tiny VAE
                    vae_model = load_vae("tiny", data_dir=data_dir)
                if clip_model is None:
                    clip_model = load_clip(clip_spec, data_dir=data_dir, seed=seed)
                encoders = make_encoders(vae_model, clip_model, data_dir)

            # 4. per split: one cached sample per video, each process encoding its share of the ids
            settings = {"shard_size_bytes": o.shard_bytes, "clip_all_frames": clip_all_frames,
                        "sample_format": SAMPLE_FORMAT, "seed": seed, "vae_steps": o.vae_steps,
                        "torch_threads": threads, "source": o.source_kind,
                        "synthetic": synth if synthetic else None}
            fp = fingerprint({"vae": encoders.identities["vae"]["fingerprint"],
                              "clip": encoders.identities["clip"]["fingerprint"],
                              "height": p.height, "width": p.width,
                              "downsample": p.vae_downsample, "resize": resize,
                              "clip_all_frames": clip_all_frames, "format": SAMPLE_FORMAT})
            work_root = data_dir / "shards" / ".work"
            with together(info):  # the main process clears the cache before anyone writes into it
                if main:
                    _start_cache(work_root, fp, ds.split_names)
            samples, done_by = {}, [{} for _ in range(info.world_size)]
            for split in ds.split_names:
                state.stage = f"building the {split} samples"
                with together(info):
                    files, skipped, counts = _stage_samples(data_dir, split, probes, work_root / fp / split,
                                                            encoders, p, resize, clip_all_frames,
                                                            progress and main, info)
                if info.distributed:  # every process's samples and skips, on the main process
                    parts = gather_objects((files, skipped, counts), info)
                    files = {k: f for part in parts for k, f in part[0].items()}
                    skipped = {k: why for part in parts for k, why in part[1].items()}
                    for rank, part in enumerate(parts):
                        done_by[rank][split] = part[2]
                files = [files[k] for k in sorted(files)]  # sorted sample keys, as one process has them
                if main:
                    split_result = result.splits[split]
                    split_result.skipped = dict(sorted((split_result.skipped | skipped).items()))
                    split_result.videos = len(files)
                samples[split] = files
            if info.distributed:
                result.by_process = done_by

            # 5. per split: shards, manifest (the main process, once every sample is in place)
            with together(info):
                if main:
                    # the verdict comes before any shard or manifest: a rejected dataset never gets one
                    _check_usable(result, strict, listed_urls, report)
                    _write_splits(data_dir, result, samples, probes, p, resize, settings, encoders, fp,
                                  listed_urls, state)
    except BaseException:
        _tidy_after_failure(data_dir, created, new_lock)
        raise
    result.seconds = time.monotonic() - start
    return result


def _fetch(data_dir: Path, o: PrepareOptions, sources: list | None, synth: dict,
           result: PrepareResult) -> tuple[dict[str, str], Path]:
    """Stages 1-2 and the first verdict: ({id: listed source}, the download report)."""
    summary = _stage_source(data_dir, o, sources, synth)
    result.download = str(summary)
    listed_urls, report = {r.id: r.url for r in summary.records}, summary.dest / "download_report.csv"
    for split in o.dataset.split_names:  # what the download alone already says about each split
        failed = {r.id: f"download: {r.status}: {r.error}" for r in summary.failed if r.split == split}
        listed = sum(1 for r in summary.records if r.split == split and r.status != "duplicate")
        result.splits[split] = SplitResult(videos=listed - len(failed), skipped=failed, listed=listed)
    _check_usable(result, o.strict, listed_urls, report)
    return listed_urls, report


def _write_splits(data_dir: Path, result: PrepareResult, samples: dict, probes: list, p: Preset, resize: str,
                  settings: dict, encoders: FeatureEncoders, fp: str, listed_urls: dict,
                  state: _Progress) -> None:
    """Stage 5: every split's shards, manifest and skipped.csv."""
    for split, s in result.splits.items():
        state.stage = f"packing the {split} shards"
        s.short = sum(1 for r in probes if r.split == split and r.id not in s.skipped
                      and r.frames < p.frames)
        body = _manifest_body(split, p, resize, settings, encoders, result.vae_psnr, fp, s.skipped,
                              s.short, result.vae_test)
        split_dir = data_dir / "shards" / split
        manifest = _stage_shards(split_dir, samples[split], body, settings["shard_size_bytes"])
        s.videos, s.shards = manifest["samples"], len(manifest["shards"])
        s.bytes = sum(sh["bytes"] for sh in manifest["shards"])
        s.skipped_csv = _write_skipped(split_dir, s.skipped, listed_urls)


@contextmanager
def _main_lock(lock: Path, info: DistInfo):
    """DATA/.prepare.lock, held by the main process only: the other processes of the same run work under
    its lock (taking it too would wait forever for their own main process)."""
    if not info.is_main:
        yield
        return
    with FileLock(str(lock)):
        yield


def _start_cache(work_root: Path, fp: str, splits: tuple[str, ...]) -> None:
    """Drop caches of other encoders/settings (they can never be used again), make the split folders and
    remove the temporary files a killed run left (before any process of this run writes one)."""
    from ffbench.datasets.shards import remove_stale_temporaries

    if work_root.is_dir():
        for old in work_root.iterdir():
            if old.name != fp:
                shutil.rmtree(old, ignore_errors=True)
    for split in splits:
        (work_root / fp / split).mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(work_root / fp / split)


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of `path` that does not exist yet (`path` itself or a parent), or None."""
    path, top = path.absolute(), None
    while not path.exists() and path != path.parent:
        path, top = path.parent, path
    return top


def _tidy_after_failure(data_dir: Path, created: Path | None, new_lock: bool) -> None:
    """After a failed run: remove the lock file if this run made it, and a new --out that holds nothing
    but the settings record, with the parents this run created (a run that failed before any work leaves
    no folder behind)."""
    if new_lock:
        (data_dir / LOCK_NAME).unlink(missing_ok=True)
    records = {RECORD_NAME, DATASET_NAME}
    if created is None or not data_dir.is_dir() or {p.name for p in data_dir.iterdir()} - records:
        return
    shutil.rmtree(data_dir, ignore_errors=True)
    folder = data_dir.absolute().parent
    while created in (folder, *folder.parents) and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def _local_spec(spec: str | None) -> str | None:
    """An encoder spec naming an existing folder, as an absolute path (so `train` finds it from any
    working directory); hub ids and "tiny" unchanged."""
    if spec and spec != "tiny" and Path(spec).expanduser().is_dir():
        return str(Path(spec).expanduser().resolve())
    return spec


def _named(rows: list[str]) -> str:
    """Rows as indented lines, the first MAX_NAMED of them and then how many more."""
    lines = [f"  {row}" for row in rows[:MAX_NAMED]]
    if len(rows) > MAX_NAMED:
        lines.append(f"  ... and {len(rows) - MAX_NAMED} more")
    return "\n".join(lines)


def _check_usable(result: PrepareResult, strict: bool, urls: dict[str, str], report: Path) -> None:
    """Refuse a result with a split whose every listed video was skipped, and any skip under --strict.

    A refusal names the skipped videos (the first ten) with their reasons and listed sources, writes each
    split's skipped.csv, and puts a failure marker in place of every split's manifest (removing its
    shards), so that no later command accepts the dataset (manifest.mark_failed)."""
    empty = [n for n, s in result.splits.items() if s.listed and not s.videos]
    if not empty and not (strict and result.skipped):
        return
    data = result.data_dir
    csvs = {n: _write_skipped(data / "shards" / n, s.skipped, urls) for n, s in result.splits.items()}
    for name, s in result.splits.items():
        s.skipped_csv = csvs[name]
    where = ", ".join(str(csvs[n]) for n, s in result.splits.items() if s.skipped)
    files = f"every skipped video and why: {where}; every download: {report}"
    named = [n for n, s in result.splits.items() if s.skipped and (n in empty or not empty)]
    # one row per skipped video; the split is said only when the rows come from more than one
    rows = [f"{n + '/' if len(named) > 1 else ''}{vid}: {why}; listed as {urls.get(vid, '?')}"
            for n in named for vid, why in result.splits[n].skipped.items()]
    if empty:
        listed = sum(result.splits[n].listed for n in empty)
        splits = f"the {' and '.join(empty)} split{'s' if len(empty) > 1 else ''}"
        reason = f"no usable video in {splits}: all {listed} listed were skipped (reasons in {where})"
        fix = "Fix the videos or the list and run the same `ffbench prepare` again"
        message = (f"no usable video in {splits} of {data}: all {listed} listed were skipped:\n"
                   f"{_named(rows)}\nIn full: {files}.\n{fix} (finished work is kept).")
    else:
        reason = (f"`ffbench prepare --strict` refused it: {result.skipped} video(s) skipped (listed in "
                  f"{where})")
        fix = ("Fix or remove those videos and run the same prepare again, or run prepare without --strict "
               "to use the rest")
        message = (f"--strict: {result.skipped} video(s) skipped, so {data} gets no manifest (no command "
                   f"will use it):\n{_named(rows)}\nIn full: {files}.\n{fix}; finished work is kept.")
    for name in result.splits:
        mark_failed(data / "shards" / name, name, reason, fix)
    raise PrepareError(message)


def _check_record(data_dir: Path, threads: int, dataset: DatasetSpec, write: bool = True) -> None:
    """Refuse a rerun of DATA under another torch thread count or another dataset spec; record both on
    the first run (the spec only when it is not the default: DATA/dataset.json). With write=False only
    the check, before anything is created."""
    path = data_dir / RECORD_NAME
    record = {"torch_threads": threads}
    spec_path = data_dir / DATASET_NAME
    if spec_path.is_file() or path.is_file():
        from ffbench.datasets.spec import dataset_of

        recorded = dataset_of(data_dir)
        if recorded != dataset and not (is_default(recorded) and is_default(dataset)):
            raise PrepareError(
                f"{data_dir} was prepared as the dataset {recorded.name!r} (splits "
                f"{', '.join(recorded.split_names)}), and this run prepares {dataset.name!r} (splits "
                f"{', '.join(dataset.split_names)}); prepare into another --out, or pass the same --dataset.")
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PrepareError(f"{path} is unreadable ({exc}); delete it only if {data_dir} holds nothing "
                               "else, or prepare into another --out") from None
        if old.get("torch_threads") != threads:
            raise ThreadCountMismatch(data_dir, old.get("torch_threads"), threads)
        return
    if write:
        write_json_atomic(path, record)
        if not is_default(dataset):
            write_dataset(data_dir, dataset)


def _library_bars(progress: bool):
    """The Hugging Face libraries' own bars ("Loading weights", "Writing model shards") stay silent when
    ffbench's are off."""
    return quiet_libraries(enabled=not progress)


