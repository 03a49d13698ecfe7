"""ImaGINator: official size on the meta device, shapes at tiny size, save/load, a learning test, and
`ffbench train imaginator` end to end on tiny shards (exact resume through the CLI, the EMA export,
`generate` from the run)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from pixel_shards import disc_frames, write_data
from safetensors.torch import load_file

from ffbench.models.imaginator import (
    ImageDiscriminator,
    ImaginatorConfigError,
    ImaginatorGenerator,
    VideoDiscriminator,
    discriminator_configs,
    imaginator_config,
)
from ffbench.models.imaginator.training import build_setup
from ffbench.training import TrainConfig, seed_everything, train_phases
from ffbench.training.distributed import DistInfo

SINGLE = DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
TINY = dict(sample_size=(32, 16), num_frames=16, noise_dim=8, appearance_dim=8, channels=4,
            mid_channels=(16, 16, 8, 8, 4))


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_official_size_matches_the_official_code():
    """Official code: a 75.4M-parameter generator (six classes; one class here). Discriminators reported."""
    config = imaginator_config("official")
    discs = discriminator_configs(config)
    with torch.device("meta"):
        gen = ImaginatorGenerator(**config)
        video, image = VideoDiscriminator(**discs["video"]), ImageDiscriminator(**discs["image"])
    n = _count(gen)
    print(f"official: generator {n / 1e6:.2f}M, video D {_count(video) / 1e6:.2f}M, "
          f"image D {_count(image) / 1e6:.2f}M")
    assert abs(n - 75.4e6) / 75.4e6 < 0.05
    # the layers the official code has: decoder middle widths, the last video D kernel (2, 4, 4)
    assert gen.blocks[0].net[0].out_channels == 4096 and gen.blocks[4].net[3].out_channels == 3
    assert video.rest[-1].parametrizations.weight.original.shape == (1, 512, 2, 4, 4)
    assert 10e6 < _count(video) < 12e6 and 2.5e6 < _count(image) < 3e6  # 11.05M and 2.76M


def test_tiny_shapes_and_geometry_errors():
    seed_everything(0)
    gen = ImaginatorGenerator(**TINY)
    discs = discriminator_configs(TINY)
    image = torch.rand(2, 3, 32, 16) * 2 - 1
    video = gen(image, torch.randn(2, 8))
    assert video.shape == (2, 3, 16, 32, 16) and video.abs().max() <= 1
    assert VideoDiscriminator(**discs["video"])(video).shape == (2,)
    assert ImageDiscriminator(**discs["image"])(video[:, :, 3]).shape == (2,)
    wide = ImaginatorGenerator(**{**TINY, "num_frames": 32})
    assert wide(image, torch.randn(2, 8)).shape == (2, 3, 32, 32, 16)
    with pytest.raises(ImaginatorConfigError, match="multiple of 16"):
        ImaginatorGenerator(**{**TINY, "sample_size": (24, 16)})
    with pytest.raises(ImaginatorConfigError, match="num_frames=12"):
        ImaginatorGenerator(**{**TINY, "num_frames": 12})
    with pytest.raises(ImaginatorConfigError, match="takes"):
        gen(torch.rand(2, 3, 16, 16), torch.randn(2, 8))


def test_save_load_round_trip_gives_identical_videos(tmp_path):
    seed_everything(1)
    gen = ImaginatorGenerator(**TINY).eval()
    gen.save_pretrained(tmp_path)
    assert (tmp_path / "diffusion_pytorch_model.safetensors").is_file()
    again = ImaginatorGenerator.from_pretrained(tmp_path).eval()
    assert list(again.config.sample_size) == [32, 16] and list(again.config.mid_channels) == [16, 16, 8, 8, 4]
    image = torch.rand(2, 3, 32, 16) * 2 - 1
    a = gen.generate(image, torch.Generator().manual_seed(5))
    b = again.generate(image, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert not torch.equal(a, gen.generate(image, torch.Generator().manual_seed(6)))  # the noise matters


def test_a_few_steps_lower_the_l1_term_on_a_fixed_batch(tmp_path):
    """Twelve steps of all three phases on one fixed batch of two disc clips (lr 3e-3): the generator's L1
    falls (measured: mean 0.608 over steps 1-3, 0.424 over steps 10-12)."""
    frames = [torch.from_numpy(disc_frames(i, 16)).permute(3, 0, 1, 2).float() / 127.5 - 1 for i in range(2)]
    clips = torch.nn.functional.interpolate(torch.stack(frames).flatten(1, 2), size=(32, 16), mode="area")
    batch = {"video": clips.view(2, 3, 16, 32, 16)}

    def batches(start: int):
        while True:
            yield batch

    config = TrainConfig(steps=12, lr=3e-3, weight_decay=0.0, grad_clip=0.0, ema_decay=0.0,
                         checkpoint_every=100, log_every=4)
    seed_everything(0)
    result = train_phases(build_setup(TINY, config), batches, config, tmp_path, info=SINGLE, progress=False)
    l1 = [h["loss/G/l1"] for h in result.history]
    first, last = np.mean(l1[:3]), np.mean(l1[-3:])
    print(f"l1 {first:.3f} -> {last:.3f}")
    assert last < 0.8 * first, l1
    assert {"loss/D_video/real", "loss/D_image/fake", "loss/G/adv_video"} <= result.history[0].keys()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_data(tmp_path_factory.mktemp("pixels"), {"train": 3, "test": 2})


def _train(*args: str):
    from ffbench.commands.train import train

    return CliRunner().invoke(train, ["imaginator", *args], catch_exceptions=False)


def test_cli_train_resumes_exactly_exports_the_ema_and_generates(data_dir, tmp_path):
    from ffbench.cli import main
    from ffbench.commands.generate import generate
    from ffbench.video import probe_video

    common = ["--shards", str(data_dir), "--preset", "cpu", "--batch-size", "2", "--checkpoint-every", "2",
              "--log-every", "1", "--ema-decay", "0.9", "--no-progress"]
    ref, split = tmp_path / "ref", tmp_path / "split"
    assert _train(*common, "--out", str(ref), "--steps", "4").exit_code == 0
    assert _train(*common, "--out", str(split), "--steps", "2").exit_code == 0
    result = _train(*common, "--out", str(split), "--steps", "4", "--resume")
    assert result.exit_code == 0, result.output
    assert "imaginator's own defaults: weight_decay=0.0, grad_clip=0.0" in result.output
    names = ("generator", "video_disc", "image_disc", "generator.ema", "generator_opt", "video_disc_opt",
             "image_disc_opt")
    for name in names:
        a, b = (load_file(run / "checkpoint-4" / f"{name}.safetensors") for run in (ref, split))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    logs = [[json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
            for run in (ref, split)]
    assert [r["loss/G/l1"] for r in logs[0]] == [r["loss/G/l1"] for r in logs[1]] and len(logs[1]) == 4
    saved = json.loads((split / "config.json").read_text())
    assert saved["model"] == "imaginator" and saved["train"]["weight_decay"] == 0.0

    exported = ImaginatorGenerator.from_pretrained(split / "generator")
    ema = load_file(split / "checkpoint-4" / "generator.ema.safetensors")
    params = dict(exported.named_parameters())
    assert all(torch.equal(params[k], v) for k, v in ema.items())  # the export holds the EMA weights
    assert tuple(exported.config.sample_size) == (64, 48) and exported.config.num_frames == 16

    # generate from the run directory: the split's names, its 128x96 size, the requested frame count
    out = tmp_path / "samples"
    result = CliRunner().invoke(generate, [str(data_dir / "shards" / "test"), "--checkpoint", str(split),
                                           "-o", str(out), "--frames", "12", "--no-progress"])
    assert result.exit_code == 0, result.output
    videos = sorted(p.name for p in out.glob("*.mp4"))
    assert videos == ["test0.mp4", "test1.mp4"]
    info = probe_video(out / "test0.mp4")
    assert (info.num_frames, info.height, info.width, info.fps) == (12, 128, 96, 30.0)
    record = json.loads((out / "generation.json").read_text())
    assert record["model"] == "imaginator" and record["checkpoint"] == str((split / "generator").resolve())
    assert record["flags"] == ["upsampled: generated at 64x48, written at 128x96 (bilinear)"]
    assert record["frames"] == 12 and record["videos"] == 2
    args = ["generate", str(data_dir / "shards" / "test"), "--checkpoint", str(split), "-o", str(out)]
    result = CliRunner().invoke(main, [*args, "--frames", "17"])
    assert result.exit_code == 1 and "at most 16 frames" in result.output
    result = CliRunner().invoke(main, [*args, "--steps", "10"])
    assert result.exit_code == 1 and "--steps: not used by imaginator" in result.output
    result = CliRunner().invoke(main, [*args, "--model", "fashionflow"])
    assert result.exit_code == 1
    assert f"{split / 'generator'} holds a model of type imaginator" in result.output
