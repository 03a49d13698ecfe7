"""Issue 24: `ffbench convert fashionflow` maps the published checkpoint's layout (tests/data fixtures of the
public code's key names and shapes) onto the `paper` network, loads it strictly, and writes a pipeline that
`ffbench generate` uses; anything that does not fit is one clear error and leaves nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from official_checkpoints import official_state, save_official
from PIL import Image
from test_cli_errors import assert_clean_failure, leftovers
from test_fashionflow_helpers import tiny_vae

from ffbench.cli import main
from ffbench.fileio import sha256_file
from ffbench.models.fashionflow import fashionflow_config, load_pipeline
from ffbench.models.fashionflow.convert import convert_checkpoint


@pytest.fixture(scope="module")
def vae_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("vae") / "vae"
    tiny_vae().save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """A random checkpoint in the public layout at width 8 (CLIP 17 x 64, latent 8 x 6)."""
    return save_official(tmp_path_factory.mktemp("ckpt") / "FashionFlow_checkpoint.pth")


def _convert(ckpt: Path, out: Path, vae_dir: Path, *extra: str):
    return CliRunner().invoke(main, ["convert", "fashionflow", str(ckpt), "-o", str(out), "--vae",
                                     str(vae_dir), "--clip", "tiny", "--latent-size", "8x6", "--frames", "4",
                                     *extra])


def test_paper_size_checkpoint_converts_and_loads_strictly(tmp_path):
    path = save_official(tmp_path / "FashionFlow_checkpoint.pth", "paper", seed=None)  # zeros: ~290 MB
    model, record = convert_checkpoint(path)
    assert sum(p.numel() for p in model.unet.parameters()) == 71_671_548
    assert sum(p.numel() for p in model.adapter.parameters()) == 986_558
    assert record["tensors"] == {"net": 574, "adapter": 4}
    assert record["mapping"] == {"tensors": 578, "renamed": 566, "reshaped": 9, "permuted": 3}
    assert record["sha256"] == sha256_file(path)
    paper = fashionflow_config("paper")
    for key in ("block_out_channels", "layers_per_block", "temporal_downsample", "self_attention",
                "attention_heads", "attention_head_dim", "norm_num_groups", "latent_channels", "clip_tokens",
                "clip_dim", "prediction_type", "group_norm_over", "feed_forward_token_shift",
                "feed_forward_norm", "position_bias_input", "cross_attention_heads"):
        assert tuple(np.atleast_1d(model.config[key])) == tuple(np.atleast_1d(paper[key])), key
    assert tuple(model.config.sample_size) == (80, 64) and model.config.num_frames == 70


def test_tensors_land_where_the_layout_says_with_the_time_convs_reordered(small):
    official = torch.load(small, weights_only=True)
    net = official["net"]
    model, record = convert_checkpoint(small, latent_size=(8, 6))
    ours = model.state_dict()
    assert record["inferred"]["block_out_channels"] == (8, 16, 32, 64)
    assert (record["inferred"]["attention_heads"], record["inferred"]["attention_head_dim"]) == (8, 64)
    torch.testing.assert_close(ours["unet.down_stages.1.resnets.2.conv2.temporal.weight"],
                               net["downs.1.1.1.block2.project.temporal_conv.weight"], rtol=0, atol=0)
    torch.testing.assert_close(ours["unet.mid.attention.temporal_bias.mlp.4.bias"],
                               net["mid_attn.temporal_rel_pos_bias.net.2.bias"], rtol=0, atol=0)
    torch.testing.assert_close(ours["unet.up_stages.2.cross_attention.to_k.weight"],
                               net["ups.2.4.attention_2.k_proj.weight"], rtol=0, atol=0)
    assert torch.equal(ours["adapter.mix.weight"], official["adapter"]["linear1.weight"])
    # Conv3d 1x1x1 -> Linear, channel norm g (C, 1, 1, 1) -> (C,)
    torch.testing.assert_close(ours["unet.up_stages.3.attention.ff.proj_in.weight"],
                               net["ups.3.2.ff.proj_in.0.weight"][..., 0, 0, 0], rtol=0, atol=0)
    torch.testing.assert_close(ours["unet.mid.attention.ff.norm.weight"],
                               net["mid_attn.ff.proj_out.0.g"].flatten(), rtol=0, atol=0)
    # public channel order c * 2 + p (a frame pair per channel), ours p * C + c (all channels per frame)
    down = net["downs.3.3.down_time.1.weight"][..., 0, 0, 0]
    up, up_bias = net["ups.3.3.up_time.0.weight"][..., 0, 0, 0], net["ups.3.3.up_time.0.bias"]
    c = down.shape[0]
    mine_down = ours["unet.down_stages.3.downsample.time.weight"][..., 0, 0]
    mine_up = ours["unet.up_stages.3.upsample.time.weight"][..., 0, 0]
    mine_bias = ours["unet.up_stages.3.upsample.time.bias"]
    for p in range(2):
        for ch in (0, 5, c - 1):
            assert torch.equal(mine_down[:, p * c + ch], down[:, ch * 2 + p])
            assert torch.equal(mine_up[p * c + ch], up[ch * 2 + p])
            assert mine_bias[p * c + ch] == up_bias[ch * 2 + p]


def test_cli_writes_a_pipeline_that_generate_uses(small, vae_dir, tmp_path):
    out = tmp_path / "ff-official"
    result = _convert(small, out, vae_dir)
    assert result.exit_code == 0, result.output
    assert "578 tensors" in result.output
    record = json.loads((out / "conversion.json").read_text())
    assert record["source"] == "FashionFlow_checkpoint.pth" and record["sha256"] == sha256_file(small)
    assert record["converter_version"] == 1 and record["mapping"]["permuted"] == 3
    index = json.loads((out / "model_index.json").read_text())
    assert index["inference"] == "official"
    pipe = load_pipeline(out)
    cfg = pipe.unet.config
    assert (cfg.group_norm_over, cfg.position_bias_input, tuple(cfg.cross_attention_heads)) == ("clip", "raw",
                                                                                                 (1, 1, 2, 4))
    sched = pipe.scheduler.config
    assert type(pipe.scheduler).__name__ == "DDPMScheduler" and sched.num_train_timesteps == 1000
    assert sched.prediction_type == "epsilon" and sched.get("trained_betas") is not None  # the legacy ramp
    converted, _ = convert_checkpoint(small, latent_size=(8, 6))
    loaded = pipe.unet.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in converted.state_dict().items())
    image = tmp_path / "person.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8)).save(image)
    result = CliRunner().invoke(main, ["generate", str(image), "--checkpoint", str(out), "-o",
                                       str(tmp_path / "person.mp4"), "--inference", "ffbench", "--steps", "2",
                                       "--no-progress"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "person.mp4").stat().st_size > 0
    again = _convert(small, out, vae_dir)
    assert_clean_failure(again, "already exists", "--overwrite", root=tmp_path)
    assert _convert(small, out, vae_dir, "--overwrite").exit_code == 0


class NotATensor:  # torch.save pickles this class by reference: weights_only must refuse it
    pass


def _broken(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.pth"
    state = official_state("width8")
    if kind == "missing":
        del state["net"]["downs.1.1.0.block2.norm.bias"]
        del state["adapter"]["linear1.bias"]
    elif kind == "extra":
        state["net"]["downs.0.5.weight"] = torch.zeros(3)
    elif kind == "shape":
        state["net"]["ups.2.4.layernorm_3.weight"] = torch.zeros(5)
    elif kind == "no_net":
        state = {"model": state["net"], "adapter": state["adapter"]}
    elif kind == "not_a_dict":
        state = [state["net"]]
    elif kind == "code":
        state["opt"] = NotATensor()
    elif kind == "garbage":
        path.write_bytes(b"not a torch file")
        return path
    torch.save(state, path)
    return path


@pytest.mark.parametrize(("kind", "names"), [
    ("missing", ["2 missing", "net['downs.1.1.0.block2.norm.bias']", "adapter['linear1.bias']"]),
    ("extra", ["1 unexpected", "net['downs.0.5.weight']"]),
    ("shape", ["mis-shaped", "net['ups.2.4.layernorm_3.weight'] is (5,), expected (16,)"]),
    ("no_net", ["no 'net'", "'model'"]),
    ("not_a_dict", ["holds a list", "'net' and 'adapter'"]),
    ("code", ["weights_only", "never unpickles code"]),
    ("garbage", ["not a readable torch file"]),
])
def test_a_checkpoint_that_does_not_fit_is_one_clear_error_and_writes_nothing(kind, names, vae_dir, tmp_path):
    path = _broken(tmp_path, kind)
    out = tmp_path / "out"
    result = _convert(path, out, vae_dir)
    assert_clean_failure(result, str(path.name), *names, root=tmp_path)
    assert not out.exists() and leftovers(tmp_path) == []


def test_no_file_and_unavailable_encoders_fail_before_anything_is_written(small, vae_dir, tmp_path):
    out = tmp_path / "out"
    missing = _convert(tmp_path / "nope.pth", out, vae_dir)
    assert_clean_failure(missing, "nope.pth", "no such file", root=tmp_path)
    result = CliRunner().invoke(main, ["convert", "fashionflow", str(small), "-o", str(out),
                                       "--vae", str(tmp_path / "no-vae")])
    assert_clean_failure(result, "--vae", root=tmp_path)
    # a latent size whose pooled cells do not fit the adapter's vae2clip (12 = 4 x 3)
    result = CliRunner().invoke(main, ["convert", "fashionflow", str(small), "-o", str(out), "--vae",
                                       str(vae_dir), "--clip", "tiny", "--latent-size", "8x8"])
    assert_clean_failure(result, "latent size 8x8", "--latent-size", root=tmp_path)
    assert not out.exists()


def test_the_latent_size_is_read_from_the_adapter_at_the_paper_aspect_or_square():
    from ffbench.models.fashionflow.official_layout import latent_size_of

    # (h/2) * (w/2) cells: the paper's 80 x 64 latent pools to 1280; a smaller 5:4 one or a square one
    assert latent_size_of(1280) == (80, 64)
    assert latent_size_of(20) == (10, 8) and latent_size_of(80) == (20, 16)
    assert latent_size_of(64) == (16, 16)
    assert latent_size_of(12) is None  # 8 x 6: give --latent-size
