"""What the dashboard shows, as plain JSON-ready dicts computed from the run store's records.

Pure functions of the store's snapshots (``RunRecord``, meter ``Sample``, ``EpochRecord``): no Flask,
no HTML. The app serialises these; the page's script draws them. Energies are kWh, powers W, CO2 kg.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from greenai.meter.types import COMPONENTS, Sample, kwh

SEARCH_TRIAL = "search_trial"
MAX_POINTS = 2000  # a live chart is redrawn every few seconds: long runs are thinned to this


def run_summary(run: Any, spent: Any = None) -> dict[str, Any]:
    """One row of the runs list: identity, status and the headline figures (None where unknown).

    ``spent`` (a ``dashboard.spent.Spent``): a run without final figures (running, interrupted,
    failed) shows the energy and CO2 of its last sample instead, and ``energy_basis`` says so."""
    energy, co2, basis = run.energy_kwh, run.co2_kg, "final" if run.energy_kwh is not None else None
    if energy is None and spent is not None:
        energy, co2 = spent.energy_kwh, spent.co2_kg
        basis = "so far" if run.status == "running" else "until it stopped"
    return {
        "run_id": run.run_id,
        "name": run.name,
        "variant": run.variant,
        "model": run.model,
        "dataset": run.dataset,
        "device": run.device,
        "group": run.group,
        "parent_run_id": run.parent_run_id,
        "status": run.status,
        "worker": f"{run.host}:{run.pid}",  # the process (host:pid) that ran it
        "started_at": run.started_at,
        "heartbeat_at": run.heartbeat_at,
        "finished_at": run.finished_at,
        "duration_s": run.duration_s,
        "accuracy_pct": run.accuracy,
        "energy_kwh": energy,
        "co2_kg": co2,
        "energy_basis": basis,
        "power_methods": power_methods(run),
        "error": run.error,
        **result_bands(run.result),
        **work_figures(run.result),
    }


def work_figures(result: Any) -> dict[str, Any]:
    """A finished run's work-normalised figures (``greenai.results.work``; None where unknown)."""
    work = (result or {}).get("work") or {}
    keys = ("j_per_training_sample", "j_per_inference_item", "inference_item",
            "j_per_correct_prediction", "inference_batch_size", "inference_threads")  # fmt: skip
    return {k: work.get(k) for k in keys}


def result_bands(result: Any) -> dict[str, Any]:
    """A finished run's step CO2 band and embodied carbon (None where the result has none)."""
    step = ((result or {}).get("energy") or {}).get("step") or {}
    emb = ((result or {}).get("embodied") or {}).get("step") or {}
    lo, hi = step.get("co2_kg_low"), step.get("co2_kg_high")
    return {
        "co2_band": [lo, hi] if lo is not None and hi is not None else None,
        "embodied_co2_kg": emb.get("co2_kg"),
        "embodied_band": [emb.get("co2_kg_low"), emb.get("co2_kg_high")] if emb else None,
    }


def power_methods(run: Any) -> dict[str, str] | None:
    """How each component's power was obtained ("estimated: ...", "measured: ..."), from the
    run's result or final measurement; None while the run has neither (still running)."""
    for source in (((run.result or {}).get("energy") or {}).get("step"), run.measurement):
        methods = (source or {}).get("methods") if isinstance(source, dict) else None
        if isinstance(methods, dict) and methods:
            return {str(k): str(v) for k, v in methods.items()}
    return None


class GroupSummary(NamedTuple):
    """A study or a search: the runs sharing a ``group`` name."""

    name: str
    kind: str  # "search" when any run is a search trial, else "study"
    runs: int
    running: int
    energy_kwh: float
    co2_kg: float
    started_at: float
    unfinished: tuple[tuple[str, str], ...] = ()  # (run id, status) of runs that did not finish


