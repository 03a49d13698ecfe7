"""The report's plots (matplotlib, Agg, PNG): a bar chart with 95% intervals per metric, and the
diagnostics' curves over frames with the real videos beside every method."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

REAL_COLOUR = "black"


def _num(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _detail(text: str) -> dict:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def bar_chart(rows: pd.DataFrame, title: str, path: Path, diagnostic: bool) -> Path:
    """Bars of each method's value (a diagnostic: its ratio to the real set, with a line at 1) with the
    95% interval as error bars."""
    names = rows["method"].tolist()
    if diagnostic:
        values = [_num(v) for v in rows["ratio"]]
        cis = [_detail(d).get("ratio_ci", [math.nan, math.nan]) for d in rows["detail"]]
        lows, highs = [_num(c[0]) for c in cis], [_num(c[1]) for c in cis]
    else:
        values = [_num(v) for v in rows["value"]]
        lows, highs = [_num(v) for v in rows["ci_low"]], [_num(v) for v in rows["ci_high"]]
    err = [[max(v - lo, 0) if math.isfinite(lo) else 0 for v, lo in zip(values, lows, strict=True)],
           [max(hi - v, 0) if math.isfinite(hi) else 0 for v, hi in zip(values, highs, strict=True)]]
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(names), 3.2), dpi=100)
    ax.bar(range(len(names)), values, yerr=err, capsize=4, color="#4a7bb7")
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
    if diagnostic:
        ax.axhline(1.0, color=REAL_COLOUR, lw=1, ls="--", label="real videos")
        ax.set_ylabel("generated / real")
        ax.legend(fontsize=8)
    ax.set_title("\n".join(textwrap.wrap(title, 20 + 12 * len(names))), fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def curve_plot(rows: pd.DataFrame, metric: str, path: Path) -> Path | None:
    """The per-frame curve of each method and of the real videos (from the rows' `detail`)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.2), dpi=100)
    real_drawn, drawn = False, 0
    index = "frame t"
    for method, detail in zip(rows["method"], rows["detail"], strict=True):
        d = _detail(detail)
        curves = d.get("curves") or {}
        index = d.get("curve_index", index)
        fake = [_num(v) for v in curves.get("fake") or []]
        if fake:
            ax.plot(range(len(fake)), fake, marker=".", label=method)
            drawn += 1
        real = [_num(v) for v in curves.get("real") or []]
        if real and not real_drawn:  # every method is scored against the same real set
            ax.plot(range(len(real)), real, color=REAL_COLOUR, lw=2, ls="--", label="real videos")
            real_drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xlabel(index)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} over the video", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
