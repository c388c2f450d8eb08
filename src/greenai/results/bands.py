"""Bands and embodied carbon over result dicts: the terminal lines, and a study's totals.

A study total is the interval sum (``greenai.uncertainty``) of its runs' own steps (``energy.step``,
each run counted once: a lifecycle sum per run would count a shared baseline again for every
variant), with the embodied carbon summed beside it, never into it.

``step_figure`` reads a run's step CO2 as a ``greenai.uncertainty.Figure``: its full band, its parts
per component and method (each with its independent share and its method's band) and its grid (the
intensity, its spread and the PUE), so two runs measured the same way are compared on what does not
cancel between them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from greenai.uncertainty import Figure, band_of, independent_share, label_band, sum_bands


def summary_lines(result: Mapping[str, Any]) -> list[str]:
    """Terminal lines: the step's energy and CO2 bands, and its embodied carbon beside them."""
    step = result["energy"]["step"]
    e_lo, e_hi = band_of(step, "energy_kwh")
    c_lo, c_hi = band_of(step, "co2_kg")
    lines = [
        f"  uncertainty band: energy {e_lo:.6g}-{e_hi:.6g} kWh, CO2 {c_lo:.6g}-{c_hi:.6g} kg "
        "(per method and grid spread; see greenai.uncertainty)"
    ]
    emb = (result.get("embodied") or {}).get("step")
    if emb:
        lo, hi = band_of(emb, "co2_kg")
        lines.append(
            f"  embodied (hardware manufacturing) CO2 {emb['co2_kg']:.6g} kg ({lo:.6g}-{hi:.6g}), "
            "not included above"
        )
    return lines


def study_total(results: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Energy and CO2 of a study's runs with their bands (interval sums), embodied beside them."""
    results = list(results)
    total = sum_bands(r["energy"]["step"] for r in results)
    embodied = [(r.get("embodied") or {}).get("step") for r in results]
    known = [e for e in embodied if e]
    total["embodied"] = sum_bands(known, keys=("co2_kg",))
    total["runs"] = len(results)
    total["runs_without_embodied"] = len(results) - len(known)
    return total


def step_figure(result: Mapping[str, Any]) -> Figure | None:
    """The step CO2 of ``result`` to compare with another run's; None when it has no band (an old
    result). Each component's share of the CO2 is its share of the energy (one grid for the step);
    without per-component figures and methods, or a known grid, only the full band is known."""
    step = result["energy"]["step"]
    if step.get("co2_kg_low") is None or step.get("co2_kg_high") is None:
        return None
    central = float(step.get("co2_kg") or 0.0)
    low, high = band_of(step, "co2_kg")
    by_kwh = {c: float(v) for c, v in (step.get("by_component_kwh") or {}).items() if v}
    methods = step.get("methods") or {}
    total, grid = sum(by_kwh.values()), _intensity_basis(result)
    if total <= 0 or grid is None or any(c not in methods for c in by_kwh):
        return Figure(central, low, high, (), (None,))
    parts = []
    for c, kwh in sorted(by_kwh.items()):
        label, kg = str(methods[c]), central * kwh / total
        lo, hi = label_band(label)
        parts.append((f"{c}: {label}", kg, kg * independent_share(label), lo, hi))
    return Figure(central, low, high, tuple(parts), (repr(grid),))


def _intensity_basis(result: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """What makes two runs' grid figures the same: source, spread (relative) and PUE; the figure
    itself too unless it varies over time (a series: each run's own mean, the same source)."""
    carbon = result.get("carbon") or {}
    g = carbon.get("intensity_g_per_kwh")
    if not isinstance(g, (int, float)) or g <= 0:
        return None
    lo = carbon.get("intensity_g_per_kwh_low", g)
    hi = carbon.get("intensity_g_per_kwh_high", g)
    series = "intensity_series" in carbon
    return (
        carbon.get("intensity_source"), None if series else float(g),
        round(float(lo) / g, 6), round(float(hi) / g, 6), carbon.get("pue"),
    )  # fmt: skip
