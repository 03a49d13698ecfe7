"""Numbers published on UBC Fashion, and when one of ours may stand beside them.

`ffbench/data/published_ubc_fashion.csv` holds, per number, the method, the paper and table it comes
from, the task (image-to-video like ffbench's methods, or pose-guided), the metric, the value and the
protocol: the ffbench metric that computes it the same way (`fvd-stylegan-v`, `vfid`), or empty where
the paper's implementation is unknown. `comparison_table` sets our newest row of the same method and
metric beside a published number only when

1. the protocol is known and ours is computed with it (same metric name),
2. the task is the same (image-to-video; pose-guided methods get a driving pose per frame),
3. our real set is the official UBC Fashion test split (not the synthetic set or a folder of one's own),
4. our extractor has its real weights (not random-init);

otherwise the `why not` column says which condition failed, so no reader sets two unlike numbers side
by side.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path

import pandas as pd

TASK = "image-to-video"
# Published method names as ffbench's methods are called.
OUR_NAMES = {"fashionflow": "fashionflow", "imaginator": "imaginator", "cinns": "cinn", "cinn": "cinn",
             "poke": "poke"}


def published_results() -> pd.DataFrame:
    """The published numbers (see the module docstring for the columns)."""
    with resources.files("ffbench").joinpath("data/published_ubc_fashion.csv").open(encoding="utf-8") as f:
        return pd.read_csv(f, dtype=str, keep_default_na=False)


def real_set_kind(real: str | Path) -> str:
    """Where a real set came from, per its manifest: 'official', 'synthetic', 'source_dir', 'urls_file'
    or 'unknown'."""
    root = Path(str(real))
    for candidate in (root, root / "shards" / "test", root / "test"):
        manifest = candidate / "manifest.json"
        if manifest.is_file():
            try:
                settings = json.loads(manifest.read_text(encoding="utf-8")).get("settings") or {}
            except (OSError, ValueError, AttributeError):
                return "unknown"
            return str(settings.get("source") or "unknown")
    return "unknown"


def _our_row(ours: pd.DataFrame, method: str, metric: str) -> pd.Series | None:
    name = OUR_NAMES.get(method.lower())
    if name is None or ours.empty:
        return None
    rows = ours[(ours["method"].str.lower() == name) & (ours["metric"] == metric)]
    return rows.sort_values("time").iloc[-1] if len(rows) else None


def why_not_comparable(pub: pd.Series, ours: pd.Series | None, real_kind: str) -> str:
    """'' when our row may stand beside the published number, else the reason it may not."""
    if pub["task"] != TASK:
        return f"{pub['task']} task (a driving pose per frame); ffbench's methods are {TASK}"
    if not pub["protocol"]:
        return f"the paper's {pub['metric'].upper()} implementation is not published"
    if ours is None:
        return f"no ffbench row of this method with metric {pub['protocol']}"
    if str(ours.get("extractor_sha256", "")).startswith("random-init"):
        return "our extractor is random-init (no pretrained weights)"
    if real_kind != "official":
        return f"our real set is not the official UBC Fashion test split ({real_kind})"
    return ""


def _fmt(value) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "-"
    return f"{v:.4g}" if math.isfinite(v) else "-"


def comparison_table(ours: pd.DataFrame | None) -> pd.DataFrame:
    """Every published number, with ours beside it where comparable and the reason where not."""
    ours = ours if ours is not None else pd.DataFrame(columns=["method", "metric", "time"])
    kinds = {str(r): real_set_kind(r) for r in ours.get("real", pd.Series(dtype=str)).unique()}
    rows = []
    for _, pub in published_results().iterrows():
        metric = pub["protocol"] or pub["metric"]
        mine = _our_row(ours, pub["method"], metric)
        why = why_not_comparable(pub, mine, kinds.get(str(mine["real"]), "unknown") if mine is not None
                                 else "unknown")
        rows.append({
            "method": pub["method"], "source": f"{pub['paper']}, {pub['table']}", "task": pub["task"],
            "metric": pub["metric"], "protocol": pub["protocol"] or "unknown", "published": pub["value"],
            "ffbench": "-" if why or mine is None else _fmt(mine["value"]),
            "ffbench 95% CI": "-" if why or mine is None
            else f"[{_fmt(mine['ci_low'])}, {_fmt(mine['ci_high'])}]",
            "why not beside ours": why,
        })
    return pd.DataFrame(rows)
