"""Leaderboard CSVs: one file per dataset (`leaderboard/<dataset>.csv`), rows appended, never rewritten
in place.

Appends take a file lock, read the current file, add the rows and replace the file atomically (temporary
name, then os.replace), so concurrent `ffbench eval` runs never lose or tear rows and readers never see
half a file.

`leaderboard_tables` groups rows by (dataset, metric, protocol, extractor sha256): numbers from
different extractors or protocols never share a column. Within a table the methods are rows (the latest
row per method); random-init tables say so in their title. `format_leaderboard` prints the tables in three
groups, distribution metrics, paired metrics and diagnostics, each table titled with its protocol line.
Every row carries a bootstrap 95% interval (`ci_low`, `ci_high`, `n_boot` resamples over videos).
Diagnostics show the generated value, the real value and their ratio.

"Better than" (and the diagnostics' "closer to real than"), decided per pair of methods of one table (the
latest row of each):
- paired rule, where both rows have their per-video values in the store `ffbench eval` keeps beside the
  leaderboard (`ffbench.per_video_store`) and both were scored against the same real set (fingerprint):
  the difference on their shared test ids with a BCa 95% interval from one resample of those ids for both
  (`ffbench.metrics.comparison.compare_methods`, 2000 resamples, seed 0; diagnostics compare
  |log(generated / real)|, statistic "closer-to-real"). Multiple comparisons: Holm's step-down correction
  over all paired comparisons of the table (family-wise error <= 5% per table; tables of different
  metrics are separate families); A beats B when the Holm-adjusted p < 0.05 in the registry's direction.
- distribution metrics (FVD and its variants, KVD, VFID, FID, IS, fvmd-flow), where eval kept both rows'
  per-unit features (`ffbench.feature_store`) on the same real units (real fingerprint and the real
  features' content): d(A, real) - d(B, real) with one resample of the real videos and of the shared test
  ids for both, BCa 95% (`comparison.compare_distributions`; 2000 resamples, fewer where the table's
  Frechet distances would exceed `comparison.PAIR_FLOP_BUDGET`, none, and the interval rule, below
  `MIN_PAIR_RESAMPLES`), Holm over the table's paired comparisons as above. At N <= dim the distances'
  bias largely cancels in the difference; its interval is of the difference at this N.
- interval rule, otherwise (leaderboards written before the store or the features, a pair scored
  against different real sets): their own 95% intervals do not overlap (diagnostics: the intervals of
  |log ratio|). Results from different real sets, protocols or extractors are never paired.
Each table's title says which rule it used; in a table that mixes both, interval-rule entries end in "*".

The CSV columns (`COLUMNS`, in this order; `ffbench report` reads them, so they are only ever added to,
never renamed or reordered). Missing numbers are empty cells.

- time: UTC ISO time of the `ffbench eval` run; dataset: the leaderboard name (the file stem);
  method: the `--method` name.
- metric: a registered metric's name (`ffbench.metrics.registry`: fvd, fvd-stylegan-v, ..., flicker, and
  any a plugin adds). family: distribution | paired | diagnostic (the group it is printed in, from the
  registry when the row was written; fvmd-flow is a distribution metric). The direction of "better
  than" is the registry's `higher_is_better`; a metric no loaded module declares gets no "better than"
  (never a guessed direction).
- value: the metric (distribution: the distance or IS; paired: mean over videos of the per-video mean
  over frames; diagnostic: mean over the generated videos). std: over seeds (distribution) or over videos
  (paired, diagnostic). ci_low, ci_high: the bootstrap 95% interval of value over videos; n_boot: its
  resamples (0 and empty bounds: no interval).
- real_value, ratio: diagnostics only, the real set's value and value / real_value (empty otherwise);
  the ratio's 95% interval is `ratio_ci` in detail.
- n_seeds, seeds (space-separated); n_real, n_fake: units scored per side (clips, videos or frames, as
  `unit` says: clip | video | frame); n_real_videos, n_fake_videos: videos per side; frames: frames per
  unit on the generated side ("16", or "12-16" when they differ).
- protocol: JSON of the protocol (always "name"; "family" for paired and weight-free rows; network
  protocols add network, weights, size, sampling, ...; paired add variant correct | disco and frames;
  diagnostics add frames, size and the flow settings). Rows with different protocol JSON never share a
  table.
- extractor: a readable label of the network and its weights file, "lpips-vgg v0.1 (...)" or
  "weight-free: ..."; extractor_sha256: the weights' sha256, or "random-init..." for randomly initialised
  extractors (numbers that compare methods within one run only), or "weight-free:..." (no weights).
- flags: "; "-separated notes that qualify the number (N <= feature dimension, short videos, ids scored
  with --allow-missing, disco protocol, fvmd-flow adaptation, flags from generation.json such as
  privileged inputs).
- detail: JSON with per_seed and the metric's extras (bootstrap settings; diagnostics: real_ci,
  ratio_ci, curves {"fake", "real"} over frames and curve_index; motion: p95_* and moving_fraction_*;
  colour-drift: whole_frame_*; paired: frames_compared).
- source_run, real, fake: the run and folders scored; ffbench_version, git_commit: the code that scored.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from filelock import FileLock

from ffbench import __version__, fileio

# datetime.UTC is Python 3.11+: this name keeps the module importable on 3.10.
UTC = timezone.utc

PAIRED_MARK = "*"  # an interval-rule entry in a table that also has paired ones

COLUMNS = [
    "time", "dataset", "method", "metric", "family", "value", "std", "ci_low", "ci_high", "n_boot",
    "real_value", "ratio", "n_seeds", "seeds", "n_real", "n_fake", "n_real_videos", "n_fake_videos", "unit",
    "frames", "protocol", "extractor", "extractor_sha256", "flags", "detail", "source_run", "real", "fake",
    "ffbench_version", "git_commit",
]
RANDOM_LABEL = "random-init"
FAMILY_TITLES = {
    "distribution": "Distribution metrics (generated set vs real set; {directions})",
    "paired": "Paired metrics (each generated video vs the real video with its id; {directions})",
    "diagnostic": "Diagnostics (weight-free; generated value, real value and their ratio: closer to 1 is "
                  "closer to real)",
}


def higher_is_better(metric: str) -> bool | None:
    """The registry's direction of `metric`, or None when no loaded module declares it."""
    from ffbench.metrics.registry import find_metric

    spec = find_metric(metric)
    return None if spec is None else spec.higher_is_better


