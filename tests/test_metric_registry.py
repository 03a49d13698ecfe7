"""The metric registry: one declaration per metric, read by eval, the leaderboard and the API."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from ffbench.metrics import registry
from ffbench.metrics.options import EvalOptions

ROOT = Path(__file__).resolve().parents[1]
# The contract the leaderboard CSVs were written under: order, family and direction of every metric.
CANONICAL = ["fvd", "fvd-stylegan-v", "fvd-cdfvd", "kvd", "vfid", "fid", "is", "fvmd-flow", "psnr", "ssim",
             "l1", "lpips", "motion", "colour-drift", "saturation-drift", "detail-drift", "flicker"]
PAIRED = {"psnr", "ssim", "l1", "lpips"}
DIAGNOSTIC = {"motion", "colour-drift", "saturation-drift", "detail-drift", "flicker"}
HIGHER = {"is", "psnr", "ssim"}


@pytest.fixture
def scratch(monkeypatch):
    """A private copy of the registry's table: registrations in a test vanish after it."""
    registry.metric_names()  # the built-ins are loaded first
    monkeypatch.setattr(registry, "_SPECS", dict(registry._SPECS))
    return registry


def test_every_metric_is_declared_once_with_its_family_and_direction():
    assert registry.metric_names() == CANONICAL
    for spec in registry.specs():
        family = "paired" if spec.name in PAIRED else \
            "diagnostic" if spec.name in DIAGNOSTIC else "distribution"
        assert spec.family == family, spec.name
        assert spec.higher_is_better is (spec.name in HIGHER), spec.name
        assert spec.help and "\n" not in spec.help
    assert registry.groups()["fvd-all"] == ["fvd", "fvd-stylegan-v", "fvd-cdfvd"]
    weights = {s.name: s.weights for s in registry.specs() if s.weights}
    assert weights == {"fvd": "i3d", "fvd-stylegan-v": "i3d", "fvd-cdfvd": "i3d", "kvd": "i3d",
                       "vfid": "i3d_vfid", "fid": "inception", "is": "inception", "lpips": "lpips_vgg"}
    assert [s.name for s in registry.specs() if not s.needs_real] == ["is"]
    assert [s.name for s in registry.specs() if not s.streamable] == ["fvd-stylegan-v", "fvd-cdfvd"]


def test_the_old_name_lists_are_views_of_the_registry():
    from ffbench.metrics import diagnostics, protocols

    assert protocols.METRICS == tuple(CANONICAL)
    assert protocols.PAIRED == ("psnr", "ssim", "l1", "lpips")
    diagnostics_in_order = sorted(DIAGNOSTIC, key=CANONICAL.index)
    assert protocols.WEIGHT_FREE == ("fvmd-flow", "psnr", "ssim", "l1", *diagnostics_in_order)
    assert set(diagnostics.PER_VIDEO) == DIAGNOSTIC and set(diagnostics.SEES) == DIAGNOSTIC | {"fvmd-flow"}
    for name, spec in ((n, registry.get_metric(n)) for n in DIAGNOSTIC):
        assert diagnostics.PER_VIDEO[name] is spec.compute and diagnostics.CURVES[name] == spec.curve


def test_parse_metrics_reads_names_and_groups():
    assert registry.parse_metrics("all") == CANONICAL
    assert registry.parse_metrics("psnr,fvd-all") == ["fvd", "fvd-stylegan-v", "fvd-cdfvd", "psnr"]
    assert registry.parse_metrics([" Flicker", "fvd"]) == ["fvd", "flicker"]
    with pytest.raises(ValueError, match=r"unknown metric 'fvdd'; choose from fvd, .*, fvd-all or all"):
        registry.parse_metrics("fvdd,psnr")
    with pytest.raises(ValueError, match="unknown metric"):
        registry.parse_metrics("")


@pytest.mark.parametrize("fields, message", [
    (dict(family="set"), "family 'set'"),
    (dict(higher_is_better=None), "higher_is_better must be True or False"),
    (dict(runner="pixels"), "runner 'pixels'"),
    (dict(weights="vgg"), "weights 'vgg'"),
    (dict(help="two\nlines"), "help must be one line"),
    (dict(name="all"), "not 'all' or a group"),
    (dict(name="fvd-all"), "not 'all' or a group"),
    (dict(name="psnr"), "'psnr' is already registered"),
])
def test_a_bad_declaration_is_refused_and_registers_nothing(scratch, fields, message):
    before = dict(scratch._SPECS)
    args = dict(name="brightness", family="paired", higher_is_better=False, help="mean brightness") | fields
    with pytest.raises(ValueError, match=re.escape(message)):
        scratch.register_metric(args.pop("name"), compute=lambda a, b, v: a.mean(axis=(1, 2, 3)), **args)
    assert scratch._SPECS == before


def test_a_registered_metric_joins_parse_metrics_help_and_the_leaderboard_direction(scratch):
    @scratch.register_metric("sharpness", family="paired", higher_is_better=True, help="gradient energy")
    def sharpness(fake, real, variant):
        return np.ones(len(fake))

    assert scratch.get_metric("sharpness").compute is sharpness
    assert scratch.metric_names()[-6:] == ["sharpness", "motion", "colour-drift", "saturation-drift",
                                           "detail-drift", "flicker"]
    assert "sharpness" in scratch.parse_metrics("all") and "lpips*, sharpness;" in scratch.help_text()
    from ffbench.leaderboard import families, higher_is_better

    assert higher_is_better("sharpness") is True and higher_is_better("l1") is False
    assert "PSNR/SSIM/SHARPNESS higher, L1/LPIPS lower is better" in families()["paired"]


