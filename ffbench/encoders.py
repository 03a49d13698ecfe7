"""The frozen encoders every stage shares: the VAE (frames <-> latents) and the CLIP vision tower.

One source of truth for how pixels reach them:

- pixels: `pixels_to_signed` / `signed_to_pixels` are ffbench's one [0, 255] <-> [-1, 1] map (any layout;
  `frames_to_tensor` / `tensor_to_frames` add the channel move); generation, the samplers and bench use them.
- VAE: uint8 frames -> float in [-1, 1] (`frames_to_tensor`), per-frame posterior *mean* times the
  VAE's scaling factor (`vae_encode`); `vae_decode` inverts it. The public FashionFlow code feeds
  [0, 1] here; the VAE was trained on [-1, 1].
- CLIP: uint8 [0, 255] frames go through the model's own `CLIPImageProcessor`, which rescales by
  1/255 and normalises by CLIP's mean/std (`clip_image_tokens`). The public FashionFlow code feeds
  [0, 1] floats, so the processor divides by 255 a second time and CLIP sees a flat grey image.
- The public code's inputs, kept for its published weights (`FashionFlowPipeline(inference="official")`):
  `vae_posterior_sample` (a posterior draw of [0, 1] images) and `official_clip_pixel_values`.

Specs accepted by `load_vae` / `load_clip`: a Hugging Face hub id, a local directory, or `tiny`
(offline stand-ins: a small VAE trained by `ffbench prepare`, a small randomly initialised CLIP
built once from a seed and saved under `<data_dir>/encoders/clip`). diffusers and transformers are
imported lazily: they take seconds to import, and a missing-weights error should not wait for them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ffbench import fileio
from ffbench.errors import UserError

if TYPE_CHECKING:
    from diffusers import AutoencoderKL
    from transformers import CLIPImageProcessor, CLIPVisionModel

DEFAULT_VAE = "CompVis/stable-diffusion-v1-4"
DEFAULT_CLIP = "openai/clip-vit-base-patch32"
TINY = "tiny"

# Geometry of the tiny CLIP stand-in: 64x64 input, 16x16 patches -> 16 patches + CLS = 17 tokens of 64.
TINY_CLIP = dict(
    hidden_size=64,
    intermediate_size=256,
    num_hidden_layers=3,
    num_attention_heads=4,
    image_size=64,
    patch_size=16,
    projection_dim=64,
)

_VOLATILE = {"seconds", "torch_threads"}  # fields of a tiny VAE's identity.json left out of its identity
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


class EncoderUnavailable(UserError, ValueError):
    """The requested VAE/CLIP weights cannot be loaded (offline, not cached, not trained yet, bad path)."""


# ----------------------------------------------------------------------------------------------------
# pixels


def pixels_to_signed(pixels: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Pixel values in [0, 255] (uint8, or floats such as area-resized frames), any layout -> float32 in
    [-1, 1]: value / 127.5 - 1. The one [0, 255] -> [-1, 1] map of ffbench."""
    return torch.as_tensor(pixels).float().div(127.5).sub(1.0)


def signed_to_pixels(video: torch.Tensor) -> torch.Tensor:
    """float in [-1, 1], any layout -> uint8 on the CPU: (value + 1) * 127.5, rounded, clamped to [0, 255].
    The one [-1, 1] -> uint8 map of ffbench (exact on values that came from uint8)."""
    return video.detach().float().cpu().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)


