"""A metrics plugin for tests (`FFBENCH_METRICS=eval_tiny_protocols`): it declares no metric, it shrinks the
network protocols' inputs in place to the sizes the in-process eval tests use (I3D 64x64, Inception 75x75),
so `ffbench eval` run as a subprocess (under torchrun) stays fast. The registry imports it before `eval`
reads the protocol table."""

from ffbench.metrics.protocols import PROTOCOLS

for _name, _p in list(PROTOCOLS.items()):
    if _p.size:
        PROTOCOLS[_name] = _p.replace(size=(64, 64) if _p.network == "i3d" else (75, 75))
