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
from ffbench.datasets.spec import DatasetSpec, get_dataset
from ffbench.errors import UserError
from ffbench.fileio import sha256_file, write_json_atomic
from ffbench.presets import Preset

log = logging.getLogger(__name__)
VAE_FRAMES_PER_VIDEO = 32  # frames per training video given to the tiny VAE (evenly spaced)
VAE_HELDOUT_EVERY = 8  # every 8th training video (sorted ids) is held out to measure the VAE's PSNR
VAE_TEST_FRAMES_PER_VIDEO = 8  # frames per test video (frame 0, the conditioning frame, among them) scored
VOLATILE_KEYS = ("seconds",)  # run-dependent entries of the tiny VAE's identity.json


def _read_frames(data_dir: Path, probe, count: int, preset: Preset, resize: str) -> np.ndarray | None:
    """`count` evenly spaced frames of one source video (frame 0 first), resized; None if unreadable."""
    from ffbench.video import VideoError, read_video

    idx = np.unique(np.linspace(0, probe.frames - 1, min(count, probe.frames)).round().astype(int))
    try:
        frames = read_video(data_dir / "source" / probe.path, indices=idx.tolist())
    except VideoError as exc:
        log.warning("tiny VAE: skipping %s: %s", probe.id, exc)
        return None
    return resize_frames(frames, preset.height, preset.width, resize)


def _train_frames(data_dir: Path, probes: list, preset: Preset, resize: str,
                  dataset: DatasetSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Resized frames for the tiny VAE, uint8 (N, H, W, 3): (train, held-out, test). Held-out frames come
    from training videos kept out of its training; test frames from the test split (None if it has none),
    which the VAE never sees either."""
    train, held, test = [], [], []
    rows = sorted((p for p in probes if p.split == dataset.train_split), key=lambda p: p.id)
    for i, p in enumerate(rows):
        frames = _read_frames(data_dir, p, VAE_FRAMES_PER_VIDEO, preset, resize)
        if frames is not None:
            (held if i % VAE_HELDOUT_EVERY == VAE_HELDOUT_EVERY - 1 else train).append(frames)
    if not train or not held:
        raise UserError(
            f"the tiny VAE needs at least {VAE_HELDOUT_EVERY} readable training videos (every "
            f"{VAE_HELDOUT_EVERY}th is held out to measure it); {data_dir / 'source'} has "
            f"{len(train) + len(held)}. For a smaller set, borrow the tiny VAE of another prepared dataset: "
            "--vae OTHER/encoders/vae (e.g. one made by `ffbench prepare --synthetic --out OTHER` with the "
            "same --height/--width)")
    for p in sorted((p for p in probes if p.split == dataset.test_split), key=lambda p: p.id):
        frames = _read_frames(data_dir, p, VAE_TEST_FRAMES_PER_VIDEO, preset, resize)
        if frames is not None:
            test.append(frames)
    return np.concatenate(train), np.concatenate(held), np.concatenate(test) if test else None


def stage_vae(data_dir: Path, spec: str, probes: list, preset: Preset, resize: str, steps: int | None,
              seed: int, progress: bool = False, synthetic_looks: int = 0,
              dataset: DatasetSpec | None = None) -> tuple[object, dict | None]:
    """The VAE for `spec` and, for a tiny VAE (trained here unless already done), its figures:
    {"heldout_psnr": dB, "test": `tiny_vae.reconstruction_scores` on test-split frames or None}.

    `synthetic_looks`: a synthetic dataset's tiny VAE also trains on frames of that many extra looks of
    the generator (`synthetic.dataset.vae_frames`, seeded from `seed`), in neither split. `dataset` says
    which split the VAE trains on and which one scores it (None: the default dataset's)."""
    from ffbench.datasets.tiny_vae import recipe
    from ffbench.encoders import load_vae

    if spec != "tiny":
        return load_vae(spec, data_dir=data_dir), None
    out = data_dir / "encoders" / "vae"
    marker = data_dir / "encoders" / "vae.prepare.json"
    dataset = get_dataset(dataset)
    ids = sorted(p.id for p in probes if p.split == dataset.train_split)
    settings = {"height": preset.height, "width": preset.width, "resize": resize, "steps": steps,
                "seed": seed,
                "train_ids": fingerprint(ids), "frames_per_video": VAE_FRAMES_PER_VIDEO,
                "heldout_every": VAE_HELDOUT_EVERY, "test_frames_per_video": VAE_TEST_FRAMES_PER_VIDEO,
                "test_ids": fingerprint(sorted(p.id for p in probes if p.split == dataset.test_split)),
                "downsample": preset.vae_downsample,
                "latent_channels": preset.latent_channels,
                "synthetic_looks": synthetic_looks,
                "recipe": fingerprint(recipe())}  # a changed architecture or default retrains
    ident = out / "identity.json"
    done = marker.is_file() and ident.is_file() and json.loads(marker.read_text()) == {
        "settings": settings, "identity_sha256": sha256_file(ident)}
    if not done:
        from ffbench.datasets.tiny_vae import train_tiny_vae

        marker.unlink(missing_ok=True)
        shutil.rmtree(out, ignore_errors=True)  # never train over a half-written or stale VAE
        frames, held, test = _train_frames(data_dir, probes, preset, resize, dataset)
        if synthetic_looks:
            from ffbench.synthetic.dataset import vae_frames

            frames = np.concatenate([frames, vae_frames(seed, synthetic_looks, preset.height, preset.width)])
        kwargs = {"seed": seed} | ({"steps": steps} if steps is not None else {})
        log.info("training the tiny VAE on %d frames (%d held out)", len(frames), len(held))
        train_tiny_vae(frames, held, out, progress=progress, frames_test=test, **kwargs)
        write_json_atomic(marker, {"settings": settings, "identity_sha256": sha256_file(ident)})
    identity = json.loads(ident.read_text())
    figures = {"heldout_psnr": _psnr(identity), "test": identity.get("test")}
    return load_vae("tiny", data_dir=data_dir), figures


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
