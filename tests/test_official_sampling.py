"""inference="official": the public FashionFlow inference.py's sampling, point by point, on tiny models.

Each test checks one point against a formula or an independent construction written here: the DDPM step
without the x0 clip, frame 0 and the adapter fed two posterior draws, the input quirks (stretch, VAE in
[0, 1], CLIP's double /255, decode clamped to [0, 1]), and the option's life (saved, old folders, CLI).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from diffusers.models.autoencoders.vae import DecoderOutput
from PIL import Image
from test_fashionflow_helpers import tiny_model, tiny_vae

from ffbench.encoders import build_tiny_clip, vae_posterior_sample
from ffbench.models.fashionflow import FashionFlowPipeline, make_noise_scheduler
from ffbench.models.fashionflow.sampling import clip_epsilon, sample_keyframes_official
from ffbench.models.fashionflow.schedule import official_ddpm_step, official_ddpm_tables

# The public network's kind of model: epsilon, frames themselves, no extra input channels.
OFFICIAL_LIKE = dict(prediction_type="epsilon", concat_cond_latent=False, cond_residual=False)
SHORT_T = 8  # the official loop takes every training step; a short schedule keeps the tests fast


def _pipeline(seed: int = 0, inference: str = "official", timesteps: int = SHORT_T) -> FashionFlowPipeline:
    clip, processor = build_tiny_clip(seed)
    pipe = FashionFlowPipeline(
        unet=tiny_model(seed, **OFFICIAL_LIKE),
        vae=tiny_vae(seed),
        image_encoder=clip,
        feature_extractor=processor,
        scheduler=make_noise_scheduler("legacy", "ddpm", num_train_timesteps=timesteps),
        inference=inference,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def pipe():
    return _pipeline()


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _photo(height: int = 40, width: int = 30, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _posterior_step(x_t, eps, t, betas, noise):
    """x_{t-1} from the DDPM posterior q(x_{t-1} | x_t, x0), x0 implied by eps, in float64, no clip."""
    betas = betas.double()
    ab = torch.cumprod(1 - betas, 0)
    ab_t, beta_t = ab[t], betas[t]
    ab_prev = ab[t - 1] if t > 0 else torch.tensor(1.0, dtype=torch.float64)
    x_t, eps = x_t.double(), eps.double()
    x0 = (x_t - (1 - ab_t).sqrt() * eps) / ab_t.sqrt()
    mean = ab_prev.sqrt() * beta_t / (1 - ab_t) * x0 + (1 - beta_t).sqrt() * (1 - ab_prev) / (1 - ab_t) * x_t
    var = beta_t * (1 - ab_prev) / (1 - ab_t)
    return (mean if t == 0 else mean + var.sqrt() * noise.double()), x0


def test_legacy_schedule_is_the_public_cosine_eased_ramp():
    scheduler = make_noise_scheduler("legacy", "ddpm")
    # inference.py's cosine_beta_schedule: start + (end - start) / 2 (1 + cos(pi i / (T - 1))), i = T-1 .. 0
    ramp = [1e-4 + 0.5 * (0.02 - 1e-4) * (1 + math.cos(i / 999 * math.pi)) for i in reversed(range(1000))]
    torch.testing.assert_close(official_ddpm_tables(scheduler)["betas"], torch.tensor(ramp), rtol=0, atol=0)


@pytest.mark.parametrize("t", [999, 900, 500, 1, 0])
def test_official_step_is_the_ddpm_posterior_without_the_clip(t):
    scheduler = make_noise_scheduler("legacy", "ddpm")
    g = _gen(t)
    x_t = torch.randn(2, 4, 3, 5, 4, generator=g) * 2
    eps = torch.randn(x_t.shape, generator=g)
    noise = torch.randn(x_t.shape, generator=g)
    got = official_ddpm_step(official_ddpm_tables(scheduler), eps, t, x_t, noise)
    want, x0 = _posterior_step(x_t, eps, t, scheduler.betas, noise)
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-5)
    if t >= 500:  # the clip would show: the implied x0 leaves [-4, 4] and ffbench's clip changes the step
        assert x0.abs().max() > 4
        clipped = official_ddpm_step(official_ddpm_tables(scheduler), clip_epsilon(eps, x_t, t, scheduler), t,
                                     x_t, noise)
        assert (clipped.double() - want).abs().max() > 1e-2
    if t == 0:  # the last step returns the clean estimate and takes no noise
        torch.testing.assert_close(got.double(), x0, rtol=1e-5, atol=1e-5)
        assert torch.equal(got, official_ddpm_step(official_ddpm_tables(scheduler), eps, 0, x_t, None))


class _Recorder(torch.nn.Module):
    """Stands in for the U-Net: eps = -20 x (an implied x0 beyond +-4 at the first steps), recording what
    it is given."""

    def __init__(self):
        super().__init__()
        self.inputs, self.contexts, self.timesteps = [], [], []

    def forward(self, sample, timestep, context):
        self.inputs.append(sample.clone())
        self.timesteps.append(int(timestep[0]))
        self.contexts.append(context)
        return -20 * sample


def test_official_loop_pins_frame_zero_and_steps_every_t_without_the_clip():
    model = tiny_model(0, **OFFICIAL_LIKE)
    model.unet = _Recorder()
    with torch.no_grad():  # the adapter starts as the identity on the CLIP tokens: let the latent count
        model.adapter.mix.weight.normal_(generator=_gen(1))
    scheduler = make_noise_scheduler("legacy", "ddpm", num_train_timesteps=SHORT_T)
    g = _gen(3)
    first, other = torch.randn(1, 4, 8, 6, generator=g), torch.randn(1, 4, 8, 6, generator=g)
    clip = torch.randn(1, 17, 64, generator=g)
    out = sample_keyframes_official(model, scheduler, first, other, clip, 3, _gen(5))

    # the same loop written from inference.py: noise drawn (B, F, C, h, w), frame 0 set before and after
    # every step, t = T-1 .. 0, no noise at t = 0
    g = _gen(5)
    x = torch.randn(1, 3, 4, 8, 6, generator=g).permute(0, 2, 1, 3, 4).clone()
    x[:, :, 0] = first
    largest_x0 = 0.0
    for t in reversed(range(SHORT_T)):
        noise = torch.randn(1, 3, 4, 8, 6, generator=g).permute(0, 2, 1, 3, 4) if t > 0 else None
        x, x0 = _posterior_step(x, -20 * x, t, scheduler.betas, noise)
        largest_x0 = max(largest_x0, float(x0.abs().max()))
        x[:, :, 0] = first
    assert largest_x0 > 4  # so a clip of x0 to +-4 anywhere in the loop would show
    torch.testing.assert_close(out.double(), x, rtol=1e-4, atol=1e-4)
    assert model.unet.timesteps == list(reversed(range(SHORT_T)))
    for seen in model.unet.inputs:  # frame 0 holds the given latent at every call
        assert torch.equal(seen[:, :, 0], first)
    with torch.no_grad():
        expected_context = model.adapter(clip, other)  # the adapter gets the other latent, not frame 0's
        assert not torch.allclose(expected_context, model.adapter(clip, first))
    for context in model.unet.contexts:
        torch.testing.assert_close(context, expected_context)


def test_frame_zero_and_the_adapter_get_two_independent_posterior_samples(pipe):
    image = _photo()
    seen_frames, seen_latents = [], []
    hooks = [
        pipe.unet.unet.register_forward_pre_hook(lambda m, a: seen_frames.append(a[0][:, :, 0].clone())),
        pipe.unet.adapter.register_forward_pre_hook(lambda m, args: seen_latents.append(args[1].clone())),
    ]
    try:
        latents = pipe(image, num_frames=3, output_type="latent", generator=_gen(11)).frames
    finally:
        for hook in hooks:
            hook.remove()
    # the draws, in inference.py's order: the adapter's sample first, then frame 0's
    x01 = pipe.prepare_images_official(image)
    g = _gen(11)
    adapter_sample = vae_posterior_sample(pipe.vae, x01, g)
    first_sample = vae_posterior_sample(pipe.vae, x01, g)
    with torch.no_grad():
        mean = pipe.vae.encode(x01).latent_dist.mean * pipe.vae.config.scaling_factor
    assert (adapter_sample - first_sample).abs().mean() > 0.05  # the stand-in VAE's posterior has variance
    assert (first_sample - mean).abs().mean() > 0.05  # a sample, not the mean
    torch.testing.assert_close(latents[:, :, 0], first_sample, rtol=0, atol=0)  # after the last step
    assert len(seen_frames) == SHORT_T
    for frame in seen_frames:  # before every U-Net call
        torch.testing.assert_close(frame, first_sample, rtol=0, atol=0)
    assert len(seen_latents) == 1  # the tokens are made once, from the other sample
    torch.testing.assert_close(seen_latents[0], adapter_sample, rtol=0, atol=0)


def test_image_is_stretched_not_cropped(pipe):
    # a frame four times as wide as the model's: red left quarter, green right quarter, grey between
    image = np.full((32, 96, 3), 128, dtype=np.uint8)
    image[:, :24] = (255, 0, 0)
    image[:, 72:] = (0, 255, 0)
    x01 = pipe.prepare_images_official(image)
    assert x01.shape == (1, 3, 32, 24)
    pixels = (x01[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    assert tuple(pixels[:, 0].mean(0).round()) == (255, 0, 0)  # both edges survive a stretch
    assert tuple(pixels[:, -1].mean(0).round()) == (0, 255, 0)
    pil = np.asarray(Image.fromarray(image).resize((24, 32), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(pixels, pil)
    cropped = pipe.prepare_images(image)[0]  # ffbench's cover + crop keeps only the grey middle
    assert tuple(cropped[:, 0].mean(0).round()) == (128, 128, 128)


def test_vae_gets_zero_to_one_and_clip_gets_it_divided_by_255_twice(pipe, monkeypatch):
    # smooth ramps from 0 to 255 (CLIP's resize of floats and of uint8 then agree to rounding)
    image = np.full((32, 24, 3), 128, dtype=np.uint8)
    image[:, :, 0] = np.linspace(0, 255, 24).round().astype(np.uint8)
    image[:, :, 1] = np.linspace(255, 0, 32).round().astype(np.uint8)[:, None]
    vae_inputs, clip_inputs = [], []
    encode = pipe.vae.encode
    monkeypatch.setattr(pipe.vae, "encode", lambda x, *a, **k: (vae_inputs.append(x.clone()), encode(x))[1])
    hook = pipe.image_encoder.register_forward_pre_hook(
        lambda m, args, kwargs: clip_inputs.append(kwargs["pixel_values"].clone()), with_kwargs=True)
    try:
        pipe(image, num_frames=2, output_type="latent", generator=_gen())
        pipe(image, num_frames=2, num_inference_steps=1, output_type="latent", generator=_gen(),
             inference="ffbench")
    finally:
        hook.remove()
    official, ffbench = vae_inputs[0], vae_inputs[-1]
    assert len(vae_inputs) == 3  # official: two draws; ffbench: one mean
    assert official.min() == 0 and official.max() == 1  # [0, 1] where ffbench feeds [-1, 1]
    assert ffbench.min() == -1 and ffbench.max() == 1
    torch.testing.assert_close(official, (ffbench + 1) / 2)
    proc = pipe.feature_extractor
    mean, std = torch.tensor(proc.image_mean)[:, None, None], torch.tensor(proc.image_std)[:, None, None]
    seen_official, seen_ffbench = (clip_inputs[0] * std + mean), (clip_inputs[1] * std + mean)
    assert seen_ffbench.max() > 0.99 and seen_official.max() < 1.02 / 255  # divided by 255 once more
    torch.testing.assert_close(seen_official * 255, seen_ffbench, rtol=0, atol=0.02)


def test_decode_is_clamped_to_zero_one(pipe, monkeypatch):
    raw = torch.linspace(-2, 2, 3 * 32 * 24).reshape(1, 3, 32, 24)
    monkeypatch.setattr(pipe.vae, "decode",
                        lambda z, *a, **k: DecoderOutput(sample=raw.expand(len(z), -1, -1, -1)))
    official = pipe(_photo(), num_frames=2, output_type="pt", generator=_gen()).frames
    ffbench = pipe(_photo(), num_frames=2, num_inference_steps=1, output_type="pt", generator=_gen(),
                   inference="ffbench").frames
    torch.testing.assert_close(official[0, 1], raw[0].clamp(0, 1), rtol=0, atol=1e-6)
    torch.testing.assert_close(ffbench[0, 1], (raw[0].clamp(-1, 1) + 1) / 2, rtol=0, atol=1e-6)


def test_official_refuses_what_it_has_no_counterpart_for(pipe):
    image = _photo()
    for kwargs, word in [(dict(num_inference_steps=4), "num_inference_steps=4"),
                         (dict(guidance_scale=2.0), "guidance"), (dict(interpolate=True), "interpolation")]:
        with pytest.raises(ValueError, match=word):
            pipe(image, num_frames=2, output_type="latent", **kwargs)
    with pytest.raises(ValueError, match="inference='fast'.*'ffbench'.*'official'"):
        pipe(image, num_frames=2, inference="fast")
    with pytest.raises(ValueError, match="inference='Official'"):
        _pipeline(inference="Official")
    residual = _pipeline()
    residual.unet = tiny_model(0, cond_residual=True)
    with pytest.raises(ValueError, match="cond_residual=True"):
        residual(image, num_frames=2, output_type="latent")


def test_inference_is_saved_and_old_folders_load_as_ffbench(pipe, tmp_path):
    from ffbench.models.fashionflow.generate import load_pipeline

    pipe.save_pretrained(tmp_path / "official")
    index = json.loads((tmp_path / "official" / "model_index.json").read_text())
    assert index["inference"] == "official"
    loaded = load_pipeline(tmp_path / "official")
    assert loaded.config.inference == "official"
    a = pipe(_photo(), num_frames=2, output_type="np", generator=_gen(2)).frames
    loaded.set_progress_bar_config(disable=True)
    b = loaded(_photo(), num_frames=2, output_type="np", generator=_gen(2)).frames
    np.testing.assert_array_equal(a, b)

    converted = _pipeline(inference="ffbench")  # how `ffbench convert` marks its folders
    converted.register_to_config(inference="official")
    converted.save_pretrained(tmp_path / "converted")
    assert load_pipeline(tmp_path / "converted").config.inference == "official"

    del index["inference"]  # a folder saved before the option existed
    (tmp_path / "official" / "model_index.json").write_text(json.dumps(index))
    assert load_pipeline(tmp_path / "official").config.inference == "ffbench"
    index["inference"] = "paper"
    (tmp_path / "official" / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match="inference='paper'"):
        load_pipeline(tmp_path / "official")


def test_generate_records_the_inference_and_refuses_other_samplers(pipe, tmp_path):
    from ffbench.cli import main
    from ffbench.video import probe_video

    pipe.save_pretrained(tmp_path / "ckpt")
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(_photo(50, 20)).save(images / "a.png")
    base = ["generate", str(images), "--checkpoint", str(tmp_path / "ckpt"), "--frames", "2", "--no-progress"]
    result = CliRunner().invoke(main, [*base, "-o", str(tmp_path / "default")])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "default" / "generation.json").read_text())
    assert record["settings"]["inference"] == "official"  # the checkpoint's own
    assert record["settings"]["sampler"] == "ddpm" and record["settings"]["steps"] == SHORT_T
    assert record["fps"] == 25.0 and probe_video(tmp_path / "default" / "a.mp4").fps == 25
    assert any("official inference on cpu" in flag for flag in record["flags"])

    result = CliRunner().invoke(main, [*base, "-o", str(tmp_path / "ours"), "--inference", "ffbench",
                                       "--steps", "2"])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "ours" / "generation.json").read_text())
    assert record["settings"]["inference"] == "ffbench" and record["settings"]["sampler"] == "dpmpp-sde"
    assert record["fps"] == pipe.unet.config.fps and not record["flags"]

    result = CliRunner().invoke(main, [*base, "-o", str(tmp_path / "bad"), "--sampler", "dpmpp"])
    assert result.exit_code == 1 and "--sampler dpmpp" in result.output
    assert "--inference ffbench" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(main, [*base, "-o", str(tmp_path / "bad"), "--inference", "paper"])
    assert result.exit_code == 2 and "--inference" in result.output


def test_official_frames_are_truncated_to_uint8_as_inference_py_writes_them(pipe, monkeypatch):
    from ffbench.generation import _to_frames
    from ffbench.models.fashionflow.entry import FashionFlowSampler

    level = 100.7 / 255  # the VAE's output: inference.py's frame.mul(255).byte() writes 100, rounding 101
    monkeypatch.setattr(pipe.vae, "decode",
                        lambda z, *a, **k: DecoderOutput(sample=torch.full((len(z), 3, 32, 24), level)))
    cond = torch.zeros(1, 3, 32, 24)
    for inference, want in [("official", 100), ("ffbench", round((level + 1) * 127.5))]:  # ffbench: [-1, 1]
        sampler = FashionFlowSampler(pipe, SHORT_T if inference == "official" else 1, "ddpm", 1.0, False,
                                     inference)
        frames = _to_frames(sampler(cond, 2, _gen())[0])
        assert np.all(frames == want), (inference, np.unique(frames))
