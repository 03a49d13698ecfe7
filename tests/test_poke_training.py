"""Poke on the phase loop: the losses fall on a fixed batch, and `train_poke` resumes bit for bit."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from test_poke_data import translating_square, write_split

from ffbench.models.poke import PatchDiscriminator, PokeModel, PyramidL1, TemporalDiscriminator
from ffbench.models.poke.training import EXPORT, PokeLossWeights, PokeOptions, build_setup, train_poke
from ffbench.presets import get_preset
from ffbench.training import TrainConfig, seed_everything, train_phases
from ffbench.training.data import ShardMismatchError
from ffbench.training.distributed import DistInfo

SINGLE = DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
SMALL = dict(sample_size=(32, 24), num_frames=3, encoder_channels=(4, 8), bottleneck_channels=16,
             poke_channels=(4, 8), poke_res_blocks=1)
SMALL_DISCS = dict(patch_channels=8, patch_layers=2, temporal_channels=8, temporal_max_channels=16)


def _log(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


def test_a_few_steps_lower_the_losses_on_a_fixed_batch(tmp_path):
    seed_everything(4)
    model = PokeModel(**SMALL)
    discs = {"patch_disc": PatchDiscriminator(8, 2),
             "temporal_disc": TemporalDiscriminator(3, (32, 24), 8, 16)}
    config = TrainConfig(steps=15, lr=2e-3, beta1=0.9, weight_decay=0.0, grad_clip=0.0, ema_decay=0.0,
                         checkpoint_every=15, log_every=1)
    setup = build_setup(model, discs, PyramidL1(), PokeLossWeights(gan_start=3, patch_examples=4), config)
    x = torch.linspace(-1, 1, 24)
    # a ramp moving one pixel right per frame: (1, 3, 4, 32, 24); x0 and three frames after it
    clip = torch.stack([torch.roll(x, t)[None, None].expand(3, 32, 24) for t in range(4)], dim=1)[None]
    batch = {"image": clip[:, :, 0], "target": clip[:, :, 1:], "poke": torch.zeros(1, 2, 32, 24),
             "zero_poke": torch.zeros(1, dtype=torch.bool)}
    batch["poke"][:, 0, 15:18, 11:14] = 0.5

    def same_batch(start):
        while True:
            yield batch

    result = train_phases(setup, same_batch, config, tmp_path, info=SINGLE, progress=False)
    first, last = result.history[0], result.history[-1]
    assert "loss/patch_disc" not in result.history[2]  # the discriminators join at step 3
    assert {"loss/patch_disc/r1", "loss/temporal_disc/fake", "loss/dynamics/temporal_fmap",
            "loss/dynamics/patch_gen"} <= set(result.history[3])
    assert all(torch.isfinite(torch.tensor(list(h.values()))).all() for h in result.history)
    assert last["loss/static"] < 0.7 * first["loss/static"]
    assert last["loss/dynamics/reconstruction"] < 0.7 * first["loss/dynamics/reconstruction"]


@pytest.fixture(scope="module")
def cpu_shards(tmp_path_factory):
    """Four translating-square videos at the cpu preset's 128x96, 6-9 frames each."""
    root = tmp_path_factory.mktemp("poke-shards")
    box = (40, 88, 24, 72)
    moves = ((6, 2, 0), (7, 0, 2), (8, -2, 1), (9, 1, -2))
    videos = [translating_square(n, dx, dy, 128, 96, box) for n, dx, dy in moves]
    return write_split(root, videos, preset=get_preset("cpu").to_dict())


def _train(shards, out, steps, resume=False, **overrides):
    base = dict(steps=steps, batch_size=2, lr=1e-3, beta1=0.9, weight_decay=0.0, grad_clip=0.0, ema_decay=0.9,
                checkpoint_every=2, log_every=1, seed=3)
    options = PokeOptions(preset="cpu", zero_poke_rate=0.5, vgg="none", gan_start=1)
    config = TrainConfig(**{**base, **overrides})
    return train_poke(shards, out, config, options, resume=resume, progress=False, info=SINGLE,
                      model_overrides=SMALL, disc_overrides=SMALL_DISCS)


