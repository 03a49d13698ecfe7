"""What a report shows: the real set and each method's generated videos, found in the leaderboard rows."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ffbench.errors import UserError


class ReportInputError(UserError, ValueError):
    """The leaderboard or the folders it names cannot make a report."""


@dataclass
class MethodVideos:
    """One method's generated set: its name, folder, {id: mp4 path} and its flags (those on all its rows,
    and those of its generation.json)."""

    name: str
    folder: Path
    videos: dict[str, Path]
    flags: list[str] = field(default_factory=list)


def _flags(rows: pd.DataFrame) -> list[str]:
    """The flags of the method itself: those on every one of its rows (a metric's own flags, such as
    N<=dim, stay with that metric's tables)."""
    from ffbench.report.flags import split_flags

    per_row = [split_flags(text) for text in rows.get("flags", [])]
    return [f for f in per_row[0] if all(f in other for other in per_row[1:])] if per_row else []


def _resolve(path: str, base: Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else (base / p)


def method_folders(df: pd.DataFrame, base: Path, overrides: dict[str, Path] | None = None,
                   ) -> list[tuple[str, Path, list[str]]]:
    """(method, generated folder, flags) for every method in `df`, in order of first appearance; the
    folder of a method's newest row, unless `overrides` names one."""
    overrides = overrides or {}
    out = []
    for method in dict.fromkeys(df["method"]):
        rows = df[df["method"] == method].sort_values("time")
        fake = overrides.get(method) or _resolve(str(rows["fake"].iloc[-1]), base)
        out.append((method, fake, _flags(rows)))
    for method, folder in overrides.items():
        if method not in set(df["method"]):
            out.append((method, folder, []))
    return out


def real_source(df: pd.DataFrame, base: Path, override: Path | None = None) -> Path:
    """The real set the rows were scored against (the newest row's `real`), or `override`."""
    if override is not None:
        return override
    reals = [r for r in df.sort_values("time")["real"] if str(r)]
    if not reals:
        raise ReportInputError("the leaderboard rows do not name their real set; pass --real (the folder "
                               "given to `ffbench eval --real`)")
    return _resolve(str(reals[-1]), base)


def read_method(name: str, folder: Path, flags: list[str]) -> MethodVideos:
    """The `<id>.mp4` files of a generated folder (a gif preview of the same id is ignored)."""
    if not folder.is_dir():
        raise ReportInputError(f"method {name}: its videos folder {folder} does not exist (the leaderboard "
                               f"row names it); regenerate it or pass --method {name}=DIR")
    videos = {p.stem: p for p in sorted(folder.glob("*.mp4"))}
    if not videos:
        raise ReportInputError(f"method {name}: no .mp4 videos in {folder}")
    record = folder / "generation.json"
    if record.is_file():
        try:
            for flag in json.loads(record.read_text(encoding="utf-8")).get("flags", []):
                if flag not in flags:
                    flags = [*flags, flag]
        except (OSError, ValueError, AttributeError):
            pass  # a damaged record only loses flags the rows already carry
    return MethodVideos(name, folder, videos, flags)


def read_real(path: Path) -> dict[str, bytes | Path]:
    """{id: mp4 bytes or path} of the real set (a prepared dataset, a split of shards or a video folder)."""
    from ffbench.metrics.sources import open_real
    from ffbench.metrics.validation import source_ids

    try:
        items, _ = source_ids(open_real(path))
    except ValueError as err:
        raise ReportInputError(f"real set {path}: {err}") from err
    if not items:
        raise ReportInputError(f"real set {path}: no videos")
    return items