def group_summaries(runs: Iterable[Any], spent: Any = None) -> list[GroupSummary]:
    """The groups among ``runs``, newest first, with their totals of the runs' own energy and CO2.

    Every joule spent counts: a run without final figures (running, interrupted, failed) adds its
    last sample's figures (``spent``: run id -> ``dashboard.spent.Spent``), and the runs that did
    not finish are listed by id and status."""
    spent = spent or {}
    by_name: dict[str, list[Any]] = {}
    for run in runs:
        if run.group:
            by_name.setdefault(run.group, []).append(run)

    def figures(r: Any) -> tuple[float, float]:
        if r.energy_kwh is not None:
            return r.energy_kwh, r.co2_kg or 0.0
        last = spent.get(r.run_id)
        return (last.energy_kwh, last.co2_kg) if last is not None else (0.0, 0.0)

    out = [
        GroupSummary(
            name=name,
            kind="search" if any(r.variant == SEARCH_TRIAL for r in members) else "study",
            runs=len(members),
            running=sum(r.status == "running" for r in members),
            energy_kwh=sum(figures(r)[0] for r in members),
            co2_kg=sum(figures(r)[1] for r in members),
            started_at=min(r.started_at for r in members),
            unfinished=tuple(
                (r.run_id, r.status) for r in members if r.status not in ("done", "running")
            ),
        )
        for name, members in by_name.items()
    ]
    return sorted(out, key=lambda g: g.started_at, reverse=True)


