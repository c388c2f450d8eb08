"""What the dashboard shows, as plain JSON-ready dicts computed from the run store's records.

Pure functions of the store's snapshots (``RunRecord``, meter ``Sample``, ``EpochRecord``): no Flask,
no HTML. The app serialises these; the page's script draws them. Energies are kWh, powers W, CO2 kg.
This module holds the runs list, the group totals and the live view; the study page's data are in
``dashboard.report_view``, the search page's in ``dashboard.search_view``.
"""

from __future__ import annotations

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
    names = sorted({k for e in rows for k, v in e.metrics.items() if is_number(v)})
    return {
        "epoch": [e.epoch for e in rows],
        "metrics": {n: [number_or_none(e.metrics.get(n)) for e in rows] for n in names},
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


def is_number(value: Any) -> bool:
    """An int or float that is not a bool (a JSON number)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def number_or_none(value: Any) -> float | None:
    """``value`` as a float where it is a number, else None."""
    return float(value) if is_number(value) else None
