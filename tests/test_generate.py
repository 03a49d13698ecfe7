"""One `generate` for every model: the `static` floor, the registry's type checks, privileged input (the
mechanism Poke uses, through a stand-in model) and generation.json."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from pixel_shards import write_data

from ffbench.cli import main
from ffbench.generation import generate_set
from ffbench.models.registry import (
    _REGISTRY,
    ModelEntry,
    ModelTypeError,
    available_models,
    find_checkpoint,
    get_model,
)
from ffbench.video import probe_video, read_video


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_data(tmp_path_factory.mktemp("pixels"), {"test": 2}, frames=10)


def _cond(data_dir, key: str) -> np.ndarray:
    from io import BytesIO

    from PIL import Image

    from ffbench.datasets.shards import iter_split_entries

    png = dict(iter_split_entries(data_dir / "shards" / "test", "cond.png"))[key]
    return np.asarray(Image.open(BytesIO(png)).convert("RGB"))


def test_threads_limits_the_pools_before_generating(data_dir, tmp_path, monkeypatch):
    import ffbench.threads

    calls = []
    monkeypatch.setattr(ffbench.threads, "limit_threads", calls.append)  # the real one would outlive the test
    args = ["generate", str(data_dir / "shards" / "test"), "--model", "static", "--no-progress"]
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "one"), "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert calls == [1]
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "default")])
    assert result.exit_code == 0 and calls == [1, 0]  # 0: every pool left as it is
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "bad"), "--threads", "-1"])
    assert result.exit_code == 2 and "--threads" in result.output


def test_static_repeats_the_conditioning_frame(data_dir, tmp_path):
    out = tmp_path / "static"
    result = CliRunner().invoke(main, ["generate", str(data_dir / "shards" / "test"), "--model", "static",
                                       "-o", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["generation.json", "test0.mp4", "test1.mp4"]
    info = probe_video(out / "test1.mp4")
    assert (info.num_frames, info.height, info.width, info.fps) == (16, 128, 96, 30.0)  # the split's preset
    frames = read_video(out / "test1.mp4").astype(int)
    cond = _cond(data_dir, "test1").astype(int)
    assert np.abs(frames - cond[None]).mean() < 2.0  # every frame is the first one (up to H.264)
    assert np.abs(frames[1:] - frames[:1]).mean() < 1.0  # and they do not move
    record = json.loads((out / "generation.json").read_text())
    assert record["model"] == "static" and record["checkpoint"] is None and record["flags"] == []
    assert record["frames"] == 16 and record["size"] == [128, 96] and record["videos"] == 2
    result = generate_set(data_dir / "shards" / "test", tmp_path / "five", model="static", frames=5,
                          progress=False)
    assert [probe_video(v).num_frames for v in result.videos] == [5, 5]


def test_wrong_or_missing_checkpoints_are_named(data_dir, tmp_path):
    test = str(data_dir / "shards" / "test")
    cases = [
        (["--model", "static", "--checkpoint", str(tmp_path)], "takes no checkpoint"),
        (["--model", "imaginator"], "--model imaginator needs --checkpoint"),
        ([], "give --checkpoint"),
        (["--checkpoint", str(tmp_path)], f"--checkpoint {tmp_path} holds no saved model"),
    ]
    for args, message in cases:
        result = CliRunner().invoke(main, ["generate", test, "-o", str(tmp_path / "x"), *args])
        assert result.exit_code == 1 and message in result.output, (args, result.output)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"model": "imaginator", "train": {}}))
    with pytest.raises(ModelTypeError, match="imaginator training run without its exported generator/"):
        find_checkpoint(run)
    (run / "generator").mkdir()
    (run / "generator" / "config.json").write_text(json.dumps({"_class_name": "FashionFlowModel"}))
    with pytest.raises(ModelTypeError, match="holds a FashionFlowModel"):
        find_checkpoint(run)
    assert {"fashionflow", "imaginator", "static"} <= set(available_models())
    assert get_model("static").needs_checkpoint is False


class _EchoReal:
    """A stand-in privileged model: returns the real clip it was given."""

    size, num_frames, max_frames, fps = (64, 48), 8, None, 15.0
    settings: dict = {"echo": True}
    flags: list = []

    def __call__(self, cond, num_frames, generator, real=None):
        assert real is not None and real.shape == (1, 3, num_frames, 64, 48)
        return real


@pytest.fixture
def echo_model():
    _REGISTRY["echo"] = ModelEntry(name="echo", description="test stand-in",
                                   load=lambda folder, device: _EchoReal(), needs_checkpoint=False,
                                   privileged_input="ground-truth flow")
    yield "echo"
    del _REGISTRY["echo"]


def test_privileged_model_gets_the_real_clip_and_is_flagged(data_dir, tmp_path, echo_model):
    split = data_dir / "shards" / "test"
    result = generate_set(split, tmp_path / "echo", model=echo_model, progress=False)
    record = json.loads((tmp_path / "echo" / "generation.json").read_text())
    assert record["flags"] == ["privileged-input: ground-truth flow",
                               "upsampled: generated at 64x48, written at 128x96 (bilinear)"]
    assert record["real"] == str(split.resolve()) and record["fps"] == 15.0 and record["frames"] == 8
    # The video is the real clip (frames 0-7), area-resized to 64x48 and back up: close to the real one.
    real = read_video(next(iter(_mp4s(split))), indices=range(8)).astype(float)
    fake = read_video(result.videos[0]).astype(float)
    assert fake.shape == real.shape and np.abs(fake - real).mean() < 6.0
    images = tmp_path / "images"
    images.mkdir()
    (images / "a.png").write_bytes(_png())
    with pytest.raises(Exception, match="give a split of shards as IMAGE"):
        generate_set(images, tmp_path / "no", model=echo_model, progress=False)


def _mp4s(split):
    from ffbench.datasets.shards import iter_split_entries

    return (data for key, data in iter_split_entries(split, "mp4") if key == "test0")


def _png() -> bytes:
    from io import BytesIO

    from PIL import Image

    buf = BytesIO()
    Image.fromarray(np.full((32, 24, 3), 128, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_generation_json_is_removed_before_a_new_set(data_dir, tmp_path, monkeypatch):
    out = tmp_path / "s"
    generate_set(data_dir / "shards" / "test", out, model="static", frames=2, progress=False)
    assert (out / "generation.json").is_file()

    def broken(*args, **kwargs):
        raise RuntimeError("disk died")

    monkeypatch.setattr("ffbench.video.write_video", broken)
    with pytest.raises(RuntimeError, match="disk died"):
        generate_set(data_dir / "shards" / "test", out, model="static", frames=3, progress=False)
    assert not (out / "generation.json").exists()  # no description of a half-written set


class _NoiseColour:
    """A stand-in sampler whose video is a flat colour drawn from the generator: it shows the noise."""

    size, num_frames, max_frames, fps = (32, 24), 3, None, 10.0
    settings: dict = {}
    flags: list = []

    def __call__(self, cond, num_frames, generator, real=None):
        colour = torch.rand(1, 3, 1, 1, 1, generator=generator) * 2 - 1
        return colour.expand(1, 3, num_frames, *self.size).clone()


@pytest.fixture
def noise_model():
    _REGISTRY["noise-colour"] = ModelEntry(name="noise-colour", description="test stand-in",
                                           load=lambda folder, device: _NoiseColour(), needs_checkpoint=False)
    yield "noise-colour"
    del _REGISTRY["noise-colour"]


def test_each_video_draws_its_own_noise_whatever_else_is_generated(tmp_path, noise_model):
    from ffbench.seeding import noise_seed

    images = tmp_path / "images"
    images.mkdir()
    for name in ("a", "b", "c"):  # one picture three times: only the noise can tell the videos apart
        (images / f"{name}.png").write_bytes(_png())
    three = generate_set(images, tmp_path / "three", model=noise_model, seed=7, progress=False)
    means = {p.stem: read_video(p).astype(float).mean((0, 1, 2)) for p in three.videos}
    assert min(np.abs(means[x] - means[y]).max() for x, y in (("a", "b"), ("a", "c"), ("b", "c"))) > 3
    # b alone, or with another seed: its own noise is fixed by the seed and its name, not by the others
    alone = generate_set(images / "b.png", tmp_path / "b.mp4", model=noise_model, seed=7, progress=False)
    assert np.array_equal(read_video(alone.videos[0]), read_video(tmp_path / "three" / "b.mp4"))
    other = generate_set(images / "b.png", tmp_path / "b8.mp4", model=noise_model, seed=8, progress=False)
    assert np.abs(read_video(other.videos[0]).astype(float).mean((0, 1, 2)) - means["b"]).max() > 3
    assert noise_seed(7, "b") == noise_seed(7, "b") != noise_seed(7, "a")
    assert json.loads((tmp_path / "three" / "generation.json").read_text())["seed"] == 7
