"""Lifecycle accounting and break-even over result dicts (pure functions; reports reuse them).

- lifecycle = this run's own step + the parent's lifecycle, recursively (a pruned model carries the
  baseline's training; a distilled one its teacher's).
- break-even = inferences after which a variant's lower energy per inference has paid back its own
  step: ``step_J / (parent_J_per_inference - variant_J_per_inference)``; "never" when the variant does
  not use less energy per inference than its parent.
- the study quoted a step-only reduction (the pruning step's CO2 against the baseline's training);
  ``reductions`` puts that next to the lifecycle figure, optionally with N inferences served.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from greenai.errors import DataError
from greenai.uncertainty import band_of, overlap, sum_bands

JOULES_PER_KWH = 3.6e6
Result = Mapping[str, Any]
Resolve = Callable[[str], "Result | None"]


def step_energy_kwh(result: Result) -> float:
    return float(result["energy"]["step"]["energy_kwh"])


def step_co2_kg(result: Result) -> float:
    return float(result["energy"]["step"]["co2_kg"])


def j_per_inference(result: Result) -> float | None:
    """Joules per inference item from ``inference.energy_j_per_1000_images`` (or
    ``energy_j_per_1000_items``: a sentence, a sequence), or None when not measured."""
    inf = result.get("inference") or {}
    value = inf.get("energy_j_per_1000_images", inf.get("energy_j_per_1000_items"))
    return None if value is None else float(value) / 1000.0


def lifecycle(result: Result, resolve: Resolve) -> dict[str, Any]:
    """``energy.lifecycle`` for ``result``: own step plus every ancestor's step.

    ``resolve(run_id)`` returns a parent's result dict (from the results folder or the store) or
    None. A missing parent or a cycle raises DataError: a lifecycle with a silent hole would
    understate exactly what it exists to show.
    """
    steps = [result["energy"]["step"]]  # summed as intervals at the end (greenai.uncertainty)
    ancestors = []
    seen = {result.get("run_id")}
    parent_id = result.get("parent_run_id")
    while parent_id:
        if parent_id in seen:
            raise DataError(f"run lineage has a cycle at {parent_id}")
        seen.add(parent_id)
        parent = resolve(parent_id)
        if parent is None:
            raise DataError(f"parent run {parent_id} not found; its energy cannot be counted")
        steps.append(parent["energy"]["step"])
        ancestors.append(
            {"run_id": parent_id, "variant": parent.get("variant"), **sum_bands([steps[-1]])}
        )
        parent_id = parent.get("parent_run_id")
    return {**sum_bands(steps), "ancestors": ancestors}


def break_even(variant: Result, parent: Result) -> dict[str, Any]:
    """The result JSON's ``break_even`` section for ``variant`` against its direct parent."""
    step_j = step_energy_kwh(variant) * JOULES_PER_KWH
    vid = parent.get("run_id")
    j_var, j_par = j_per_inference(variant), j_per_inference(parent)
    doubts = [
        f"{who}: {d}" for who, r in (("this run", variant), ("its parent", parent))
        if (d := (r.get("inference") or {}).get("timing_doubt"))
    ]  # fmt: skip
    if doubts and j_var is not None and j_par is not None:
        return {
            "vs_run_id": vid,
            "inferences": None,
            "never": False,
            "unsure": True,
            "explanation": (
                "not judged: the inference figures are unsure (" + "; ".join(doubts) + "); "
                "re-time both on a quiet machine"
            ),
        }
    if j_var is None or j_par is None:
        return {
            "vs_run_id": vid,
            "inferences": None,
            "never": False,
            "explanation": "inference energy not measured for both runs; break-even unknown",
        }
    saving = j_par - j_var
    items = str((variant.get("inference") or {}).get("item") or "image") + "s"
    if saving <= 0:
        return {
            "vs_run_id": vid,
            "inferences": None,
            "never": True,
            "explanation": (
                f"never: {j_var * 1000:.4g} J per 1,000 {items} vs the parent's {j_par * 1000:.4g}; "
                f"the step's {step_j:.4g} J is never paid back"
            ),
        }
    n = math.ceil(step_j / saving)
    return {
        "vs_run_id": vid,
        "inferences": n,
        "never": False,
        "explanation": (
            f"the step's {step_j:.4g} J is paid back after {n:,} inferences "
            f"({saving * 1000:.4g} J saved per 1,000 {items})"
        ),
    }


def reductions(
    variant: Result, parent: Result, resolve: Resolve, inferences: int = 0
) -> dict[str, Any]:
    """Step-only vs lifecycle CO2 reduction of ``variant`` against ``parent`` (percent).

    ``step_only_pct`` is the study's figure: 1 - variant step / parent step. ``lifecycle_pct``
    compares lifecycles, each plus ``inferences`` served at its own J per inference, converted to CO2
    with each run's own carbon intensity. Negative means the variant emitted more.
    ``*_distinguishable`` is False when the two CO2 bands overlap ("not distinguishable").
    """
    v_life, p_life = lifecycle(variant, resolve), lifecycle(parent, resolve)
    step_only = 100.0 * (1.0 - step_co2_kg(variant) / step_co2_kg(parent))
    v_total = v_life["co2_kg"] + inferences * _co2_per_inference(variant)
    p_total = p_life["co2_kg"] + inferences * _co2_per_inference(parent)
    v_band = _scaled(v_life, v_total)
    p_band = _scaled(p_life, p_total)
    return {
        "step_only_pct": step_only,
        "lifecycle_pct": 100.0 * (1.0 - v_total / p_total),
        "inferences": inferences,
        # bands overlap: the difference lies inside the figures' own uncertainty
        "step_distinguishable": not overlap(
            band_of(variant["energy"]["step"], "co2_kg"),
            band_of(parent["energy"]["step"], "co2_kg"),
        ),
        "lifecycle_distinguishable": not overlap(v_band, p_band),
    }


def _scaled(life: Mapping[str, Any], total: float) -> tuple[float, float]:
    """The lifecycle CO2's relative band applied to ``total`` (lifecycle plus inferences served)."""
    low, high = band_of(life, "co2_kg")
    central = float(life["co2_kg"])
    if central <= 0:
        return total, total
    return total * low / central, total * high / central


def _co2_per_inference(result: Result) -> float:
    j = j_per_inference(result)
    if j is None:
        return 0.0
    # inference energy is grid energy (PUE already applied, like energy.step.energy_kwh)
    g_per_kwh = float((result.get("carbon") or {}).get("intensity_g_per_kwh", 0.0))
    return j / JOULES_PER_KWH * g_per_kwh / 1000.0


def resolver_from_results(results: Mapping[str, Result]) -> Resolve:
    """A ``resolve`` over an in-memory {run_id: result} mapping (e.g. loaded result files)."""
    return results.get
