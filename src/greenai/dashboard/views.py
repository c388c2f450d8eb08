"""What the dashboard shows, as plain JSON-ready dicts computed from the run store's records.

Pure functions of the store's snapshots (``RunRecord``, meter ``Sample``, ``EpochRecord``): no Flask,
no HTML. The app serialises these; the page's script draws them. Energies are kWh, powers W, CO2 kg.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from greenai.meter.types import COMPONENTS, Sample, kwh

SEARCH_TRIAL = "search_trial"
MAX_POINTS = 2000  # a live chart is redrawn every few seconds: long runs are thinned to this


def run_summary(run: Any) -> dict[str, Any]:
    """One row of the runs list: identity, status and the headline figures (None where unknown)."""
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
        "started_at": run.started_at,
        "heartbeat_at": run.heartbeat_at,
        "finished_at": run.finished_at,
        "duration_s": run.duration_s,
        "accuracy_pct": run.accuracy,
        "energy_kwh": run.energy_kwh,
        "co2_kg": run.co2_kg,
        "error": run.error,
    }


class GroupSummary(NamedTuple):
    """A study or a search: the runs sharing a ``group`` name."""

    name: str
    kind: str  # "search" when any run is a search trial, else "study"
    runs: int
    running: int
    energy_kwh: float
    co2_kg: float
    started_at: float


def group_summaries(runs: Iterable[Any]) -> list[GroupSummary]:
    """The groups among ``runs``, newest first, with their totals of the runs' own energy and CO2."""
    by_name: dict[str, list[Any]] = {}
    for run in runs:
        if run.group:
            by_name.setdefault(run.group, []).append(run)
    out = [
        GroupSummary(
            name=name,
            kind="search" if any(r.variant == SEARCH_TRIAL for r in members) else "study",
            runs=len(members),
            running=sum(r.status == "running" for r in members),
            energy_kwh=sum(r.energy_kwh or 0.0 for r in members),
            co2_kg=sum(r.co2_kg or 0.0 for r in members),
            started_at=min(r.started_at for r in members),
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
    series = live_series(samples)
    last = samples[-1] if samples else None
    return {
        "run": run_summary(run),
        "samples": series,
        "epochs": epoch_series(epochs),
        "latest": {
            "elapsed_s": last.elapsed_s if last else None,
            "phase": last.phase if last else None,
            "power_w": dict(last.power_w) if last else {},
            "energy_kwh": kwh(sum(last.energy_j.values())) if last else None,
            "co2_kg": last.co2_kg if last else None,
        },
    }


def study_rows(runs: Iterable[Any]) -> list[dict[str, Any]]:
    """The comparison table of a study: one row per run, oldest first, with efficiency figures."""
    rows = []
    for run in sorted(runs, key=lambda r: r.started_at):
        row = run_summary(run)
        result = run.result or {}
        metrics = result.get("metrics") or {}
        inference = result.get("inference") or {}
        lifecycle = (result.get("energy") or {}).get("lifecycle") or {}
        row.update(
            file_size_mib=_number_or_none(metrics.get("file_size_mib")),
            params=_number_or_none(metrics.get("params")),
            latency_ms_b1=_number_or_none(inference.get("latency_ms_b1")),
            j_per_1000_images=_number_or_none(inference.get("energy_j_per_1000_images")),
            lifecycle_energy_kwh=_number_or_none(lifecycle.get("energy_kwh")),
            lifecycle_co2_kg=_number_or_none(lifecycle.get("co2_kg")),
            acc_per_kg_co2=(
                run.accuracy / run.co2_kg if run.accuracy is not None and run.co2_kg else None
            ),
        )
        rows.append(row)
    return rows


def pareto_front(points: Sequence[tuple[float, float]]) -> list[bool]:
    """Which (accuracy, energy) points are Pareto-optimal: no other point has accuracy at least as
    high and energy at least as low, with one of the two strictly better."""
    flags = []
    for i, (acc, energy) in enumerate(points):
        dominated = any(
            a >= acc and e <= energy and (a > acc or e < energy)
            for j, (a, e) in enumerate(points)
            if j != i
        )
        flags.append(not dominated)
    return flags


def pareto_payload(runs: Iterable[Any]) -> dict[str, Any]:
    """The search view: every search trial with accuracy and energy, flagged on the front or not.

    Trials still running or without both figures are listed under ``pending`` and not plotted.
    """
    trials = sorted(
        (r for r in runs if r.variant == SEARCH_TRIAL), key=lambda r: (r.started_at, r.run_id)
    )
    scored = [r for r in trials if r.accuracy is not None and r.energy_kwh is not None]
    flags = pareto_front([(r.accuracy, r.energy_kwh) for r in scored])
    points = [
        {**run_summary(r), "params": _search_params(r), "on_front": flag}
        for r, flag in zip(scored, flags, strict=True)
    ]
    scored_ids = {r.run_id for r in scored}
    pending = [run_summary(r) for r in trials if r.run_id not in scored_ids]
    return {"points": points, "pending": pending}


def _search_params(run: Any) -> dict[str, Any]:
    """A trial's sampled hyperparameters: its config's ``params`` or ``hyperparameters`` section,
    else the config's own top-level scalars."""
    config = run.config or {}
    params = config.get("params") or config.get("hyperparameters") or config
    return {str(k): v for k, v in params.items() if isinstance(v, (str, int, float, bool))}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number_or_none(value: Any) -> float | None:
    return float(value) if _is_number(value) else None
