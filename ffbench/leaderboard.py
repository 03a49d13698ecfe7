"""Leaderboard CSVs: one file per dataset (`leaderboard/<dataset>.csv`), rows appended, never rewritten
in place.

Appends take a file lock, read the current file, add the rows and replace the file atomically (temporary
name, then os.replace), so concurrent `ffbench eval` runs never lose or tear rows and readers never see
half a file.

`leaderboard_tables` groups rows by (dataset, metric, protocol, extractor sha256): numbers from
different extractors or protocols never share a column. Within a table the methods are rows (the latest
row per method); random-init tables say so in their title.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from filelock import FileLock

from ffbench import __version__, fileio

COLUMNS = [
    "time", "dataset", "method", "metric", "value", "std", "n_seeds", "seeds", "n_real", "n_fake",
    "n_real_videos", "n_fake_videos", "unit", "frames", "protocol", "extractor", "extractor_sha256",
    "flags", "detail", "source_run", "real", "fake", "ffbench_version", "git_commit",
]
HIGHER_IS_BETTER = {"is"}
RANDOM_LABEL = "random-init"


def git_commit() -> str:
    """Short commit of the ffbench checkout, or 'unknown' outside a git tree."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def result_rows(results: Iterable, method: str, dataset: str, source_run: str = "", real: str = "",
                fake: str = "") -> list[dict]:
    """Leaderboard rows (dicts with COLUMNS) from `ffbench.metrics.evaluate.MetricResult`s."""
    if not method or "," in method:
        raise ValueError(f"method must be a non-empty name without commas, got {method!r}")
    now = datetime.now(UTC).isoformat(timespec="seconds")
    commit = git_commit()
    rows = []
    for r in results:
        rows.append({
            "time": now, "dataset": dataset, "method": method, "metric": r.metric, "value": r.value,
            "std": r.std, "n_seeds": len(r.seeds), "seeds": " ".join(str(s) for s in r.seeds),
            "n_real": r.n_real, "n_fake": r.n_fake, "n_real_videos": r.n_real_videos,
            "n_fake_videos": r.n_fake_videos, "unit": r.unit, "frames": r.frames,
            "protocol": r.protocol.to_json(), "extractor": r.extractor,
            "extractor_sha256": r.extractor_sha256,
            "flags": "; ".join(r.flags), "detail": json.dumps({"per_seed": r.per_seed, **r.detail}),
            "source_run": source_run, "real": real, "fake": fake, "ffbench_version": __version__,
            "git_commit": commit,
        })
    return rows


def check_dataset_name(dataset: str) -> str:
    if not dataset or any(c in dataset for c in "/\\") or dataset.startswith("."):
        raise ValueError(f"dataset must be a plain file-name stem, got {dataset!r}")
    return dataset


def leaderboard_path(directory: str | Path, dataset: str) -> Path:
    return Path(directory) / f"{check_dataset_name(dataset)}.csv"