def test_train_poke_resumes_bit_for_bit_and_exports_the_generator(cpu_shards, tmp_path):
    ref, split = tmp_path / "ref", tmp_path / "split"
    _train(cpu_shards, ref, 4)
    _train(cpu_shards, split, 2)
    result = _train(cpu_shards, split, 4, resume=True)
    assert result.step == 4 and len(result.history) == 2 and result.exported == split / EXPORT
    files = sorted(p.name for p in (ref / "checkpoint-4").glob("*.safetensors"))
    assert {"image_encoder.safetensors", "decoder.ema.safetensors", "patch_disc.safetensors",
            "temporal_disc_opt.safetensors", "static_opt.safetensors",
            "dynamics_opt.safetensors"} <= set(files)
    for name in files:
        a, b = load_file(ref / "checkpoint-4" / name), load_file(split / "checkpoint-4" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    drop = ("time", "it_per_s")
    assert [{k: v for k, v in r.items() if k not in drop} for r in _log(split)] == \
        [{k: v for k, v in r.items() if k not in drop} for r in _log(ref)]
    # the run used the flow cache beside the shards, the substitute loss, and says so in the export
    saved = json.loads((ref / "config.json").read_text())
    assert saved["model"] == "poke" and saved["model_config"]["perceptual_loss"] == "pyramid-l1"
    assert (cpu_shards / "flows" / saved["flow_cache"] / "meta.json").is_file()
    model = PokeModel.from_pretrained(ref / EXPORT)
    assert model.config.perceptual_loss == "pyramid-l1" and model.config.flow_norm > 0
    assert tuple(model.config.sample_size) == (32, 24) and model.config.num_frames == 3
    assert 0 < sum(r["loss/dynamics/zero_poke_share"] for r in _log(ref)) < 4  # some zero pokes, not all
    with pytest.raises(ShardMismatchError, match="--preset paper"):
        train_poke(cpu_shards, tmp_path / "paper", TrainConfig(steps=1), PokeOptions(preset="paper"),
                   info=SINGLE, progress=False)


def test_generate_from_the_run_pokes_from_the_real_split_and_flags_it(cpu_shards, tmp_path):
    from click.testing import CliRunner

    from ffbench.commands.generate import generate
    from ffbench.models.registry import find_checkpoint, get_model
    from ffbench.video import probe_video

    run = tmp_path / "run"
    _train(cpu_shards, run, 2)
    entry, folder = find_checkpoint(run)
    assert entry is get_model("poke") and folder == run / EXPORT
    split = cpu_shards / "shards" / "train"  # the fixture's only split: real videos of 6-9 frames
    out = tmp_path / "samples"
    result = CliRunner().invoke(generate, [str(split), "--checkpoint", str(run), "-o", str(out), "--frames",
                                           "5", "--no-progress"])
    assert result.exit_code == 0, result.output
    videos = sorted(out.glob("*.mp4"))
    assert len(videos) == 4
    info = probe_video(videos[0])
    assert (info.num_frames, info.height, info.width) == (5, 128, 96)
    record = json.loads((out / "generation.json").read_text())
    assert record["model"] == "poke" and record["real"] == str(split.resolve()) and record["frames"] == 5
    assert record["flags"][0] == "privileged-input: ground-truth flow"
    assert record["flags"].count("privileged-input: ground-truth flow") == 1
    assert "perceptual-loss: pyramid-l1 (weight-free substitute of VGG-19)" in record["flags"]
    # without the real split (a folder of images) Poke refuses, naming what it needs
    images = tmp_path / "images"
    images.mkdir()
    from PIL import Image

    Image.new("RGB", (96, 128), (120, 80, 40)).save(images / "a.png")
    result = CliRunner().invoke(generate, [str(images), "--checkpoint", str(run), "-o", str(tmp_path / "no"),
                                           "--no-progress"])
    assert result.exit_code == 1 and "ground-truth flow from the real test video" in str(result.exception)


def test_the_registry_counts_the_official_generator():
    from ffbench.models.registry import get_model

    entry = get_model("poke")
    assert entry.privileged_input == "ground-truth flow" and entry.export == EXPORT
    with torch.device("meta"):
        nets = entry.networks("official")
    assert sum(p.numel() for p in nets["generator"].parameters()) == 39_110_819
    assert set(nets) == {"generator", "patch_disc", "temporal_disc"}
