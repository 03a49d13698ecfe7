"""The per-video store beside a leaderboard: `<leaderboard-dir>/per_video/<dataset>.csv`.

`ffbench eval` appends, in the same deferred step as the leaderboard rows, one row per (leaderboard row,
test video) of every per-video metric (paired PSNR/SSIM/L1/LPIPS and the diagnostics, with the real
video's own value), so the leaderboard can judge "better than" by the paired difference on the shared test
ids without a rerun (`ffbench.metrics.comparison`). A subfolder, not `<dataset>.per_video.csv`, so that
readers globbing `<dir>/*.csv` for leaderboards never see it.

Columns (`COLUMNS`): time, method, metric, protocol, extractor_sha256 (together the key of the leaderboard
row they belong to: the row's own values), real_fingerprint (sha256 of the real set's file listing: names,
sizes, modification times; only results with the same fingerprint are paired), family, video (test id),
value, real_value (diagnostics: the real video's value; empty otherwise). Appends lock the file and
replace it atomically, as the leaderboard does. The distribution metrics' per-unit features are kept
beside it, in `per_video/features/` (`ffbench.feature_store`), found by the same row key.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from ffbench.leaderboard import append_rows, check_dataset_name

COLUMNS = ["time", "method", "metric", "protocol", "extractor_sha256", "real_fingerprint", "family", "video",
           "value", "real_value"]
FOLDER = "per_video"
KEY = ["time", "method", "metric", "protocol", "extractor_sha256"]


def store_path(directory: str | Path, dataset: str) -> Path:
    """`<directory>/per_video/<dataset>.csv`."""
    return Path(directory) / FOLDER / f"{check_dataset_name(dataset)}.csv"


def store_rows(results: Iterable, rows: Sequence[dict], real_fingerprint: str) -> list[dict]:
    """One dict per (result, video) for the results that have per-video values.

    results and rows: the MetricResults and the leaderboard rows `result_rows` made of them, in one order
    (the row supplies the key: time, method, metric, protocol, extractor).
    """
    out = []
    for result, row in zip(results, rows, strict=True):
        for vid, value in sorted(result.per_video.items()):
            real = result.per_video_real.get(vid, math.nan)
            out.append({**{k: row[k] for k in KEY}, "real_fingerprint": real_fingerprint,
                        "family": row["family"], "video": vid, "value": float(value),
                        "real_value": "" if not math.isfinite(real) else float(real)})
    return out


def append_store(directory: str | Path, dataset: str, rows: Sequence[dict]) -> Path | None:
    """Append `rows` to the dataset's store (nothing, and None, when there are none)."""
    if not rows:
        return None
    return append_rows(store_path(directory, dataset), rows)


def read_store(source: str | Path, dataset: str | None = None) -> pd.DataFrame | None:
    """The store(s) beside a leaderboard: `source` is a leaderboard CSV or its folder. None when absent
    (leaderboards written before the store existed)."""
    source = Path(source)
    if source.is_file():
        files = [source.parent / FOLDER / source.name]
    elif dataset:
        files = [store_path(source, dataset)]
    else:
        files = sorted((source / FOLDER).glob("*.csv"))
    frames = [pd.read_csv(f, dtype={"time": str, "method": str, "metric": str, "protocol": str,
                                    "extractor_sha256": str, "real_fingerprint": str, "video": str},
                          keep_default_na=False) for f in files if f.is_file() and f.stat().st_size]
    return pd.concat(frames, ignore_index=True) if frames else None