def frames_to_tensor(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 frames (F, H, W, 3) or (B, F, H, W, 3) -> float32 (3, F, H, W) or (B, 3, F, H, W) in [-1, 1]."""
    x = torch.as_tensor(frames)
    if x.dtype != torch.uint8:
        raise ValueError(f"frames must be uint8 in [0, 255], got dtype {x.dtype}; convert before calling")
    if x.ndim not in (4, 5) or x.shape[-1] != 3:
        raise ValueError(f"frames must be (F, H, W, 3) or (B, F, H, W, 3), got shape {tuple(x.shape)}")
    return pixels_to_signed(x).movedim(-1, -4).contiguous()


def tensor_to_frames(video: torch.Tensor) -> np.ndarray:
    """float (3, F, H, W) or (B, 3, F, H, W) in [-1, 1] -> uint8 (F, H, W, 3) or (B, F, H, W, 3)."""
    if video.ndim not in (4, 5) or video.shape[-4] != 3:
        raise ValueError(f"video must be (3, F, H, W) or (B, 3, F, H, W), got shape {tuple(video.shape)}")
    return signed_to_pixels(video).movedim(-4, -1).contiguous().numpy()


# ----------------------------------------------------------------------------------------------------
# locating weights


def _offline() -> bool:
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}
    return bool(constants.HF_HUB_OFFLINE) or env


def _how_to_get(flag: str, spec: str, files: list[str]) -> str:
    return (
        f"  get them on a connected machine: hf download {spec} {' '.join(files)} --local-dir DIR\n"
        f"  (or python -c \"from huggingface_hub import snapshot_download; snapshot_download('{spec}')\"),\n"
        f"  then pass {flag} DIR; or use {flag} {TINY} for the offline stand-in."
    )


def _download(spec: str, flag: str, patterns: list[list[str]]) -> tuple[Path, str | None]:
    """Fetch (or find in the HF cache) the files of the first pattern set that yields weights.

    Returns the snapshot directory and its commit hash. Never waits on the network when offline.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    offline = _offline()
    last: Exception | None = None
    for allow in patterns:
        try:
            path = Path(snapshot_download(spec, allow_patterns=allow, local_files_only=offline))
        except (OSError, ValueError) as err:  # hub errors (not cached, not found, HTTP) are OSErrors
            last = err
            break
        weights = [p for p in allow if p.endswith((".safetensors", ".bin"))]
        if any((path / w).exists() for w in weights):
            revision = path.name if re.fullmatch(r"[0-9a-f]{40}", path.name) else None
            return path, revision
    if offline:
        reason = "offline (HF_HUB_OFFLINE=1) and not in the Hugging Face cache"
    else:
        reason = "not found on the hub and not in the Hugging Face cache"
    if last is not None and not (offline and isinstance(last, LocalEntryNotFoundError)):
        reason += f" ({type(last).__name__}: {str(last).splitlines()[0][:120]})"
    raise EncoderUnavailable(
        f"{flag} {spec!r}: weights not available: {reason}; no local directory of that name either.\n"
        + _how_to_get(flag, spec, patterns[0])
    ) from last


def _local_dir(spec: str) -> Path | None:
    path = Path(spec).expanduser()
    return path.resolve() if path.exists() else None


def _check_spec(spec: str, flag: str) -> None:
    if not isinstance(spec, str) or not spec:
        raise EncoderUnavailable(f"{flag} must be a hub id, a local directory or {TINY!r}, got {spec!r}")
    if not _HUB_ID.match(spec):
        raise EncoderUnavailable(
            f"{flag} {spec!r}: no such local directory, and not a hub id (owner/name);\n"
            f"  pass an existing directory, a hub id such as the default, or {TINY!r}"
        )


def _tag(model: Any, **source: Any) -> Any:
    # Provenance for encoder_identity(); a plain attribute, not part of the state dict.
    model.ffbench_source = source
    return model


# ----------------------------------------------------------------------------------------------------
# VAE


def load_vae(spec: str = DEFAULT_VAE, *, data_dir: str | Path | None = None) -> AutoencoderKL:
    """Load a diffusers `AutoencoderKL` (eval mode, CPU, float32).

    spec: a hub id (a full pipeline repo such as the default, whose VAE is in subfolder `vae`, or a
    standalone VAE repo), a local diffusers directory (the VAE itself or a pipeline holding `vae/`), or
    `tiny`: the small VAE trained by `ffbench prepare` / `ffbench train vae` in `<data_dir>/encoders/vae`.
    Raises EncoderUnavailable (naming `--vae` and how to get the weights) when they cannot be loaded.
    """
    flag = "--vae"
    if spec == TINY:
        if data_dir is None:
            raise EncoderUnavailable(f"{flag} {TINY}: data_dir is required to find the trained tiny VAE")
        path = Path(data_dir) / "encoders" / "vae"
        if not (path / "config.json").exists():
            raise EncoderUnavailable(
                f"{flag} {TINY}: no trained tiny VAE in {path}\n"
                f"  train it with: ffbench prepare --vae {TINY} --out {data_dir} (or ffbench train vae)"
            )
        return _tag(_from_pretrained_vae(path, None, flag, spec), kind="tiny", spec=spec, path=str(path))
    local = _local_dir(spec) if isinstance(spec, str) and spec else None
    if local is not None:
        if (local / "config.json").exists():
            subfolder = None
        elif (local / "vae" / "config.json").exists():
            subfolder = "vae"
        else:
            raise EncoderUnavailable(
                f"{flag} {spec!r}: {local} holds neither config.json nor vae/config.json;\n"
                "  pass a diffusers AutoencoderKL directory (from save_pretrained or hf download)"
            )
        vae = _from_pretrained_vae(local, subfolder, flag, spec)
        return _tag(vae, kind="local", spec=spec, path=str(local), subfolder=subfolder)
    _check_spec(spec, flag)
    snapshot, revision = _download(
        spec,
        flag,
        [
            ["vae/config.json", "vae/diffusion_pytorch_model.safetensors"],
            ["config.json", "diffusion_pytorch_model.safetensors"],
            ["vae/config.json", "vae/diffusion_pytorch_model.bin"],
            ["config.json", "diffusion_pytorch_model.bin"],
        ],
    )
    subfolder = "vae" if (snapshot / "vae" / "config.json").exists() else None
    vae = _from_pretrained_vae(snapshot, subfolder, flag, spec)
    return _tag(vae, kind="hub", spec=spec, id=spec, revision=revision, subfolder=subfolder)


def _from_pretrained_vae(path: Path, subfolder: str | None, flag: str, spec: str) -> AutoencoderKL:
    from diffusers import AutoencoderKL

    try:
        vae = AutoencoderKL.from_pretrained(
            path,
            subfolder=subfolder,
            local_files_only=True,
            torch_dtype=torch.float32,
            low_cpu_mem_usage=False,
        )
    except (OSError, ValueError) as err:
        raise EncoderUnavailable(
            f"{flag} {spec!r}: cannot load an AutoencoderKL from {path}: {str(err).splitlines()[0][:200]}"
        ) from err
    return vae.eval()


def vae_downsample_factor(vae: AutoencoderKL) -> int:
    """Pixels per latent cell along each axis (8 for Stable Diffusion's VAE)."""
    return 2 ** (len(vae.config.block_out_channels) - 1)


def _scale_shift(vae: AutoencoderKL) -> tuple[float, float]:
    shift = getattr(vae.config, "shift_factor", None)
    return float(vae.config.scaling_factor), float(shift) if shift is not None else 0.0


@torch.no_grad()
def vae_encode(vae: AutoencoderKL, video: torch.Tensor, chunk_size: int = 16) -> torch.Tensor:
    """Per-frame latents of a video: (B, 3, F, H, W) in [-1, 1] -> float32 (B, C, F, H/d, W/d).

    The posterior mean (deterministic), minus the VAE's shift factor if it has one, times its scaling
    factor, so the latents are roughly unit variance. Frames are folded into the batch and encoded
    `chunk_size` at a time to bound memory.
    """
    if video.ndim != 5 or video.shape[1] != 3:
        raise ValueError(f"video must be (B, 3, F, H, W), got shape {tuple(video.shape)}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    d = vae_downsample_factor(vae)
    b, _, f, h, w = video.shape
    if h % d or w % d:
        raise ValueError(f"video height and width must be multiples of the VAE downsample {d}, got {h}x{w}")
    if video.numel() and (video.min() < -1.001 or video.max() > 1.001):
        raise ValueError(
            f"video values must be in [-1, 1], got [{video.min():.3g}, {video.max():.3g}]; "
            "convert uint8 frames with frames_to_tensor"
        )
    scale, shift = _scale_shift(vae)
    param = next(vae.parameters())
    flat = video.movedim(2, 1).reshape(b * f, 3, h, w)  # (b f) c h w
    out = [
        vae.encode(chunk.to(param.device, param.dtype)).latent_dist.mean.float()
        for chunk in flat.split(chunk_size)
    ]
    lat = (torch.cat(out) - shift) * scale
    return lat.reshape(b, f, *lat.shape[1:]).movedim(1, 2).contiguous().cpu()


@torch.no_grad()
def vae_decode(vae: AutoencoderKL, latents: torch.Tensor, chunk_size: int = 8) -> torch.Tensor:
    """Frames of scaled latents: (B, C, F, h, w) -> float32 (B, 3, F, h*d, w*d) clamped to [-1, 1]."""
    if latents.ndim != 5 or latents.shape[1] != vae.config.latent_channels:
        raise ValueError(
            f"latents must be (B, {vae.config.latent_channels}, F, h, w), got shape {tuple(latents.shape)}"
        )
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    scale, shift = _scale_shift(vae)
    param = next(vae.parameters())
    b, c, f, h, w = latents.shape
    flat = latents.movedim(2, 1).reshape(b * f, c, h, w) / scale + shift
    out = [vae.decode(chunk.to(param.device, param.dtype)).sample.float() for chunk in flat.split(chunk_size)]
    frames = torch.cat(out).clamp(-1.0, 1.0)
    return frames.reshape(b, f, *frames.shape[1:]).movedim(1, 2).contiguous().cpu()


@torch.no_grad()
def vae_posterior_sample(vae: AutoencoderKL, images: torch.Tensor,
                         generator: torch.Generator | None = None) -> torch.Tensor:
    """One draw from the VAE posterior of each image, scaled: (B, 3, H, W) -> float32 (B, C, H/d, W/d).

    The public FashionFlow inference's latent (`inference="official"`): `latent_dist.sample()` rather than
    the mean, minus the shift factor if any, times the scaling factor (0.18215 for Stable Diffusion's VAE,
    the constant the public code writes). The noise comes from `generator`. No range check: the public
    code feeds [0, 1] images, ffbench's own path [-1, 1] (`vae_encode`).
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (B, 3, H, W), got shape {tuple(images.shape)}")
    scale, shift = _scale_shift(vae)
    param = next(vae.parameters())
    posterior = vae.encode(images.to(param.device, param.dtype)).latent_dist
    return ((posterior.sample(generator=generator).float() - shift) * scale).cpu()


# ----------------------------------------------------------------------------------------------------
# CLIP


def load_clip(
    spec: str = DEFAULT_CLIP, *, data_dir: str | Path | None = None, seed: int = 0
) -> tuple[CLIPVisionModel, CLIPImageProcessor]:
    """Load a CLIP vision tower and its image processor (eval mode, CPU, float32).

    spec: a hub id (a full CLIP repo such as the default: only the vision tower is loaded), a local
    directory (from save_pretrained / hf download, with preprocessor_config.json), or `tiny`: a small
    randomly initialised tower (17 tokens of 64) built from `seed`. With `data_dir`, the tiny tower is
    saved once to `<data_dir>/encoders/clip` and loaded from there afterwards, so every stage sees the
    same weights. Raises EncoderUnavailable (naming `--clip`) when weights cannot be loaded.
    """
    flag = "--clip"
    if spec == TINY:
        return _tiny_clip(data_dir, seed)
    local = _local_dir(spec) if isinstance(spec, str) and spec else None
    if local is not None:
        if not (local / "config.json").exists():
            raise EncoderUnavailable(
                f"{flag} {spec!r}: {local} has no config.json; pass a CLIP directory from save_pretrained"
            )
        model, proc = _from_pretrained_clip(local, flag, spec)
        return _tag(model, kind="local", spec=spec, path=str(local), processor=_proc_info(proc)), proc
    _check_spec(spec, flag)
    common = ["config.json", "preprocessor_config.json"]
    weights = [common + ["model.safetensors"], common + ["pytorch_model.bin"]]
    snapshot, revision = _download(spec, flag, weights)
    model, proc = _from_pretrained_clip(snapshot, flag, spec)
    return _tag(model, kind="hub", spec=spec, id=spec, revision=revision, processor=_proc_info(proc)), proc


def _from_pretrained_clip(path: Path, flag: str, spec: str) -> tuple[CLIPVisionModel, CLIPImageProcessor]:
    from transformers import CLIPImageProcessor, CLIPVisionModel

    try:
        model = CLIPVisionModel.from_pretrained(path, local_files_only=True)
        if (path / "preprocessor_config.json").exists():
            proc = CLIPImageProcessor.from_pretrained(path, local_files_only=True)
        else:  # a bare vision tower: CLIP's standard preprocessing at the tower's input size
            proc = _processor_for(model.config.image_size)
    except (OSError, ValueError) as err:
        raise EncoderUnavailable(
            f"{flag} {spec!r}: cannot load a CLIP vision model from {path}: {str(err).splitlines()[0][:200]}"
        ) from err
    return model.to(dtype=torch.float32).eval(), proc


def _proc_info(proc: CLIPImageProcessor) -> dict:
    # The preprocessing that shapes the features; part of the CLIP fingerprint.
    keys = ("do_rescale", "rescale_factor", "do_normalize", "image_mean", "image_std", "size", "crop_size")
    info = {k: getattr(proc, k, None) for k in keys}
    for k in ("size", "crop_size"):  # SizeDict dataclasses in transformers 5, plain dicts before
        v = info[k]
        v = dataclasses.asdict(v) if dataclasses.is_dataclass(v) else dict(v or {})
        info[k] = {a: b for a, b in v.items() if b is not None}
    return json.loads(json.dumps(info, default=list))


def _processor_for(image_size: int) -> CLIPImageProcessor:
    from transformers import CLIPImageProcessor

    # CLIP's own recipe (shortest edge resize, centre crop, OpenAI mean/std) at the tower's input size.
    return CLIPImageProcessor(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )


def build_tiny_clip(seed: int = 0) -> tuple[CLIPVisionModel, CLIPImageProcessor]:
    """A small randomly initialised CLIP vision tower (17 tokens of 64) and its processor, from `seed`."""
    from transformers import CLIPVisionConfig, CLIPVisionModel

    config = CLIPVisionConfig(**TINY_CLIP)
    with torch.random.fork_rng(devices=[]):  # leave the caller's RNG stream untouched
        torch.manual_seed(seed)
        model = CLIPVisionModel(config)
    return model.eval(), _processor_for(config.image_size)


def _tiny_clip(data_dir: str | Path | None, seed: int) -> tuple[CLIPVisionModel, CLIPImageProcessor]:
    source = dict(kind="tiny", spec=TINY, seed=seed)
    if data_dir is None:
        model, proc = build_tiny_clip(seed)
        return _tag(model, **source, processor=_proc_info(proc)), proc
    path = Path(data_dir) / "encoders" / "clip"
    if not (path / "identity.json").exists():  # built once; later only read (the folder may be read-only)
        _build_tiny_clip(path, seed)
    saved = json.loads((path / "identity.json").read_text())
    if saved.get("seed") != seed:
        raise EncoderUnavailable(
            f"--clip {TINY}: {path} was built with seed {saved.get('seed')}, not {seed}; "
            "features must not mix towers. Use the saved seed, or delete that directory and re-run prepare"
        )
    model, proc = _from_pretrained_clip(path, "--clip", TINY)
    return _tag(model, **source, path=str(path), processor=_proc_info(proc)), proc


def _build_tiny_clip(path: Path, seed: int) -> None:
    """Save the tiny tower built from `seed` at `path`, atomically (identity.json is what marks it done)."""
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):  # two stages starting at once must not build two towers
        if (path / "identity.json").exists():
            return
        model, proc = build_tiny_clip(seed)
        tmp = fileio.mkdtemp(path.parent, prefix=".clip-")
        try:
            model.save_pretrained(tmp)
            proc.save_pretrained(tmp)
            info = {"kind": "tiny", "seed": seed, "offline_stand_in": True, "config": TINY_CLIP}
            (tmp / "identity.json").write_text(json.dumps(info, indent=2))
            fileio.apply_umask(tmp)  # safetensors writes 0600 files
            if path.exists():  # a half-written directory from an older layout: replace it
                shutil.rmtree(path)
            os.replace(tmp, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def clip_pixel_values(processor: CLIPImageProcessor, images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 images (B, H, W, 3) in [0, 255] -> the normalised (B, 3, S, S) float32 CLIP input."""
    x = torch.as_tensor(images)
    if x.dtype != torch.uint8:
        raise ValueError(
            f"images must be uint8 in [0, 255], got dtype {x.dtype}: the processor rescales by 1/255 "
            "itself, so [0, 1] floats would be divided twice and CLIP would see a flat image"
        )
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"images must be (B, H, W, 3), got shape {tuple(x.shape)}")
    out = processor(images=list(x.permute(0, 3, 1, 2)), return_tensors="pt")
    return out["pixel_values"].float()


@torch.no_grad()
def clip_image_tokens(
    model: CLIPVisionModel, processor: CLIPImageProcessor, images: np.ndarray | torch.Tensor
) -> torch.Tensor:
    """CLIP `last_hidden_state` of uint8 images (B, H, W, 3) -> float32 (B, T, D); 50 x 768 for ViT-B/32."""
    pixels = clip_pixel_values(processor, images)
    param = next(model.parameters())
    out = model(pixel_values=pixels.to(param.device, param.dtype))
    return out.last_hidden_state.float().cpu()


def official_clip_pixel_values(processor: CLIPImageProcessor, images: torch.Tensor) -> torch.Tensor:
    """The CLIP input of the public FashionFlow inference (`inference="official"`), on purpose: float images
    (B, 3, H, W) in [0, 1] handed to the processor, which rescales by 1/255 again, so CLIP sees values in
    [0, 1/255] before its mean/std normalisation: a nearly flat image. The resize and crop are the installed
    processor's (transformers 4.36, which the public code pins, quantised floats to uint8 for its PIL resize;
    newer versions resize the floats): equal up to that resampling."""
    x = torch.as_tensor(images)
    if not x.is_floating_point() or x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"images must be float (B, 3, H, W) in [0, 1], got {x.dtype} {tuple(x.shape)}")
    out = processor(images=list(x.float().cpu()), return_tensors="pt")
    return out["pixel_values"].float()


