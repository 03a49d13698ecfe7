"""FashionFlowPipeline and `ffbench generate`: outputs, conditioning frame, round trip, images, errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from test_fashionflow_helpers import tiny_model, tiny_pipeline  # noqa: F401

from ffbench.encoders import frames_to_tensor, vae_encode
from ffbench.images import fit_image, load_image
from ffbench.models.fashionflow import FashionFlowConfigError, FashionFlowPipeline


@pytest.fixture(scope="module")
def pipe():
    p = tiny_pipeline()
    p.set_progress_bar_config(disable=True)
    return p


@pytest.fixture(scope="module")
def saved(tmp_path_factory, pipe):
    path = tmp_path_factory.mktemp("pipe") / "pipeline"
    pipe.save_pretrained(path)
    return path


def _photo(mode: str = "RGB", size=(50, 37), seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).convert(mode)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_output_types_and_shapes(pipe):
    img = _photo()
    frames = pipe(img, num_frames=4, num_inference_steps=2, output_type="np", generator=_gen()).frames
    assert frames.shape == (1, 4, 32, 24, 3) and 0 <= frames.min() and frames.max() <= 1
    pt = pipe(img, num_frames=3, num_inference_steps=2, output_type="pt", generator=_gen()).frames
    assert pt.shape == (1, 3, 3, 32, 24)
    pil = pipe([img, img], num_frames=2, num_inference_steps=2, generator=_gen()).frames
    assert len(pil) == 2 and len(pil[0]) == 2 and pil[0][0].size == (24, 32)
    default = pipe(img, num_inference_steps=1, output_type="latent").frames
    assert default.shape == (1, 4, 6, 8, 6)  # the model's training clip length


def test_frame_zero_of_a_sample_is_the_conditioning_latent(pipe):
    img = _photo(seed=4)
    latents = pipe(img, num_frames=5, num_inference_steps=3, output_type="latent", generator=_gen()).frames
    pixels = fit_image(load_image(img), 32, 24)
    cond = vae_encode(pipe.vae, frames_to_tensor(pixels[None, None]))[:, :, 0]
    assert torch.equal(latents[:, :, 0], cond)
    assert not torch.allclose(latents[:, :, 1], cond)


def test_saved_pipeline_reloads_to_identical_outputs(pipe, saved):
    index = json.loads((saved / "model_index.json").read_text())
    assert index["unet"] == ["ffbench.models.fashionflow", "FashionFlowModel"]
    assert (saved / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    loaded = FashionFlowPipeline.from_pretrained(saved)
    loaded.set_progress_bar_config(disable=True)
    img = _photo(seed=2)
    for interpolate in (False, True):
        kw = dict(num_frames=3, num_inference_steps=2, output_type="np", interpolate=interpolate)
        a = pipe(img, generator=_gen(7), **kw)
        b = loaded(img, generator=_gen(7), **kw)
        np.testing.assert_array_equal(a.frames, b.frames)


def test_interpolation_doubles_the_frame_rate_and_keeps_keyframes(pipe):
    img = _photo(seed=3)
    keys = pipe(img, num_frames=4, num_inference_steps=2, output_type="latent", generator=_gen(1)).frames
    full = pipe(
        img, num_frames=4, num_inference_steps=2, output_type="latent", generator=_gen(1), interpolate=True
    ).frames
    assert full.shape == (1, 4, 7, 8, 6)
    assert torch.equal(full[:, :, ::2], keys)
    frames = pipe(img, num_frames=4, num_inference_steps=2, output_type="np", interpolate=True).frames
    assert frames.shape == (1, 7, 32, 24, 3)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "L", "CMYK", "P", "I;16", "1"])
def test_any_image_mode_becomes_an_rgb_frame_of_the_model_size(mode):
    img = _photo("RGB", size=(61, 90)).convert(mode) if mode != "I;16" else Image.new("I;16", (61, 90), 4000)
    out = fit_image(load_image(img), 32, 24)
    assert out.shape == (32, 24, 3) and out.dtype == np.uint8


def test_transparency_is_composited_on_white():
    rgba = np.zeros((40, 30, 4), np.uint8)
    rgba[..., 0] = 255  # red, but fully transparent except a centre patch
    rgba[15:25, 10:20, 3] = 255
    out = fit_image(load_image(rgba), 40, 30)
    assert (out[0, 0] == 255).all()  # background
    assert tuple(out[20, 15]) == (255, 0, 0)


def test_image_is_resized_to_cover_then_centre_cropped():
    wide = np.zeros((32, 96, 3), np.uint8)
    wide[:, 36:60] = 200  # a bright band in the middle third
    out = fit_image(load_image(wide), 32, 24)
    assert out.shape == (32, 24, 3) and out.mean() > 190  # the crop kept the centre


def test_component_mismatch_is_refused(pipe):
    with pytest.raises(FashionFlowConfigError, match="clip_tokens=5"):
        FashionFlowPipeline(
            unet=tiny_model(clip_tokens=5),
            vae=pipe.vae,
            image_encoder=pipe.image_encoder,
            feature_extractor=pipe.feature_extractor,
            scheduler=pipe.scheduler,
        )
    with pytest.raises(FashionFlowConfigError, match="interpolator has sample_size"):
        FashionFlowPipeline(
            unet=pipe.unet,
            vae=pipe.vae,
            image_encoder=pipe.image_encoder,
            feature_extractor=pipe.feature_extractor,
            scheduler=pipe.scheduler,
            interpolator=tiny_model(stage="interpolation", sample_size=(10, 6)),
        )


# ------------------------------------------------------------------------------- ffbench generate
def _cli(*args):
    from ffbench.cli import main

    return CliRunner().invoke(main, ["generate", *map(str, args)])


def test_generate_writes_an_mp4_with_the_requested_frames(saved, tmp_path):
    from ffbench.video import probe_video

    image = tmp_path / "person.png"
    _photo("RGBA", size=(70, 90)).save(image)
    out = tmp_path / "out" / "person.mp4"
    result = _cli(image, "--checkpoint", saved, "-o", out, "--frames", 5, "--steps", 2, "--gif", "--seed", 3)
    assert result.exit_code == 0, result.output
    info = probe_video(out)
    assert (info.num_frames, info.height, info.width) == (5, 32, 24)
    assert info.fps == pytest.approx(30.0)
    assert out.with_suffix(".gif").is_file()
    result = _cli(
        image,
        "--checkpoint",
        saved,
        "-o",
        tmp_path / "i.mp4",
        "--frames",
        5,
        "--steps",
        1,
        "--sampler",
        "ddim",
        "--interpolate",
    )
    assert result.exit_code == 0, result.output
    info = probe_video(tmp_path / "i.mp4")
    assert info.num_frames == 5 and info.fps == pytest.approx(60.0)


def test_generate_bad_image_path_is_a_clear_error(saved, tmp_path):
    result = _cli(tmp_path / "missing.png", "--checkpoint", saved, "-o", tmp_path / "x.mp4")
    assert result.exit_code != 0 and "missing.png" in result.output and "does not exist" in result.output
    not_image = tmp_path / "notes.png"
    not_image.write_text("hello")
    result = _cli(not_image, "--checkpoint", saved, "-o", tmp_path / "x.mp4")
    assert result.exit_code != 0 and "cannot be read as an image" in result.output
    assert not (tmp_path / "x.mp4").exists()


def test_generate_refuses_a_checkpoint_of_a_different_config(saved, tmp_path):
    image = tmp_path / "p.png"
    _photo().save(image)
    bad = tmp_path / "bad"
    shutil.copytree(saved, bad)
    shutil.rmtree(bad / "unet")
    tiny_model(clip_dim=32).save_pretrained(bad / "unet")  # the CLIP in the checkpoint gives 64-wide tokens
    result = _cli(image, "--checkpoint", bad, "-o", tmp_path / "x.mp4", "--steps", 1)
    assert result.exit_code != 0
    assert str(bad) in result.output and "clip_dim=32" in result.output
    result = _cli(image, "--checkpoint", tmp_path, "-o", tmp_path / "x.mp4")
    assert result.exit_code != 0 and "model_index.json" in result.output


def test_generate_a_directory_of_images_loads_once_and_matches_single_calls(saved, tmp_path):
    from ffbench.video import read_video

    images = tmp_path / "images"
    images.mkdir()
    _photo("RGB", size=(70, 90)).save(images / "a.png")
    _photo("L", size=(60, 80)).save(images / "b.jpg")
    (images / "notes.txt").write_text("not an image, ignored")
    out_dir = tmp_path / "videos"
    result = _cli(images, "--checkpoint", saved, "-o", out_dir, "--frames", 3, "--steps", 2)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out_dir.iterdir()) == ["a.mp4", "b.mp4", "generation.json"]
    single = tmp_path / "b_alone.mp4"
    result = _cli(images / "b.jpg", "--checkpoint", saved, "-o", single, "--frames", 3, "--steps", 2)
    assert result.exit_code == 0, result.output
    assert (read_video(single) == read_video(out_dir / "b.mp4")).all()
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _cli(empty, "--checkpoint", saved, "-o", out_dir)
    assert result.exit_code != 0 and "no images" in result.output


def _write_tar(path, members: dict[str, bytes]) -> None:
    import io
    import tarfile

    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_generate_from_a_split_of_shards_uses_each_stored_conditioning_frame(saved, tmp_path):
    import io

    def png(mode, size):
        buf = io.BytesIO()
        _photo(mode, size=size).save(buf, format="PNG")
        return buf.getvalue()

    split = tmp_path / "test"
    split.mkdir()
    _write_tar(split / "shard-000000.tar", {"vid_a.cond.png": png("RGB", (24, 32)), "vid_a.json": b"{}",
                                            "vid_b.cond.png": png("RGBA", (24, 32)), "vid_b.json": b"{}"})
    out_dir = tmp_path / "samples"
    result = _cli(split, "--checkpoint", saved, "-o", out_dir, "--frames", 2, "--steps", 1)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out_dir.iterdir()) == ["generation.json", "vid_a.mp4", "vid_b.mp4"]

    evil = tmp_path / "evil"
    evil.mkdir()
    _write_tar(evil / "shard-000000.tar", {"../escape.cond.png": png("RGB", (24, 32))})
    result = _cli(evil, "--checkpoint", saved, "-o", tmp_path / "never")
    assert result.exit_code != 0 and "refusing the shard" in result.output
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("kind", ["ddim", "dpmpp-sde"])
def test_default_steps_are_those_of_the_pipelines_sampler(kind):
    from ffbench.models.fashionflow.schedule import default_steps

    pipe = tiny_pipeline(interpolator=False, kind=kind)
    pipe.set_progress_bar_config(disable=True)
    pipe(_photo(), num_frames=2, output_type="latent", generator=_gen())
    assert len(pipe.scheduler.timesteps) == default_steps(kind) <= 50
