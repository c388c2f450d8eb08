"""One table cell as text: the number formats (significant digits, percent, per kg) and the
short cells (size, break-even, energy method, error line) shared by the report's tables.
"""

from __future__ import annotations

import math

from greenai.reports.rows import ReportRow

NA = "n/a"


def sig(x: float | None, digits: int = 3) -> str:
    """``x`` with ``digits`` significant digits, without exponent between 1e-4 and 1e6."""
    if x is None:
        return NA
    if x == 0:
        return "0"
    mag = math.floor(math.log10(abs(x)))
    if -4 <= mag < 6:
        return f"{x:,.{max(0, digits - 1 - mag)}f}"
    return f"{x:.{digits - 1}e}"


def per_kg(x: float | None) -> str:
    """Efficiency (accuracy points per kg CO2) as a whole number."""
    return NA if x is None else f"{x:,.0f}"


def pct(x: float | None) -> str:
    return NA if x is None else f"{x:.2f}%"


def size(row: ReportRow) -> str:
    if row.size_mib is None:
        return NA
    return f"{row.size_mib:.2f} MiB"


def break_even(row: ReportRow) -> str:
    if row.variant == "baseline":
        return "—"
    if row.break_even_never:
        return "never"
    if (row.break_even_explanation or "").startswith("not judged"):
        return "not judged (timing unsure)"
    if row.break_even_inferences is None:
        return NA
    return f"{row.break_even_inferences:,}"


def short_methods(row: ReportRow) -> str:
    """``cpu: estimated: TDP; ram: ...`` without the detail in parentheses (the footnotes have it)."""
    if not row.step_methods:
        return NA
    parts = [
        f"{c}: {m.split(' (')[0]}"
        for c, m in row.step_methods.items()
        if not m.startswith("none")  # a component absent on this machine (e.g. no GPU)
    ]
    return "; ".join(parts) or NA


def one_line(error: str | None, limit: int = 160) -> str:
    """The first line of an error, cut to ``limit`` characters (the full text stays in the store)."""
    lines = (error or "").strip().splitlines()
    text = lines[0].strip() if lines else "no result recorded"
    return text if len(text) <= limit else text[: limit - 1] + "…"
