"""The report's HTML: one static page, relative links only, no scripts (it opens from disk anywhere)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

import pandas as pd

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1400px; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; } h3 { font-size: 1em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.2em; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
.flag { display: inline-block; background: #fff3cd; border: 1px solid #e0c060; border-radius: 3px;
        padding: 0 5px; margin: 1px; font-size: 0.85em; }
.note { color: #555; font-size: 0.9em; }
.plots img { margin: 4px; border: 1px solid #eee; }
.players td { text-align: center; font-size: 0.8em; }
video { width: 160px; display: block; }
"""


@dataclass
class Section:
    """A titled block of the page (already escaped HTML in `body`)."""

    anchor: str
    title: str
    body: list[str] = field(default_factory=list)


def flag_spans(flags: list[str]) -> str:
    return "".join(f'<span class="flag">{escape(f)}</span>' for f in flags)


def table_html(table: pd.DataFrame, table_id: str) -> str:
    """A leaderboard table; cells are escaped."""
    return table.to_html(index=False, escape=True, border=0, table_id=table_id, classes="leaderboard",
                         na_rep="-")


def page(title: str, intro: list[str], sections: list[Section]) -> str:
    toc = "".join(f'<li><a href="#{s.anchor}">{escape(s.title)}</a></li>' for s in sections)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # No favicon request: a page opened from disk would log a failed load for it.
        '<link rel="icon" href="data:,">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        *[f'<p class="note">{line}</p>' for line in intro],
        f"<ul>{toc}</ul>",
    ]
    for s in sections:
        parts.append(f'<section id="{s.anchor}"><h2>{escape(s.title)}</h2>')
        parts.extend(s.body)
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def video_cell(src: str | None, caption: str) -> str:
    if src is None:
        return f"<td>{escape(caption)}<br>(no video)</td>"
    return (f'<td><video src="{escape(src)}" controls muted loop preload="metadata"></video>'
            f"{escape(caption)}</td>")