def append_rows(path: str | Path, rows: Sequence[dict], timeout: float = 120.0) -> Path:
    """Append `rows` to the CSV at `path` under a file lock; atomic replace of the whole file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = pd.DataFrame(list(rows))
    with FileLock(str(path) + ".lock", timeout=timeout):
        old = read_csv(path) if path.exists() and path.stat().st_size else None
        table = new if old is None else pd.concat([old, new], ignore_index=True)
        ordered = [c for c in COLUMNS if c in table.columns] + [c for c in table.columns if c not in COLUMNS]
        fd, tmp = fileio.mkstemp(path.parent, prefix=path.name + ".", suffix=".tmp")  # umask, not 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                table[ordered].to_csv(fh, index=False)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return path


def read_csv(path: str | Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"seeds": str, "frames": str, "flags": str, "git_commit": str},
                       keep_default_na=False)


def read_leaderboard(source: str | Path, dataset: str | None = None) -> pd.DataFrame:
    """All rows of one CSV, or of every `<dataset>.csv` in a folder (optionally one dataset)."""
    source = Path(source)
    if source.is_file():
        return read_csv(source)
    if not source.is_dir():
        raise ValueError(f"leaderboard {source}: no such file or folder; run `ffbench eval` first")
    files = [leaderboard_path(source, dataset)] if dataset else sorted(source.glob("*.csv"))
    frames = [read_csv(f) for f in files if f.is_file()]
    if not frames:
        raise ValueError(f"no leaderboard CSV in {source}" + (f" for dataset {dataset!r}" if dataset else ""))
    return pd.concat(frames, ignore_index=True)


def describe_protocol(protocol_json: str) -> str:
    """One line for a table title, e.g. '16-frame clips, 224x224, values [-1, 1], max 2048'."""
    p = json.loads(protocol_json)
    frames = {"clip": f"{p['frames']}-frame clips", "video": f"first {p['frames']} frames per video",
              "frame": "every frame"}[p["unit"]]
    size = "native size" if p["size"] is None else f"{p['size'][0]}x{p['size'][1]}"
    lo, hi = p["value_range"]
    parts = [frames, size, f"values [{lo:g}, {hi:g}]", f"{p['network']} {p['weights']} {p['output']}"]
    if p.get("max_items"):
        parts.append(f"max {p['max_items']}")
    if p["distance"] == "inception_score":
        parts.append(f"{p['splits']} splits")
    return ", ".join(parts)


def leaderboard_tables(df: pd.DataFrame, metric: str | None = None) -> list[tuple[str, pd.DataFrame]]:
    """[(title, table)], one per (dataset, metric, protocol, extractor sha256); methods as rows."""
    if metric:
        df = df[df["metric"] == metric]
    tables = []
    keys = ["dataset", "metric", "protocol", "extractor_sha256"]
    for (dataset, name, protocol, sha), group in df.groupby(keys, sort=True):
        latest = group.sort_values("time").groupby("method", sort=False).tail(1)
        latest = latest.sort_values("value", ascending=name not in HIGHER_IS_BETTER)
        table = pd.DataFrame({
            "method": latest["method"],
            name.upper(): [f"{v:.4g}" for v in latest["value"]],
            "std": [f"{v:.2g}" for v in latest["std"]],
            "seeds": latest["n_seeds"], "N real": latest["n_real"], "N fake": latest["n_fake"],
            "frames": latest["frames"], "flags": latest["flags"], "time": latest["time"],
        }).reset_index(drop=True)
        extractor = group["extractor"].iloc[-1]
        random = str(sha).startswith(RANDOM_LABEL)
        label = f"{RANDOM_LABEL} ({sha}): compares methods within this table only" if random else \
            f"sha256 {str(sha)[:16]}..."
        title = (f"{name.upper()} on {dataset} | {extractor} | {label} | {describe_protocol(protocol)}")
        tables.append((title, table))
    return tables


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table (pandas' to_markdown needs the optional tabulate)."""
    cells = [[str(c) for c in table.columns]] + [[str(v).replace("|", "\\|") for v in row]
                                                 for row in table.itertuples(index=False)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]
    lines.insert(1, "| " + " | ".join("-" * w for w in widths) + " |")
    return "\n".join(lines)


def format_leaderboard(df: pd.DataFrame, fmt: str = "markdown", metric: str | None = None) -> str:
    """The whole leaderboard as text: markdown sections, or CSV blocks each headed by a '# title' line."""
    if fmt not in ("markdown", "csv"):
        raise ValueError(f"fmt must be 'markdown' or 'csv', got {fmt!r}")
    blocks = []
    for title, table in leaderboard_tables(df, metric):
        if fmt == "markdown":
            blocks.append(f"### {title}\n\n{to_markdown(table)}\n")
        else:
            blocks.append(f"# {title}\n{table.to_csv(index=False)}")
    return "\n".join(blocks) if blocks else "(no rows)\n"
