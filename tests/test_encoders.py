"""Encoders: pixel conventions, VAE encode/decode, CLIP normalisation, tiny stand-ins, offline errors."""

from __future__ import annotations

import json
import time
import uuid

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL

from ffbench import encoders as E


def tiny_vae_model(scaling_factor: float = 0.7) -> AutoencoderKL:
    torch.manual_seed(0)
    return AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(8, 16, 16),
        norm_num_groups=8,
        latent_channels=4,
        scaling_factor=scaling_factor,
    ).eval()


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    """A data dir holding a (random) VAE where `ffbench prepare` puts the trained tiny one."""
    data = tmp_path_factory.mktemp("data")
    out = data / "encoders" / "vae"
    tiny_vae_model().save_pretrained(out)
    (out / "identity.json").write_text(json.dumps({"heldout_psnr": 25.0, "seed": 0}))
    return data


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    return E.load_clip("tiny", data_dir=tmp_path_factory.mktemp("clipdata"))


# -- pixels ------------------------------------------------------------------------------------------


def test_frames_to_tensor_maps_uint8_to_signed_unit_range_and_back():
    frames = np.random.default_rng(0).integers(0, 256, (5, 8, 6, 3), dtype=np.uint8)
    frames[0, 0, 0] = [0, 128, 255]
    x = E.frames_to_tensor(frames)
    assert x.shape == (3, 5, 8, 6) and x.dtype == torch.float32
    assert x[:, 0, 0, 0].tolist() == pytest.approx([-1.0, 128 / 127.5 - 1, 1.0], abs=1e-6)
    assert x[1, 2, 3, 4].item() == pytest.approx(frames[2, 3, 4, 1] / 127.5 - 1, abs=1e-6)
    assert np.array_equal(E.tensor_to_frames(x), frames)
    batch = E.frames_to_tensor(np.stack([frames, frames[::-1]]))
    assert batch.shape == (2, 3, 5, 8, 6)
    assert np.array_equal(E.tensor_to_frames(batch)[1], frames[::-1])