def _rows(metric: str, values: dict[str, tuple[float, float, float]]) -> pd.DataFrame:
    from ffbench.leaderboard import COLUMNS

    rows = []
    for i, (method, (value, lo, hi)) in enumerate(values.items()):
        row = dict.fromkeys(COLUMNS, "")
        row.update(time=f"2026-12-07T00:00:0{i}+00:00", dataset="toy", method=method, metric=metric,
                   family="paired", value=value, ci_low=lo, ci_high=hi, std=0.0, n_boot=10, n_seeds=1,
                   n_real=3, n_fake=3, frames="5", extractor="weight-free", extractor_sha256="weight-free:x",
                   protocol=json.dumps({"family": "paired", "frames": "1:", "name": metric,
                                        "variant": "correct"}, sort_keys=True),
                   detail="{}")
        rows.append(row)
    return pd.DataFrame(rows)


def test_better_than_follows_the_declared_direction_and_is_never_guessed(scratch):
    values = {"low": (1.0, 0.9, 1.1), "high": (5.0, 4.9, 5.1)}
    from ffbench.leaderboard import leaderboard_tables

    (_, l1), = leaderboard_tables(_rows("l1", values))  # lower is better
    assert list(l1["method"]) == ["low", "high"] and list(l1["better than"]) == ["high", ""]
    (_, ssim), = leaderboard_tables(_rows("ssim", values))  # higher is better
    assert list(ssim["method"]) == ["high", "low"] and list(ssim["better than"]) == ["low", ""]
    (_, unknown), = leaderboard_tables(_rows("unregistered", values))
    assert all(cell.startswith("? (unregistered is not registered") for cell in unknown["better than"])
    scratch.register_metric("unregistered", family="paired", higher_is_better=True, help="now declared",
                            compute=lambda a, b, v: np.zeros(len(a)))
    (_, known), = leaderboard_tables(_rows("unregistered", values))
    assert list(known["better than"]) == ["low", ""]


def test_eval_help_and_list_metrics_are_generated_from_the_registry():
    from ffbench.cli import main

    text = " ".join(CliRunner().invoke(main, ["eval", "--help"]).output.split())
    for spec in registry.specs():
        assert re.search(rf"[ :,]{re.escape(spec.name)}\*?[,; ]", text.replace("- ", "-")), spec.name
    listed = CliRunner().invoke(main, ["eval", "--list-metrics"])
    assert listed.exit_code == 0
    assert [line.split()[0] for line in listed.output.splitlines()] == CANONICAL
    assert re.search(r"^is\s+distribution\s+higher is better\s+weights: --inception", listed.output, re.M)


def test_a_plugin_that_does_not_import_is_named_with_the_fix():
    # A fresh interpreter: this one's registry is loaded already (plugins are read once).
    env = {**os.environ, "FFBENCH_METRICS": "no_such_module_xyz"}
    proc = subprocess.run([sys.executable, "-m", "ffbench.cli", "eval", "--list-metrics"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Traceback" not in output
    assert "FFBENCH_METRICS='no_such_module_xyz': cannot import 'no_such_module_xyz'" in output
    assert "PYTHONPATH" in output


def test_declaring_metrics_needs_no_torch_and_the_order_ignores_import_order():
    # diagnostics (fvmd-flow) and paired imported before the registry loads the network metrics.
    code = ("import sys; import ffbench.metrics.diagnostics, ffbench.metrics.paired; "
            "from ffbench.metrics import registry; from ffbench import leaderboard; "
            "print(','.join(registry.metric_names())); print('torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == [",".join(CANONICAL), "False"], proc.stderr


def test_every_metric_result_is_built_by_the_one_builder():
    sources = {p: p.read_text(encoding="utf-8") for p in (ROOT / "ffbench").rglob("*.py")}
    builders = [str(p.relative_to(ROOT)) for p, text in sources.items()
                if re.search(r"\bMetricResult\(", text)]
    assert builders == ["ffbench/metrics/results.py"]


def test_eval_options_are_frozen_checked_and_replaced_by_name():
    o = EvalOptions(seeds=[0, 1], i3d="random")
    assert o.seeds == (0, 1) and o.seed == 0
    with pytest.raises(AttributeError):
        o.device = "cuda"  # frozen
    assert o.replace(bootstrap=0).bootstrap == 0 and o.bootstrap == 200
    with pytest.raises(TypeError, match="EvalOptions has no option 'i3d_weights'"):
        o.replace(i3d_weights="x")
    for bad, message in ((dict(seeds=()), "at least one seed"), (dict(bootstrap=-1), "--bootstrap -1"),
                         (dict(paired_protocol="fixed"), "--paired-protocol 'fixed'"),
                         (dict(paired_frames="3"), "--paired-frames '3'")):
        with pytest.raises(ValueError, match=re.escape(message)):
            EvalOptions(**bad)
    from ffbench.metrics.protocols import PROTOCOLS

    assert o.weights_for(PROTOCOLS["fvd"]) == "random" and o.weights_for(PROTOCOLS["fid"]) is None
