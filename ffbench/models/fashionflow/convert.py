"""Convert the published FashionFlow checkpoint (`FashionFlow_checkpoint.pth`) into a FashionFlowPipeline
folder that `ffbench generate` and `ffbench eval` use unchanged; the library side of `ffbench convert`.

The file is a torch pickle `{"net": SpaceTimeUnet state dict, "adapter": Embedding_Adapter state dict}`.
It is read with `torch.load(weights_only=True)`, which refuses to run any code the file asks for. Widths
are read from the tensor shapes (`official_layout.infer_config`), every tensor is mapped
(`official_layout.map_state_dict`) and the model is loaded strictly with the public code's computations.
The folder holds the model, the VAE and CLIP it was trained with, and the training noise schedule
(DDPM, the `legacy` cosine-eased beta ramp, 1000 steps, epsilon), plus `conversion.json` (source file,
its sha256, converter version, mapping counts). The pipeline records `inference="official"`: its weights
were trained on the public code's inputs, so it should be sampled that way.
"""

from __future__ import annotations

import os
import pickle
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ffbench.errors import UserError
from ffbench.fileio import apply_umask, mkdtemp, sha256_file, write_json_atomic
from ffbench.models.fashionflow.model import FashionFlowModel
from ffbench.models.fashionflow.official_layout import (
    OFFICIAL_FPS,
    OFFICIAL_FRAMES,
    LayoutError,
    infer_config,
    map_state_dict,
)

CONVERTER_VERSION = 1
RECORD = "conversion.json"
PARTS = ("net", "adapter")


