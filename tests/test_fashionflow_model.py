"""FashionFlowModel: size at the paper preset, shapes, temporal identity at init, conditioning, save/load."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from test_fashionflow_helpers import tiny_config, tiny_model  # noqa: F401

from ffbench.models.fashionflow import FashionFlowModel, fashionflow_config
from ffbench.models.fashionflow.convs import PseudoConv3d
from ffbench.models.fashionflow.unet import count_parameters


def _inputs(b=2, f=5, h=8, w=6, c=4, tokens=17, dim=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(b, c, f, h, w, generator=g),
        torch.randint(0, 1000, (b,), generator=g),
        torch.randn(b, 4, h, w, generator=g),
        torch.randn(b, tokens, dim, generator=g),
    )


def test_paper_size_parameter_counts_match_the_reference():
    # built on the meta device: the count needs shapes, not 290 MB of initialised weights
    with torch.device("meta"):
        model = FashionFlowModel(**fashionflow_config("paper"))
    unet, adapter = count_parameters(model.unet), count_parameters(model.adapter)
    assert abs(unet / 71.67e6 - 1) < 0.02, unet
    assert abs(adapter / 0.99e6 - 1) < 0.02, adapter
    # the public code's torchinfo summary: 71,671,548 (U-Net); Linear(1280,768) + Linear(54,50) (adapter)
    assert unet == 71_671_548
    assert adapter == 1280 * 768 + 768 + 54 * 50 + 50
    # and the full-size forward goes through (shapes only, on meta tensors): 70 frames, latent 80 x 64
    with torch.device("meta"):
        sample, cond, clip = torch.empty(1, 4, 70, 80, 64), torch.empty(1, 4, 80, 64), torch.empty(1, 50, 768)
        with torch.no_grad():
            out = model(sample, torch.tensor([999]), cond, clip)
    assert out.shape == (1, 4, 70, 80, 64)


def test_paper_config_geometry():
    cfg = fashionflow_config("paper")
    assert cfg["block_out_channels"] == (64, 128, 256, 512)
    assert tuple(cfg["sample_size"]) == (80, 64) and cfg["num_frames"] == 70
    assert (cfg["clip_tokens"], cfg["clip_dim"]) == (50, 768)
    assert tuple(fashionflow_config("cpu")["sample_size"]) == (32, 24)
    with pytest.raises(ValueError, match="unknown FashionFlowModel option"):
        fashionflow_config("cpu", widths=(1, 2))


@pytest.mark.parametrize("frames", [1, 2, 5, 8])
@pytest.mark.parametrize("size", [(8, 6), (10, 6), (7, 5)])
def test_output_shape_for_frame_counts_and_sizes(frames, size):
    model = tiny_model(sample_size=size)
    sample, t, cond, clip = _inputs(f=frames, h=size[0], w=size[1])
    with torch.no_grad():
        out = model(sample, t, cond, clip)
    assert out.shape == (2, 4, frames, *size)
    assert torch.isfinite(out).all()


def test_pseudo_conv_is_identity_in_time_at_init_and_equals_factorised_conv3d():
    conv = PseudoConv3d(3, 5, kernel_size=3)
    x = torch.randn(2 * 4, 3, 6, 5)  # folded (B*F, C, H, W), B=2, F=4
    assert torch.allclose(conv(x, 4), conv.spatial(x), atol=1e-6)
    with torch.no_grad():
        conv.temporal.weight.normal_()
        out = conv(x, 4)
    # independent reference: Conv3d (1,3,3) then Conv3d (3,1,1) on the unfolded (B, C, F, H, W) clip
    video = x.reshape(2, 4, 3, 6, 5).transpose(1, 2)
    ref = F.conv3d(video, conv.spatial.weight[:, :, None], conv.spatial.bias, padding=(0, 1, 1))
    ref = F.conv3d(ref, conv.temporal.weight[:, :, :, None, None], conv.temporal.bias, padding=(1, 0, 0))
    assert torch.allclose(out, ref.transpose(1, 2).reshape(8, 5, 6, 5), atol=1e-5)


def test_temporal_layers_at_init_make_the_model_a_per_frame_2d_model():
    # without time halving, every temporal layer (temporal convs, temporal attention) starts as the identity
    model = tiny_model(temporal_downsample=(False, False), conditioning="global")
    sample, t, cond, clip = _inputs(f=5)
    with torch.no_grad():
        joint = model(sample, t, cond, clip)
        per_frame = torch.cat([model(sample[:, :, i : i + 1], t, cond, clip) for i in range(5)], dim=2)
        assert torch.allclose(joint, per_frame, atol=1e-5)
        # and the check can fail: once a temporal conv is trained, frames interact
        model.unet.down_stages[0].resnets[0].conv1.temporal.weight.add_(0.1)
        moved = model(sample, t, cond, clip)
        per_frame = torch.cat([model(sample[:, :, i : i + 1], t, cond, clip) for i in range(5)], dim=2)
    assert (moved - per_frame).abs().max() > 1e-3


def test_time_disabled_model_is_the_image_model_even_with_time_halving():
    model = tiny_model(conditioning="global")  # halves time in the last stage
    sample, t, cond, clip = _inputs(f=4)
    with torch.no_grad():
        for block in model.modules():  # make the temporal parts non-trivial, so skipping them matters
            if isinstance(block, PseudoConv3d) and block.temporal is not None:
                block.temporal.weight.normal_(std=0.1)
        joint = model(sample, t, cond, clip, enable_time=False)
        per_frame = torch.cat(
            [model(sample[:, :, i : i + 1], t, cond, clip, enable_time=False) for i in range(4)], dim=2
        )
        assert torch.allclose(joint, per_frame, atol=1e-5)
        assert (model(sample, t, cond, clip) - joint).abs().max() > 1e-3


@pytest.mark.parametrize("mode", ["both", "global", "local"])
def test_each_conditioning_mode_runs_and_conditions_as_named(mode):
    model = tiny_model(conditioning=mode)
    sample, t, cond, clip = _inputs(f=4)
    out = model(sample, t, cond, clip if mode != "local" else None)
    out.square().mean().backward()
    assert out.shape == sample.shape
    assert (model.adapter is None) == (mode == "local")
    has_cross = any("cross_attention" in name for name, _ in model.named_parameters())
    assert has_cross == (mode != "local")
    with torch.no_grad():
        other = sample.clone()
        other[:, :, 0] += 3.0  # a different noisy frame 0
        changed = (model(other, t, cond, clip) - out).abs().max()
        other_clip = (model(sample, t, cond, torch.randn_like(clip)) - out).abs().max()
    # local conditioning overwrites frame 0 with the clean latent, so the input's frame 0 is ignored
    assert (changed == 0) == (mode in ("both", "local"))
    assert (other_clip > 0) == (mode != "local")


def test_adapter_starts_as_identity_on_clip_tokens():
    model = tiny_model()
    clip = torch.randn(2, 17, 64)
    latent = torch.randn(2, 4, 8, 6)
    with torch.no_grad():
        model.adapter.latent_to_clip.weight.normal_()  # whatever the latent tokens are, they start unused
        assert torch.allclose(model.adapter(clip, latent), clip, atol=1e-6)
    with pytest.raises(ValueError, match="sample_size"):
        model.adapter(clip, torch.randn(2, 4, 10, 6))


def test_save_load_round_trip_gives_identical_outputs(tmp_path):
    model = tiny_model(seed=3)
    sample, t, cond, clip = _inputs(f=6)
    with torch.no_grad():
        for p in model.parameters():  # move off the init so every weight matters
            p.add_(0.01 * torch.randn_like(p))
        before = model(sample, t, cond, clip)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "diffusion_pytorch_model.safetensors").is_file()
    loaded = FashionFlowModel.from_pretrained(tmp_path).eval()
    public = lambda cfg: json.loads(json.dumps({k: v for k, v in cfg.items() if not k.startswith("_")}))  # noqa: E731
    assert public(loaded.config) == public(model.config)
    with torch.no_grad():
        assert torch.equal(loaded(sample, t, cond, clip), before)


def test_interpolation_stage_takes_four_extra_channels():
    model = tiny_model(stage="interpolation")
    sample, t, cond, clip = _inputs(f=5, c=8)
    assert model(sample, t, cond, clip).shape == (2, 4, 5, 8, 6)
    with pytest.raises(ValueError, match=r"expected \(B, 8, F, h, w\)"):
        model(sample[:, :4], t, cond, clip)


def test_bad_inputs_and_options_name_the_problem():
    model = tiny_model()
    sample, t, cond, clip = _inputs()
    with pytest.raises(ValueError, match="cond_latent"):
        model(sample, t, cond[:, :, :4], clip)
    with pytest.raises(ValueError, match="clip_tokens"):
        model(sample, t, cond, None)
    with pytest.raises(ValueError, match="conditioning='both-ish'"):
        FashionFlowModel(**tiny_config(conditioning="both-ish"))
    with pytest.raises(ValueError, match="norm_num_groups"):
        FashionFlowModel(**tiny_config(block_out_channels=(6, 16)))


def test_prediction_type_per_preset_is_saved_and_checked(tmp_path):
    from ffbench.models.fashionflow import fashionflow_config

    # the paper trains epsilon; the small cpu model predicts v (epsilon made it sample noise)
    assert fashionflow_config("paper")["prediction_type"] == "epsilon"
    assert fashionflow_config("cpu")["prediction_type"] == "v_prediction"
    assert fashionflow_config("paper")["concat_cond_latent"] is False  # a departure from the paper, cpu only
    assert fashionflow_config("cpu")["concat_cond_latent"] is True
    model = tiny_model(prediction_type="epsilon")
    model.save_pretrained(tmp_path)
    assert FashionFlowModel.from_pretrained(tmp_path).config.prediction_type == "epsilon"
    with pytest.raises(ValueError, match="prediction_type='sample'"):
        FashionFlowModel(**tiny_config(prediction_type="sample"))


def test_gradient_checkpointing_gives_the_same_gradients():
    model = tiny_model()
    sample, t, cond, clip = _inputs(f=4)
    model.train()
    model(sample, t, cond, clip).square().mean().backward()
    ref = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model.enable_gradient_checkpointing()
    model(sample, t, cond, clip).square().mean().backward()
    for a, p in zip(ref, model.parameters(), strict=True):
        assert torch.allclose(a, p.grad, atol=1e-6)


def test_concat_cond_latent_gives_every_frame_the_conditioning_latent(tmp_path):
    # local conditioning with time disabled: frames are independent, so without the option frame 2 cannot
    # depend on the conditioning latent (only frame 0 is replaced by it); with it, every frame does
    sample, t, cond, _ = _inputs(f=4)
    other = cond + 1.0
    for concat in (False, True):
        model = tiny_model(conditioning="local", concat_cond_latent=concat)
        assert model.unet.conv_in.spatial.in_channels == (8 if concat else 4)
        assert model.in_channels == 4  # the sample keeps its channels; the model adds the latent itself
        with torch.no_grad():
            a = model(sample, t, cond, None, enable_time=False)
            b = model(sample, t, other, None, enable_time=False)
        assert ((a[:, :, 2] - b[:, :, 2]).abs().max() > 1e-4) == concat
    model.save_pretrained(tmp_path)
    assert FashionFlowModel.from_pretrained(tmp_path).config.concat_cond_latent is True
    with pytest.raises(ValueError, match="concat_cond_latent=True"):
        FashionFlowModel(**tiny_config(conditioning="global", concat_cond_latent=True))


def test_cond_residual_puts_a_zero_frame_0_and_needs_local_keyframes(tmp_path):
    sample, t, cond, clip = _inputs(f=4)
    model = tiny_model(cond_residual=True)
    seen = {}
    original = model.unet.forward

    def spy(x, *args, **kwargs):
        seen["x"] = x
        return original(x, *args, **kwargs)

    model.unet.forward = spy
    with torch.no_grad():
        model(sample, t, cond, clip)
    assert torch.equal(seen["x"][:, :4, 0], torch.zeros_like(cond))  # the residual of frame 0
    assert torch.equal(seen["x"][:, :4, 1:], sample[:, :, 1:])
    assert torch.equal(seen["x"][:, 4:, 2], cond)  # concat_cond_latent still gives every frame the latent
    latents = torch.randn(2, 4, 3, 8, 6)
    assert torch.equal(model.diffusion_space(latents, cond), latents - cond[:, :, None])
    assert torch.equal(tiny_model().diffusion_space(latents, cond), latents)
    assert fashionflow_config("paper")["cond_residual"] is False
    assert fashionflow_config("cpu")["cond_residual"] is True
    assert fashionflow_config("cpu", conditioning="global")["cond_residual"] is False
    model.unet.forward = original
    model.save_pretrained(tmp_path)
    assert FashionFlowModel.from_pretrained(tmp_path).config.cond_residual is True
    for bad in (dict(conditioning="global", concat_cond_latent=False), dict(stage="interpolation")):
        with pytest.raises(ValueError, match="cond_residual=True"):
            FashionFlowModel(**tiny_config(cond_residual=True, **bad))