def _directions(family: str) -> str:
    """'lower is better, IS higher' / 'PSNR/SSIM higher, L1/LPIPS lower is better', from the registry."""
    from ffbench.metrics.registry import specs

    members = [s for s in specs() if s.family == family]
    high = "/".join(s.name.upper() for s in members if s.higher_is_better)
    low = "/".join(s.name.upper() for s in members if not s.higher_is_better)
    if family == "distribution":  # most are distances: say the exceptions
        return "lower is better" + (f", {high} higher" if high else "")
    parts = (f"{high} higher" if high else "", f"{low} lower is better" if low else "")
    return ", ".join(p for p in parts if p)


def families() -> dict[str, str]:
    """{family: heading} in display order, the directions read from the registry."""
    return {f: t.format(directions=_directions(f)) for f, t in FAMILY_TITLES.items()}


def _finite_or_none(value):
    """JSON-safe floats: NaN and infinities become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(v) for v in value]
    return value


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
            "time": now, "dataset": dataset, "method": method, "metric": r.metric, "family": r.family,
            "value": r.value, "std": r.std, "ci_low": r.ci_low, "ci_high": r.ci_high, "n_boot": r.n_boot,
            "real_value": r.real_value, "ratio": r.ratio,
            "n_seeds": len(r.seeds), "seeds": " ".join(str(s) for s in r.seeds),
            "n_real": r.n_real, "n_fake": r.n_fake, "n_real_videos": r.n_real_videos,
            "n_fake_videos": r.n_fake_videos, "unit": r.unit, "frames": r.frames,
            "protocol": r.protocol.to_json(), "extractor": r.extractor,
            "extractor_sha256": r.extractor_sha256,
            "flags": "; ".join(r.flags),
            "detail": json.dumps(_finite_or_none({"per_seed": r.per_seed, **r.detail})),
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
    kind = p.get("family", "distribution")
    if kind == "paired":
        from ffbench.metrics.paired import PairedProtocol

        return PairedProtocol(p["name"], p["variant"], p["frames"]).describe()
    if "network" not in p:  # weight-free: diagnostics and fvmd-flow
        from ffbench.metrics.diagnostics import DiagnosticProtocol, FvmdProtocol
        from ffbench.metrics.registry import find_metric

        spec = find_metric(p["name"])
        cls = FvmdProtocol if spec is not None and spec.runner == "flow-distance" else DiagnosticProtocol
        return cls(p["name"], p["frames"], tuple(p["size"])).describe()
    frames = {"clip": f"{p['frames']}-frame clips", "video": f"first {p['frames']} frames per video",
              "frame": "every frame"}[p["unit"]]
    size = "native size" if p["size"] is None else f"{p['size'][0]}x{p['size'][1]}"
    lo, hi = p["value_range"]
    parts = [frames, size, f"values [{lo:g}, {hi:g}]", f"{p['network']} {p['weights']} {p['output']}"]
    if p.get("max_items"):
        parts.append(f"max {p['max_items']}")
    if p["distance"] == "inception_score":
        parts.append(f"{p['splits']} splits")
    sampling = p.get("sampling", "ffbench")
    if sampling == "stylegan-v":
        parts.append("StyleGAN-V sampling (real: random offset" + (", + mirrored" if p.get("mirror") else "")
                     + "; generated: from frame 0), covariance / N")
    elif sampling == "cdfvd":
        parts.append("cd-fvd sampling (generated resampled to 2048 clips; short side 256, centre crop), "
                     "covariance / N")
    return ", ".join(parts)


def _family(row) -> str:
    """A row's group; rows written before the family column derive it from the registry."""
    from ffbench.metrics.registry import FAMILIES, find_metric

    fam = row.get("family")
    if isinstance(fam, str) and fam in FAMILIES:
        return fam
    spec = find_metric(str(row["metric"]))
    return spec.family if spec is not None else "distribution"


