"""The report's tables: their titles, headers, cells and notes (study, lifecycle, work, scenario,
failed steps).

``tables(rows, scenario)`` computes the cells once; ``greenai.reports.tabletext`` lays them out
as Markdown (``markdown``, for ``study_report.md``) and aligned plain text (``terminal``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from greenai.reports.bandtext import band, reduction, scenario_overlap
from greenai.reports.cells import break_even, one_line, pct, per_kg, short_methods, sig, size
from greenai.reports.rows import ReportRow
from greenai.reports.scenario import Scenario


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
