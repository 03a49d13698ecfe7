"""The report's first table: methods x headline metrics, the best of each column in bold, the leaderboard's
"better than" as marks, and every flag as a footnote mark explained once under the table.

"Better than" is the leaderboard's own verdict (`ffbench.leaderboard.leaderboard_tables` with the per-video
store: the paired difference with Holm where per-video values exist, non-overlapping intervals otherwise),
so the summary can never disagree with the tables below it.
"""

from __future__ import annotations

import math
import string
from html import escape

import pandas as pd

from ffbench.report.flags import FlagIndex, flag_kind, split_flags
from ffbench.report.page import Section

# In this order when present; a motion metric (fvmd-flow) beside the appearance ones.
HEADLINE = ("fvd", "fid", "fvmd-flow", "psnr", "ssim", "lpips", "l1")
TABLE_KEYS = ["dataset", "metric", "protocol", "extractor_sha256"]
RULE_PREFIX = "better than:"


def _num(value: object) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _direction(metric: str) -> bool | None:
    from ffbench.leaderboard import higher_is_better

    return higher_is_better(metric)


def _pick_tables(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """[(metric, rows of its one table)] for the headline metrics present. A metric scored under several
    protocols or extractors shows the table with the most methods, then real weights over random-init,
    then the correct paired variant over `disco`, then the newest."""
    from ffbench.leaderboard import _family

    present = [m for m in HEADLINE if m in set(df["metric"])]
    if not present:  # a leaderboard without the usual metrics: its distribution and paired ones
        families = df.apply(_family, axis=1) if len(df) else pd.Series(dtype=str)
        present = sorted(set(df.loc[families != "diagnostic", "metric"]))
    picked = []
    for metric in present:
        candidates = []
        for _, group in df[df["metric"] == metric].groupby(TABLE_KEYS, sort=True):
            latest = group.sort_values("time").groupby("method", sort=False).tail(1)
            random = str(latest["extractor_sha256"].iloc[0]).startswith("random-init")
            disco = '"disco"' in str(latest["protocol"].iloc[0])
            rank = (-latest["method"].nunique(), random, disco)
            candidates.append((str(latest["time"].max()), rank, latest))
        candidates.sort(key=lambda c: c[0], reverse=True)  # newest first: min() keeps the first of equals
        picked.append((metric, min(candidates, key=lambda c: c[1])[2]))
    return picked


def _rule(title: str) -> str:
    parts = [p for p in title.split(" | ") if p.startswith(RULE_PREFIX)]
    return parts[0][len(RULE_PREFIX):].strip() if parts else ""


def _cell_flags(row: pd.Series) -> list[str]:
    flags = split_flags(row.get("flags", ""))
    if str(row["extractor_sha256"]).startswith("random-init") and not any(
            f.startswith("random-init") for f in flags):
        flags.insert(0, "random-init")
    return flags


def _place(cells: dict[tuple[str, str], list[str]], methods: list[str], metrics: list[str],
           ) -> tuple[dict[str, list[str]], dict[str, list[str]], dict[tuple[str, str], list[str]]]:
    """Each flag once where it belongs: on the column when every cell of the column has its kind, else on
    the row when every cell of the row has it, else on the cell."""
    def kinds(key):
        return {flag_kind(f) for f in cells[key]}

    columns: dict[str, list[str]] = {}
    for metric in metrics:
        keys = [(m, metric) for m in methods if (m, metric) in cells]
        common = set.intersection(*(kinds(k) for k in keys)) if keys else set()
        columns[metric] = [f for k in keys for f in cells[k] if flag_kind(f) in common]
    rest = {k: [f for f in v if flag_kind(f) not in {flag_kind(c) for c in columns[k[1]]}]
            for k, v in cells.items()}
    rows: dict[str, list[str]] = {}
    for method in methods:
        keys = [(method, metric) for metric in metrics if (method, metric) in rest]
        common = set.intersection(*({flag_kind(f) for f in rest[k]} for k in keys)) if keys else set()
        rows[method] = [f for k in keys for f in rest[k] if flag_kind(f) in common]
    own = {k: [f for f in v if flag_kind(f) not in {flag_kind(r) for r in rows[k[0]]}]
           for k, v in rest.items()}
    return columns, rows, own


def summary_section(df: pd.DataFrame, store: pd.DataFrame | None, methods: list[str],
                    index: FlagIndex, features=None) -> Section:
    """The summary table (methods in `methods` order, then any other method of the rows) and its legend.
    store, features: the per-video values and kept features behind the paired verdicts (as
    `ffbench.leaderboard.leaderboard_tables` takes them)."""
    from ffbench.leaderboard import leaderboard_tables

    section = Section("summary", "Summary: every method on the headline metrics")
    picked = _pick_tables(df)
    if not picked:
        section.body.append('<p class="note">No distribution or paired metric in the leaderboard: see the '
                            "diagnostics in the details below.</p>")
        return section
    names = list(dict.fromkeys([*methods, *(m for _, rows in picked for m in rows["method"])]))
    names = [m for m in names if any(m in set(rows["method"]) for _, rows in picked)]
    letters = {m: _letter(i) for i, m in enumerate(names)}
    metrics = [metric for metric, _ in picked]
    values: dict[tuple[str, str], float] = {}
    beats: dict[tuple[str, str], list[str]] = {}
    cells: dict[tuple[str, str], list[str]] = {}
    rules: dict[str, list[str]] = {}
    for metric, rows in picked:
        title, table = leaderboard_tables(rows, store=store, features=features)[0]
        rule = _rule(title)
        lows, highs = rows.get("ci_low", [""] * len(rows)), rows.get("ci_high", [""] * len(rows))
        finite = [math.isfinite(_num(a) + _num(b)) for a, b in zip(lows, highs, strict=True)]
        if rule.startswith("non-overlapping") and not any(finite):
            why = rule[rule.find("(") + 1:rule.rfind(")")] if "(" in rule else ""
            rule = "none: no row has a valid 95% interval at this N" + (f", and {why}" if why else "")
        rules.setdefault(rule, []).append(metric)
        verdicts = dict(zip(table["method"], table["better than"], strict=True))
        for _, row in rows.iterrows():
            key = (str(row["method"]), metric)
            values[key] = _num(row["value"])
            verdict = str(verdicts.get(row["method"], ""))
            beats[key] = [] if verdict.startswith("?") else [b for b in verdict.split(", ") if b]
            cells[key] = _cell_flags(row)
    columns, row_flags, own = _place(cells, names, metrics)

    head = ["<th>method</th>"]
    for metric in metrics:
        arrow = {True: " &uarr;", False: " &darr;", None: ""}[_direction(metric)]
        head.append(f"<th>{escape(metric.upper())}{arrow}{index.marks(columns[metric])}</th>")
    body = []
    for method in names:
        tds = [f'<th><span class="key">{letters[method]}</span> {escape(method)}'
               f"{index.marks(row_flags[method])}</th>"]
        for metric in metrics:
            key = (method, metric)
            if key not in values:
                tds.append("<td>-</td>")
                continue
            tds.append(f"<td>{_value_html(key, values, beats, letters, names)}{index.marks(own[key])}</td>")
        body.append(f"<tr>{''.join(tds)}</tr>")
    section.body.append('<table id="summary-table" class="summary"><thead><tr>' + "".join(head)
                        + "</tr></thead><tbody>" + "".join(body) + "</tbody></table>")
    section.body.append(_legend(rules, index))
    return section


def _letter(i: int) -> str:
    return string.ascii_uppercase[i] if i < 26 else f"M{i + 1}"


def _fmt(value: float) -> str:
    """4 significant digits; large values (random-init FID) in full rather than in e-notation."""
    if not math.isfinite(value):
        return "-"
    return f"{value:.0f}" if abs(value) >= 1e4 else f"{value:.4g}"


def _value_html(key: tuple[str, str], values: dict, beats: dict, letters: dict, names: list[str]) -> str:
    method, metric = key
    value = values[key]
    text = _fmt(value)
    higher = _direction(metric)
    column = [v for (m, c), v in values.items() if c == metric and math.isfinite(v)]
    if higher is not None and column and math.isfinite(value) and value == (max if higher else min)(column):
        text = f"<b>{text}</b>"
    beaten = sorted(beats.get(key, []), key=lambda b: names.index(b.rstrip("*")) if b.rstrip("*") in names
                    else len(names))
    if beaten:
        others = [m for m in names if m != method and (m, metric) in values]
        plain = [b.rstrip("*") for b in beaten]
        if set(plain) >= set(others) and not any(b.endswith("*") for b in beaten):
            label = "&gt;all"
        else:
            label = "&gt;" + ",".join(escape(letters.get(b.rstrip("*"), b.rstrip("*")))
                                      + ("*" if b.endswith("*") else "") for b in beaten)
        tip = escape(f"significantly better than {', '.join(plain)}")
        text += f'<sup class="beats" title="{tip}">{label}</sup>'
    return text


def _legend(rules: dict[str, list[str]], index: FlagIndex) -> str:
    lines = ["<b>bold</b>: the best value of its column (&uarr; higher is better, &darr; lower, as the "
             "metric declares). <b>&gt;B,C</b>: significantly better than methods B and C; "
             "<b>&gt;all</b>: than every other method in the column; no mark: not shown to differ."]
    for rule, metrics in rules.items():
        if rule:
            names = escape(", ".join(m.upper() for m in metrics))
            verb = "no &gt; marks" if rule.startswith("none:") else "better than"
            lines.append(f"{names}: {verb} = {escape(rule.removeprefix('none: '))}.")
    html = "".join(f'<p class="legend">{line}</p>' for line in lines)
    used = index.numbers()
    if used:
        html += '<ol class="flags">' + "".join(index.legend(used)) + "</ol>"
    return f'<div class="legend">{html}</div>'
