"""Flags as footnote marks: each kind of flag gets one number on the page and one explanation.

A leaderboard row's `flags` cell is a "; "-separated list of notes ("random-init", "N<=dim (16<=400):
biased upward, ...", "privileged-input: ground-truth flow"). Printing them as chips on every row buries
the tables; here a cell carries only `[n]` marks (the exact text of that cell in the mark's tooltip) and
the page explains each `n` once. Flags that differ only in their parenthesised counts ("N<=dim (16<=400)"
and "N<=dim (256<=2048)") are one kind, one number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from html import escape

# "(16<=400)", "(256<=2048 distinct rows)": the counts of a flag, which vary by cell, not its meaning
COUNTS = re.compile(r"\s*\((\d[^)]*)\)")
EXPLAIN = {
    "random-init": "random-init: the extractor's weights are random (no pretrained weights offline); its "
                   "numbers compare methods within one table only and are never the published metric",
}


def split_flags(text: object) -> list[str]:
    """The notes of one `flags` cell, in order, without repeats.

    An interval's reason is written after "no interval: " and may itself hold "; " (the separator of the
    cell): a note without ":" right after a "no interval:" note continues it.
    """
    out: list[str] = []
    for part in str(text or "").split(";"):
        part = part.strip()
        if not part:
            continue
        if out and out[-1].startswith("no interval:") and ":" not in part:
            out[-1] = f"{out[-1]}; {part}"
        elif part not in out:
            out.append(part)
    return out


def flag_kind(flag: str) -> str:
    """The flag without its counts: what its one explanation says."""
    return COUNTS.sub("", flag).strip()


class FlagIndex:
    """Numbers flag kinds in order of first use; marks cells and writes each explanation once."""

    def __init__(self) -> None:
        self._numbers: dict[str, int] = {}
        self._variants: dict[str, list[str]] = {}

    def number(self, flag: str) -> int:
        kind = flag_kind(flag)
        if kind not in self._numbers:
            self._numbers[kind] = len(self._numbers) + 1
            self._variants[kind] = []
        if flag not in self._variants[kind]:
            self._variants[kind].append(flag)
        return self._numbers[kind]

    def marks(self, flags: Iterable[str]) -> str:
        """`<sup class="fn">[n]</sup>` per distinct kind, in number order; the cell's own texts as title."""
        by_number: dict[int, list[str]] = {}
        for flag in flags:
            texts = by_number.setdefault(self.number(flag), [])
            if flag not in texts:
                texts.append(flag)
        return "".join(f'<sup class="fn" title="{escape("; ".join(texts))}">[{n}]</sup>'
                       for n, texts in sorted(by_number.items()))

    def numbers(self) -> list[int]:
        return sorted(self._numbers.values())

    def legend(self, numbers: Iterable[int]) -> list[str]:
        """One `<li>` per number: the kind's explanation, and the cells' counts when they differ."""
        wanted = set(numbers)
        items = []
        for kind, n in self._numbers.items():
            if n not in wanted:
                continue
            text = escape(EXPLAIN.get(kind, kind))
            variants = self._variants[kind]
            if len(variants) > 1 or variants[0] != kind:
                counts = sorted({m.group(1) for v in variants for m in COUNTS.finditer(v)})
                text += f' <span class="note">(here: {escape(", ".join(counts))})</span>'
            items.append((n, f'<li value="{n}">{text}</li>'))
        return [html for _, html in sorted(items)]