def test_frames_to_tensor_rejects_floats_and_bad_shapes():
    with pytest.raises(ValueError, match="uint8"):
        E.frames_to_tensor(np.zeros((2, 4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        E.frames_to_tensor(np.zeros((4, 4, 3), np.uint8))


# -- VAE ---------------------------------------------------------------------------------------------


def test_load_tiny_vae_and_identity(trained_dir):
    vae = E.load_vae("tiny", data_dir=trained_dir)
    ident = E.encoder_identity(vae, "tiny")
    assert ident["kind"] == "tiny" and ident["offline_stand_in"] is True and ident["role"] == "vae"
    assert (ident["downsample"], ident["latent_channels"], ident["scaling_factor"]) == (4, 4, 0.7)
    assert ident["trained"]["heldout_psnr"] == 25.0
    # the hash is of the weights: the in-memory twin has it, a changed weight does not
    assert ident["sha256"] == E.state_dict_sha256(tiny_vae_model())
    twin = tiny_vae_model()
    with torch.no_grad():
        twin.decoder.conv_out.bias[0] += 1e-3
    assert E.state_dict_sha256(twin) != ident["sha256"]
    # the fingerprint also covers the scaling factor, which changes every cached latent
    rescaled = tiny_vae_model(scaling_factor=0.5)
    rescaled.ffbench_source = vae.ffbench_source
    other = E.encoder_identity(rescaled)
    assert other["sha256"] == ident["sha256"] and other["fingerprint"] != ident["fingerprint"]


def test_tiny_vae_missing_says_how_to_train(tmp_path):
    with pytest.raises(E.EncoderUnavailable, match="--vae tiny") as err:
        E.load_vae("tiny", data_dir=tmp_path)
    assert "ffbench prepare" in str(err.value)


def test_load_vae_local_dir_and_pipeline_layout(tmp_path):
    tiny_vae_model().save_pretrained(tmp_path / "standalone")
    tiny_vae_model().save_pretrained(tmp_path / "pipe" / "vae")
    a = E.load_vae(str(tmp_path / "standalone"))
    b = E.load_vae(str(tmp_path / "pipe"))
    assert E.encoder_identity(a)["kind"] == "local" and b.ffbench_source["subfolder"] == "vae"
    assert E.encoder_identity(a)["sha256"] == E.encoder_identity(b)["sha256"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(E.EncoderUnavailable, match="config.json"):
        E.load_vae(str(tmp_path / "empty"))


def test_vae_encode_is_scaled_posterior_mean_per_frame_and_chunking_is_exact(trained_dir):
    vae = E.load_vae("tiny", data_dir=trained_dir)
    video = torch.rand(2, 3, 3, 16, 12, generator=torch.Generator().manual_seed(1)) * 2 - 1
    lat = E.vae_encode(vae, video, chunk_size=2)
    assert lat.shape == (2, 4, 3, 4, 3) and lat.dtype == torch.float32
    with torch.no_grad():  # independent reference: one frame at a time through diffusers
        ref = vae.encode(video[1, :, 2][None]).latent_dist.mean[0] * 0.7
    torch.testing.assert_close(lat[1, :, 2], ref, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(E.vae_encode(vae, video, chunk_size=1), lat, atol=1e-5, rtol=1e-4)
    assert torch.equal(E.vae_encode(vae, video, chunk_size=2), lat)  # deterministic: no sampling

    rec = E.vae_decode(vae, lat, chunk_size=4)
    assert rec.shape == video.shape and rec.min() >= -1 and rec.max() <= 1
    with torch.no_grad():
        ref_rec = vae.decode(lat[0, :, 2][None] / 0.7).sample[0].clamp(-1, 1)
    torch.testing.assert_close(rec[0, :, 2], ref_rec, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(E.vae_decode(vae, lat, chunk_size=1), rec, atol=1e-5, rtol=1e-4)


def test_vae_encode_rejects_bad_input(trained_dir):
    vae = E.load_vae("tiny", data_dir=trained_dir)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        E.vae_encode(vae, torch.full((1, 3, 1, 8, 8), 255.0))
    with pytest.raises(ValueError, match="multiples"):
        E.vae_encode(vae, torch.zeros(1, 3, 1, 10, 8))
    with pytest.raises(ValueError, match="B, 3, F, H, W"):
        E.vae_encode(vae, torch.zeros(3, 1, 8, 8))
    with pytest.raises(ValueError, match="chunk_size"):
        E.vae_decode(vae, torch.zeros(1, 4, 1, 2, 2), chunk_size=0)


# -- offline errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--vae", "--clip"])
def test_uncached_hub_id_offline_fails_fast_naming_flag(flag, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    repo = f"ffbench-test/not-cached-{uuid.uuid4().hex[:8]}"
    load = E.load_vae if flag == "--vae" else E.load_clip
    start = time.perf_counter()
    with pytest.raises(E.EncoderUnavailable) as err:
        load(repo)
    assert time.perf_counter() - start < 5.0
    msg = str(err.value)
    assert msg.startswith(f"{flag} '{repo}'") and "offline" in msg
    assert f"hf download {repo}" in msg and f"{flag} tiny" in msg and f"{flag} DIR" in msg
    assert len(msg.splitlines()) <= 6


def test_offline_env_set_after_import_is_respected(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(E.EncoderUnavailable, match="offline"):
        E.load_vae(f"ffbench-test/not-cached-{uuid.uuid4().hex[:8]}")


def test_missing_absolute_path_is_reported_as_such():
    with pytest.raises(E.EncoderUnavailable, match="no such local directory"):
        E.load_clip("/nonexistent/ffbench/clip")


# -- CLIP ----------------------------------------------------------------------------------------------


def test_clip_sees_real_contrast_unlike_the_double_rescale_bug(tiny_clip):
    _, proc = tiny_clip
    black_white = np.zeros((2, 128, 96, 3), np.uint8)
    black_white[1] = 255
    pix = E.clip_pixel_values(proc, black_white)
    assert pix.shape == (2, 3, 64, 64)
    mean, std = np.array(proc.image_mean), np.array(proc.image_std)
    # independent reference: CLIP's normalisation of 0 and 1
    np.testing.assert_allclose(pix[0, :, 5, 5].numpy(), -mean / std, rtol=1e-5)
    np.testing.assert_allclose(pix[1, :, 5, 5].numpy(), (1 - mean) / std, rtol=1e-5)
    assert pix.min() == pytest.approx(-1.79, abs=0.01) and pix.max() == pytest.approx(2.15, abs=0.01)
    assert (pix[1] - pix[0]).abs().min() > 3.0

    # the public FashionFlow bug: [0, 1] floats into a processor that divides by 255 again
    buggy = proc(
        images=list(torch.from_numpy(black_white).permute(0, 3, 1, 2).float() / 255), return_tensors="pt"
    )
    spread = (buggy["pixel_values"][1] - buggy["pixel_values"][0]).abs().max()
    assert spread < 0.02  # black and white are nearly the same input
    with pytest.raises(ValueError, match="divided twice"):
        E.clip_pixel_values(proc, black_white.astype(np.float32) / 255)


def test_tiny_clip_tokens_tell_images_apart(tiny_clip):
    from ffbench.synthetic import render_video

    model, proc = tiny_clip
    frames = np.stack([render_video(seed, 1, 128, 96)[0] for seed in range(4)])
    noise = np.random.default_rng(0).integers(-3, 4, frames.shape)
    jittered = np.clip(frames.astype(int) + noise, 0, 255).astype(np.uint8)  # same images, re-encoded
    tok = E.clip_image_tokens(model, proc, np.concatenate([frames, jittered]))
    assert tok.shape == (8, 17, 64) and tok.dtype == torch.float32
    # all 17 tokens as one vector: a random tower keeps a large shared component (position and
    # class embeddings), so compare the same image re-encoded against different images
    flat = tok.flatten(1)
    feats = torch.nn.functional.normalize(flat, dim=-1)
    cos = feats @ feats.T
    off = ~torch.eye(4, dtype=torch.bool)
    same, different = torch.diagonal(cos[:4, 4:]), cos[:4, :4][off]
    assert same.min() > 0.999
    assert different.max() < same.min() - 0.02, (same, different)
    dist = torch.cdist(flat, flat)
    assert dist[:4, :4][off].min() > 10 * torch.diagonal(dist[:4, 4:]).max()


def test_tiny_clip_is_saved_once_and_reloaded_identically(tmp_path):
    state = torch.random.get_rng_state()
    model, proc = E.load_clip("tiny", data_dir=tmp_path, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)  # building it did not touch the caller's RNG
    saved = tmp_path / "encoders" / "clip"
    assert (saved / "config.json").exists() and (saved / "preprocessor_config.json").exists()
    again, proc2 = E.load_clip("tiny", data_dir=tmp_path, seed=3)
    a, b = E.encoder_identity(model), E.encoder_identity(again)
    assert a["sha256"] == b["sha256"] == E.state_dict_sha256(E.build_tiny_clip(3)[0])
    assert a["sha256"] != E.state_dict_sha256(E.build_tiny_clip(4)[0])
    assert a["fingerprint"] == b["fingerprint"]
    assert (a["kind"], a["offline_stand_in"], a["tokens"], a["dim"]) == ("tiny", True, 17, 64)
    assert proc2.image_mean == proc.image_mean
    with pytest.raises(E.EncoderUnavailable, match="seed 3"):
        E.load_clip("tiny", data_dir=tmp_path, seed=4)


def test_local_clip_dir_loads_the_same_tower(tmp_path):
    model, proc = E.build_tiny_clip(1)
    model.save_pretrained(tmp_path / "clip")
    proc.save_pretrained(tmp_path / "clip")
    loaded, _ = E.load_clip(str(tmp_path / "clip"))
    ident = E.encoder_identity(loaded)
    assert ident["kind"] == "local" and ident["offline_stand_in"] is False
    assert ident["sha256"] == E.state_dict_sha256(model)
