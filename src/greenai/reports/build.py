"""Write the whole report for a set of runs: Markdown, terminal text, PNG charts, one HTML page."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from greenai.errors import UsageError
from greenai.fsutil import atomic_write_bytes, atomic_write_text
from greenai.reports import chartdata, charts, html, runtimes
from greenai.reports.bandtext import total_line
from greenai.reports.inputs import RunInput
from greenai.reports.names import distinguish, timing_notes
from greenai.reports.rows import ReportRow, build_rows
from greenai.reports.scenario import scenario
from greenai.reports.table import method_notes, tables
from greenai.reports.tabletext import markdown, md_text, terminal

MARKDOWN_NAME = "study_report.md"
HTML_NAME = "report.html"
COMPARISON_NAME = "comparison_chart.png"
PARETO_NAME = "pareto_chart.png"
EPOCHS_NAME = "epoch_curves.png"
OWNER_NAME = "report_source.json"  # which runs the folder's report is over (its ``source``)


def check_owner(out_dir: Path, source: str, force: bool = False) -> None:
    """Raise ``UsageError`` when ``out_dir`` holds a report over something other than ``source``
    (or a report of unknown origin), unless ``force``."""
    if force or not (out_dir / MARKDOWN_NAME).exists():
        return
    try:
        owner = json.loads((out_dir / OWNER_NAME).read_text(encoding="utf-8"))["source"]
    except (OSError, ValueError, KeyError, TypeError):
        owner = "unknown runs"
    if owner != source:
        raise UsageError(
            f"{out_dir} already holds the report of {owner}; write this one elsewhere (--out DIR) "
            "or replace it with --force"
        )


@dataclass
class ReportFiles:
    """What ``write_report`` wrote, and the text to print in the terminal."""

    markdown: Path
    html: Path
    charts: dict[str, Path] = field(default_factory=dict)
    terminal_text: str = ""
    rows: list[ReportRow] = field(default_factory=list)


def _preamble(rows: Sequence[ReportRow], source: str) -> list[str]:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"Generated {now} from {source}."]
    grids = sorted(
        {(r.intensity_g_per_kwh, r.pue) for r in rows if r.intensity_g_per_kwh is not None},
        key=str,
    )
    for g, pue in grids:
        lines.append(
            f"Grid carbon intensity {g:g} gCO2e/kWh, PUE {pue if pue is not None else 1:g}."
        )
    total = total_line(rows)  # the runs' own steps, with bands; embodied beside (table.py)
    if total:
        lines.append(total)
    failed = [r for r in rows if not r.ok]
    if failed:
        lines.append(
            f"{len(failed)} of {len(rows)} steps have no result (failed, interrupted or skipped): "
            "see 'Failed or missing steps'."
        )
    return lines


def _charts(runs: Sequence[RunInput], rows: Sequence[ReportRow]) -> list[tuple[str, str, bytes]]:
    """(file name, caption, PNG bytes) for every chart there is data for."""
    out = []
    comp = chartdata.comparison(rows)
    if comp is not None:
        out.append((COMPARISON_NAME, "Accuracy and CO2 per variant", charts.comparison_png(comp)))
    par = chartdata.pareto(rows)
    if par is not None:
        out.append((PARETO_NAME, "Accuracy vs lifecycle CO2, Pareto front", charts.pareto_png(par)))
    ep = chartdata.epochs(runs)
    if ep is not None:
        out.append((EPOCHS_NAME, "Per-epoch accuracy and loss", charts.epochs_png(ep)))
    for run in runs:
        pw = chartdata.power(run)
        if pw is not None:
            out.append((f"power_{run.run_id}.png", pw.title, charts.power_png(pw)))
    out.extend(runtimes.chart_files(runs, rows))  # variant x runtime, when measured so
    return out


def write_report(
    runs: Sequence[RunInput],
    out_dir: Path,
    *,
    inferences: int | None = None,
    source: str = "result files",
    title: str = "greenai report",
    context: Sequence[str] = (),
    force: bool = False,
) -> ReportFiles:
    """Build rows, tables and charts for ``runs`` and write them under ``out_dir``.

    ``context``: extra lines for the top of the report (e.g. the study's settings). A folder that
    holds another report (another ``source``: a study's, or one over other runs) is refused
    unless ``force``: one report never silently replaces another."""
    if not runs:
        raise UsageError(f"no runs to report on in {source}")
    out_dir = Path(out_dir)
    check_owner(out_dir, source, force)  # another report there: one line, nothing written
    rows = distinguish(build_rows(runs), runs)
    sc = scenario(rows, inferences) if inferences is not None else None
    tabs = runtimes.with_runtimes(tables(rows, sc), runs, rows)
    notes = [*method_notes(rows), *timing_notes(rows)]
    preamble = [*_preamble(rows, source), *context]
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / OWNER_NAME, json.dumps({"source": source, "title": title}) + "\n")

    md = markdown(tabs, notes, title=title)
    md = md.replace("\n", "\n\n" + "\n".join(f"- {md_text(line)}" for line in preamble) + "\n", 1)
    md_path = out_dir / MARKDOWN_NAME
    atomic_write_text(md_path, md)

    chart_paths: dict[str, Path] = {}
    embedded: dict[str, bytes] = {}
    for name, caption, png in _charts(runs, rows):
        atomic_write_bytes(out_dir / name, png)
        chart_paths[name] = out_dir / name
        embedded[caption] = png
    page = html.render(title, tabs, embedded, notes, preamble)
    html_path = out_dir / HTML_NAME
    atomic_write_text(html_path, page)

    text = terminal(tabs)
    return ReportFiles(md_path, html_path, chart_paths, text, rows)
