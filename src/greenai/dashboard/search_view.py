"""The search page's data: a search's trials, their sampled hyperparameters and lineage, scored
and ranked (Pareto front, hypervolume) as ``greenai search`` does, from the run store's records.

Pure functions of the store's ``RunRecord``s: no Flask, no HTML.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from greenai.dashboard.views import (
    SEARCH_TRIAL,
    is_number,
    number_or_none,
    run_summary,
)


class Trial(NamedTuple):
    """One search trial as the run store holds it: its training run and the compressed children
    derived from it (``parent_run_id`` lineage, oldest first); the last run is the final model."""

    run: Any
    chain: tuple[Any, ...]

    @property
    def final(self) -> Any:
        return self.chain[-1]


def search_trials(runs: Iterable[Any]) -> list[Trial]:
    """The trials among ``runs`` (a search's group), oldest first, each with its lineage."""
    runs = list(runs)
    children: dict[str, list[Any]] = {}
    for r in runs:
        if r.parent_run_id and r.variant != SEARCH_TRIAL:
            children.setdefault(r.parent_run_id, []).append(r)
    trials = []
    for run in sorted(
        (r for r in runs if r.variant == SEARCH_TRIAL), key=lambda r: (r.started_at, r.run_id)
    ):
        chain, seen = [run], {run.run_id}
        while True:
            # The search derives one child per step; a later run from the same parent wins.
            nxt = [c for c in children.get(chain[-1].run_id, []) if c.run_id not in seen]
            if not nxt:
                break
            chain.append(max(nxt, key=lambda c: (c.started_at, c.run_id)))
            seen.add(chain[-1].run_id)
        trials.append(Trial(run, tuple(chain)))
    return trials


def trial_params(trial: Trial) -> dict[str, Any]:
    """The hyperparameters the search sampled for ``trial``, in the search space's order.

    A trial recorded as failed before training started keeps them in its config
    (``search_params``). Otherwise the training fields (``search.trial.TRAIN_FIELDS``) are in
    the training run's config, and the compression ones are read from its children: ``sparsity`` of
    the pruned child (0 when none), ``quantization`` on when a quantized child exists.
    """
    from greenai.search.space import COMPRESSION_OFF
    from greenai.search.trial import TRAIN_FIELDS

    config = trial.run.config or {}
    recorded = config.get("search_params")
    if isinstance(recorded, dict):
        return {str(k): v for k, v in recorded.items() if _is_scalar(v)}
    params = {k: config[k] for k in TRAIN_FIELDS if _is_scalar(config.get(k))}
    sparsity, quantization = COMPRESSION_OFF["sparsity"], COMPRESSION_OFF["quantization"]
    for child in trial.chain[1:]:
        variant = child.variant or ""
        if variant.startswith("pruned_") and is_number((child.config or {}).get("sparsity")):
            sparsity = child.config["sparsity"]
        elif variant.startswith("quantized_"):
            quantization = "on"
    return {**params, "sparsity": sparsity, "quantization": quantization}


def search_payload(
    runs: Iterable[Any], objective: str = "energy", objective_source: str = ""
) -> dict[str, Any]:
    """The search view: per trial, its final model's accuracy and lifecycle cost, the study's
    two objectives, with the Pareto front and hypervolume computed as ``greenai search`` does.

    ``objective``: "energy" (lifecycle kWh) or "co2" (lifecycle kg CO2e). A trial is scored when
    every run of its lineage is done, from the final run's result by the search's own
    ``objective_value``; the others (running, failed, interrupted, or without usable figures) are
    listed under ``pending`` with their status and reason.
    """
    from greenai.search import pareto
    from greenai.search.study import DIRECTIONS, OBJECTIVES
    from greenai.search.trial import TrialFailed, objective_value

    _key, unit, label = OBJECTIVES[objective]
    points: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    for trial in search_trials(runs):
        status, error = _trial_status(trial)
        entry = {
            **run_summary(trial.run),
            "trial_status": status,
            "trial_error": error,
            "final_run_id": trial.final.run_id,
            "final_variant": trial.final.variant,
            "run_ids": [r.run_id for r in trial.chain],
            "params": trial_params(trial),
        }
        if status == "done":
            result = trial.final.result or {}
            lifecycle = (result.get("energy") or {}).get("lifecycle") or {}
            try:
                accuracy, cost = objective_value(result, objective)
            except TrialFailed as exc:
                entry.update(trial_status="failed", trial_error=str(exc))
            else:
                entry.update(
                    accuracy_pct=accuracy,
                    cost=cost,
                    lifecycle_energy_kwh=number_or_none(lifecycle.get("energy_kwh")),
                    lifecycle_co2_kg=number_or_none(lifecycle.get("co2_kg")),
                )
                points.append(entry)
                continue
        pending.append(entry)
    values = [(p["accuracy_pct"], p["cost"]) for p in points]
    front = set(pareto.non_dominated(values, DIRECTIONS))
    for i, p in enumerate(points):
        p["on_front"] = i in front
    hv: dict[str, Any] = {"hypervolume": None, "hypervolume_normalised": None, "reference": None}
    if values:
        reference = pareto.default_reference(values)
        volume = pareto.hypervolume(values, reference, DIRECTIONS)
        hv = {
            "hypervolume": volume,
            "hypervolume_normalised": pareto.normalised(volume, reference),
            "reference": list(reference),
        }
    return {
        "objective": objective,
        "objective_source": objective_source,
        "cost_unit": unit,
        "cost_label": label,
        "points": points,
        "front": [
            p["final_run_id"]
            for p in sorted(
                (p for p in points if p["on_front"]), key=lambda p: (p["cost"], -p["accuracy_pct"])
            )
        ],
        "pending": pending,
        **hv,
    }


def _trial_status(trial: Trial) -> tuple[str, str | None]:
    """ "done" when every run of the lineage is; else the first not-done run's status and error."""
    for run in trial.chain:
        if run.status != "done":
            return run.status, run.error
    return "done", None


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))