def _num(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _fmt(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}g}" if math.isfinite(value) else "-"


def _interval_text(lo: float, hi: float) -> str:
    return f"[{_fmt(lo)}, {_fmt(hi)}]" if math.isfinite(lo) and math.isfinite(hi) else "-"


def better_than(names: list[str], lows: list[float], highs: list[float], higher_is_better: bool) -> list[str]:
    """For each method, the methods it beats with non-overlapping intervals (comma list, '' if none)."""
    out = []
    for i in range(len(names)):
        beaten = []
        for j in range(len(names)):
            if i == j or not all(math.isfinite(v) for v in (lows[i], highs[i], lows[j], highs[j])):
                continue
            if (lows[i] > highs[j]) if higher_is_better else (highs[i] < lows[j]):
                beaten.append(names[j])
        out.append(", ".join(beaten))
    return out


def log_ratio_interval(lo: float, hi: float) -> tuple[float, float]:
    """The interval of |log r| for r in [lo, hi] (how far from the real set, either way)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0 or hi <= 0:
        return math.nan, math.nan
    a, b = abs(math.log(lo)), abs(math.log(hi))
    return (0.0 if lo <= 1 <= hi else min(a, b)), max(a, b)


def _ratio_ci(detail: str) -> tuple[float, float]:
    try:
        lo, hi = json.loads(detail).get("ratio_ci", [None, None])
    except (TypeError, ValueError, AttributeError):
        return math.nan, math.nan
    return _num(lo), _num(hi)


def _stored_scores(latest: pd.DataFrame, store: pd.DataFrame | None, statistic: str) -> dict[str, object]:
    """{method: Scored} of the table's latest rows that have per-video values in the store (keyed by the
    row's time, method, metric, protocol and extractor sha256)."""
    from ffbench.metrics.comparison import Scored
    from ffbench.per_video_store import KEY

    if store is None or not len(store):
        return {}
    out = {}
    for _, row in latest.iterrows():
        mine = store
        for k in KEY:
            mine = mine[mine[k] == str(row[k])]
        values = pd.to_numeric(mine["value"], errors="coerce")
        mine = mine[values.notna()]
        if len(mine) < 3 or mine["real_fingerprint"].nunique() != 1:
            continue  # too few values, or one row key scored twice against different real sets: old rule
        real = pd.to_numeric(mine["real_value"], errors="coerce")
        per_real = {v: float(x) for v, x in zip(mine["video"], real, strict=True) if math.isfinite(x)}
        if statistic == "closer-to-real" and len(per_real) < len(mine):
            continue
        out[str(row["method"])] = Scored(
            str(row["method"]), str(row["metric"]),
            {v: float(x) for v, x in zip(mine["video"], pd.to_numeric(mine["value"]), strict=True)},
            str(mine["real_fingerprint"].iloc[0]), str(row["protocol"]), str(row["extractor_sha256"]),
            per_real)
    return out


