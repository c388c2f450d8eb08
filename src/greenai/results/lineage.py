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
from greenai.results.bands import step_figure
from greenai.uncertainty import Figure, distinguishable, lineages_distinguishable, sum_bands

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
    chain = lineage_results(result, resolve)
    steps = [r["energy"]["step"] for r in chain]  # summed as intervals (greenai.uncertainty)
    ancestors = [
        {"run_id": r.get("run_id"), "variant": r.get("variant"), **sum_bands([r["energy"]["step"]])}
        for r in chain[1:]
    ]
    return {**sum_bands(steps), "ancestors": ancestors}


def lineage_results(result: Result, resolve: Resolve) -> list[Result]:
    """``result`` and its ancestors' results, nearest first (DataError for a hole or a cycle)."""
    chain = [result]
    seen = {result.get("run_id")}
    parent_id = result.get("parent_run_id")
    while parent_id:
        if parent_id in seen:
            raise DataError(f"run lineage has a cycle at {parent_id}")
        seen.add(parent_id)
        parent = resolve(parent_id)
        if parent is None:
            raise DataError(f"parent run {parent_id} not found; its energy cannot be counted")
        chain.append({**parent, "run_id": parent_id})  # as asked for: the lineage's own id
        parent_id = parent.get("parent_run_id")
    return chain


def _energy_doubt(inference: Mapping[str, Any]) -> str | None:
    """Why a result's energy per inference is unsure (``energy_doubt``: the batch-256 spread, a
    busy machine); results written before that field existed: their ``timing_doubt``."""
    if "energy_doubt" in inference:
        return inference["energy_doubt"]
    return inference.get("timing_doubt")


def break_even(variant: Result, parent: Result) -> dict[str, Any]:
    """The result JSON's ``break_even`` section for ``variant`` against its direct parent."""
    step_j = step_energy_kwh(variant) * JOULES_PER_KWH
    vid = parent.get("run_id")
    j_var, j_par = j_per_inference(variant), j_per_inference(parent)
    doubts = [
        f"{who}: {d}" for who, r in (("this run", variant), ("its parent", parent))
        if (d := _energy_doubt(r.get("inference") or {}))
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
    ``*_distinguishable`` is False when the difference lies inside the figures' uncertainty ("not
    distinguishable"; ``greenai.uncertainty.distinguishable``: on a shared basis only the independent
    parts count, the systematic ones cancel). A lifecycle's runs common to both sides (the shared
    baseline) are the same figures on both sides and cancel exactly: only the others are compared.
    """
    v_life, p_life = lifecycle(variant, resolve), lifecycle(parent, resolve)
    step_only = 100.0 * (1.0 - step_co2_kg(variant) / step_co2_kg(parent))
    v_total = v_life["co2_kg"] + inferences * _co2_per_inference(variant)
    p_total = p_life["co2_kg"] + inferences * _co2_per_inference(parent)
    return {
        "step_only_pct": step_only,
        "lifecycle_pct": 100.0 * (1.0 - v_total / p_total),
        "inferences": inferences,
        "step_distinguishable": distinguishable(step_figure(parent), step_figure(variant)),
        "lifecycle_distinguishable": lifecycle_distinguishable(
            variant, parent, resolve, inferences
        ),
    }


def lifecycle_distinguishable(
    variant: Result, parent: Result, resolve: Resolve, inferences: int = 0
) -> bool | None:
    """Whether two lifecycles (each plus ``inferences`` served) differ beyond their uncertainty,
    comparing only the runs that are not common to both (``reductions``)."""
    sides = []
    for r in (parent, variant):
        chain = lineage_figures(r, resolve)
        own = chain[0][1]
        if own is None:
            return None
        sides += [chain, own.scaled(inferences * _co2_per_inference(r))]  # at its step's band
    return lineages_distinguishable(*sides)


def lineage_figures(result: Result, resolve: Resolve) -> list[tuple[str | None, Figure | None]]:
    """(run id, step CO2 figure) of ``result`` and each ancestor, nearest first."""
    return [(r.get("run_id"), step_figure(r)) for r in lineage_results(result, resolve)]


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