class ConversionError(UserError, ValueError):
    """The checkpoint cannot be converted; the message names the file and what to do."""


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], list]:
    """(net, adapter, other top-level keys) of a public FashionFlow checkpoint, read without unpickling
    code. Raises ConversionError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"checkpoint {str(path)!r}: no such file; give the .pth the authors released "
                              "(FashionFlow_checkpoint.pth)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        reason = next((line for line in lines if "Unsupported" in line), lines[-1] if lines else "")[:200]
        if "Unsupported global" not in str(err):  # not a torch pickle at all, e.g. a truncated download
            raise ConversionError(
                f"checkpoint {str(path)!r} is not a readable torch file ({reason})"
            ) from None
        raise ConversionError(
            f"checkpoint {str(path)!r} holds more than tensors (weights_only=True refused it: {reason}); "
            "ffbench never unpickles code from a checkpoint: re-save it as "
            "torch.save({'net': net.state_dict(), 'adapter': adapter.state_dict()}, path)"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise ConversionError(
            f"checkpoint {str(path)!r} is not a readable torch file ({str(err).splitlines()[0][:200]})"
        ) from None
    if not isinstance(data, Mapping):
        raise ConversionError(
            f"checkpoint {str(path)!r} holds a {type(data).__name__}, not a dict with the keys 'net' and "
            "'adapter' (the public FashionFlow code's torch.save layout)"
        )
    absent = [k for k in PARTS if k not in data]
    if absent:
        raise ConversionError(
            f"checkpoint {str(path)!r} has no {' or '.join(repr(k) for k in absent)} (its keys: "
            f"{sorted(map(str, data))[:10]}); expected the public FashionFlow layout "
            "{'net': ..., 'adapter': ...}"
        )
    parts = []
    for key in PARTS:
        part = data[key]
        if not isinstance(part, Mapping) or not all(isinstance(v, torch.Tensor) for v in part.values()):
            raise ConversionError(f"checkpoint {str(path)!r}: {key!r} is not a state dict of tensors")
        parts.append({str(k): v for k, v in part.items()})
    return parts[0], parts[1], sorted(str(k) for k in data if k not in PARTS)


def convert_checkpoint(
    path: str | os.PathLike,
    latent_size: Sequence[int] | None = None,
    cross_attention_heads: Sequence[int] | None = None,
    num_frames: int = OFFICIAL_FRAMES,
    fps: float = OFFICIAL_FPS,
) -> tuple[FashionFlowModel, dict[str, Any]]:
    """A FashionFlowModel holding the checkpoint's weights, loaded strictly, and the conversion record.

    latent_size / cross_attention_heads: what the shapes do not show (see `infer_config`); num_frames /
    fps: the clip length and frame rate the model samples at by default (the public code: 70 at 25).
    """
    path = Path(path)
    net, adapter, others = read_checkpoint(path)
    try:
        config = infer_config(net, adapter, latent_size, cross_attention_heads, num_frames, fps)
        with torch.device("meta"):  # shapes only: the real tensors come from the checkpoint
            target = FashionFlowModel(**config).state_dict()
        state, counts = map_state_dict(net, adapter, config, target)
    except LayoutError as err:
        raise ConversionError(f"checkpoint {str(path)!r}: {err}") from None
    except ValueError as err:  # the inferred shape is not one FashionFlowModel can build
        raise ConversionError(f"checkpoint {str(path)!r}: its shapes give no valid model: {err}") from None
    with torch.device("meta"):
        model = FashionFlowModel(**config)
    model.load_state_dict(state, strict=True, assign=True)  # every tensor, exactly once
    model.eval()
    record = dict(
        source=path.name,
        sha256=sha256_file(path),
        converter="ffbench.models.fashionflow.convert",
        converter_version=CONVERTER_VERSION,
        layout="public FashionFlow code: {'net': SpaceTimeUnet, 'adapter': Embedding_Adapter}",
        ignored_keys=others,
        tensors=dict(net=len(net), adapter=len(adapter)),
        parameters=dict(unet=sum(p.numel() for p in model.unet.parameters()),
                        adapter=sum(p.numel() for p in model.adapter.parameters())),
        mapping=counts,
        inferred=dict(
            (k, config[k]) for k in ("block_out_channels", "layers_per_block", "temporal_downsample",
                                     "self_attention", "attention_heads", "attention_head_dim",
                                     "latent_channels", "clip_tokens", "clip_dim", "sample_size")
        ),
        assumed=dict(
            (k, config[k]) for k in ("norm_num_groups", "cross_attention_heads", "num_frames", "fps")
        ),
    )
    return model, record


def write_pipeline(model: FashionFlowModel, vae: Any, clip: Any, processor: Any, record: Mapping[str, Any],
                   out: str | os.PathLike, overwrite: bool = False) -> Path:
    """Save `model` with the encoders and the public code's training schedule as a FashionFlowPipeline in
    `out`, atomically (a temp folder beside it, renamed), with `conversion.json`. Returns `out`."""
    from ffbench.models.fashionflow.model import FashionFlowConfigError
    from ffbench.models.fashionflow.pipeline import FashionFlowPipeline
    from ffbench.models.fashionflow.schedule import make_noise_scheduler

    out = Path(out)
    if out.exists() and not overwrite:
        raise ConversionError(
            f"-o {out}: already exists; remove it, choose another folder or pass --overwrite"
        )
    try:
        pipe = FashionFlowPipeline(unet=model, vae=vae, image_encoder=clip, feature_extractor=processor,
                                   scheduler=make_noise_scheduler("legacy", kind="ddpm"))
    except FashionFlowConfigError as err:
        raise ConversionError(
            f"the VAE / CLIP given do not fit the checkpoint: {err}; pass the ones it was trained with "
            "(--vae, --clip)"
        ) from None
    # sampled as the public inference does (part of model_index.json; FashionFlowPipeline reads it)
    pipe.register_to_config(inference="official")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = mkdtemp(out.parent, prefix=f".{out.name}.tmp-")
    try:
        pipe.save_pretrained(tmp)
        write_json_atomic(tmp / RECORD, dict(record))
        apply_umask(tmp)  # safetensors writes 0600 files
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
