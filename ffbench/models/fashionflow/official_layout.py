"""The public FashionFlow code's state dict layout, mapped onto FashionFlowModel's tensors.

The public code saves `{"net": SpaceTimeUnet.state_dict(), "adapter": Embedding_Adapter.state_dict()}`.
Its tensors are ffbench's one to one; they differ in names, in the 1x1x1 Conv3d weights (ffbench keeps
Linear / 1x1 Conv2d weights, and a (C,) LayerNorm weight for its (C, 1, 1, 1) channel norm), and in the
temporal down/up 1x1 convolutions, whose (channel, time-offset) order is interleaved the other way: the
public code's rearrange `(c p)` puts the two frames of a pair next to each other per channel, ffbench's
reshape puts all channels of the first frame, then all of the second (`p c`).

`key_table(config)` lists, for a FashionFlowModel config, every public key with the ffbench key it
becomes and how the tensor is transformed; `infer_config(net, adapter)` reads that config back from the
shapes. Facts only: the key names were read from the public code, none of it is used here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ffbench.models.fashionflow.config import PAPER_SHAPE

# The public code fixes these where the weights' shapes do not show them.
OFFICIAL_GROUPS = 8  # nn.GroupNorm(8, ...) in every residual block
OFFICIAL_CROSS_HEADS = (1, 1, 2, 4)  # AttentionBlock(n_head, ...) per stage, down and up
OFFICIAL_POSITION_MLP_LAYERS = 2  # ContinuousPositionBias(layers=2): Linear, SiLU, Linear, SiLU, Linear
OFFICIAL_LATENT_SIZE = (80, 64)  # 640 x 512 frames through Stable Diffusion's VAE
OFFICIAL_FRAMES = 70
OFFICIAL_FPS = 25.0  # inference.py writes its videos at 25 fps

COMPUTATIONS = (
    "group_norm_over", "feed_forward_token_shift", "feed_forward_norm", "position_bias_input",
    "cross_attention_heads",
)


class LayoutError(ValueError):
    """A state dict does not have the public FashionFlow layout; the message names every bad tensor."""


@dataclass(frozen=True)
class Transform:
    """How one public tensor becomes an ffbench one: `source_shape(target)` is the public shape that
    fits ffbench shape `target`; `apply(tensor, target)` does the conversion."""

    name: str
    source_shape: Callable[[tuple[int, ...]], tuple[int, ...]]
    apply: Callable[[torch.Tensor, tuple[int, ...]], torch.Tensor]


def _down_time(w: torch.Tensor, target: tuple[int, ...]) -> torch.Tensor:
    # public input channel c * 2 + p  ->  ffbench p * C + c (frame pair stacked frame by frame)
    out, inp = target[:2]
    return w.reshape(out, inp // 2, 2).transpose(1, 2).reshape(target)


def _up_time(w: torch.Tensor, target: tuple[int, ...]) -> torch.Tensor:
    # public output channel c * 2 + p  ->  ffbench p * C + c (the reshape after the conv reads (p, c))
    out = target[0]
    return w.reshape(out // 2, 2, *w.shape[1:]).transpose(0, 1).reshape(target)


COPY = Transform("copy", lambda t: t, lambda w, t: w)
# Conv3d 1x1x1 weight (o, i, 1, 1, 1) -> Linear (o, i) or Conv2d 1x1 (o, i, 1, 1);
# ChanLayerNorm g (c, 1, 1, 1) -> LayerNorm weight (c,)
CONV3D_1X1 = Transform("reshape", lambda t: (*t[:2], 1, 1, 1), lambda w, t: w.reshape(t))
CHANNEL_NORM = Transform("reshape", lambda t: (t[0], 1, 1, 1), lambda w, t: w.reshape(t))
DOWN_TIME = Transform("permute", lambda t: (*t[:2], 1, 1, 1), lambda w, t: _down_time(w.reshape(t[:2]), t))
UP_TIME = Transform("permute", lambda t: (*t[:2], 1, 1, 1), lambda w, t: _up_time(w.reshape(t[:2]), t))
UP_TIME_BIAS = Transform("permute", lambda t: t, _up_time)

Table = dict[str, tuple[str, Transform]]  # public key -> (ffbench key, transform)


def _params(table: Table, pub: str, ours: str, names: Sequence[str] = ("weight", "bias"),
            transform: Transform = COPY) -> None:
    for name in names:
        table[f"{pub}.{name}"] = (f"{ours}.{name}", transform)


def _pseudo_conv(table: Table, pub: str, ours: str, temporal: bool) -> None:
    _params(table, f"{pub}.spatial_conv", f"{ours}.spatial")
    if temporal:
        _params(table, f"{pub}.temporal_conv", f"{ours}.temporal")


def _resnet(table: Table, pub: str, ours: str, cin: int, cout: int, timestep: bool) -> None:
    if timestep:
        _params(table, f"{pub}.timestep_mlp.1", f"{ours}.time_mlp.1")
    for n in (1, 2):
        _pseudo_conv(table, f"{pub}.block{n}.project", f"{ours}.conv{n}", temporal=True)
        _params(table, f"{pub}.block{n}.norm", f"{ours}.norm{n}")
    if cin != cout:
        _params(table, f"{pub}.res_conv.spatial_conv", f"{ours}.skip")


def _self_attention(table: Table, pub: str, ours: str) -> None:
    for axis in ("spatial", "temporal"):
        _params(table, f"{pub}.{axis}_attn.norm", f"{ours}.{axis}_attn.norm")
        for proj in ("to_q", "to_kv", "to_out"):
            _params(table, f"{pub}.{axis}_attn.{proj}", f"{ours}.{axis}_attn.{proj}", ("weight",))
        # public: ModuleList of Sequential(Linear, SiLU) ... then a bare Linear; ours: one flat Sequential
        for k in range(OFFICIAL_POSITION_MLP_LAYERS + 1):
            inner = ".0" if k < OFFICIAL_POSITION_MLP_LAYERS else ""
            _params(table, f"{pub}.{axis}_rel_pos_bias.net.{k}{inner}", f"{ours}.{axis}_bias.mlp.{2 * k}")
    table[f"{pub}.ff.proj_in.0.weight"] = (f"{ours}.ff.proj_in.weight", CONV3D_1X1)
    table[f"{pub}.ff.proj_out.0.g"] = (f"{ours}.ff.norm.weight", CHANNEL_NORM)
    table[f"{pub}.ff.proj_out.1.weight"] = (f"{ours}.ff.proj_out.weight", CONV3D_1X1)


def _cross_attention(table: Table, pub: str, ours: str) -> None:
    _params(table, f"{pub}.layernorm_2", f"{ours}.norm1")
    for theirs, mine in (("q_proj", "to_q"), ("k_proj", "to_k"), ("v_proj", "to_v")):
        _params(table, f"{pub}.attention_2.{theirs}", f"{ours}.{mine}", ("weight",))
    _params(table, f"{pub}.attention_2.out_proj", f"{ours}.to_out")
    _params(table, f"{pub}.layernorm_3", f"{ours}.norm2")
    _params(table, f"{pub}.linear_geglu_1", f"{ours}.ff_in")
    _params(table, f"{pub}.linear_geglu_2", f"{ours}.ff_out")
    _params(table, f"{pub}.conv_output.spatial_conv", f"{ours}.proj")


def key_table(config: Mapping[str, Any]) -> tuple[Table, Table]:
    """(net table, adapter table) for a FashionFlowModel config with global conditioning: every public
    key, the ffbench key it becomes and its transform."""
    widths = list(config["block_out_channels"])
    blocks = int(config["layers_per_block"])
    net: Table = {}
    _params(net, "to_timestep_cond.1", "unet.time_embedding.0")
    _pseudo_conv(net, "conv_in", "unet.conv_in", temporal=True)
    _pseudo_conv(net, "conv_out", "unet.conv_out", temporal=True)
    ins = [widths[0], *widths[:-1]]
    for i, (cin, cout) in enumerate(zip(ins, widths, strict=True)):
        time, attn = bool(config["temporal_downsample"][i]), bool(config["self_attention"][i])
        down, ours = f"downs.{i}", f"unet.down_stages.{i}"
        _resnet(net, f"{down}.0", f"{ours}.resnets.0", cin, cout, timestep=True)
        for j in range(blocks - 1):
            _resnet(net, f"{down}.1.{j}", f"{ours}.resnets.{j + 1}", cout, cout, timestep=False)
        if attn:
            _self_attention(net, f"{down}.2", f"{ours}.attention")
        net[f"{down}.3.down_space.1.weight"] = (f"{ours}.downsample.space.1.weight", COPY)
        if time:
            net[f"{down}.3.down_time.1.weight"] = (f"{ours}.downsample.time.weight", DOWN_TIME)
        _cross_attention(net, f"{down}.4", f"{ours}.cross_attention")
        up, ours = f"ups.{i}", f"unet.up_stages.{i}"
        _resnet(net, f"{up}.0", f"{ours}.resnets.0", 2 * cout, cin, timestep=True)
        for j in range(blocks - 1):
            width_in = cin + cout if j == 0 else cin
            _resnet(net, f"{up}.1.{j}", f"{ours}.resnets.{j + 1}", width_in, cin, timestep=False)
        if attn:
            _self_attention(net, f"{up}.2", f"{ours}.attention")
        _params(net, f"{up}.3.up_space.0", f"{ours}.upsample.space.0")
        if time:
            net[f"{up}.3.up_time.0.weight"] = (f"{ours}.upsample.time.weight", UP_TIME)
            net[f"{up}.3.up_time.0.bias"] = (f"{ours}.upsample.time.bias", UP_TIME_BIAS)
        _cross_attention(net, f"{up}.4", f"{ours}.cross_attention")
    _resnet(net, "mid_block1", "unet.mid.resnet1", widths[-1], widths[-1], timestep=True)
    _self_attention(net, "mid_attn", "unet.mid.attention")
    _resnet(net, "mid_block2", "unet.mid.resnet2", widths[-1], widths[-1], timestep=True)
    adapter: Table = {}
    _params(adapter, "vae2clip", "adapter.latent_to_clip")
    _params(adapter, "linear1", "adapter.mix")
    return net, adapter


def _shape(sd: Mapping[str, torch.Tensor], part: str, key: str, what: str) -> tuple[int, ...]:
    if key not in sd:
        raise LayoutError(f"cannot read {what} from the checkpoint: {part}[{key!r}] is missing")
    return tuple(sd[key].shape)


def latent_size_of(pooled: int) -> tuple[int, int] | None:
    """The latent (h, w) whose 2x2 max-pool has `pooled` cells, at the paper's 5:4 aspect (80 x 64 for
    1280) or else square; None when neither fits. The network itself is fully convolutional: the size
    only fixes the adapter's input and the pipeline's frame size."""
    for ah, aw in ((OFFICIAL_LATENT_SIZE[0] // 16, OFFICIAL_LATENT_SIZE[1] // 16), (1, 1)):
        scale = round((pooled / (ah * aw)) ** 0.5)
        if scale > 0 and ah * aw * scale * scale == pooled:
            return 2 * ah * scale, 2 * aw * scale
    return None


def infer_config(
    net: Mapping[str, torch.Tensor],
    adapter: Mapping[str, torch.Tensor],
    latent_size: Sequence[int] | None = None,
    cross_attention_heads: Sequence[int] | None = None,
    num_frames: int = OFFICIAL_FRAMES,
    fps: float = OFFICIAL_FPS,
) -> dict[str, Any]:
    """FashionFlowModel constructor kwargs that fit a public state dict, widths read from its shapes.

    Not in the shapes, so taken from the public code unless given: the GroupNorm groups (8), the
    cross-attention heads per stage ((1, 1, 2, 4) for four stages), the latent size (from the adapter's
    pooled cells, `latent_size_of`: (80, 64) for 1280; give it when the model was trained at another
    aspect). Raises LayoutError.
    """
    stages = sorted({int(m.group(1)) for k in net if (m := re.match(r"downs\.(\d+)\.", k))})
    if not stages or stages != list(range(len(stages))):
        raise LayoutError(
            f"the checkpoint's net has down stages {stages or 'none'}; expected downs.0, downs.1, ... "
            "(is it a FashionFlow SpaceTimeUnet state dict?)"
        )
    widths = [_shape(net, "net", f"downs.{i}.0.block1.project.spatial_conv.weight", "the stage widths")[0]
              for i in stages]
    depth = {int(m.group(1)) for k in net if (m := re.match(r"downs\.0\.1\.(\d+)\.", k))}
    latent_channels = _shape(net, "net", "conv_in.spatial_conv.weight", "the latent channels")[1]
    last = f"mid_attn.spatial_rel_pos_bias.net.{OFFICIAL_POSITION_MLP_LAYERS}.weight"
    heads = _shape(net, "net", last, "the attention heads")[0]
    inner = _shape(net, "net", "mid_attn.spatial_attn.to_q.weight", "the attention width")[0]
    clip_dim, pooled = _shape(adapter, "adapter", "vae2clip.weight", "the CLIP width")
    clip_tokens, mixed = _shape(adapter, "adapter", "linear1.weight", "the CLIP token count")
    if mixed - clip_tokens != latent_channels:
        raise LayoutError(
            f"adapter linear1.weight is {clip_tokens} x {mixed}: it mixes {mixed - clip_tokens} latent "
            f"tokens, but the net takes {latent_channels} latent channels"
        )
    if latent_size is None:
        latent_size = latent_size_of(pooled)
        if latent_size is None:
            raise LayoutError(
                f"the adapter pools the latent to {pooled} cells, which fits neither the paper's 5:4 frame "
                "nor a square one: give the latent size the model was trained at (--latent-size HxW, with "
                f"(H/2) * (W/2) = {pooled})"
            )
    h, w = (int(v) for v in latent_size)
    if (h // 2) * (w // 2) != pooled:
        raise LayoutError(
            f"latent size {h}x{w} pools to {(h // 2) * (w // 2)} cells but the adapter's vae2clip takes "
            f"{pooled}: give the latent size the model was trained at (--latent-size HxW)"
        )
    if cross_attention_heads is None:
        if len(widths) != len(OFFICIAL_CROSS_HEADS):
            raise LayoutError(
                f"the checkpoint has {len(widths)} stages; the public code's cross-attention heads "
                f"{OFFICIAL_CROSS_HEADS} are for 4: give one head count per stage (--cross-attention-heads)"
            )
        cross_attention_heads = OFFICIAL_CROSS_HEADS
    if inner % heads:
        raise LayoutError(f"mid_attn: attention width {inner} is not a multiple of its {heads} heads")
    config = dict(PAPER_SHAPE)  # the paper's computations, prediction type and conditioning
    config.update(
        block_out_channels=tuple(widths),
        layers_per_block=len(depth) + 1,
        temporal_downsample=tuple(f"downs.{i}.3.down_time.1.weight" in net for i in stages),
        self_attention=tuple(any(k.startswith(f"downs.{i}.2.") for k in net) for i in stages),
        attention_heads=heads,
        attention_head_dim=inner // heads,
        norm_num_groups=OFFICIAL_GROUPS,
        cross_attention_heads=tuple(int(n) for n in cross_attention_heads),
        sample_size=(h, w),
        num_frames=int(num_frames),
        fps=float(fps),
        latent_channels=latent_channels,
        clip_tokens=clip_tokens,
        clip_dim=clip_dim,
        conditioning="both",
        stage="keyframes",
    )
    return config


def _listing(kind: str, items: list[str]) -> str:
    shown = ", ".join(items[:10])
    more = f" and {len(items) - 10} more" if len(items) > 10 else ""
    return f"{len(items)} {kind}: {shown}{more}"


def map_state_dict(
    net: Mapping[str, torch.Tensor],
    adapter: Mapping[str, torch.Tensor],
    config: Mapping[str, Any],
    target: Mapping[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    """Convert a public state dict to FashionFlowModel keys; `target` is the model's state dict (for the
    shapes; meta tensors are fine). Returns (state dict, counts: tensors, renamed only, reshaped,
    permuted). Raises LayoutError naming every missing,
    unexpected or mis-shaped tensor (the first ten of each kind and how many)."""
    tables = dict(zip(("net", "adapter"), key_table(config), strict=True))
    ours = {o for table in tables.values() for o, _ in table.values()}
    assert ours == set(target), sorted(ours ^ set(target))[:10]  # the table covers the model exactly
    missing, extra, shapes = [], [], []
    out: dict[str, torch.Tensor] = {}
    counts = dict(tensors=0, renamed=0, reshaped=0, permuted=0)
    for part, given in (("net", net), ("adapter", adapter)):
        table = tables[part]
        missing += [f"{part}[{k!r}]" for k in table if k not in given]
        extra += [f"{part}[{k!r}]" for k in given if k not in table]
        for key, tensor in given.items():
            if key not in table:
                continue
            name, transform = table[key]
            want = tuple(target[name].shape)
            expect = transform.source_shape(want)
            if not isinstance(tensor, torch.Tensor) or tuple(tensor.shape) != expect:
                got = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
                shapes.append(f"{part}[{key!r}] is {got}, expected {expect}")
                continue
            out[name] = transform.apply(tensor.detach(), want).contiguous()
            counts["tensors"] += 1
            counts["renamed"] += transform.name == "copy"
            counts["reshaped"] += transform.name == "reshape"
            counts["permuted"] += transform.name == "permute"
    problems = [
        _listing(kind, items)
        for kind, items in (("missing", missing), ("unexpected", extra), ("mis-shaped", shapes))
        if items
    ]
    if problems:
        raise LayoutError("the checkpoint does not fit the model its shapes describe: " + "; ".join(problems))
    return out, counts