@torch.no_grad()
def clip_tokens_of_pixel_values(model: CLIPVisionModel, pixel_values: torch.Tensor) -> torch.Tensor:
    """CLIP `last_hidden_state` of processed pixel values (B, 3, S, S) -> float32 (B, T, D)."""
    param = next(model.parameters())
    return model(pixel_values=pixel_values.to(param.device, param.dtype)).last_hidden_state.float().cpu()


# ----------------------------------------------------------------------------------------------------
# identity


def state_dict_sha256(model: torch.nn.Module) -> str:
    """sha256 over names, dtypes, shapes and bytes of the state dict, in sorted key order."""
    h = hashlib.sha256()
    state = model.state_dict()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def encoder_identity(model: torch.nn.Module, spec: str | None = None) -> dict:
    """What produced a set of features: kind (hub/local/tiny), id or path, weights sha256 and geometry.

    Features are keyed by `fingerprint` (weights sha256 plus the settings that change the features,
    such as the VAE scaling factor or CLIP's normalisation); rebuild them when it changes.
    """
    source = dict(getattr(model, "ffbench_source", {}) or {})
    if spec is not None and source.get("spec") not in (None, spec):
        raise ValueError(f"spec {spec!r} differs from the spec the model was loaded with, {source['spec']!r}")
    if not source:
        source = {"kind": "unknown", "spec": spec}
    ident: dict[str, Any] = {k: v for k, v in source.items() if v is not None}
    ident["class"] = type(model).__name__
    ident["sha256"] = state_dict_sha256(model)
    ident["offline_stand_in"] = source.get("kind") == TINY
    if hasattr(model.config, "scaling_factor"):  # a diffusers VAE
        ident["role"] = "vae"
        scale, shift = _scale_shift(model)
        ident.update(
            scaling_factor=scale,
            shift_factor=shift,
            latent_channels=int(model.config.latent_channels),
            downsample=vae_downsample_factor(model),
        )
        path = source.get("path")
        if path and (Path(path) / "identity.json").exists():
            trained = json.loads((Path(path) / "identity.json").read_text())
            # wall-clock facts vary between identical trainings; identities must not
            ident["trained"] = {k: v for k, v in trained.items() if k not in _VOLATILE}
        settings = {"scale": scale, "shift": shift}
    else:  # a transformers CLIP vision tower
        cfg = model.config
        ident["role"] = "clip"
        ident.update(
            tokens=(cfg.image_size // cfg.patch_size) ** 2 + 1,
            dim=int(cfg.hidden_size),
            image_size=int(cfg.image_size),
            patch_size=int(cfg.patch_size),
            output="last_hidden_state",
        )
        settings = {"image_size": cfg.image_size, "processor": source.get("processor")}
    fp = hashlib.sha256(json.dumps([ident["sha256"], settings], sort_keys=True).encode())
    ident["fingerprint"] = fp.hexdigest()
    return ident
