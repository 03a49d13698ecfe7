"""One `generate` for every model: conditioning frames in, one video file per frame out, described in
`generation.json`, so `ffbench eval` scores every method the same way.

`generate_set(source, out, checkpoint=..., model=...)`:

1. the model type comes from the saved folder (`ffbench.models.registry.find_checkpoint`) or `model`
   (`static` needs no checkpoint);
2. the conditioning frames come from `source`: one image, a folder of images (`<stem>.mp4` each), or a
   split of shards (`<key>.mp4` each, from the stored frame 0 `cond.png`);
3. each frame is fitted to the output size (a split's own frame size, else the model's), area-resized
   to the model's size (for a generator whose `resize` is "stretch", stretched straight to it), and
   sampled with its own noise, drawn from the seed and the video's name (`noise_seed`: independent
   draws, and a video does not depend on the others or their order); a model that samples at a lower
   resolution than the split's is upsampled (bilinear) and flagged;
4. a model with privileged input (Poke) also gets the real clip, frames 0..F-1 of the split's video;
5. videos are written at the model's training frame rate (the split's for `static`); for a folder
   output `<out>/generation.json` (model, checkpoint, settings, flags) is written last, atomically, and
   removed first, so it never describes a half-written set.

Interrupts and resuming: each video (its mp4 and GIF) is written under temporary names and renamed into
place together, so a final name always holds a whole video. Until generation.json is written, a folder
output holds `.generate-resume.json` (a hash of what the set is generated with: model, checkpoint files,
source, settings); a run with the same hash skips the videos already in place, so rerunning an
interrupted command finishes the set. A finished set has no resume file: rerunning regenerates it.
SIGINT/SIGTERM (`ffbench.interrupts`) stop the run with `GenerationInterrupted`, which says how many
videos were finished; a folder this run created is removed again when no video was finished.

Under torchrun (`info`, from `ffbench.distributed.init_distributed`): rank r samples the sorted names r,
r+N, ... (`share`), each video written by its rank as above, so every file is the one a single process
writes. Rank 0 alone starts the folder (its resume file, the videos an earlier run left) before the others
write, and writes generation.json (`"processes": N`) after all have finished. Every step that can fail ends
with `together`: an error on one rank stops all of them with its message. A killed rank leaves whole videos
and the resume file; the same command, with any N, resumes.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ffbench import interrupts
from ffbench.distributed import DistInfo, gather_objects, share, together
from ffbench.errors import UserError
from ffbench.seeding import noise_seed

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
GENERATION_JSON = "generation.json"
RESUME_JSON = ".generate-resume.json"  # an unfinished folder output's settings hash, for resuming
DEFAULT_FPS = 30.0
DEFAULT_FRAMES = 16


@dataclass
class Conditions:
    """The conditioning frames of one generate call: names (output stems), uint8 (H, W, 3) images (None for
    another rank's, under torchrun)."""

    names: list[str]
    images: list[np.ndarray | None]
    split: Path | None = None  # the split folder they came from
    fps: float | None = None  # the split's frame rate (manifest)
    frames: int | None = None  # the split's training clip length (manifest)


@dataclass
class GenerationResult:
    videos: list[Path]
    record: dict[str, Any] = field(default_factory=dict)  # what generation.json holds


class GenerationInterrupted(interrupts.Interrupted):
    """SIGINT/SIGTERM stopped `generate_set`: `done` of `total` videos are in place under `where`."""

    def __init__(self, signum: int, done: int, total: int, where: Path, removed: bool = False,
                 complete: bool = False) -> None:
        super().__init__(signum)
        self.done, self.total, self.where, self.removed = done, total, where, removed
        self.complete = complete  # generation.json was written too: nothing is left to do

    def describe(self) -> str:
        """One line: what was finished and how to resume."""
        head = f"generate interrupted by {self.name}"
        if self.complete:
            return f"{head} after the set was complete: wrote {self.total} videos to {self.where}"
        if self.done == 0:
            left = (f"{self.where} was removed again" if self.removed else
                    f"nothing was written to {self.where}")
            return f"{head} before the first video was finished: {left}; run the same command to start again"
        if self.done == self.total:
            return (f"{head} after all {self.total} videos were written to {self.where}, before its "
                    f"{GENERATION_JSON}; run the same command again to write it (the videos are skipped)")
        return (f"{head}: wrote {self.done} of {self.total} videos to {self.where}; run the same command "
                f"again to generate the other {self.total - self.done} (finished videos are kept and "
                "skipped)")


def _split_info(split: Path) -> tuple[float | None, int | None]:
    try:
        preset = json.loads((split / "manifest.json").read_text(encoding="utf-8")).get("preset", {})
        return float(preset["fps"]), int(preset["frames"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None, None


def read_conditions(source: str | Path, info: DistInfo | None = None) -> Conditions:
    """The conditioning frames of `source` (an image, a folder of images, or a split of .tar shards).

    Under torchrun (`info` of several processes) only this rank's share of the names (`share`) and the first
    frame (whose size fixes the output's) are decoded; the others' images are None.
    """
    from PIL import Image

    from ffbench.datasets.shards import iter_split_entries
    from ffbench.images import load_image

    source = Path(source)
    if source.is_dir() and any(source.glob("*.tar")):
        entries = []
        try:
            entries = list(iter_split_entries(source, "cond.png"))
            names = [key for key, _ in entries]
            wanted = _wanted(names, info)
            images = [np.asarray(load_image(Image.open(io.BytesIO(png)))) if key in wanted else None
                      for key, png in entries]
        except (ValueError, OSError) as err:
            raise UserError(f"{source}: cannot read the conditioning frames (cond.png) of its shards: "
                            f"{err}") from err
        if not names:
            raise UserError(f"{source}: its shards hold no cond.png; pass a split written by "
                            "`ffbench prepare`")
        fps, frames = _split_info(source)
        return Conditions(names, images, split=source, fps=fps, frames=frames)
    if source.is_dir():
        paths = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise UserError(f"{source}: no images ({', '.join(IMAGE_SUFFIXES)}) and no .tar shards in "
                            "this folder")
        names = [p.stem for p in paths]
        twins = sorted({n for n in names if names.count(n) > 1})
        if twins:  # both would write <name>.mp4 (and under torchrun two processes would race for it)
            same = [p.name for p in paths if p.stem == twins[0]]
            raise UserError(f"{source}: {' and '.join(same)} would both be written to {twins[0]}.mp4; rename "
                            "or remove one of them")
        wanted = _wanted(names, info)
        return Conditions(names, [np.asarray(load_image(p)) if p.stem in wanted else None for p in paths])
    return Conditions([source.stem], [np.asarray(load_image(source))])


def _wanted(names: list[str], info: DistInfo | None) -> set[str]:
    """The names whose images this rank decodes: its share, and the first (the output size comes from it)."""
    if info is None or not info.distributed:
        return set(names)
    return {*share(names, info), *names[:1]}


def _even(n: int) -> int:
    return max(2, n - n % 2)


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> float (1, 3, H, W) in [-1, 1]."""
    from ffbench.encoders import pixels_to_signed

    return pixels_to_signed(np.array(image, dtype=np.uint8)).permute(2, 0, 1)[None]


def _to_frames(video: torch.Tensor) -> np.ndarray:
    """(3, F, H, W) in [-1, 1] -> uint8 (F, H, W, 3)."""
    from ffbench.encoders import tensor_to_frames

    return tensor_to_frames(video)


def _real_clips(split: Path, names: list[str], frames: int, size: tuple[int, int]) -> dict[str, torch.Tensor]:
    """Frames 0..frames-1 of each named video of `split`, (3, F, H, W) in [-1, 1] at `size`."""
    from ffbench.datasets.loader import decode_window
    from ffbench.datasets.shards import iter_split_entries
    from ffbench.video import VideoError, probe_video

    wanted, clips = set(names), {}
    for key, mp4 in iter_split_entries(split, "mp4"):
        if key not in wanted:
            continue
        have = probe_video(mp4, check_end=False).num_frames
        if have < frames:
            raise VideoError(f"{split}: video {key!r} has {have} frames, fewer than the {frames} to "
                             "generate; ask for fewer --frames")
        clips[key] = decode_window(mp4, 0, frames, size)
    missing = sorted(wanted - set(clips))
    if missing:
        raise UserError(f"{split}: no mp4 for {missing[:3]}; the real split must hold the test videos whose "
                        "first frames are generated from")
    return clips


def generate_set(
    source: str | Path,
    out: str | Path | None = None,
    *,
    checkpoint: str | Path | None = None,
    model: str | None = None,
    frames: int | None = None,
    seed: int = 0,
    device: str | None = None,
    gif: bool = False,
    real: str | Path | None = None,
    options: dict[str, Any] | None = None,
    progress: bool = True,
    info: DistInfo | None = None,
) -> GenerationResult:
    """Generate one video per conditioning frame of `source` with any registered model.

    Args:
        source: an image, a folder of images or a split folder of shards.
        out: the mp4 for one image (default `<stem>.mp4`), else the output folder (default `samples`).
        checkpoint: a saved model folder or training run directory; its type picks the model.
        model: the model name; with `checkpoint` a check of its type, alone for models that need no
            checkpoint (`static`).
        frames: frames per video (default: the model's training clip length; `static`: the split's).
        seed: seed of the sampling noise; each video draws its own from it and its name (`noise_seed`).
        gif: also write a GIF preview beside each mp4.
        real: the real split for models with privileged input (default: `source` when it is a split).
        options: model-specific sampler settings (FashionFlow: steps, sampler, guidance_scale,
            interpolate, interpolator); a model that does not use one refuses it.
        info: the torchrun process group (`ffbench.distributed.init_distributed`): each rank samples its
            `share` of the names; rank 0 alone writes the resume file and generation.json. Default: one
            process.
    Returns: the written videos and the generation.json record.
    """
    from ffbench.datasets.loader import area_resize
    from ffbench.distributed import single_process
    from ffbench.models.registry import ModelTypeError, find_checkpoint, get_model
    from ffbench.progress import progress_bar

    info = info or single_process(device or "cpu")
    with together(info):  # a bad input on any rank (an image only it reads) stops every rank with its message
        if frames is not None and frames < 1:
            raise UserError(f"--frames {frames}: give at least 1")
        if model is not None and not get_model(model).needs_checkpoint and checkpoint is not None:
            raise ModelTypeError(f"--model {model} takes no checkpoint; drop --checkpoint")
        if checkpoint is not None:
            entry, folder = find_checkpoint(checkpoint, expected=model)
        elif model is not None:
            entry, folder = get_model(model), None
            if entry.needs_checkpoint:
                raise ModelTypeError(f"--model {model} needs --checkpoint: the folder `ffbench train "
                                     f"{model}` exports")
        else:
            raise UserError("give --checkpoint (a trained model's folder) or --model static")

        conditions = read_conditions(source, info)  # bad images fail before any weights are loaded
        mine = set(share(conditions.names, info))  # this rank's videos (all of them without torchrun)
        real_split = Path(real) if real is not None else conditions.split
        if entry.privileged_input and real_split is None:
            raise UserError(f"{entry.name} takes its {entry.privileged_input} from the real test video: "
                            "give a split of shards as IMAGE (or --real SPLIT) so each generated video has "
                            "its real one")
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        gen = entry.load(folder, device, **(options or {}))

        first = conditions.images[0]
        out_size = (first.shape[0], first.shape[1]) if conditions.split is not None else None
        model_size = tuple(gen.size) if gen.size is not None else None
        out_size = out_size or model_size or (_even(first.shape[0]), _even(first.shape[1]))
        model_size = model_size or out_size
        num_frames = frames or gen.num_frames or conditions.frames or DEFAULT_FRAMES
        if gen.max_frames is not None and num_frames > gen.max_frames:
            raise UserError(f"--frames {num_frames}: {entry.name} makes at most {gen.max_frames} frames a "
                            "video")
        fps = gen.fps or conditions.fps or DEFAULT_FPS
        flags = [*entry.flags, *gen.flags]
        if model_size != out_size:
            flags.append(f"upsampled: generated at {model_size[0]}x{model_size[1]}, written at "
                         f"{out_size[0]}x{out_size[1]} (bilinear)")
        reals = {}
        if entry.privileged_input:
            reals = _real_clips(real_split, [n for n in conditions.names if n in mine], num_frames,
                                model_size)

    single = len(conditions.names) == 1 and conditions.split is None and not Path(source).is_dir()
    if single:
        targets = [Path(out or f"{conditions.names[0]}.mp4")]
        out_dir = None
    else:
        out_dir = Path(out or "samples")
        targets = [out_dir / f"{name}.mp4" for name in conditions.names]
    resume_key = _resume_key(entry.name, folder, source, real_split if entry.privileged_input else None,
                             num_frames, fps, out_size, model_size, seed, gen.settings, options, flags, gif)

    interrupts.pause_point("before-output")
    made = _missing_parents(out_dir if out_dir is not None else targets[0].parent)
    written: list[Path] = []  # this rank's videos in place (skipped or written): exact, renames are deferred
    complete = False
    try:
        with together(info):  # rank 0 alone starts the folder (its resume file) before the others write
            if info.is_main and out_dir is not None:
                written += _start_folder(out_dir, resume_key, targets, gif)
            elif info.is_main:  # one image to one file: its folder may be new
                targets[0].parent.mkdir(parents=True, exist_ok=True)
        if info.distributed:  # the videos rank 0 found in place, each kept by the rank whose share it is in
            done = set(gather_objects(written, info)[0])
            written = [t for name, t in zip(conditions.names, targets, strict=True)
                       if name in mine and t in done]
        interrupts.pause_point("before-first-video")
        items = [item for item in zip(conditions.names, conditions.images, targets, strict=True)
                 if item[0] in mine]
        todo = [item for item in items if item[2] not in written]
        if info.distributed:  # the same number of steps on every rank, each ending in the error exchange
            rounds = -(-len(conditions.names) // info.world_size)
            slots = [item if item[2] not in written else None for item in items]
            slots += [None] * (rounds - len(items))
        else:
            slots = todo
        # a generator that says resize="stretch" (FashionFlow's official inference) takes each frame
        # stretched straight to its size with PIL bilinear, as the public code does; the others get it
        # covered, cropped and area-resized
        stretch = getattr(gen, "resize", "cover") == "stretch"
        desc = "videos" if not info.distributed else f"videos (rank 0 of {info.world_size})"
        bar = progress_bar(slots, desc=desc, unit="video",
                           disable=not (progress and info.is_main and len(slots) > 1))
        for slot in bar:
            with together(info):
                if slot is not None:
                    name, image, target = slot
                    if stretch:
                        cond = _to_tensor(_stretch(image, model_size)).to(device)
                    else:
                        cond = area_resize(_to_tensor(_fit(image, out_size)), model_size).to(device)
                    real_clip = reals[name][None].to(device) if name in reals else None
                    generator = torch.Generator("cpu").manual_seed(noise_seed(seed, name))
                    video = _sample(gen, entry.name, cond, num_frames, generator, real_clip, model_size,
                                    out_size)
                    _write_outputs(target, _to_frames(video), fps, gif, written)
                    interrupts.pause_point("between-videos")
            interrupts.check()  # a signal a library swallowed while sampling stops the run here
        if info.distributed:  # every rank's videos, for the record and the summary
            written = [t for part in gather_objects(written, info) for t in part]
        written = [t for t in targets if t in written]  # in the sources' order

        record = {
            "model": entry.name,
            "checkpoint": str(Path(folder).resolve()) if folder is not None else None,
            "source": str(Path(source).resolve()),
            "real": str(real_split.resolve()) if entry.privileged_input and real_split else None,
            "videos": len(written),
            "frames": num_frames,
            "fps": fps,
            "size": list(out_size),
            "model_size": list(model_size),
            "seed": seed,
            "noise": "per video, seeded by noise_seed(seed, name)",
            "settings": dict(gen.settings),
            "flags": flags,
            "processes": info.world_size,  # how many shared the work (the videos do not depend on it)
        }
        if out_dir is not None:
            from ffbench import __version__
            from ffbench.fileio import write_json_atomic

            with together(info):  # after every rank's videos; the others return once it is written
                if info.is_main:
                    with interrupts.deferred():  # generation.json replaces the resume file: one or the other
                        write_json_atomic(out_dir / GENERATION_JSON,
                                          {**record, "ffbench_version": __version__})
                        (out_dir / RESUME_JSON).unlink(missing_ok=True)
                complete = True
    except KeyboardInterrupt as err:
        with interrupts.deferred():
            if info.distributed:  # other ranks' videos may still be landing: the folder and its resume file
                done_count, removed = sum(t.is_file() for t in targets), False  # stay, for the rerun
            else:
                removed = _clean_up(out_dir, made) if not written else False
                done_count = len(written)
        raise GenerationInterrupted(interrupts.as_interrupted(err).signum, done_count, len(targets),
                                    out_dir if out_dir is not None else targets[0], removed,
                                    complete) from None
    except Exception:  # a failed run leaves no folder of its own behind either
        if not info.distributed:
            if not written:
                _clean_up(out_dir, made)
        elif info.is_main and not any(t.is_file() for t in targets):  # every rank stopped at the same
            _clean_up(out_dir, made)  # `together` step, so no one is writing now
        raise
    return GenerationResult(videos=written, record=record)


def _sample(gen: Any, name: str, cond: torch.Tensor, num_frames: int, generator: torch.Generator,
            real_clip: torch.Tensor | None, model_size: tuple[int, int],
            out_size: tuple[int, int]) -> torch.Tensor:
    """One video from the loaded generator: (3, F, H, W) in [-1, 1] on the CPU at `out_size`."""
    with torch.no_grad():
        video = gen(cond, num_frames, generator, real=real_clip)
    expect = (1, 3, num_frames, *model_size)
    if tuple(video.shape) != expect:
        raise RuntimeError(f"{name} gave a video shaped {tuple(video.shape)}, expected {expect}")
    video = video[0].float().cpu()
    if model_size != out_size:
        video = torch.nn.functional.interpolate(video.transpose(0, 1), size=out_size, mode="bilinear",
                                                align_corners=False).transpose(0, 1)
    return video


def _resume_key(*parts: Any) -> str:
    """What decides a set's videos besides each one's name: a folder's resume file holds it, and a rerun
    with the same key keeps the videos already in place. The checkpoint enters by its files' names, sizes
    and modification times, so retraining into the same folder regenerates."""
    model, folder, *rest = parts
    files = []
    if folder is not None:
        root = Path(folder)
        files = sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns)
                       for p in root.rglob("*") if p.is_file())
    blob = json.dumps([model, str(Path(folder).resolve()) if folder else None, files,
                       [str(Path(p).resolve()) if isinstance(p, Path) else p for p in rest]],
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _missing_parents(folder: Path) -> list[Path]:
    """`folder` and its ancestors that do not exist yet, deepest first (what an interrupt removes again)."""
    missing, path = [], Path(folder).absolute()
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def _start_folder(out_dir: Path, key: str, targets: list[Path], gif: bool) -> list[Path]:
    """Create the output folder, drop its generation.json (the set is being rewritten) and record `key` in
    its resume file. Returns the targets already in place from an earlier run with the same key."""
    from ffbench.fileio import temp_name, write_json_atomic

    resume = out_dir / RESUME_JSON
    previous = None
    if resume.is_file():
        try:
            previous = json.loads(resume.read_text(encoding="utf-8")).get("key")
        except (OSError, ValueError, AttributeError):
            previous = None
    done = []
    if previous == key:
        done = [t for t in targets if t.is_file() and (not gif or t.with_suffix(".gif").is_file())]
        for t in targets:  # what a killed run (kill -9 of a rank) left half-written under temporary names
            for final in (t, t.with_suffix(".gif")):
                for tmp in out_dir.glob(f"{temp_name(final)}*"):
                    tmp.unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    with interrupts.deferred():
        (out_dir / GENERATION_JSON).unlink(missing_ok=True)
        write_json_atomic(resume, {"key": key, "note": "written by `ffbench generate` while the set is "
                                   "incomplete; the same command skips the videos already here"})
    return done


def _write_outputs(target: Path, pixels: np.ndarray, fps: float, gif: bool, written: list[Path]) -> None:
    """Write one video (and its GIF) under temporary names, then rename both into place and add `target`
    to `written` as one step: a signal waits for the renames, so `written` is exactly what is in place."""
    import os

    from ffbench.fileio import mkstemp, temp_name
    from ffbench.video import write_gif, write_video

    finals = [target, target.with_suffix(".gif")] if gif else [target]
    temps = []
    try:
        for final in finals:
            fd, tmp = mkstemp(final.parent, prefix=temp_name(final))
            os.close(fd)
            temps.append(Path(tmp))
            (write_gif if final.suffix == ".gif" else write_video)(temps[-1], pixels, fps=fps)
            interrupts.pause_point("writing-video")
        with interrupts.deferred():
            for tmp, final in reversed(list(zip(temps, finals, strict=True))):  # the mp4, which marks a
                os.replace(tmp, final)  # finished video, last
            written.append(target)
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)


def _clean_up(out_dir: Path | None, made: list[Path]) -> bool:
    """After an interrupt with no finished video: drop the resume file and remove the folders this run
    created (when empty). Returns whether the output folder was removed."""
    if out_dir is not None and not made:  # an existing folder is left as it was, minus our resume file
        (out_dir / RESUME_JSON).unlink(missing_ok=True)
        return False
    if out_dir is not None:
        (out_dir / RESUME_JSON).unlink(missing_ok=True)
    for folder in made:
        try:
            folder.rmdir()
        except OSError:  # not empty: someone else's files
            return False
    return bool(made)


def _fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 (H, W, 3) -> uint8 `size`: unchanged when it already has that size, else resized to cover and
    centre-cropped (`ffbench.images.fit_image`, as FashionFlow's pipeline does)."""
    if image.shape[:2] == tuple(size):
        return image
    from PIL import Image

    from ffbench.images import fit_image

    return fit_image(Image.fromarray(image), size[0], size[1])


def _stretch(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 (H, W, 3) -> uint8 `size`, each axis resized on its own with PIL bilinear (nothing cropped)."""
    from PIL import Image

    from ffbench.images import stretch_image

    return stretch_image(Image.fromarray(image), size[0], size[1])
