"""One self-contained HTML page: the tables, the charts as base64 PNGs, the method notes.

Nothing is fetched from elsewhere (no scripts, fonts or style sheets by URL); every string from a
result or the store is escaped.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from html import escape

from greenai.reports.table import Table

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1250px;
color:#222;padding:0 1rem}
table{border-collapse:collapse;margin:.5rem 0 .3rem;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.3rem .55rem;text-align:left;vertical-align:top}
th{background:#f1f4f1}
tr:nth-child(even) td{background:#fafafa}
.note{color:#555;font-size:.85rem;max-width:1000px}
.failed{color:#a00;font-weight:600}
img{max-width:100%;border:1px solid #ddd;margin:.5rem 0}
code{background:#f3f3f3;padding:0 .2rem}
"""


def _table_html(t: Table) -> str:
    parts = [f"<h2>{escape(t.title)}</h2>"]
    if t.cells:
        parts.append("<table><thead><tr>")
        parts.extend(f"<th>{escape(h)}</th>" for h in t.headers)
        parts.append("</tr></thead><tbody>")
        for row in t.cells:
            parts.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>")
        parts.append("</tbody></table>")
    else:
        parts.append("<p class='failed'>No finished runs.</p>")
    if t.note:
        parts.append(f"<p class='note'>{escape(t.note)}</p>")
    return "\n".join(parts)


def render(
    title: str,
    tables: Sequence[Table],
    charts: Mapping[str, bytes],
    notes: Sequence[str] = (),
    preamble: Sequence[str] = (),
    captions: Mapping[str, str] | None = None,
) -> str:
    """The report page. ``charts`` maps a chart's caption key to its PNG bytes (embedded inline)."""
    captions = captions or {}
    body = [f"<h1>{escape(title)}</h1>"]
    body.extend(f"<p class='note'>{escape(p)}</p>" for p in preamble)
    body.extend(_table_html(t) for t in tables)
    if charts:
        body.append("<h2>Charts</h2>")
    for key, png in charts.items():
        data = base64.b64encode(png).decode("ascii")
        caption = captions.get(key, key)
        body.append(
            f"<figure><img alt='{escape(caption, quote=True)}' src='data:image/png;base64,{data}'>"
            f"<figcaption class='note'>{escape(caption)}</figcaption></figure>"
        )
    if notes:
        body.append("<h2>How each figure was obtained</h2><ul>")
        body.extend(f"<li><code>{escape(n)}</code></li>" for n in notes)
        body.append("</ul>")
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
