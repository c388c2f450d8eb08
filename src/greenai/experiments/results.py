"""The result JSON (schema in docs/ARCHITECTURE.md): building its energy section, writing, loading.

Energy "pieces" are plain dicts, one per process that worked on a run (a resumed run has several):
``{"duration_s", "energy_j": {component: J}, "energy_kwh", "co2_kg", "methods": {component: label},
"phases": [{"path", "duration_s", "energy_kwh", "co2_kg"}]}``. All kWh figures include the PUE.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from greenai.errors import DataError
from greenai.fsutil import atomic_write_text
from greenai.meter.types import COMPONENTS, kwh

SCHEMA_VERSION = 1
REQUIRED_KEYS = ("schema_version", "run_id", "variant", "metrics", "energy")


def result_path(
    out_dir: str | os.PathLike[str], variant: str, run_id: str, dataset: str = "cifar10"
) -> Path:
    return Path(out_dir) / "results" / f"{dataset}_{variant}_{run_id}.json"


def write_result(
    out_dir: str | os.PathLike[str], variant: str, run_id: str, result: dict[str, Any]
) -> Path:
    """Atomically write ``results/<dataset>_<variant>_<run_id>.json``; returns its path."""
    path = result_path(out_dir, variant, run_id, result.get("dataset", "cifar10"))
    atomic_write_text(path, json.dumps(result, indent=2, sort_keys=False, allow_nan=False) + "\n")
    return path


def load_result(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a result JSON, refusing (one DataError line) a corrupt file or a newer schema."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: no such result file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a readable result JSON ({type(exc).__name__})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: not a result JSON object")
    version = obj.get("schema_version")
    if not isinstance(version, int):
        raise DataError(f"{path}: result has no integer schema_version")
    if version > SCHEMA_VERSION:
        raise DataError(
            f"{path}: result schema_version {version} is newer than this greenai reads "
            f"({SCHEMA_VERSION}); upgrade greenai"
        )
    missing = [k for k in REQUIRED_KEYS if k not in obj]
    if missing:
        raise DataError(f"{path}: result lacks {', '.join(missing)}")
    return obj


def piece_from_measurement(m: Any) -> dict[str, Any]:
    """A meter ``Measurement`` (final or live snapshot) -> an energy piece (kWh with PUE)."""
    return {
        "duration_s": m.duration_s,
        "energy_j": {c: float(m.energy_j.get(c, 0.0)) for c in COMPONENTS},
        "energy_kwh": m.energy_kwh,
        "co2_kg": m.co2_kg,
        "methods": {c: meth.label() for c, meth in m.methods.items()},
        "phases": [
            {
                "path": p.path,
                "duration_s": p.duration_s,
                "energy_kwh": kwh(sum(p.energy_j.values())) * m.pue,
                "co2_kg": p.co2_kg,
            }
            for p in m.phases
        ],
    }


def sum_pieces(pieces: list[dict[str, Any]], pue: float) -> dict[str, Any]:
    """``energy.step``: the sum of a run's pieces, phases merged by path (in first-seen order)."""
    phases: dict[str, dict[str, float]] = {}
    methods: dict[str, str] = {}
    energy_j = dict.fromkeys(COMPONENTS, 0.0)
    for piece in pieces:
        for c in COMPONENTS:
            energy_j[c] += piece["energy_j"].get(c, 0.0)
        methods.update(piece.get("methods", {}))
        for p in piece.get("phases", []):
            acc = phases.setdefault(
                p["path"], {"duration_s": 0.0, "energy_kwh": 0.0, "co2_kg": 0.0}
            )
            for key in acc:
                acc[key] += p[key]
    return {
        "duration_s": sum(p["duration_s"] for p in pieces),
        "energy_kwh": sum(p["energy_kwh"] for p in pieces),
        "co2_kg": sum(p["co2_kg"] for p in pieces),
        "by_component_kwh": {c: kwh(j) * pue for c, j in energy_j.items()},
        "methods": methods,
        "phases": [{"path": path, **vals} for path, vals in phases.items()],
        "pieces": [
            {k: p[k] for k in ("duration_s", "energy_kwh", "co2_kg")} for p in pieces
        ],  # one per process and meter window (the data load, the training; more after a resume)
        "includes_pue": True,
    }


def lifecycle(step: dict[str, Any], parent_result: dict[str, Any] | None) -> dict[str, Any]:
    """``energy.lifecycle`` = this step + the parent's lifecycle (recursively)."""
    if parent_result is None:
        return {"energy_kwh": step["energy_kwh"], "co2_kg": step["co2_kg"], "ancestors": []}
    parent_life = parent_result["energy"]["lifecycle"]
    ancestors = [
        {
            "run_id": parent_result["run_id"],
            "variant": parent_result["variant"],
            "energy_kwh": parent_result["energy"]["step"]["energy_kwh"],
            "co2_kg": parent_result["energy"]["step"]["co2_kg"],
        },
        *parent_life.get("ancestors", []),
    ]
    return {
        "energy_kwh": step["energy_kwh"] + parent_life["energy_kwh"],
        "co2_kg": step["co2_kg"] + parent_life["co2_kg"],
        "ancestors": ancestors,
    }


def efficiency(accuracy_pct: float, step_co2_kg: float, lifecycle_co2_kg: float) -> dict[str, Any]:
    """The study's metric: accuracy (%) per kg CO2 (None when no CO2 was accounted)."""

    def ratio(co2: float) -> float | None:
        return accuracy_pct / co2 if co2 > 0 else None

    return {
        "acc_per_kg_co2_step": ratio(step_co2_kg),
        "acc_per_kg_co2_lifecycle": ratio(lifecycle_co2_kg),
    }


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
