"""The report's tables as text: Markdown (for ``study_report.md``) and aligned plain text (terminal).

``tables(rows, scenario)`` computes the cells once; ``markdown`` and ``terminal`` only lay them out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape as html_escape

from greenai.reports.bandtext import band, reduction, scenario_overlap
from greenai.reports.rows import ReportRow
from greenai.reports.scenario import Scenario

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


@dataclass(frozen=True)
class Table:
    title: str
    headers: tuple[str, ...]
    cells: tuple[tuple[str, ...], ...]
    note: str = ""


STUDY_HEADERS = (
    "Model Type",
    "Device",
    "Accuracy",
    "CO2 (kg)",
    "± CO2 (kg)",
    "Reduction",
    "Model Size",
    "Efficiency (acc %/kg CO2)",
)
LIFECYCLE_HEADERS = (
    "Model Type",
    "Device",
    "Step energy (kWh)",
    "Lifecycle energy (kWh)",
    "Lifecycle CO2 (kg)",
    "± (kg)",
    "Embodied CO2 (kg)",
    "Lifecycle reduction",
    "Lifecycle efficiency",
    "Inference (J / 1,000 img)",
    "Break-even (inferences)",
    "Energy method",
)


def study_table(rows: Sequence[ReportRow]) -> Table:
    cells = []
    for r in rows:
        if not r.ok:
            continue
        red = (
            "— (reference)"
            if r.run_id == r.baseline_run_id
            else reduction(r.reduction_step_pct, r.distinguishable_step)
        )
        cells.append(
            (
                r.model_type,
                r.device,
                pct(r.accuracy_pct)
                if r.fidelity_cosine is None
                else f"cosine {r.fidelity_cosine:.4f}",
                sig(r.co2_step_kg),
                band(r.co2_step_kg, r.co2_step_band),
                red,
                size(r),
                per_kg(r.efficiency_step),
            )
        )
    note = (
        "CO2 and Reduction are this step's own emissions, as the original study reported them; "
        "Reduction is against the baseline the model was derived from. ± is the figure's "
        "uncertainty band (low and high, greenai.uncertainty); 'not distinguishable': the "
        "difference lies inside the uncertainty. Two runs measured the same way (same methods, "
        "grid figure and PUE) share the systematic part, which cancels: only the bands' independent "
        "run-to-run parts (±2-3 %, ±20 % for sampled GPU power) count; a method only one run used "
        "keeps its whole band; on different grids the full bands are compared."
    )
    return Table("Study table (step CO2)", STUDY_HEADERS, tuple(cells), note)


def lifecycle_table(rows: Sequence[ReportRow]) -> Table:
    cells = []
    for r in rows:
        if not r.ok:
            continue
        red = (
            "— (reference)"
            if r.run_id == r.baseline_run_id
            else reduction(r.reduction_lifecycle_pct, r.distinguishable_lifecycle)
        )
        embodied = sig(r.embodied_lifecycle_kg)
        if r.embodied_lifecycle_kg is not None and r.embodied_lifecycle_band is not None:
            embodied += f" ({band(r.embodied_lifecycle_kg, r.embodied_lifecycle_band)})"
        inference = sig(r.inference_j_per_1000)
        if r.inference_device and r.inference_device != r.device:
            inference += f" (on {r.inference_device})"
        cells.append(
            (
                r.model_type,
                r.device,
                sig(r.energy_step_kwh),
                sig(r.energy_lifecycle_kwh),
                sig(r.co2_lifecycle_kg),
                band(r.co2_lifecycle_kg, r.co2_lifecycle_band),
                embodied,
                red,
                per_kg(r.efficiency_lifecycle),
                inference,
                break_even(r),
                short_methods(r),
            )
        )
    note = (
        "Lifecycle = this step + everything the model was derived from (the baseline's training "
        "for a pruned or quantized model, the teacher's for a distilled one). Break-even: inferences "
        "before the variant's lower inference energy pays back its own step. Embodied CO2: the "
        "hardware's manufacturing emissions amortised over the runs' time (SCI), kept apart from "
        "the operational CO2."
    )
    return Table("Lifecycle (honest) columns", LIFECYCLE_HEADERS, tuple(cells), note)


WORK_HEADERS = (
    "Model Type",
    "Device",
    "J / training sample",
    "J / inference item",
    "Item",
    "J / correct prediction",
    "Inference batch, threads",
)


def work_table(rows: Sequence[ReportRow]) -> Table | None:
    """Work-normalised energy (``greenai.results.work``); None when no run has such a figure."""
    shown = [
        r for r in rows
        if r.ok and (r.j_per_training_sample is not None or r.j_per_inference_item is not None)
    ]  # fmt: skip
    if not shown:
        return None
    cells = tuple(
        (
            r.model_type,
            r.device,
            sig(r.j_per_training_sample),
            sig(r.j_per_inference_item),
            r.inference_item or "—",
            sig(r.j_per_correct_prediction),
            f"{r.inference_batch_size}, {r.inference_threads}"
            if r.inference_batch_size is not None
            else "—",
        )
        for r in shown
    )
    note = (
        "J per training sample: the step's grid energy over the samples it trained on (data loading "
        "and evaluation included). J per inference item: taken over a steady-state window, warm-up "
        "excluded, at the stated batch size and thread count. J per correct prediction: J per item "
        "over the test accuracy."
    )
    return Table("Work-normalised energy", WORK_HEADERS, cells, note)


def problems_table(rows: Sequence[ReportRow]) -> Table | None:
    bad = [r for r in rows if not r.ok]
    if not bad:
        return None
    cells = tuple(
        (r.model_type, r.device, r.status.upper(), one_line(r.error), r.run_id) for r in bad
    )
    return Table(
        "Failed or missing steps",
        ("Model Type", "Device", "Status", "Reason", "Run"),
        cells,
        "These steps have no result; their figures are missing from the tables above.",
    )


def scenario_table(sc: Scenario) -> Table:
    cells = tuple(
        (
            ln.row.model_type + (" ← lowest CO2" if ln is sc.winner else ""),
            ln.row.device,
            pct(ln.row.accuracy_pct),
            sig(ln.row.co2_lifecycle_kg),
            sig(ln.inference_co2_kg),
            sig(ln.total_co2_kg),
        )
        for ln in sc.lines
    )
    if sc.winner:
        w = sc.winner.row
        note = (
            f"At {sc.inferences:,} inferences the lowest lifecycle CO2 is {w.model_type} on "
            f"{w.device} ({sig(sc.winner.total_co2_kg)} kg, accuracy {pct(w.accuracy_pct)})."
        )
        close = [ln.row.label for ln in sc.lines[1:] if scenario_overlap(sc.winner, ln)]
        if close:
            note += (
                " Not distinguishable, within the uncertainty bands, from: "
                + ", ".join(close)
                + "."
            )
    else:
        note = "No finished run has the inference-energy figures needed for a scenario."
    if sc.missing:
        note += " Without inference figures: " + ", ".join(r.label for r in sc.missing) + "."
    headers = (
        "Model Type",
        "Device",
        "Accuracy",
        "Lifecycle CO2 (kg)",
        f"CO2 of {sc.inferences:,} inferences (kg)",
        "Total CO2 (kg)",
    )
    return Table(f"Deployment scenario: {sc.inferences:,} inferences", headers, cells, note)


def method_notes(rows: Sequence[ReportRow]) -> list[str]:
    """Every distinct full method label, for footnotes."""
    seen: dict[str, None] = {}
    for r in rows:
        for comp, label in (r.step_methods or {}).items():
            seen.setdefault(f"{comp}: {label}", None)
        if r.inference_method:
            seen.setdefault(f"inference: {r.inference_method}", None)
    return list(seen)


def tables(rows: Sequence[ReportRow], sc: Scenario | None = None) -> list[Table]:
    out = [study_table(rows), lifecycle_table(rows)]
    work = work_table(rows)
    if work is not None:
        out.append(work)
    if sc is not None:
        out.append(scenario_table(sc))
    problems = problems_table(rows)
    if problems is not None:
        out.append(problems)
    return out


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
