"""`from_pretrained` for every saved model of ffbench: diffusers' loader, then own, aligned copies of the
weights.

safetensors hands back views into one file buffer; CPU kernels pick other code paths for unaligned data,
and a loaded model's outputs then differ from the saved one's in the last bits. A model class takes the
fix by listing `LoadAlignedMixin` before diffusers' `ModelMixin` (FashionFlowModel, PokeModel, the cINN
networks).
"""

from __future__ import annotations

import itertools

import torch


class LoadAlignedMixin:
    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """diffusers' `from_pretrained`, then own, 64-byte-aligned copies of the weights."""
        kwargs.setdefault("low_cpu_mem_usage", False)  # the default asks for accelerate and warns without it
        loaded = super().from_pretrained(*args, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded
        with torch.no_grad():
            for tensor in itertools.chain(model.parameters(), model.buffers()):
                if tensor.device.type == "cpu" and tensor.data_ptr() % 64:
                    tensor.data = tensor.data.clone()
        return loaded
