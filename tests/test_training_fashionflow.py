"""`ffbench train fashionflow` end to end on tiny shards: exact resume through the CLI, the exported
pipeline (EMA weights + the shards' encoders), refusals (preset, changed settings), the DDP loss view,
and the learning test.

Data: three 18-frame synthetic videos at the cpu preset (128x96), encoded by a randomly initialised
downsample-4 AutoencoderKL stored as the data directory's "tiny" VAE and the tiny random CLIP; shards
and manifest are written with the datasets package's own sample/shard writers.
"""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
from click.testing import CliRunner
from safetensors.torch import load_file
from torch.nn.parallel import DistributedDataParallel

from ffbench.cli import main
from ffbench.commands.train import DEFAULTS
from ffbench.models.fashionflow.training import FashionFlowOptions, make_loss
from ffbench.presets import get_preset
from ffbench.training import TrainConfig, seed_everything
from ffbench.training import train as train_loop
from ffbench.training.distributed import DistInfo
from ffbench.training.toy import toy_batch

PRESET = get_preset("cpu")
SINGLE = DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))



def _frames(seed: int, n: int = 18) -> np.ndarray:
    """A coloured disc moving across a gradient background: uint8 (n, 128, 96, 3)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: PRESET.height, : PRESET.width]
    colour, start, vel = rng.uniform(60, 255, 3), rng.uniform(20, 70, 2), rng.uniform(-2, 2, 2)
    out = np.empty((n, PRESET.height, PRESET.width, 3), np.uint8)
    for t in range(n):
        cy, cx = start + vel * t
        disc = ((yy - cy) ** 2 + (xx - cx) ** 2 < 18**2)[..., None]
        background = np.stack([yy, xx, yy + xx], axis=-1) * 0.5
        out[t] = np.where(disc, colour, background).clip(0, 255).astype(np.uint8)
    return out


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from diffusers import AutoencoderKL

    from ffbench.datasets.features import FeatureEncoders, build_sample
    from ffbench.datasets.manifest import MANIFEST_VERSION
    from ffbench.datasets.shards import pack_shards, write_sample_file
    from ffbench.encoders import (
        clip_image_tokens,
        encoder_identity,
        frames_to_tensor,
        load_clip,
        load_vae,
        vae_encode,
    )
    from ffbench.fileio import write_json_atomic

    root = tmp_path_factory.mktemp("ffdata")
    torch.manual_seed(0)
    AutoencoderKL(down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
                  block_out_channels=(8, 16, 16), layers_per_block=1, latent_channels=4, norm_num_groups=8,
                  sample_size=128).save_pretrained(root / "encoders" / "vae")
    vae = load_vae("tiny", data_dir=root)
    clip, processor = load_clip("tiny", data_dir=root)
    identities = {"vae": encoder_identity(vae, "tiny"), "clip": encoder_identity(clip, "tiny")}
    encoders = FeatureEncoders(
        latents=lambda f: vae_encode(vae, frames_to_tensor(f)[None])[0].movedim(1, 0).numpy(),
        clip_tokens=lambda f: clip_image_tokens(clip, processor, f).numpy(),
        identities=identities,
    )
    files = []
    for i in range(3):
        sample = build_sample(f"v{i}", _frames(i), split="train", url="", native={}, height=PRESET.height,
                              width=PRESET.width, downsample=PRESET.vae_downsample, resize="stretch",
                              fps=PRESET.fps, clip_all_frames=True, encoders=encoders)
        files.append(root / "work" / f"v{i}.tar")
        write_sample_file(files[-1], sample)
    split = root / "shards" / "train"
    shards = pack_shards(files, split, 10**12, max_samples=2)
    write_json_atomic(split / "manifest.json", {
        "version": MANIFEST_VERSION, "split": "train", "preset": PRESET.to_dict(), "encoders": identities,
        "shards": [s.to_dict() for s in shards], "samples": 3})
    return root


def _cli(*args: str):
    return CliRunner().invoke(main, ["train", "fashionflow", *args], catch_exceptions=False)


def _common(data_dir, out, steps: int) -> list[str]:
    return ["--shards", str(data_dir), "--preset", "cpu", "--out", str(out), "--steps", str(steps),
            "--checkpoint-every", "2", "--log-every", "1", "--ema-decay", "0.9", "--cond-dropout", "0.2",
            "--lr", "1e-3", "--no-progress"]


def test_cli_resume_is_bit_identical_and_exports_the_ema_pipeline(data_dir, tmp_path):
    ref, split_run = tmp_path / "ref", tmp_path / "split"
    result = _cli(*_common(data_dir, ref, 4))
    assert result.exit_code == 0, result.output
    assert _cli(*_common(data_dir, split_run, 2)).exit_code == 0
    result = _cli(*_common(data_dir, split_run, 4), "--resume")
    assert result.exit_code == 0, result.output

    # Tolerance 0: every tensor of the step-4 checkpoints is bit-identical.
    for name in ("model.safetensors", "model.ema.safetensors", "optimizer.safetensors"):
        a, b = load_file(ref / "checkpoint-4" / name), load_file(split_run / "checkpoint-4" / name)
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    log = [json.loads(line) for line in (split_run / "log.jsonl").read_text().splitlines()]
    ref_log = [json.loads(line) for line in (ref / "log.jsonl").read_text().splitlines()]
    assert [r["loss"] for r in log] == [r["loss"] for r in ref_log] and len(log) == 4

    from ffbench.models.fashionflow import load_pipeline

    pipe = load_pipeline(split_run / "pipeline")
    ema = load_file(split_run / "checkpoint-4" / "model.ema.safetensors")
    unet = dict(pipe.unet.named_parameters())
    assert all(torch.equal(unet[k], v) for k, v in ema.items())
    trained = load_file(split_run / "checkpoint-4" / "model.safetensors")
    assert any(not torch.equal(trained[k], v) for k, v in ema.items())  # the export is the EMA
    assert pipe.unet.config.conditioning == "both" and tuple(pipe.unet.config.sample_size) == (32, 24)


def test_refuses_shards_of_another_preset_and_changed_settings(data_dir, tmp_path):
    result = CliRunner().invoke(main, ["train", "fashionflow", "--shards", str(data_dir), "--preset", "paper",
                                       "--out", str(tmp_path / "p"), "--steps", "1"])
    assert result.exit_code == 1
    assert "do not fit --preset paper" in result.output and "preset.height is 128" in result.output
    assert _cli(*_common(data_dir, tmp_path / "r", 1), "--ema-decay", "0").exit_code == 0
    result = CliRunner().invoke(main, ["train", "fashionflow", *_common(data_dir, tmp_path / "r", 2),
                                       "--ema-decay", "0", "--conditioning", "global", "--resume"])
    assert result.exit_code == 1 and "conditioning: 'both' -> 'global'" in result.output


def test_every_model_trains_from_the_cli_and_cli_defaults_match_train_config(tmp_path):
    from ffbench.models.registry import available_models, get_model

    assert {m for m in available_models() if get_model(m).train is not None} == {
        "fashionflow", "imaginator", "cinn", "poke"}
    result = CliRunner().invoke(main, ["train", "poke", "--shards", str(tmp_path)])
    assert result.exit_code == 1 and "not built yet" not in result.output and str(tmp_path) in result.output
    assert DEFAULTS == {k: v for k, v in TrainConfig().to_dict().items() if k in DEFAULTS}
    assert set(TrainConfig().to_dict()) - set(DEFAULTS) == {"eps", "deterministic"}


def _tiny_model_and_batches(frames: int):
    from ffbench.models.fashionflow import FashionFlowModel, fashionflow_config

    model = FashionFlowModel(**fashionflow_config("cpu", num_frames=frames))
    # Four fixed clips of a blob moving in latent space (not noise: there is something to learn).
    clips = [toy_batch(i, batch_size=1, frames=frames, size=32, seed=1)["latents"][0] for i in range(4)]
    clips = torch.stack(clips)[..., :24] * 2  # (4, 4, F, 32, 24)
    tokens = torch.randn(4, PRESET.clip_tokens, PRESET.clip_dim, generator=torch.Generator().manual_seed(0))

    def batches(start: int):
        i = start
        while True:
            idx = torch.tensor([(2 * i) % 4, (2 * i + 1) % 4])
            yield {"latents": clips[idx], "cond_latent": clips[idx, :, 0], "clip": tokens[idx]}
            i += 1

    return model, batches


def test_loss_through_ddp_equals_the_bare_model(tmp_path):
    """`make_loss` must see through DDP (the losses read model attributes); a 1-process gloo group."""
    from ffbench.models.fashionflow import make_noise_scheduler

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    try:
        seed_everything(0)
        model, batches = _tiny_model_and_batches(frames=4)
        loss_fn = make_loss(make_noise_scheduler("cosine"), FashionFlowOptions(), cond_dropout=0.5)
        batch = next(iter(batches(0)))
        bare = loss_fn(model, batch, torch.Generator().manual_seed(1))
        wrapped = loss_fn(DistributedDataParallel(model), batch, torch.Generator().manual_seed(1))
        assert torch.equal(bare, wrapped) and bare.item() > 0
    finally:
        dist.destroy_process_group()


def test_cpu_preset_model_learns(tmp_path):
    """Learning test: the cpu-preset FashionFlow model (full widths, 16 frames, latent 32x24) on four
    fixed moving-blob clips. Mean loss of the last 10 of 30 steps < 0.7 x that of the first 10
    (measured with the preset's v-prediction: 0.543 -> 0.341, ratio 0.63). lr 2e-3, ten times the
    paper's 2e-4, to learn within a test's budget."""
    from ffbench.models.fashionflow import diffusion_loss, make_noise_scheduler

    seed_everything(0)
    model, batches = _tiny_model_and_batches(frames=PRESET.frames)
    scheduler = make_noise_scheduler("cosine")
    config = TrainConfig(steps=30, lr=2e-3, checkpoint_every=1000, log_every=10, ema_decay=0.0)
    result = train_loop(model, lambda m, b, g: diffusion_loss(m, scheduler, b, generator=g), batches, config,
                        tmp_path, info=SINGLE, progress=False)
    first, last = np.mean(result.losses[:10]), np.mean(result.losses[-10:])
    print(f"cpu preset: {result.seconds_per_step:.2f} s/step; loss {first:.3f} -> {last:.3f}")
    assert last < 0.7 * first, (first, last)


def test_interpolation_stage_trains_and_joins_the_pipeline(data_dir, tmp_path):
    base, interp = tmp_path / "base", tmp_path / "interp"
    short = ["--steps", "1", "--ema-decay", "0", "--no-progress", "--shards", str(data_dir)]
    assert _cli(*short, "--out", str(base)).exit_code == 0
    result = _cli(*short, "--out", str(interp), "--stage", "interpolate")
    assert result.exit_code == 0, result.output
    assert not (interp / "pipeline").exists()

    from ffbench.models.fashionflow import load_pipeline

    pipe = load_pipeline(base / "pipeline", interpolator=interp / "interpolator")
    assert pipe.interpolator.config.stage == "interpolation"
    saved = load_file(interp / "checkpoint-1" / "model.safetensors")
    params = dict(pipe.interpolator.named_parameters())
    assert all(torch.equal(params[k], v) for k, v in saved.items() if k in params)
