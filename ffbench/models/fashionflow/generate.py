"""`generate_video`: the library side of `ffbench generate` (image file + saved pipeline -> mp4)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ffbench.config_files import check_config, check_pipeline_dir
from ffbench.images import load_image
from ffbench.models.fashionflow.model import FashionFlowConfigError, FashionFlowModel
from ffbench.models.fashionflow.pipeline import OFFICIAL_FPS, FashionFlowPipeline, check_inference
from ffbench.models.fashionflow.schedule import DEFAULT_SAMPLER, SAMPLERS, default_steps, switch_sampler
from ffbench.seeding import noise_seed

_HOW = (
    "give a directory written by FashionFlowPipeline.save_pretrained (ffbench train exports <run>/pipeline)"
)


def load_pipeline(
    checkpoint: str | os.PathLike,
    interpolator: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
) -> FashionFlowPipeline:
    """Load a saved FashionFlowPipeline (optionally with a separately saved interpolation model).

    Raises ValueError naming the directory when it is not a pipeline, and FashionFlowConfigError when its
    parts do not fit together (e.g. a model built for another latent size or CLIP width than the VAE/CLIP).
    """
    path = Path(checkpoint)
    index = path / "model_index.json"
    if not index.is_file():
        raise ValueError(f"checkpoint {str(path)!r} has no model_index.json; {_HOW}")
    try:
        kind = json.loads(index.read_text()).get("_class_name")
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"checkpoint {str(path)!r}: unreadable model_index.json ({err}); {_HOW}") from err
    if kind != "FashionFlowPipeline":
        raise ValueError(f"checkpoint {str(path)!r} holds a {kind}, not a FashionFlowPipeline; {_HOW}")
    check_pipeline_dir(path)  # a damaged config.json: name the file and the field, not a deep TypeError
    extra = {}
    if interpolator is not None:
        extra["interpolator"] = _load_model(Path(interpolator), "interpolator")
    try:
        pipe = FashionFlowPipeline.from_pretrained(path, low_cpu_mem_usage=False, **extra)
    except FashionFlowConfigError as err:
        raise FashionFlowConfigError(f"checkpoint {str(path)!r} does not fit together: {err}") from err
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
        raise ValueError(
            f"checkpoint {str(path)!r} cannot be loaded as a FashionFlow pipeline: {err}"
        ) from err
    if device is not None:
        pipe.to(device)
    return pipe


def resolve_inference(
    pipe: FashionFlowPipeline,
    inference: str | None,
    sampler: str | None,
    steps: int | None,
    guidance_scale: float = 1.0,
    interpolate: bool = False,
) -> tuple[str, str, int]:
    """(inference, sampler, steps) a saved pipeline samples with: `inference` defaults to the pipeline's
    own (`config.inference`: "official" for a converted published checkpoint). "ffbench" takes any sampler
    (default DEFAULT_SAMPLER) and sets it on `pipe`; "official" is DDPM over all T steps and refuses a
    sampler, step count, guidance or interpolation it has no counterpart for, naming the flag.
    """
    inference = check_inference(pipe.config.inference if inference is None else inference)
    if sampler is not None and sampler not in SAMPLERS:
        raise ValueError(f"sampler={sampler!r}; choose one of {', '.join(SAMPLERS)}")
    if inference == "ffbench":
        sampler = sampler or DEFAULT_SAMPLER
        pipe.scheduler = switch_sampler(pipe.scheduler, sampler)
        return inference, sampler, default_steps(sampler) if steps is None else steps
    total = int(pipe.scheduler.config.num_train_timesteps)
    how = "drop it, or pass --inference ffbench"
    if sampler not in (None, "ddpm"):
        raise ValueError(f"--sampler {sampler}: --inference official samples with ancestral DDPM over all "
                         f"{total} steps, as the public inference.py; {how}")
    if steps not in (None, total):
        raise ValueError(f"--steps {steps}: --inference official takes all {total} DDPM steps; {how}")
    if guidance_scale != 1.0:
        raise ValueError(f"--guidance-scale {guidance_scale}: --inference official has no guidance; {how}")
    if interpolate:
        raise ValueError(f"--interpolate: --inference official has no interpolation stage; {how}")
    return inference, "ddpm", total


def _load_model(path: Path, role: str) -> FashionFlowModel:
    if not (path / "config.json").is_file():
        raise ValueError(
            f"{role} {str(path)!r} has no config.json; give a FashionFlowModel.save_pretrained directory "
            "(ffbench train fashionflow --stage interpolate exports <run>/interpolator)"
        )
    check_config(path / "config.json", FashionFlowModel)
    try:
        return FashionFlowModel.from_pretrained(path)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
        raise ValueError(f"{role} {str(path)!r} cannot be loaded as a FashionFlowModel: {err}") from err


def generate_video(
    image_path: str | os.PathLike, checkpoint: str | os.PathLike, out_path: str | os.PathLike, **options: Any
) -> Path:
    """Generate one video from one image; `options` are those of `generate_videos`. Returns the mp4 path."""
    return generate_videos([image_path], checkpoint, [out_path], **options)[0]


def generate_videos(
    image_paths: list[str | os.PathLike],
    checkpoint: str | os.PathLike,
    out_paths: list[str | os.PathLike],
    frames: int | None = None,
    steps: int | None = None,
    sampler: str | None = None,
    seed: int = 0,
    guidance_scale: float = 1.0,
    gif: bool = False,
    interpolate: bool = False,
    interpolator: str | os.PathLike | None = None,
    device: str | None = None,
    progress: bool = True,
    inference: str | None = None,
) -> list[Path]:
    """Generate one video per image with a saved pipeline (loaded once), each written as an H.264 mp4.

    Each image draws its own noise from `seed` and its file name (`ffbench.seeding.noise_seed`), so
    a video does not depend on which other images were in the batch, and two images share no noise.

    Args:
        image_paths: still images PIL reads (RGBA, L, CMYK, palette...); each is converted to RGB, resized
            to cover the model's frame size and centre-cropped (stretched with inference="official").
        checkpoint: a FashionFlowPipeline directory.
        out_paths: the mp4s to write, one per image (atomically); with `gif`, a GIF preview beside each.
        frames: frames to sample (default: the model's training clip length).
        steps / sampler: scheduler steps (None: the sampler's default, `schedule.DEFAULT_STEPS`) and
            sampler (a key of `schedule.SAMPLERS`; ddpm with 1000 steps is the paper's; the default is
            `schedule.DEFAULT_SAMPLER`); the noise schedule stays the one the model was trained with.
        seed: seed of the sampling noise (a CPU generator, so results do not depend on the device).
        guidance_scale: classifier-free guidance weight (> 1 needs a model trained with condition dropout).
        interpolate: double the frame rate with the interpolation model (2 * frames - 1 frames are written
            at twice the fps); `interpolator` is its directory unless the pipeline contains one.
        device: "cpu", "cuda", ... (default: cuda when available).
        inference: "ffbench" or "official" (default: the pipeline's; see `resolve_inference`).
    Returns: the mp4 paths. Videos are written at the training data's frame rate (official: 25 fps).
    """
    from ffbench.progress import progress_bar
    from ffbench.video import write_gif, write_video

    if len(image_paths) != len(out_paths):
        raise ValueError(f"{len(image_paths)} images but {len(out_paths)} output paths; give one per image")
    if sampler is not None and sampler not in SAMPLERS:
        raise ValueError(f"sampler={sampler!r}; choose one of {', '.join(SAMPLERS)}")
    if inference is not None:
        check_inference(inference)
    if frames is not None and frames < 1:
        raise ValueError(f"frames={frames}; give at least 1")
    images = [load_image(p) for p in image_paths]  # fail on a bad image before loading any weights
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    pipe = load_pipeline(checkpoint, interpolator, device)
    inference, sampler, steps = resolve_inference(pipe, inference, sampler, steps, guidance_scale,
                                                  interpolate)
    if interpolate and pipe.interpolator is None:
        raise ValueError(
            f"--interpolate: checkpoint {str(checkpoint)!r} has no interpolator; pass the directory of a "
            "model trained with `ffbench train fashionflow --stage interpolate` (its <run>/interpolator)"
        )
    pipe.set_progress_bar_config(disable=not progress or len(images) > 1)
    fps = OFFICIAL_FPS if inference == "official" else float(pipe.unet.config.fps) * (2 if interpolate else 1)
    written = []
    many = progress and len(images) > 1
    items = list(zip(image_paths, images, out_paths, strict=True))
    for image_path, image, out_path in progress_bar(items, desc="videos", disable=not many):
        generator = torch.Generator("cpu").manual_seed(noise_seed(seed, Path(image_path).stem))
        video = pipe(
            image,
            num_frames=frames,
            num_inference_steps=steps,
            guidance_scale=guidance_scale,
            generator=generator,
            output_type="np",
            interpolate=interpolate,
            inference=inference,
        ).frames[0]  # (F, H, W, 3)
        video = np.clip(video, 0.0, 1.0) * 255
        # inference.py writes frame.mul(255).byte(): truncated, where ffbench rounds
        video = (np.floor(video) if inference == "official" else video.round()).astype(np.uint8)
        out = write_video(Path(out_path), video, fps=fps)
        if gif:
            write_gif(out.with_suffix(".gif"), video, fps=fps)
        written.append(out)
    return written
