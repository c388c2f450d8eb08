"""Where a report's runs come from: a folder of result JSON files, or the run store."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from greenai.errors import DataError, UsageError
from greenai.reports.inputs import EpochPoint, PhaseSpan, PowerTrace, RunInput

SCHEMA_VERSION = 1


def _load_result_file(path: Path) -> dict[str, Any]:
    """A result JSON, schema-checked by ``experiments.results`` when it exists, else minimally."""
    try:
        from greenai.results.resultfile import load_result
    except ImportError:
        load_result = None
    if load_result is not None:
        return dict(load_result(path))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a readable result JSON ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: not a result JSON (expected an object)")
    version = data.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise DataError(f"{path}: unsupported result schema_version {version!r}")
    return data


RESULT_NAME = re.compile(r"^[A-Za-z0-9]+_[a-z0-9_]+_\d{8}-\d{6}-[0-9a-f]+\.json$")


def _looks_like_result(path: Path) -> bool:
    """Result files are ``<dataset>_<variant>_<run_id>.json``, or any JSON with a schema_version;
    other JSON files beside them (a study's state, a search's summary) are not results."""
    if RESULT_NAME.match(path.name):
        return True
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:4096]
    except OSError:
        return False
    return '"schema_version"' in head


def epochs_from_log(result: Mapping[str, Any], base: Path) -> tuple[EpochPoint, ...]:
    """Per-epoch metrics from the run's training-log CSV, when the file is there."""
    rel = (result.get("artifacts") or {}).get("training_log")
    if not rel:
        return ()
    candidates = [Path(rel), base / rel, base.parent / rel]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        return ()
    points = []
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            for rec in csv.DictReader(handle):
                if "epoch" not in rec:
                    return ()
                metrics = {}
                for k, v in rec.items():
                    if k == "epoch" or v in (None, ""):
                        continue
                    try:
                        metrics[k] = float(v)
                    except ValueError:
                        continue
                points.append(EpochPoint(int(float(rec["epoch"])), metrics))
    except (OSError, ValueError, csv.Error):
        return ()
    return tuple(points)


def from_results_dir(results_dir: Path, run_ids: Sequence[str] = ()) -> list[RunInput]:
    """Every result JSON in ``results_dir`` (optionally only ``run_ids``)."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise UsageError(f"results folder not found: {results_dir}")
    runs = []
    for path in sorted(results_dir.glob("*.json")):
        if not _looks_like_result(path):
            continue
        result = _load_result_file(path)
        run = RunInput.from_result(result, epochs=epochs_from_log(result, results_dir))
        if run_ids and run.run_id not in run_ids:
            continue
        runs.append(run)
    if run_ids:
        unknown = sorted(set(run_ids) - {r.run_id for r in runs})
        if unknown:
            raise UsageError(f"no result for run id {', '.join(unknown)} in {results_dir}")
    return runs


def power_trace(samples: Sequence[Any], phases: Sequence[Any]) -> PowerTrace | None:
    """A ``PowerTrace`` from the store's ``Sample`` and ``PhaseResult`` records of one run.

    Times are seconds since the run first started, from the samples' wall-clock timestamps: a
    resumed run's samples (whose ``elapsed_s`` restarts at 0 in the new process) fall after the
    first process's, with the gap between them."""
    if not samples:
        return None
    ordered = sorted(samples, key=lambda s: s.timestamp)
    origin = min(s.timestamp - s.elapsed_s for s in ordered)
    components = sorted({c for s in ordered for c in s.power_w})
    return PowerTrace(
        elapsed_s=tuple(float(s.timestamp - origin) for s in ordered),
        power_w={c: tuple(float(s.power_w.get(c, 0.0)) for s in ordered) for c in components},
        phases=tuple(
            PhaseSpan(p.path, p.start_time - origin, p.start_time - origin + p.duration_s)
            for p in phases
        ),
    )


def from_store(store: Any, group: str | None = None, run_ids: Sequence[str] = ()) -> list[RunInput]:
    """Runs from the run store: ``run_ids`` (unknown ids are a UsageError), else the ``group``,
    else every run. Failed, interrupted and running runs are included, with their status."""
    records = [store.get_run(rid) for rid in run_ids] if run_ids else store.list_runs(group=group)
    runs = []
    for rec in records:
        epochs = tuple(EpochPoint(e.epoch, e.metrics) for e in store.epochs(rec.run_id))
        trace = power_trace(store.samples(rec.run_id), store.phases(rec.run_id))
        runs.append(run_input(rec, epochs=epochs, power=trace))
    return runs


def run_input(
    rec: Any, *, epochs: tuple[EpochPoint, ...] = (), power: PowerTrace | None = None
) -> RunInput:
    """The ``RunInput`` of one run store record (``RunRecord``): its result when it finished with
    one, else its status and error (a "done" run without a result counts as failed)."""
    if rec.status == "done" and rec.result:
        return RunInput.from_result(rec.result, epochs=epochs, power=power)
    return RunInput(
        run_id=rec.run_id,
        variant=rec.variant or rec.name,
        device=rec.device or "?",
        status="failed" if rec.status == "done" else rec.status,
        error=rec.error or ("finished without a result" if rec.status == "done" else None),
        model=rec.model,
        parent_run_id=rec.parent_run_id,
        epochs=epochs,
        power=power,
    )
