"""The report's HTML: one static page, relative links only, no scripts (it opens from disk anywhere).

Its order is the reader's: the summary table first (the answer), then the videos, then the plots, then the
details (full tables, protocol lines, the published table, flags explained once)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

import pandas as pd

STYLE = """
body { font-family: system-ui, sans-serif; margin: 0.8em auto; padding: 0 1em; max-width: 1400px;
       color: #222; }
h1 { font-size: 1.5em; margin: 0.2em 0; } h2 { margin-top: 1.5em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1em; } #summary h2 { margin-top: 0.6em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.2em; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
.note { color: #555; font-size: 0.9em; }
.plots img { margin: 4px; border: 1px solid #eee; }
.players td { text-align: center; font-size: 0.8em; }
video { width: 160px; display: block; }
nav { font-size: 0.85em; margin: 0.3em 0 0.8em; } nav a { margin-right: 1em; }
table.summary { font-size: 0.95em; } table.summary td { text-align: right; white-space: nowrap; }
.key { display: inline-block; min-width: 1.2em; font-weight: bold; color: #2a5ea8; }
sup.beats { color: #1a7f37; font-weight: bold; margin-left: 2px; }
sup.fn { color: #8a6d00; margin-left: 1px; cursor: help; }
div.legend { font-size: 0.85em; color: #444; max-width: 1100px; }
p.legend { margin: 0.2em 0; } ol.flags { margin: 0.3em 0; padding-left: 2.2em; } ol.flags li { margin: 0; }
"""


@dataclass
class Section:
    """A titled block of the page (already escaped HTML in `body`)."""

    anchor: str
    title: str
    body: list[str] = field(default_factory=list)


def table_html(table: pd.DataFrame, table_id: str, raw: tuple[str, ...] = ()) -> str:
    """A leaderboard table; cells are escaped, except the columns in `raw` (already HTML)."""
    cells = table.copy()
    for column in cells.columns:
        if column not in raw:
            cells[column] = ["-" if v is None or (isinstance(v, float) and v != v) else escape(str(v))
                             for v in cells[column]]
    return cells.to_html(index=False, escape=False, border=0, table_id=table_id, classes="leaderboard",
                         na_rep="-")


def page(title: str, intro: list[str], sections: list[Section], nav: dict[str, str] | None = None) -> str:
    """The page: title, intro lines (HTML), one line of links (`nav`: {anchor: label}), the sections."""
    links = "".join(f'<a href="#{escape(a)}">{escape(label)}</a>' for a, label in (nav or {}).items())
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # No favicon request: a page opened from disk would log a failed load for it.
        '<link rel="icon" href="data:,">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        *[f'<p class="note">{line}</p>' for line in intro],
        f"<nav>{links}</nav>" if links else "",
    ]
    for s in sections:
        parts.append(f'<section id="{s.anchor}"><h2>{escape(s.title)}</h2>')
        parts.extend(s.body)
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def video_cell(src: str | None, caption: str, poster: str | None = None) -> str:
    """A player that shows `poster` (a still of the video) and loads nothing until played."""
    if src is None:
        return f"<td>{escape(caption)}<br>(no video)</td>"
    still = f' poster="{escape(poster)}"' if poster else ""
    return (f'<td><video src="{escape(src)}"{still} controls muted loop preload="none"></video>'
            f"{escape(caption)}</td>")