def paired_better_than(names: list[str], interval_rule: list[str], scores: dict, higher_is_better: bool,
                       statistic: str = "mean") -> tuple[list[str], str]:
    """For each method the methods it beats, and the rule line for the table's title.

    Pairs with per-video values on one real set (`scores`: method -> Scored) are judged by the paired
    difference, with Holm over all of them; every other pair keeps `interval_rule`'s verdict (the comma
    lists of `better_than`), marked with PAIRED_MARK when the table mixes both rules.
    """
    from ffbench.metrics.comparison import compare_methods

    groups: dict[str, list] = {}
    for name in names:
        if name in scores:
            groups.setdefault(scores[name].real, []).append(scores[name])
    diffs = []
    for members in groups.values():
        if len(members) >= 2:
            try:
                diffs += compare_methods(members, higher_is_better, statistic=statistic)
            except ValueError:  # fewer than 3 shared ids: those pairs keep the interval rule
                continue
    return _verdicts(names, interval_rule, diffs, statistic == "closer-to-real" or not higher_is_better,
                     "paired difference on the shared test ids (BCa 95%", "no per-video values")


def _verdicts(names: list[str], interval_rule: list[str], diffs: list, lower_wins: bool, paired_text: str,
              missing: str, note: str = "") -> tuple[list[str], str]:
    """Merge the paired differences `diffs` (Holm over all of them: the table is the family) with the
    interval rule's verdicts for the other pairs; the rule line says which rule decided what."""
    from ffbench.metrics.comparison import holm

    paired = {frozenset((d.a, d.b)) for d in diffs}
    wins: set[tuple[str, str]] = set()
    for d, p in zip(diffs, holm([d.p_value for d in diffs]), strict=True):  # Holm over the whole table
        if math.isfinite(p) and p < 0.05 and d.estimate != 0:
            a_ahead = (d.estimate < 0) if lower_wins else (d.estimate > 0)
            wins.add((d.a, d.b) if a_ahead else (d.b, d.a))
    n_pairs = len(names) * (len(names) - 1) // 2
    mixed = 0 < len(paired) < n_pairs
    out = []
    for name, old in zip(names, interval_rule, strict=True):
        beaten = []
        old_beaten = [b for b in old.split(", ") if b]
        for other in names:
            if other == name:
                continue
            if frozenset((name, other)) in paired:
                if (name, other) in wins:
                    beaten.append(other)
            elif other in old_beaten:
                beaten.append(other + (PAIRED_MARK if mixed else ""))
        out.append(", ".join(beaten))
    # why the interval rule decided: values missing for a pair, and/or `note` (e.g. a pairing skipped)
    reason = f"{missing} stored for a pair{note}" if missing else note.removeprefix("; ")
    if not paired:
        rule = f"better than: non-overlapping 95% intervals ({reason})" if n_pairs else ""
    else:
        rule = f"better than: {paired_text}, Holm over the {len(paired)} paired comparisons of this table)"
        if mixed:
            reason = f"{missing} on one real set for that pair{note}" if missing else note.removeprefix("; ")
            rule += f"; entries marked {PAIRED_MARK}: non-overlapping 95% intervals ({reason})"
    return out, rule


