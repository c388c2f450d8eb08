"""Bands and embodied carbon over result dicts: the terminal lines, and a study's totals.

A study total is the interval sum (``greenai.uncertainty``) of its runs' own steps (``energy.step``,
each run counted once: a lifecycle sum per run would count a shared baseline again for every
variant), with the embodied carbon summed beside it, never into it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from greenai.uncertainty import band_of, sum_bands


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
