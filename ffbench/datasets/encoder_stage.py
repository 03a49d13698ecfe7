"""Stage 3 of `prepare`: the encoders that make the cached features.

Hub or local weights are loaded as given. `tiny` VAE: trained here on frames of the training videos
(resized exactly as the shards will be), every 8th video held out to measure its PSNR; it is
retrained only when `DATA/encoders/vae.prepare.json` (written after training) no longer matches the
settings or the identity.json on disk.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np

from ffbench.datasets.clips import resize_frames
from ffbench.datasets.features import FeatureEncoders
from ffbench.datasets.manifest import fingerprint
from ffbench.errors import UserError
from ffbench.fileio import sha256_file, write_json_atomic
from ffbench.presets import Preset

log = logging.getLogger(__name__)
VAE_FRAMES_PER_VIDEO = 32  # frames per training video given to the tiny VAE (evenly spaced)
VAE_HELDOUT_EVERY = 8  # every 8th training video (sorted ids) is held out to measure the VAE's PSNR
VOLATILE_KEYS = ("seconds",)  # run-dependent entries of the tiny VAE's identity.json


def _train_frames(data_dir: Path, probes: list, preset: Preset, resize: str) -> tuple[np.ndarray, np.ndarray]:
    """Resized frames of the training videos for the tiny VAE: (train, held-out), uint8 (N, H, W, 3)."""
    from ffbench.video import VideoError, read_video

    train, held = [], []
    rows = sorted((p for p in probes if p.split == "train"), key=lambda p: p.id)
    for i, p in enumerate(rows):
        idx = np.unique(np.linspace(0, p.frames - 1, min(VAE_FRAMES_PER_VIDEO, p.frames)).round().astype(int))
        try:
            frames = read_video(data_dir / "source" / p.path, indices=idx.tolist())
        except VideoError as exc:
            log.warning("tiny VAE: skipping %s: %s", p.id, exc)
            continue
        (held if i % VAE_HELDOUT_EVERY == VAE_HELDOUT_EVERY - 1 else train).append(
            resize_frames(frames, preset.height, preset.width, resize))
    if not train or not held:
        raise UserError(
            f"the tiny VAE needs at least {VAE_HELDOUT_EVERY} readable training videos (every "
            f"{VAE_HELDOUT_EVERY}th is held out to measure it); {data_dir / 'source'} has "
            f"{len(train) + len(held)}. For a smaller set, borrow the tiny VAE of another prepared dataset: "
            "--vae OTHER/encoders/vae (e.g. one made by `ffbench prepare --synthetic --out OTHER` with the "
            "same --height/--width)")
    return np.concatenate(train), np.concatenate(held)


def stage_vae(data_dir: Path, spec: str, probes: list, preset: Preset, resize: str, steps: int | None,
              seed: int, progress: bool = False) -> tuple[object, float | None]:
    """The VAE for `spec` and, for a tiny VAE, its held-out PSNR (trained here unless already done)."""
    from ffbench.datasets.tiny_vae import recipe
    from ffbench.encoders import load_vae

    if spec != "tiny":
        return load_vae(spec, data_dir=data_dir), None
    out = data_dir / "encoders" / "vae"
    marker = data_dir / "encoders" / "vae.prepare.json"
    ids = sorted(p.id for p in probes if p.split == "train")
    settings = {"height": preset.height, "width": preset.width, "resize": resize, "steps": steps,
                "seed": seed,
                "train_ids": fingerprint(ids), "frames_per_video": VAE_FRAMES_PER_VIDEO,
                "heldout_every": VAE_HELDOUT_EVERY, "downsample": preset.vae_downsample,
                "latent_channels": preset.latent_channels,
                "recipe": fingerprint(recipe())}  # a changed architecture or default retrains
    ident = out / "identity.json"
    done = marker.is_file() and ident.is_file() and json.loads(marker.read_text()) == {
        "settings": settings, "identity_sha256": sha256_file(ident)}
    if not done:
        from ffbench.datasets.tiny_vae import train_tiny_vae

        marker.unlink(missing_ok=True)
        shutil.rmtree(out, ignore_errors=True)  # never train over a half-written or stale VAE
        frames, held = _train_frames(data_dir, probes, preset, resize)
        kwargs = {"seed": seed} | ({"steps": steps} if steps is not None else {})
        log.info("training the tiny VAE on %d frames (%d held out)", len(frames), len(held))
        train_tiny_vae(frames, held, out, progress=progress, **kwargs)
        write_json_atomic(marker, {"settings": settings, "identity_sha256": sha256_file(ident)})
    return load_vae("tiny", data_dir=data_dir), _psnr(json.loads(ident.read_text()))


def _psnr(identity: dict) -> float | None:
    for key in ("heldout_psnr", "psnr_heldout", "held_out_psnr", "psnr"):
        if isinstance(identity.get(key), (int, float)):
            return float(identity[key])
    return None


def portable_identity(identity: dict, data_dir: Path) -> dict:
    """An encoder identity without what differs between identical runs: absolute paths and the tiny
    VAE's training wall time (a resumed prepare must write the same manifest as an uninterrupted one)."""
    out = dict(identity)
    if isinstance(out.get("trained"), dict):
        out["trained"] = {k: v for k, v in out["trained"].items() if k not in VOLATILE_KEYS}
    path = out.get("path")
    if isinstance(path, str) and Path(path).is_absolute():
        try:
            out["path"] = str(Path(path).resolve().relative_to(data_dir.resolve()))
        except ValueError:
            out["path"] = Path(path).name
    return out


def make_encoders(vae, clip, data_dir: Path) -> FeatureEncoders:
    from ffbench.encoders import clip_image_tokens, encoder_identity, frames_to_tensor, vae_encode

    model, processor = clip

    def latents(frames: np.ndarray) -> np.ndarray:
        return vae_encode(vae, frames_to_tensor(frames)[None])[0].movedim(1, 0).numpy()  # (N, C, h, w)

    def tokens(frames: np.ndarray) -> np.ndarray:
        return clip_image_tokens(model, processor, frames).numpy()  # (N, T, D)

    identities = {"vae": portable_identity(encoder_identity(vae), data_dir),
                  "clip": portable_identity(encoder_identity(model), data_dir)}
    for ident in identities.values():  # a tiny VAE borrowed from another dataset is still a stand-in
        if isinstance(ident.get("trained"), dict) and ident["trained"].get("offline_stand_in"):
            ident["offline_stand_in"] = True
    return FeatureEncoders(latents=latents, clip_tokens=tokens, identities=identities)