def _feature_verdicts(latest: pd.DataFrame, features, names: list[str], interval_rule: list[str],
                      higher_is_better: bool) -> tuple[list[str], str]:
    """`_verdicts` of a distribution metric's table from the features eval kept
    (`ffbench.feature_store`): rows on one real set (same fingerprint and real units) are paired."""
    from threadpoolctl import threadpool_limits

    from ffbench.metrics.comparison import compare_distributions, resamples_for

    groups: dict[str, list] = {}
    absent = False  # a row without kept features
    for _, row in latest.iterrows():
        kept = None if features is None else features.load(row)
        if kept is not None:
            groups.setdefault(kept.real, []).append(kept)
        absent = absent or kept is None
    diffs, used, notes = [], set(), []
    for members in groups.values():
        if len(members) < 2:
            continue
        resamples = resamples_for(members)
        if not resamples:
            n = len(members[0].features)
            notes.append(f"; paired difference skipped: {n} {members[0].features.shape[1]}-d units per set "
                         "cost more than the leaderboard's budget")
            continue
        try:
            # one BLAS thread: these SVDs are small, and a pool per core spinning on a shared machine made
            # one FID table 35x slower (318 ms per distance against 9 ms, measured; see `ffbench.threads`)
            with threadpool_limits(limits=1):
                diffs += compare_distributions(members, higher_is_better, resamples)
        except ValueError:  # fewer than 3 shared ids: those pairs keep the interval rule
            continue
        used.add(resamples)
    text = ("paired difference of the two distances, one resample of the real videos and of the shared "
            f"test ids for both (BCa 95%, {'/'.join(map(str, sorted(used)))} resamples")
    missing = "no per-unit features" if absent or not notes else ""  # else: kept, but skipped (notes)
    return _verdicts(names, interval_rule, diffs, not higher_is_better, text, missing,
                     "".join(dict.fromkeys(notes)))


def leaderboard_tables(df: pd.DataFrame, metric: str | None = None, family: str | None = None,
                       store: pd.DataFrame | None = None, features=None) -> list[tuple[str, pd.DataFrame]]:
    """[(title, table)], one per (dataset, metric, protocol, extractor sha256); methods as rows.

    store: the per-video values (`ffbench.per_video_store.read_store`); features: the kept features of
    the distribution metrics (`ffbench.feature_store.FeatureStore` or the leaderboard folder); without
    them every "better than" follows the interval rule, and each title says which rule its table used.
    """
    if features is not None and not hasattr(features, "load"):
        from ffbench.feature_store import FeatureStore

        features = FeatureStore(features)
    if metric:
        df = df[df["metric"] == metric]
    if family:
        df = df[df.apply(_family, axis=1) == family] if len(df) else df
    tables = []
    keys = ["dataset", "metric", "protocol", "extractor_sha256"]
    for (dataset, name, protocol, sha), group in df.groupby(keys, sort=True):
        latest = group.sort_values("time").groupby("method", sort=False).tail(1)
        kind = _family(latest.iloc[0])
        lows = [_num(v) for v in latest.get("ci_low", [math.nan] * len(latest))]
        highs = [_num(v) for v in latest.get("ci_high", [math.nan] * len(latest))]
        rule = ""
        if kind == "diagnostic":
            table = _diagnostic_table(latest)
            column = "closer to real than"
            table[column], rule = paired_better_than(
                table["method"].tolist(), table[column].tolist(),
                _stored_scores(latest, store, "closer-to-real"), False, "closer-to-real")
        else:
            higher = higher_is_better(name)
            sign = -1 if higher else 1
            order = sorted(range(len(latest)), key=lambda i: sign * _num(latest["value"].iloc[i]))
            latest = latest.iloc[order]
            lows, highs = [lows[i] for i in order], [highs[i] for i in order]
            names = latest["method"].tolist()
            if higher is not None and kind == "distribution":
                beaten, rule = _feature_verdicts(latest, features, names,
                                                 better_than(names, lows, highs, higher), higher)
            elif higher is not None:
                beaten, rule = paired_better_than(names, better_than(names, lows, highs, higher),
                                                  _stored_scores(latest, store, "mean"), higher)
            else:
                beaten = [f"? ({name} is not registered: load the module that declares it)"] * len(latest)
            table = pd.DataFrame({
                "method": latest["method"],
                name.upper(): [_fmt(_num(v)) for v in latest["value"]],
                "95% CI": [_interval_text(lo, hi) for lo, hi in zip(lows, highs, strict=True)],
                "better than": beaten,
                "std": [f"{_num(v):.2g}" for v in latest["std"]],
                "seeds": latest["n_seeds"], "N real": latest["n_real"], "N fake": latest["n_fake"],
                "frames": latest["frames"], "flags": latest["flags"], "time": latest["time"],
            }).reset_index(drop=True)
        extractor = group["extractor"].iloc[-1]
        random = str(sha).startswith(RANDOM_LABEL)
        label = f" | {RANDOM_LABEL} ({sha}): compares methods within this table only" if random else \
            ("" if str(sha).startswith("weight-free") else f" | sha256 {str(sha)[:16]}...")
        boot = sorted({int(_num(b)) for b in latest.get("n_boot", []) if math.isfinite(_num(b))})
        boot_text = f" | 95% CI: {'/'.join(map(str, boot))} bootstrap resamples over videos" if boot else ""
        title = f"{name.upper()} on {dataset} | {extractor}{label} | {describe_protocol(protocol)}" \
            f"{boot_text}" + (f" | {rule}" if rule else "")
        tables.append((title, table))
    return tables


