"""Reports: the study's table with honest lifecycle columns, charts and a self-contained HTML page.

Layout, following the Optuna plots pattern: pure functions compute what to show (``rows``,
``scenario``, ``chartdata``), renderers draw it (``table`` for text, ``charts`` for PNGs, ``html``).
``build.write_report`` ties them together. Importing this package imports no matplotlib or torch.
"""

from __future__ import annotations

from greenai.reports.rows import ReportRow, RunInput, build_rows

__all__ = ["ReportRow", "RunInput", "build_rows"]
