"""The report's band cells and sentences: the ± column, "not distinguishable", the study total.

Bands come from the results (``greenai.uncertainty``); this module only words them.
"""

from __future__ import annotations

from collections.abc import Sequence

from greenai.reports.rows import ReportRow
from greenai.uncertainty import lineages_distinguishable, overlap

NA = "n/a"


def _sig(x: float | None) -> str:
    from greenai.reports.cells import sig

    return sig(x)


def band(central: float | None, b: tuple[float, float] | None) -> str:
    """The ± cell: ``-0.2/+0.3`` (distances below and above the figure), n/a without a band."""
    if central is None or b is None:
        return NA
    return f"-{_sig(max(0.0, central - b[0]))}/+{_sig(max(0.0, b[1] - central))}"


def reduction(pct_value: float | None, distinguishable: bool | None) -> str:
    """A reduction, flagged when the two runs' CO2 bands overlap."""
    text = _pct(pct_value)
    if distinguishable is False:
        text += " (not distinguishable)"
    return text


def total_line(rows: Sequence[ReportRow]) -> str:
    """The study total: every finished run's own step once (interval sum of the bands), and the
    embodied carbon beside it; "" when no run has a CO2 figure."""
    done = [r for r in rows if r.ok and r.co2_step_kg is not None]
    if not done:
        return ""
    co2 = sum(r.co2_step_kg or 0.0 for r in done)
    low = sum((r.co2_step_band or (r.co2_step_kg, r.co2_step_kg))[0] or 0.0 for r in done)
    high = sum((r.co2_step_band or (r.co2_step_kg, r.co2_step_kg))[1] or 0.0 for r in done)
    text = f"Total CO2 of these {len(done)} runs: {_sig(co2)} kg (band {_sig(low)}-{_sig(high)} kg)"
    emb = [r.embodied_step_kg for r in done if r.embodied_step_kg is not None]
    if emb:
        text += f"; embodied (hardware) CO2 beside it: {_sig(sum(emb))} kg over {len(emb)} runs"
    return text + "."


def scenario_overlap(a: object, b: object) -> bool:
    """Whether two scenario lines' totals (lifecycle + inferences served) cannot be told apart:
    compared as ``greenai.uncertainty.lineages_distinguishable`` does (a shared baseline cancels;
    on a shared basis only the independent parts count), or, for rows without their lineage's
    figures, by the overlap of each lifecycle's relative band applied to the total."""
    ca, cb = a.row.lineage_figures, b.row.lineage_figures  # type: ignore[attr-defined]
    if ca and cb and ca[0][1] is not None and cb[0][1] is not None:
        verdict = lineages_distinguishable(
            ca, ca[0][1].scaled(a.inference_co2_kg),  # type: ignore[attr-defined]
            cb, cb[0][1].scaled(b.inference_co2_kg),  # type: ignore[attr-defined]
        )  # fmt: skip
        if verdict is not None:
            return not verdict

    def interval(ln: object) -> tuple[float, float] | None:
        row, total = ln.row, ln.total_co2_kg  # type: ignore[attr-defined]
        band, life = row.co2_lifecycle_band, row.co2_lifecycle_kg
        if band is None or not life:
            return None
        return total * band[0] / life, total * band[1] / life

    ia, ib = interval(a), interval(b)
    return ia is not None and ib is not None and overlap(ia, ib)


def _pct(x: float | None) -> str:
    return NA if x is None else f"{x:.2f}%"