def _diagnostic_table(latest: pd.DataFrame) -> pd.DataFrame:
    ratios = [_num(v) for v in latest["ratio"]]
    cis = [_ratio_ci(d) for d in latest["detail"]]
    dist = [log_ratio_interval(lo, hi) for lo, hi in cis]
    order = sorted(range(len(latest)), key=lambda i: abs(math.log(ratios[i])) if ratios[i] > 0 else math.inf)
    pick = lambda seq: [seq[i] for i in order]  # noqa: E731
    latest, ratios, cis, dist = latest.iloc[order], pick(ratios), pick(cis), pick(dist)
    return pd.DataFrame({
        "method": latest["method"],
        "generated": [_fmt(_num(v)) for v in latest["value"]],
        "95% CI": [_interval_text(_num(a), _num(b)) for a, b in zip(latest["ci_low"], latest["ci_high"],
                                                                     strict=True)],
        "real": [_fmt(_num(v)) for v in latest["real_value"]],
        "ratio": [_fmt(r, 3) for r in ratios],
        "ratio 95% CI": [_interval_text(lo, hi) for lo, hi in cis],
        "closer to real than": better_than(latest["method"].tolist(), [d[0] for d in dist],
                                           [d[1] for d in dist], higher_is_better=False),
        "N fake": latest["n_fake"], "N real": latest["n_real"], "frames": latest["frames"],
        "flags": latest["flags"], "time": latest["time"],
    }).reset_index(drop=True)


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table (pandas' to_markdown needs the optional tabulate)."""
    cells = [[str(c) for c in table.columns]] + [[str(v).replace("|", "\\|") for v in row]
                                                 for row in table.itertuples(index=False)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]
    lines.insert(1, "| " + " | ".join("-" * w for w in widths) + " |")
    return "\n".join(lines)


def format_leaderboard(df: pd.DataFrame, fmt: str = "markdown", metric: str | None = None,
                       store: pd.DataFrame | None = None, features=None) -> str:
    """The whole leaderboard as text, grouped (distribution, paired, diagnostics): markdown sections, or
    CSV blocks each headed by a '# title' line. store, features: as `leaderboard_tables`."""
    if fmt not in ("markdown", "csv"):
        raise ValueError(f"fmt must be 'markdown' or 'csv', got {fmt!r}")
    blocks = []
    for kind, heading in families().items():
        tables = leaderboard_tables(df, metric, kind, store, features)
        if not tables:
            continue
        blocks.append(f"## {heading}\n" if fmt == "markdown" else f"## {heading}")
        for title, table in tables:
            if fmt == "markdown":
                blocks.append(f"### {title}\n\n{to_markdown(table)}\n")
            else:
                blocks.append(f"# {title}\n{table.to_csv(index=False)}")
    return "\n".join(blocks) if blocks else "(no rows)\n"
