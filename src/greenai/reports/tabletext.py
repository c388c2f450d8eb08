"""The report's tables laid out as text: Markdown (for ``study_report.md``) and aligned plain
text (terminal); the cells come from ``greenai.reports.table``.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape as html_escape

from greenai.reports.table import Table


def md_text(text: str) -> str:
    """Text for Markdown with its HTML escaped: run names and errors come from results and the
    store, and Markdown viewers render raw HTML (report.html escapes the same text)."""
    return html_escape(text, quote=False)


def _md_cell(text: str) -> str:
    return md_text(text).replace("|", "\\|").replace("\n", " ")


def markdown(tabs: Sequence[Table], notes: Sequence[str] = (), title: str = "") -> str:
    parts = [f"# {md_text(title)}\n"] if title else []
    for t in tabs:
        parts.append(f"## {md_text(t.title)}\n")
        if t.cells:
            parts.append("| " + " | ".join(_md_cell(h) for h in t.headers) + " |")
            parts.append("|" + "|".join("---" for _ in t.headers) + "|")
            parts.extend("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in t.cells)
        else:
            parts.append("_No finished runs._")
        if t.note:
            parts.append(f"\n{md_text(t.note)}")
        parts.append("")
    if notes:
        parts.append("## How each figure was obtained\n")
        parts.extend(f"- {_md_cell(n)}" for n in notes)
        parts.append("")
    return "\n".join(parts)


def terminal(tabs: Sequence[Table]) -> str:
    parts = []
    for t in tabs:
        parts.append(t.title)
        if not t.cells:
            parts.append("  (no finished runs)\n")
            continue
        widths = [max(len(h), *(len(r[i]) for r in t.cells)) for i, h in enumerate(t.headers)]
        parts.append("  ".join(h.ljust(w) for h, w in zip(t.headers, widths, strict=True)).rstrip())
        parts.append("  ".join("-" * w for w in widths))
        parts.extend(
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in t.cells
        )
        if t.note:
            parts.append(t.note)
        parts.append("")
    return "\n".join(parts)
