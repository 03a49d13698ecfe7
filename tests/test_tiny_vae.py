"""The tiny stand-in VAE: trains, saves atomically, reloads through load_vae, sets unit-variance latents."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ffbench import encoders as E
from ffbench.datasets import tiny_vae as T

STEPS = 30


@pytest.fixture(scope="module")
def frames():
    from ffbench.synthetic import render_video

    train = np.concatenate([render_video(seed, 4, 32, 24) for seed in range(3)])  # (12, 32, 24, 3)
    held = render_video(7, 4, 32, 24)
    return train, held


@pytest.fixture(scope="module")
def trained(frames, tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    out = data / "encoders" / "vae"
    ident = T.train_tiny_vae(*frames, out, steps=STEPS, seed=0, progress=False, batch_size=4, crop=16)
    return data, out, ident


def test_training_lowers_the_loss_and_records_its_identity(trained):
    _, out, ident = trained
    assert ident["loss_last"] < 0.8 * ident["loss_first"]
    assert ident["steps"] == STEPS and ident["seed"] == 0 and ident["offline_stand_in"] is True
    assert ident["heldout_frames"] == 4 and ident["train_frames"] == 12
    assert 5.0 < ident["heldout_psnr"] < 60.0
    assert json.loads((out / "identity.json").read_text()) == ident
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary left behind


def test_saved_vae_reloads_with_same_weights_and_unit_variance_latents(trained, frames):
    data, _, ident = trained
    vae = E.load_vae("tiny", data_dir=data)
    enc = E.encoder_identity(vae, "tiny")
    assert enc["sha256"] == ident["sha256"] and enc["downsample"] == 4 and enc["latent_channels"] == 4
    assert enc["scaling_factor"] == pytest.approx(1 / ident["latent_std"])
    assert enc["trained"]["heldout_psnr"] == ident["heldout_psnr"]
    assert "seconds" not in enc["trained"]  # the identity must not change when a retrain takes longer
    train, held = frames
    lat = E.vae_encode(vae, E.frames_to_tensor(train)[None])
    assert lat.shape == (1, 4, 12, 8, 6)
    assert lat.std().item() == pytest.approx(1.0, rel=1e-3)  # measured on these same training frames
    assert T.heldout_psnr(vae, held) == pytest.approx(ident["heldout_psnr"], abs=1e-3)


def test_heldout_psnr_matches_an_independent_computation(trained, frames):
    data, _, _ = trained
    vae = E.load_vae("tiny", data_dir=data)
    held = frames[1]
    with torch.no_grad():
        x = torch.from_numpy(held).permute(0, 3, 1, 2).float() / 127.5 - 1
        rec = vae.decode(vae.encode(x).latent_dist.mean).sample.clamp(-1, 1)
    rec8 = ((rec + 1) * 127.5).round().permute(0, 2, 3, 1).numpy()
    mse = ((rec8 - held.astype(np.float64)) ** 2).reshape(len(held), -1).mean(1)
    expected = np.mean(10 * np.log10(255.0**2 / mse))
    assert T.heldout_psnr(vae, held) == pytest.approx(expected, abs=0.02)


def test_same_seed_same_weights_and_retraining_replaces_atomically(trained, frames, tmp_path):
    _, _, ident = trained
    out = tmp_path / "vae"
    (out).mkdir()
    (out / "stale.txt").write_text("old")
    again = T.train_tiny_vae(*frames, out, steps=STEPS, seed=0, progress=False, batch_size=4, crop=16)
    assert again["sha256"] == ident["sha256"]
    assert not (out / "stale.txt").exists() and (out / "config.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["vae"]


def test_bad_frames_are_rejected(frames, tmp_path):
    train, held = frames
    with pytest.raises(ValueError, match="uint8"):
        T.train_tiny_vae(train.astype(np.float32), held, tmp_path / "v", steps=1, progress=False)
    with pytest.raises(ValueError, match="multiple of 4"):
        T.train_tiny_vae(train[:, :30], held[:, :30], tmp_path / "v", steps=1, progress=False)
    with pytest.raises(ValueError, match="differs"):
        T.train_tiny_vae(train, held[:, :16], tmp_path / "v", steps=1, progress=False)
    with pytest.raises(ValueError, match="l1_weight"):
        T.train_tiny_vae(train, held, tmp_path / "v", steps=1, progress=False, l1_weight=-1.0)


def _foreground(x: np.ndarray) -> np.ndarray:
    """Pixels more than 25 grey levels from the median colour of the 4 top and 4 bottom rows (numpy)."""
    out = np.zeros((len(x), 1, *x.shape[2:]))
    for i, frame in enumerate(x):
        rows = np.concatenate([frame[:, :4], frame[:, -4:]], axis=1).reshape(3, -1)
        background = np.sort(rows, axis=1)[:, (rows.shape[1] - 1) // 2]  # torch's lower median
        out[i, 0] = np.abs(frame - background[:, None, None]).max(axis=0) > 0.2
    return out


@pytest.mark.parametrize("l1_weight,half_res", [(0.0, 1.0), (0.5, 0.0)])
def test_first_loss_is_the_weighted_sum_of_its_terms_on_the_first_batch(frames, tmp_path, l1_weight,
                                                                        half_res):
    train, held = frames
    ident = T.train_tiny_vae(train, held, tmp_path / "v", steps=1, seed=3, progress=False, batch_size=2,
                             l1_weight=l1_weight, kl_weight=0.0, half_res_fraction=half_res)
    assert ident["settings"]["half_res_steps"] == int(half_res)
    # the same first batch (recoloured as training recolours it, area-downsampled in the half-resolution
    # phase) and initial weights, rebuilt independently of the training loop
    gen = torch.Generator().manual_seed(3)
    x = T.colour_augment(T._batch(train, 2, None, gen), T.COLOUR_AUGMENT, gen)
    if half_res:
        x = torch.from_numpy(x.numpy().reshape(2, 3, 16, 2, 12, 2).mean(axis=(3, 5)))
    with torch.no_grad():
        vae = T.build_tiny_vae(3)
        err = (vae.decode(vae.encode(x).latent_dist.mean).sample - x).double().numpy()
    fg = _foreground(x.double().numpy())
    assert 0 < fg.mean() < 0.5  # the figure, not the background
    expected = (err**2).mean() + T.FOREGROUND_WEIGHT * (err**2 * fg).mean() + l1_weight * np.abs(err).mean()
    assert ident["loss_first"] == pytest.approx(expected, rel=1e-5)
    assert ident["settings"]["l1_weight"] == l1_weight


def test_recipe_names_the_architecture_and_default_steps():
    r = T.recipe()
    assert r["config"]["block_out_channels"] == list(T.TINY_VAE_CONFIG["block_out_channels"])
    assert r["default_steps"] == T.DEFAULT_STEPS
    assert json.loads(json.dumps(r)) == r  # plain JSON: it is fingerprinted into prepare's marker


def test_default_trains_on_whole_frames(frames, tmp_path):
    ident = T.train_tiny_vae(*frames, tmp_path / "vae", steps=2, progress=False)
    assert ident["settings"]["crop"] is None and ident["settings"]["batch_size"] == 4
    assert ident["settings"]["l1_weight"] == 0.0  # MSE only: what held-out PSNR measures
    assert (tmp_path / "vae" / "diffusion_pytorch_model.safetensors").exists()


@pytest.mark.parametrize("steps", [1, 2, 19, 20, 21])
def test_any_step_count_trains(steps, frames, tmp_path):
    # --vae-steps 20 used to end in a ZeroDivisionError inside OneCycleLR (a warm-up of 0 steps)
    ident = T.train_tiny_vae(*frames, tmp_path / "vae", steps=steps, progress=False, batch_size=1, crop=8)
    assert ident["steps"] == steps and np.isfinite(ident["heldout_psnr"])


def test_reconstruction_scores_match_an_independent_computation(trained, frames):
    data, _, _ = trained
    vae = E.load_vae("tiny", data_dir=data)
    held = frames[1]
    with torch.no_grad():
        x = torch.from_numpy(held).permute(0, 3, 1, 2).float() / 127.5 - 1
        rec = vae.decode(vae.encode(x).latent_dist.mean).sample.clamp(-1, 1)
    rec8 = ((rec + 1) * 127.5).round().permute(0, 2, 3, 1).numpy()
    ref = held.astype(np.float64)
    colour = np.abs(rec8.mean(axis=(1, 2)) - ref.mean(axis=(1, 2))).mean(axis=0)  # (3,)
    scores = T.reconstruction_scores(vae, held)
    assert scores["frames"] == len(held)
    assert scores["psnr"] == pytest.approx(T.heldout_psnr(vae, held), abs=1e-3)
    assert scores["psnr_min"] <= scores["psnr"]
    assert scores["colour_error"] == pytest.approx(colour.tolist(), abs=0.01)
    assert scores["colour_error_max"] == pytest.approx(colour.max(), abs=0.01)


def test_colour_augment_recolours_within_range_and_keeps_untouched_frames():
    gen = torch.Generator().manual_seed(0)
    px = torch.rand(64, 3, 8, 8) * 2 - 1
    assert T.colour_augment(px, 0.0, gen) is px
    out = T.colour_augment(px, 0.5, gen)
    assert out.shape == px.shape and out.min() >= -1 and out.max() <= 1
    changed = (out - px).abs().amax(dim=(1, 2, 3)) > 1e-6
    assert 16 < int(changed.sum()) < 48  # about half the frames recoloured
    # a recoloured frame is a per-channel affine map of a permutation of its channels
    i = int(changed.nonzero()[0])
    flat_in, flat_out = px[i].reshape(3, -1), out[i].reshape(3, -1)
    corr = torch.corrcoef(torch.cat([flat_out, flat_in]))[:3, 3:]
    assert torch.allclose(corr.abs().max(dim=1).values, torch.ones(3), atol=1e-4)


def test_frames_test_are_scored_into_the_identity(frames, tmp_path):
    train, held = frames
    ident = T.train_tiny_vae(train, held, tmp_path / "vae", steps=3, seed=0, progress=False, batch_size=2,
                             crop=16, frames_test=held[:2], colour_augment_prob=0.5)
    assert ident["test"]["frames"] == 2 and len(ident["test"]["colour_error"]) == 3
    assert ident["settings"]["colour_augment_prob"] == 0.5
