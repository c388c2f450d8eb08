"""What a search has found so far: Pareto-optimal trials, hypervolume, failures; as text and PNGs."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenai.search import charts, pareto
from greenai.search.study import DIRECTIONS, OBJECTIVES


@dataclass(frozen=True)
class TrialRow:
    number: int
    run_id: str | None
    accuracy_pct: float
    cost: float  # kWh or kg CO2e, per the study's objective
    params: dict[str, Any]


@dataclass(frozen=True)
class SearchSummary:
    study_name: str
    objective: str  # "energy" | "co2"
    counts: dict[str, int]  # trial state name -> how many
    completed: list[TrialRow]  # in the order they finished
    pareto: list[TrialRow]  # sorted by cost
    failures: list[tuple[int, str]] = field(default_factory=list)  # (trial number, reason)
    hypervolume: float = 0.0
    hypervolume_normalised: float = 0.0
    reference: tuple[float, float] | None = None
    pruned: list[tuple[int, str]] = field(default_factory=list)  # (trial number, why)

    @property
    def cost_unit(self) -> str:
        return OBJECTIVES[self.objective][1]


STALE_REASON = "its worker stopped sending heartbeats (process killed or machine lost)"


def summarise(study: Any, objective: str) -> SearchSummary:
    """Read the study's trials (any state) and compute the front and its hypervolume."""
    trials = study.get_trials(deepcopy=False)
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    done = [t for t in trials if t.state.name == "COMPLETE" and t.values is not None]
    done = [t for t in done if all(math.isfinite(v) for v in t.values)]
    done.sort(key=lambda t: (t.datetime_complete or t.datetime_start, t.number))
    rows = [
        TrialRow(t.number, _final_run(t), t.values[0], t.values[1], dict(t.params)) for t in done
    ]
    failures = [
        (t.number, str(t.user_attrs.get("fail_reason") or STALE_REASON))
        for t in trials
        if t.state.name == "FAIL"
    ]
    pruned = [
        (t.number, str(t.user_attrs.get("pruned_reason") or "pruned"))
        for t in trials
        if t.state.name == "PRUNED"
    ]
    points = [(r.accuracy_pct, r.cost) for r in rows]
    front = sorted(
        (rows[i] for i in pareto.non_dominated(points, DIRECTIONS)),
        key=lambda r: (r.cost, -r.accuracy_pct),
    )
    summary = SearchSummary(
        study.study_name, objective, counts, rows, front, failures, pruned=pruned
    )
    if not points:
        return summary
    reference = pareto.default_reference(points)
    volume = pareto.hypervolume(points, reference, DIRECTIONS)
    return SearchSummary(
        study.study_name,
        objective,
        counts,
        rows,
        front,
        failures,
        volume,
        pareto.normalised(volume, reference),
        reference,
        pruned,
    )


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def format_summary(summary: SearchSummary) -> str:
    """The Pareto table, the hypervolume line and the failures, as plain text."""
    unit = summary.cost_unit
    states = ", ".join(f"{n} {s.lower()}" for s, n in sorted(summary.counts.items()))
    lines = [f"study {summary.study_name!r}: {states or 'no trials'}"]
    if not summary.pareto:
        lines.append("no completed trials yet: nothing to rank")
    else:
        names = list(summary.pareto[0].params)
        header = ["trial", "run_id", "acc %", f"{summary.objective} {unit}", *names]
        body = [
            [f"#{r.number}", r.run_id or "-", f"{r.accuracy_pct:.2f}", f"{r.cost:.4g}"]
            + [_fmt(r.params.get(n, "-")) for n in names]
            for r in summary.pareto
        ]
        widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
        lines.append(
            f"Pareto-optimal trials ({len(summary.pareto)} of {len(summary.completed)} completed, "
            f"no other trial is both more accurate and cheaper):"
        )
        for row in [header, *body]:
            lines.append("  " + "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
        ref = summary.reference or (0.0, 0.0)
        lines.append(
            f"hypervolume: {summary.hypervolume:.4g} %·{unit} = {summary.hypervolume_normalised:.3f} "
            f"of the reference box (reference point: {ref[0]:g} % accuracy, {ref[1]:.4g} {unit} = "
            f"{pareto.COST_REFERENCE_FACTOR:g} x the costliest completed trial)"
        )
    for number, reason in summary.failures:
        lines.append(f"trial #{number} failed: {reason}")
    for number, reason in summary.pruned:  # the reason says "pruned after epoch N: ..."
        lines.append(f"trial #{number} {reason}")
    return "\n".join(lines)


def chart_paths(results_dir: str | Path, study_name: str) -> tuple[Path, Path]:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in study_name)
    base = Path(results_dir)
    return base / f"search_{safe}_pareto.png", base / f"search_{safe}_hypervolume.png"


def write_charts(summary: SearchSummary, results_dir: str | Path) -> tuple[Path, Path] | None:
    """Draw the Pareto front and the hypervolume history; None when no trial has completed."""
    if not summary.completed:
        return None
    unit = summary.cost_unit
    label = OBJECTIVES[summary.objective][2]
    trials = [(r.number, r.accuracy_pct, r.cost) for r in summary.completed]
    pareto_png, hv_png = chart_paths(results_dir, summary.study_name)
    title = f"greenai search {summary.study_name!r}: {len(trials)} completed trials"
    charts.render_pareto(charts.pareto_chart(title, label, trials), pareto_png)
    charts.render_hypervolume(charts.hypervolume_chart(title, unit, trials), hv_png)
    return pareto_png, hv_png


def _final_run(trial: Any) -> str | None:
    """The run whose accuracy and lifecycle cost the trial reports: its last compressed child, or
    its training run."""
    return trial.user_attrs.get("final_run_id") or trial.user_attrs.get("run_id")
