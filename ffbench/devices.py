"""`--device`: the one check that a requested torch device exists here, before any weights are loaded."""

from __future__ import annotations

from ffbench.errors import UserError


def resolve_device(spec: str | None, option: str = "--device") -> str:
    """The torch device to use for `spec`: None or "auto" -> "cuda" when a GPU is visible, else "cpu".

    Raises UserError naming `option` for a device that is not a torch device or is not available here
    (e.g. `--device cuda` on a machine without a CUDA GPU), instead of failing deep inside torch.
    """
    import torch

    if spec is None or spec == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(spec)
    except (RuntimeError, ValueError, TypeError):
        raise UserError(f"{option} {spec!r} is not a torch device; use cpu, cuda, cuda:1, mps or "
                        "auto") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"{option} {spec}: no CUDA GPU is available here (torch.cuda.is_available() is "
                            f"False, torch {torch.__version__}); use {option} cpu")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise UserError(f"{option} {spec}: this machine has {count} CUDA device(s), numbered 0 to "
                            f"{count - 1}; pick one of them")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"{option} {spec}: Apple's MPS backend is not available here; use {option} cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise UserError(f"{option} {spec}: ffbench runs on cpu, cuda or mps, not {device.type}")
    return spec