def _thin(items: Sequence[Sample], limit: int) -> list[Sample]:
    """At most ``limit`` items, evenly strided, always keeping the last (the current reading)."""
    if len(items) <= limit:
        return list(items)
    stride = -(-len(items) // limit)  # ceil
    kept = list(items[::stride])
    if kept[-1] is not items[-1]:
        kept.append(items[-1])
    return kept


def live_series(samples: Sequence[Sample], limit: int = MAX_POINTS) -> dict[str, Any]:
    """The live view's time series: power per component and cumulative energy and CO2.

    ``energy_kwh`` is the meter's energy before PUE (the samples carry no PUE); CO2 has PUE and grid
    intensity applied, as the meter computed it. ``count`` is the number of samples stored, before
    thinning.
    """
    kept = _thin(samples, limit)
    components = [c for c in COMPONENTS if any(c in s.power_w for s in kept)]
    components += sorted({c for s in kept for c in s.power_w} - set(components))
    # a component that never drew power (no GPU here: 0 W by absence) gets no band
    components = [c for c in components if any(s.power_w.get(c) for s in kept)]
    return {
        "count": len(samples),
        "elapsed_s": [s.elapsed_s for s in kept],
        "phase": [s.phase for s in kept],
        "power_w": {c: [s.power_w.get(c) for s in kept] for c in components},
        "energy_kwh": [kwh(sum(s.energy_j.values())) for s in kept],
        "co2_kg": [s.co2_kg for s in kept],
    }


def epoch_series(epochs: Iterable[Any]) -> dict[str, Any]:
    """Per-epoch metrics as columns: ``{"epoch": [...], "metrics": {name: [...]}}``."""
    rows = sorted(epochs, key=lambda e: e.epoch)
    names = sorted({k for e in rows for k, v in e.metrics.items() if _is_number(v)})
    return {
        "epoch": [e.epoch for e in rows],
        "metrics": {n: [_number_or_none(e.metrics.get(n)) for e in rows] for n in names},
    }


def live_payload(run: Any, samples: Sequence[Sample], epochs: Iterable[Any]) -> dict[str, Any]:
    """Everything the live view polls for: the run, its series, and the latest totals."""
    from greenai.dashboard.prediction import prediction_view

    series = live_series(samples)
    last = samples[-1] if samples else None
    epochs = list(epochs)
    return {
        "run": run_summary(run),
        "samples": series,
        "epochs": epoch_series(epochs),
        "prediction": prediction_view(run, epochs),
        "latest": {
            "elapsed_s": last.elapsed_s if last else None,
            "phase": last.phase if last else None,
            "power_w": dict(last.power_w) if last else {},
            "energy_kwh": kwh(sum(last.energy_j.values())) if last else None,
            "co2_kg": last.co2_kg if last else None,
        },
    }


def study_report(runs: Iterable[Any]) -> dict[str, Any]:
    """A study's comparison as ``greenai report`` makes it, from the store's records.

    The rows are ``greenai.reports.rows.build_rows`` of the runs; the tables are the report's own
    (``reports.table``: the study table, the lifecycle columns, the failed steps) with the run id of
    each row beside it (``run_ids``, for links); the charts' data are ``reports.chartdata``'s
    (comparison, and accuracy against lifecycle CO2 with the Pareto front).
    """
    from greenai.reports import chartdata, table
    from greenai.reports.rows import build_rows
    from greenai.reports.sources import run_input

    rows = build_rows(run_input(r) for r in runs)
    finished = [r.run_id for r in rows if r.ok]  # the rows study_table and lifecycle_table keep
    tables = [
        _table(table.study_table(rows), finished),
        _table(table.lifecycle_table(rows), finished),
    ]
    work = table.work_table(rows)
    if work is not None:
        shown = [r.run_id for r in rows if r.ok and (r.j_per_training_sample is not None
                                                     or r.j_per_inference_item is not None)]  # fmt: skip
        tables.append(_table(work, shown))
    # a step still running is neither failed nor missing: it gets its own list, not that table
    running = [r for r in rows if r.status == "running"]
    ended = [r for r in rows if r.status != "running"]
    problems = table.problems_table(ended)
    if problems is not None:
        tables.append(_table(problems, [r.run_id for r in ended if not r.ok]))
    return {
        "running": [
            {"run_id": r.run_id, "model_type": r.model_type, "device": r.device} for r in running
        ],
        "tables": tables,
        "notes": table.method_notes(rows),
        "rows": [dataclasses.asdict(r) for r in rows],
        "comparison": _comparison(rows, chartdata.comparison(rows)),
        "pareto": _report_pareto(rows, chartdata.pareto(rows)),
    }


def _table(t: Any, run_ids: list[str]) -> dict[str, Any]:
    if len(run_ids) != len(t.cells):
        raise AssertionError(f"{t.title}: {len(t.cells)} rows for {len(run_ids)} runs")
    return {
        "title": t.title,
        "headers": list(t.headers),
        "cells": [list(c) for c in t.cells],
        "run_ids": run_ids,
        "note": t.note,
    }


def _comparison(rows: Sequence[Any], data: Any) -> dict[str, Any] | None:
    if data is None:
        return None
    from greenai.reports.chartdata import charted

    done = charted(rows)  # chartdata.comparison's runs
    return {**_lists(data), "run_ids": [r.run_id for r in done]}


def _lists(data: Any) -> dict[str, Any]:
    """A chartdata named tuple as a dict of lists (JSON-ready)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data._asdict().items()}


def _report_pareto(rows: Sequence[Any], data: Any) -> dict[str, Any] | None:
    if data is None:
        return None
    from greenai.reports.chartdata import charted

    done = charted(rows, "co2_lifecycle_kg")  # chartdata.pareto's runs
    return {**_lists(data), "run_ids": [r.run_id for r in done]}


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
    (``search_params``). Otherwise the training fields (``search.objective.TRAIN_FIELDS``) are in
    the training run's config, and the compression ones are read from its children: ``sparsity`` of
    the pruned child (0 when none), ``quantization`` on when a quantized child exists.
    """
    from greenai.search.objective import TRAIN_FIELDS
    from greenai.search.space import COMPRESSION_OFF

    config = trial.run.config or {}
    recorded = config.get("search_params")
    if isinstance(recorded, dict):
        return {str(k): v for k, v in recorded.items() if _is_scalar(v)}
    params = {k: config[k] for k in TRAIN_FIELDS if _is_scalar(config.get(k))}
    sparsity, quantization = COMPRESSION_OFF["sparsity"], COMPRESSION_OFF["quantization"]
    for child in trial.chain[1:]:
        variant = child.variant or ""
        if variant.startswith("pruned_") and _is_number((child.config or {}).get("sparsity")):
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
    from greenai.search.objective import TrialFailed, objective_value
    from greenai.search.study import DIRECTIONS, OBJECTIVES

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
                    lifecycle_energy_kwh=_number_or_none(lifecycle.get("energy_kwh")),
                    lifecycle_co2_kg=_number_or_none(lifecycle.get("co2_kg")),
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


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number_or_none(value: Any) -> float | None:
    return float(value) if _is_number(value) else None
