"""Issue 24: the four computations of the public FashionFlow code, each against its formula written out
here, the `paper` preset taking them, and configs saved before they existed computing as before."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_fashionflow_helpers import tiny_model

from ffbench.models.fashionflow import FashionFlowModel, fashionflow_config
from ffbench.models.fashionflow.attention import (
    ContinuousPositionBias,
    CrossAttentionBlock,
    FeedForward,
    clamped_layer_norm,
)
from ffbench.models.fashionflow.convs import ResnetBlock, group_norm

DATA = Path(__file__).parent / "data"
OFFICIAL = dict(group_norm_over="clip", feed_forward_token_shift=True, feed_forward_norm="layer_norm_clamped",
                position_bias_input="raw", cross_attention_heads=(1, 1, 2, 4))


def test_group_norm_over_the_clip_is_the_mean_and_variance_over_group_channels_and_all_frames():
    torch.manual_seed(0)
    b, f, c, h, w, groups = 2, 3, 6, 4, 5, 3
    norm = torch.nn.GroupNorm(groups, c)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.normal_()
    clip = torch.randn(b, f, c, h, w) * torch.arange(1, f + 1).view(1, f, 1, 1, 1)  # frames differ in scale
    out = group_norm(norm, clip.reshape(b * f, c, h, w), f, "clip").reshape(b, f, c, h, w)
    want = torch.empty_like(clip)
    per = c // groups
    for i in range(b):
        for g in range(groups):
            chunk = clip[i, :, g * per:(g + 1) * per]  # (F, per, H, W): every frame of the sample
            mean, var = chunk.mean(), chunk.var(unbiased=False)
            want[i, :, g * per:(g + 1) * per] = (chunk - mean) / torch.sqrt(var + norm.eps)
    want = want * norm.weight.view(1, 1, c, 1, 1) + norm.bias.view(1, 1, c, 1, 1)
    torch.testing.assert_close(out, want, rtol=1e-5, atol=1e-5)
    per_frame = group_norm(norm, clip.reshape(b * f, c, h, w), f, "frame")
    torch.testing.assert_close(per_frame, norm(clip.reshape(b * f, c, h, w)))
    assert not torch.allclose(per_frame, out.reshape(b * f, c, h, w), atol=1e-2)


def test_clip_norm_couples_the_frames_of_a_residual_block_and_frame_norm_does_not():
    # the temporal convs start as the identity, so only the norm can carry one frame into another
    torch.manual_seed(1)
    x = torch.randn(4, 8, 5, 5)  # one sample of 4 frames
    moved = x.clone()
    moved[3] *= 5
    for over, coupled in (("clip", True), ("frame", False)):
        block = ResnetBlock(8, 8, None, groups=4, norm_over=over).eval()
        with torch.no_grad():
            a, b = block(x, 4), block(moved, 4)
        assert torch.allclose(a[:3], b[:3], atol=1e-6) is not coupled, over
        with torch.no_grad():  # without time, frames are independent images either way
            assert torch.allclose(block(x, 4, enable_time=False)[:3], block(moved, 4, enable_time=False)[:3])


def test_feed_forward_is_geglu_token_shift_clamped_layer_norm_projection():
    torch.manual_seed(2)
    b, f, length, dim = 2, 3, 4, 5  # inner = int(5 * 4 * 2 / 3) = 13: an odd split, 7 stay and 6 shift
    ff = FeedForward(dim, token_shift=True, norm="layer_norm_clamped")
    with torch.no_grad():
        ff.norm.weight.uniform_(0.5, 1.5)
    x = torch.randn(b * f, length, dim)
    with torch.no_grad():
        out = ff(x, f)
    hidden = x @ ff.proj_in.weight.T
    inner = hidden.shape[-1] // 2
    assert inner == 13
    u = hidden[..., :inner] * F.gelu(hidden[..., inner:])
    u = u.reshape(b, f, length, inner)
    shifted = torch.zeros_like(u)
    shifted[..., :7] = u[..., :7]
    shifted[:, 1:, :, 7:] = u[:, :-1, :, 7:]  # frame t takes frame t-1's channels; frame 0 zeros
    mean = shifted.mean(-1, keepdim=True)
    var = ((shifted - mean) ** 2).mean(-1, keepdim=True)
    normed = (shifted - mean) / torch.sqrt(torch.maximum(var, torch.tensor(1e-5))) * ff.norm.weight
    want = (normed @ ff.proj_out.weight.T).reshape(b * f, length, dim)
    torch.testing.assert_close(out, want, rtol=1e-5, atol=1e-6)
    # no shift without time; and the old feed-forward (plain LayerNorm, no shift) is another function
    with torch.no_grad():
        assert not torch.allclose(ff(x, f, enable_time=False), out, atol=1e-4)
        plain = FeedForward(dim)
        plain.load_state_dict(ff.state_dict())
        assert not torch.allclose(plain(x, f), out, atol=1e-4)


def test_clamped_layer_norm_clamps_the_variance_at_eps_by_precision():
    step = 2.0**-9  # exact in float16 too
    x = torch.tensor([[1.0, 1.0 + step, 1.0 - step, 1.0]])  # variance 2**-19 ~ 1.9e-6, below both eps
    weight = torch.tensor([1.0, 2.0, 3.0, 4.0])
    centred = x - 1.0
    torch.testing.assert_close(clamped_layer_norm(x, weight), centred / 1e-5 ** 0.5 * weight)
    half = clamped_layer_norm(x.half(), weight.half())
    assert half.dtype == torch.float16
    torch.testing.assert_close(half.float(), centred / 1e-3 ** 0.5 * weight, rtol=1e-2, atol=1e-3)
    wide = torch.tensor([[0.0, 2.0, 4.0, 6.0]])  # variance 5 above eps: the usual LayerNorm
    torch.testing.assert_close(clamped_layer_norm(wide, torch.ones(4)), F.layer_norm(wide, (4,), eps=0.0))
    # LayerNorm adds eps instead: different on the low-variance input
    assert not torch.allclose(F.layer_norm(x, (4,), weight), clamped_layer_norm(x, weight), rtol=1e-2)


@pytest.mark.parametrize("offsets", ["raw", "signed_log"])
def test_position_bias_mlp_reads_the_raw_or_signed_log_offsets(offsets):
    torch.manual_seed(3)
    bias = ContinuousPositionBias(dim=6, heads=2, num_dims=2, offsets=offsets)
    h, w = 3, 2
    out = bias(h, w)  # (heads, N, N)
    coords = [(i, j) for i in range(h) for j in range(w)]
    for q, (qi, qj) in enumerate(coords):
        for k, (ki, kj) in enumerate(coords):
            d = torch.tensor([[qi - ki, qj - kj]], dtype=torch.float32)
            if offsets == "signed_log":
                d = torch.sign(d) * torch.log(1 + d.abs())
            torch.testing.assert_close(out[:, q, k], bias.mlp(d)[0])


def test_cross_attention_with_fixed_heads_is_multi_head_attention_over_the_context():
    torch.manual_seed(4)
    dim, ctx_dim, heads, b, f, h, w = 8, 6, 2, 1, 2, 2, 3
    block = CrossAttentionBlock(dim, ctx_dim, head_dim=64, heads=heads)  # 8 // 64 would derive 1 head
    assert block.heads == 2
    for p in block.parameters():
        with torch.no_grad():
            p.normal_(0, 0.5)
    x, context = torch.randn(b * f, dim, h, w), torch.randn(b, 5, ctx_dim)
    with torch.no_grad():
        out = block(x, f, context)
    tokens = x.permute(0, 2, 3, 1).reshape(b, f * h * w, dim)
    q = F.layer_norm(tokens, (dim,), block.norm1.weight, block.norm1.bias) @ block.to_q.weight.T
    k, v = context @ block.to_k.weight.T, context @ block.to_v.weight.T
    d = dim // heads
    attended = torch.cat([
        torch.softmax(q[..., i * d:(i + 1) * d] @ k[..., i * d:(i + 1) * d].transpose(1, 2) / d ** 0.5, -1)
        @ v[..., i * d:(i + 1) * d]
        for i in range(heads)
    ], dim=-1)
    tokens = tokens + attended @ block.to_out.weight.T + block.to_out.bias
    hidden = F.layer_norm(tokens, (dim,), block.norm2.weight, block.norm2.bias) @ block.ff_in.weight.T
    hidden = hidden + block.ff_in.bias
    a, gate = hidden.chunk(2, -1)
    tokens = tokens + (a * F.gelu(gate)) @ block.ff_out.weight.T + block.ff_out.bias
    grid = tokens.reshape(b * f, h, w, dim).permute(0, 3, 1, 2)
    want = F.conv2d(grid, block.proj.weight, block.proj.bias)
    torch.testing.assert_close(out, want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="3 heads do not divide the stage width 8"):
        CrossAttentionBlock(dim, ctx_dim, heads=3)


def test_paper_preset_takes_the_public_computations_and_cpu_keeps_the_first_unet():
    paper, cpu = fashionflow_config("paper"), fashionflow_config("cpu")
    assert {k: paper[k] for k in OFFICIAL} == OFFICIAL
    assert (cpu["group_norm_over"], cpu["feed_forward_token_shift"], cpu["feed_forward_norm"],
            cpu["position_bias_input"], cpu["cross_attention_heads"]) == (
        "frame", False, "layer_norm", "signed_log", None)
    with torch.device("meta"):
        model = FashionFlowModel(**paper)
    assert [s.cross_attention.heads for s in model.unet.down_stages] == [1, 1, 2, 4]
    assert [s.cross_attention.heads for s in model.unet.up_stages] == [1, 1, 2, 4]
    attn = model.unet.mid.attention
    assert attn.ff.shift_tokens and attn.ff.norm_kind == "layer_norm_clamped"
    assert attn.spatial_bias.offsets == "raw"
    assert all(r.norm_over == "clip" for s in model.unet.down_stages for r in s.resnets)
    with torch.device("meta"):
        derived = FashionFlowModel(**fashionflow_config("paper", cross_attention_heads=None))
    assert [s.cross_attention.heads for s in derived.unet.down_stages] == [1, 2, 4, 8]  # width // 64


def test_the_fields_are_saved_and_bad_values_are_named(tmp_path):
    model = tiny_model(**{**OFFICIAL, "cross_attention_heads": (1, 2)})
    model.save_pretrained(tmp_path / "m")
    saved = json.loads((tmp_path / "m" / "config.json").read_text())
    assert {k: saved[k] for k in OFFICIAL} == {**OFFICIAL, "cross_attention_heads": [1, 2]}
    again = FashionFlowModel.from_pretrained(tmp_path / "m").eval()
    sample, cond, clip = torch.randn(1, 4, 4, 8, 6), torch.randn(1, 4, 8, 6), torch.randn(1, 17, 64)
    with torch.no_grad():
        torch.testing.assert_close(again(sample, 5, cond, clip), model(sample, 5, cond, clip))
    for field, value, message in (("group_norm_over", "batch", "group_norm_over='batch'"),
                                  ("feed_forward_norm", "rms", "feed_forward_norm='rms'"),
                                  ("position_bias_input", "log", "position_bias_input='log'"),
                                  ("cross_attention_heads", (1, 1, 2), "one entry per stage")):
        with pytest.raises(ValueError, match=message):
            tiny_model(**{field: value})


def test_a_config_saved_before_the_fields_existed_computes_as_it_was_trained():
    # saved by the code before issue 24 (random non-zero weights everywhere), with its output then
    folder = DATA / "fashionflow_before_step12"
    assert "group_norm_over" not in json.loads((folder / "config.json").read_text())
    model = FashionFlowModel.from_pretrained(folder).eval()
    g = torch.Generator().manual_seed(11)
    sample = torch.randn(1, 4, 4, 8, 6, generator=g)
    cond = torch.randn(1, 4, 8, 6, generator=g)
    clip = torch.randn(1, 17, 64, generator=g)
    with torch.no_grad():
        out = model(sample, torch.tensor([421]), cond, clip).numpy()
    expected = np.load(folder / "expected_output.npy")
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    official = FashionFlowModel(**{**dict(model.config), **OFFICIAL, "cross_attention_heads": (1, 1)})
    official.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert not np.allclose(official.eval()(sample, torch.tensor([421]), cond, clip).numpy(), expected,
                               rtol=1e-2)
