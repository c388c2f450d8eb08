"""Deployment scenarios: each variant's lifecycle CO2 once it has served N inferences.

total(N) = lifecycle CO2 (own step + ancestors) + N x inference energy per image x grid intensity.
The inference energy per 1,000 images in a result is grid energy (PUE already applied, like
``energy.step.energy_kwh``; the convention of ``experiments.lineage``), so only the run's own grid
intensity is applied: a variant is charged at the grid it was measured on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from greenai.errors import UsageError
from greenai.reports.rows import ReportRow

JOULES_PER_KWH = 3.6e6


@dataclass(frozen=True)
class ScenarioLine:
    row: ReportRow
    inference_co2_kg: float  # CO2 of the N inferences alone
    total_co2_kg: float  # lifecycle CO2 + the N inferences


@dataclass(frozen=True)
class Scenario:
    inferences: int
    lines: tuple[ScenarioLine, ...]  # sorted by total CO2, lowest first
    winner: ScenarioLine | None  # lowest total CO2 (ties: higher accuracy)
    missing: tuple[ReportRow, ...]  # finished rows without the figures to take part


def inference_co2_kg(row: ReportRow, inferences: int) -> float | None:
    """CO2 of ``inferences`` predictions with this row's model, or ``None`` without the figures."""
    if row.inference_j_per_1000 is None or row.intensity_g_per_kwh is None:
        return None
    kwh = row.inference_j_per_1000 / 1000.0 * inferences / JOULES_PER_KWH
    return kwh * row.intensity_g_per_kwh / 1000.0


def scenario(rows: Sequence[ReportRow], inferences: int) -> Scenario:
    """Rank the finished rows by lifecycle CO2 including ``inferences`` predictions."""
    if isinstance(inferences, bool) or not isinstance(inferences, int) or inferences < 0:
        raise UsageError(f"--inferences must be a whole number >= 0, got {inferences!r}")
    lines, missing = [], []
    for row in rows:
        if not row.ok:
            continue
        inf = inference_co2_kg(row, inferences)
        if inf is None or row.co2_lifecycle_kg is None:
            missing.append(row)
            continue
        lines.append(ScenarioLine(row, inf, row.co2_lifecycle_kg + inf))
    lines.sort(key=lambda ln: (ln.total_co2_kg, -(ln.row.accuracy_pct or 0.0)))
    return Scenario(inferences, tuple(lines), lines[0] if lines else None, tuple(missing))
