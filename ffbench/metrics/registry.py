"""One declaration per metric: what every part of ffbench reads to know a metric.

Each metric is declared once, in the module that computes it, with `register_metric` (as
stylegan2-ada's `@register_metric`; the direction sits on the metric, as torchmetrics' `higher_is_better`):

    @register_metric("mse", family="paired", higher_is_better=False, help="mean squared difference, 0-255^2")
    def mse_frames(fake, real, variant):  # aligned uint8 (T, H, W, 3) -> per-frame values (T,)
        ...

`ffbench eval`'s dispatch and `--metric` (choices, help, "all", "fvd-all"), the leaderboard's direction,
grouping and headings, the report and the Python API (`functional`, `VideoMetrics`) read the `MetricSpec`s
here; nothing else lists metrics.

Where a spec comes from: the built-in modules below, imported on the first lookup (they import numpy, not
torch, so `ffbench --help` stays fast), then every module named in the environment variable
`FFBENCH_METRICS` (comma-separated, e.g. `FFBENCH_METRICS=mylab.metrics`) and every `ffbench.metrics`
entry point of an installed package: a metric outside the project needs no project file changed.

A spec's `runner` says which family pass of `metrics.evaluate` computes it and what `compute` is:
- "network": features of a pretrained (or random-init) network over the feature cache (`distribution`);
  `protocol` is its frozen `protocols.Protocol`; compute(protocol, real_x, fake_x, seed) -> (value,
  detail) and interval(protocol, real_x, fake_x, seed, resamples, splits) -> (lo, hi, resamples used).
- "paired": each generated video against the real one with its id (`paired`); compute(fake, real,
  variant) -> per-frame values of aligned uint8 frames (T, H, W, 3); with `weights="lpips_vgg"`
  compute(fake, real, variant, model).
- "diagnostic": weight-free, from one cached flow analysis per video (`diagnostics`);
  compute(VideoAnalysis) -> the video's value; `curve` names the analysis field the report plots.
- "flow-distance": a distance between the two sets' flow analyses (fvmd-flow);
  compute(fake_analyses, real_analyses, frames, size, resamples, seed) -> MetricResult.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

FAMILIES = ("distribution", "paired", "diagnostic")  # leaderboard groups, in display order
RUNNERS = ("network", "paired", "diagnostic", "flow-distance")
WEIGHT_OPTIONS = ("i3d", "i3d_vfid", "inception", "lpips_vgg")  # EvalOptions fields naming weights
BUILTIN_MODULES = (
    "ffbench.metrics.distances",
    "ffbench.metrics.diagnostics",
    "ffbench.metrics.paired",
)
PLUGIN_ENV = "FFBENCH_METRICS"
ENTRY_POINT_GROUP = "ffbench.metrics"


@dataclass(frozen=True)
class MetricSpec:
    """Everything ffbench knows about one metric.

    name: as given to `--metric` and written in the leaderboard's `metric` column.
    family: the leaderboard group, "distribution" | "paired" | "diagnostic".
    higher_is_better: the direction of "better than" (diagnostics: rows are ranked by |log(fake / real)|,
        closer to 1 is better, whatever this says; declare False).
    help: one line for `eval --help`, the report and the API docstrings.
    runner, compute, interval, protocol, curve: see the module docstring.
    weights: the EvalOptions field naming its weights ("i3d", "i3d_vfid", "inception", "lpips_vgg") or
        None (weight-free).
    needs_real: whether it compares with the real set (False for IS alone).
    groups: names that select it besides its own, e.g. ("fvd-all",).
    streamable: whether `VideoMetrics` can accumulate it batch by batch.
    """

    name: str
    family: str
    higher_is_better: bool
    help: str
    runner: str
    compute: Callable[..., Any]
    interval: Callable[..., Any] | None = None
    protocol: Any = None
    weights: str | None = None
    needs_real: bool = True
    curve: str | None = None
    groups: tuple[str, ...] = ()
    streamable: bool = True

    @property
    def needs_pairs(self) -> bool:
        """Whether each generated video must have a real video of the same id."""
        return self.runner == "paired"

    @property
    def weight_free(self) -> bool:
        return self.weights is None

    @property
    def api_name(self) -> str:
        """Its Python name in `ffbench.metrics` ("fvd-cdfvd" -> fvd_cdfvd; "is", a keyword -> is_)."""
        name = self.name.replace("-", "_")
        return name + "_" if name in ("is", "in", "as", "or", "and", "not") else name


_SPECS: dict[str, MetricSpec] = {}
_loaded = False
_loading = False


def _check(spec: MetricSpec) -> None:
    where = f"register_metric({spec.name!r})"
    if not spec.name or spec.name != spec.name.strip().lower() or "," in spec.name \
            or spec.name in ("all", *_group_names()):
        raise ValueError(f"{where}: a metric name is lower case, without commas, and not 'all' or a group")
    if spec.family not in FAMILIES:
        raise ValueError(f"{where}: family {spec.family!r}; choose one of {', '.join(FAMILIES)}")
    if spec.runner not in RUNNERS:
        raise ValueError(f"{where}: runner {spec.runner!r}; choose one of {', '.join(RUNNERS)}")
    if not isinstance(spec.higher_is_better, bool):
        raise ValueError(f"{where}: higher_is_better must be True or False (the leaderboard's 'better "
                         f"than' reads it), got {spec.higher_is_better!r}")
    if spec.weights is not None and spec.weights not in WEIGHT_OPTIONS:
        raise ValueError(f"{where}: weights {spec.weights!r}; choose one of {', '.join(WEIGHT_OPTIONS)} or "
                         "None (weight-free)")
    if not spec.help or "\n" in spec.help:
        raise ValueError(f"{where}: help must be one line saying what the metric sees")
    if spec.runner == "network" and (spec.protocol is None or spec.interval is None):
        raise ValueError(f"{where}: a network metric needs its protocol and its interval function")
    if spec.runner == "diagnostic" and spec.family != "diagnostic":
        raise ValueError(f"{where}: a per-video diagnostic belongs to the 'diagnostic' family")
    module = getattr(spec.compute, "__module__", "") or ""
    if module.startswith("ffbench.metrics.") and module.rsplit(".", 1)[1] == spec.api_name:
        raise ValueError(f"{where}: declared in {module}, whose name is the metric's Python name "
                         f"(ffbench.metrics.{spec.api_name} is the metric's function); rename the module, "
                         f"e.g. {spec.api_name}_metric.py")
    old = _SPECS.get(spec.name)
    if old is not None and old != spec:
        raise ValueError(f"{where}: {spec.name!r} is already registered (by "
                         f"{getattr(old.compute, '__module__', '?')}); choose another name")


def register_metric(name: str, *, family: str, higher_is_better: bool, help: str, runner: str | None = None,
                    compute: Callable | None = None, **fields: Any):
    """Declare a metric. As a call with `compute=` it returns the MetricSpec; without, it is a decorator
    of the compute function (returned unchanged). `runner` defaults to the family's ("distribution" needs
    it: "network" or "flow-distance"). Other fields: see MetricSpec."""
    default_runner = {"paired": "paired", "diagnostic": "diagnostic"}.get(family)

    def add(function: Callable) -> MetricSpec:
        spec = MetricSpec(name=name, family=family, higher_is_better=higher_is_better, help=help,
                          runner=runner or default_runner or "", compute=function, **fields)
        _check(spec)
        _SPECS[name] = spec
        return spec

    if compute is not None:
        return add(compute)

    def decorator(function: Callable) -> Callable:
        add(function)
        return function

    return decorator


def _load() -> None:
    """Import the modules that declare metrics, once (built-ins, then plugins)."""
    global _loaded, _loading
    if _loaded or _loading:
        return
    _loading = True
    try:
        for module in BUILTIN_MODULES:
            importlib.import_module(module)
        for module in [m.strip() for m in os.environ.get(PLUGIN_ENV, "").split(",") if m.strip()]:
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise ValueError(f"{PLUGIN_ENV}={os.environ[PLUGIN_ENV]!r}: cannot import {module!r} "
                                 f"({exc}); put it on PYTHONPATH or remove it from the variable") from None
        from importlib.metadata import entry_points

        for point in entry_points(group=ENTRY_POINT_GROUP):
            point.load()
        _loaded = True
    finally:
        _loading = False


def _all() -> dict[str, MetricSpec]:
    _load()
    return _SPECS


def metric_names() -> list[str]:
    """Every metric in canonical order: by family (distribution, paired, diagnostic), then by declaring
    module (BUILTIN_MODULES' order, then plugins), then as declared there. Not by import order, which
    depends on what the caller imported first."""
    specs = _all()
    rank = {f: i for i, f in enumerate(FAMILIES)}
    modules = {m: i for i, m in enumerate(BUILTIN_MODULES)}
    index = {n: i for i, n in enumerate(specs)}

    def key(n: str) -> tuple[int, int, int]:
        module = getattr(specs[n].compute, "__module__", "")
        return rank[specs[n].family], modules.get(module, len(modules)), index[n]

    return sorted(specs, key=key)


def specs() -> list[MetricSpec]:
    """Every MetricSpec in canonical order."""
    return [_SPECS[n] for n in metric_names()]


def get_metric(name: str) -> MetricSpec:
    """The spec of `name`, or a ValueError listing the known metrics."""
    spec = _all().get(name)
    if spec is None:
        raise ValueError(f"unknown metric {name!r}; choose from {', '.join(metric_names())}")
    return spec


def find_metric(name: str) -> MetricSpec | None:
    """The spec of `name`, or None (a leaderboard row of a metric whose module is not loaded)."""
    return _all().get(name)


def _group_names() -> list[str]:
    return sorted({g for s in _SPECS.values() for g in s.groups})


def groups() -> dict[str, list[str]]:
    """{"all": every metric, "fvd-all": [...], ...}: the names `--metric` accepts besides metrics."""
    names = metric_names()
    out = {"all": names}
    for group in _group_names():
        out[group] = [n for n in names if group in _SPECS[n].groups]
    return out


def parse_metrics(metric: str | list[str] | tuple[str, ...]) -> list[str]:
    """'all', 'fvd-all', 'fvd', 'fvd,psnr' or a list -> validated metric names in canonical order."""
    requested = metric.split(",") if isinstance(metric, str) else list(metric)
    requested = [str(n).strip().lower() for n in requested if str(n).strip()]
    known, named = groups(), set()
    for n in requested:
        named.update(known.get(n, [n]))
    names = metric_names()
    bad = [n for n in requested if n not in known and n not in names]
    if bad or not requested:
        raise ValueError(f"--metric {metric!r}: unknown metric {bad[0] if bad else ''!r}; choose from "
                         f"{', '.join(names)}, {', '.join(g for g in known if g != 'all')} or all")
    return [m for m in names if m in named]


def directions() -> dict[str, bool]:
    """{metric: higher_is_better} of every registered metric."""
    return {s.name: s.higher_is_better for s in specs()}


def help_text() -> str:
    """The `--metric` help of `ffbench eval`, generated from the specs."""
    parts = []
    for family, title in (("distribution", "distribution"), ("paired", "paired"),
                          ("diagnostic", "weight-free diagnostics")):
        names = [s.name + ("" if s.weight_free else "*") for s in specs() if s.family == family]
        if names:
            parts.append(f"{title}: {', '.join(names)}")
    groups_text = ", ".join(f"{g} ({', '.join(m)})" for g, m in groups().items() if g != "all")
    return (f"A comma list of metrics. {'; '.join(parts)} (* needs weights: a file, the cache, a download, "
            f"or 'random'); {groups_text}; or all (under all, a metric that cannot run here, such as lpips "
            "without its VGG16, is skipped with the reason). --list-metrics says what each one sees.")
