"""The result JSON (schema in docs/ARCHITECTURE.md): building its energy section, writing, loading.

Energy "pieces" are plain dicts, one per process that worked on a run (a resumed run has several):
``{"duration_s", "energy_j": {component: J}, "energy_kwh", "co2_kg", "methods": {component: label},
"phases": [{"path", "duration_s", "energy_kwh", "co2_kg"}], "started_at"}``. All kWh figures include
the PUE. ``started_at`` (the tracker's start, Unix seconds) ties a piece to its process's samples in the
store (``timestamp - elapsed_s``); a piece recovered from samples (``lost_piece``) has none.
"""

from __future__ import annotations

import contextlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from greenai.errors import DataError
from greenai.fsutil import atomic_open
from greenai.killpoints import kill_point
from greenai.meter.types import COMPONENTS, Sample, kwh
from greenai.results.shape import check_shape
from greenai.uncertainty import band_of, figure_bands, intensity_band, sum_bands

SCHEMA_VERSION = 1
LOST_PHASE = "after the last checkpoint (from the meter's samples, before the interruption)"
REQUIRED_KEYS = ("schema_version", "run_id", "variant", "metrics", "energy")


def result_path(
    out_dir: str | os.PathLike[str], variant: str, run_id: str, dataset: str = "cifar10"
) -> Path:
    return Path(out_dir) / "results" / f"{dataset}_{variant}_{run_id}.json"


def write_result(
    out_dir: str | os.PathLike[str], variant: str, run_id: str, result: dict[str, Any]
) -> Path:
    """Atomically write ``results/<dataset>_<variant>_<run_id>.json``; returns its path.

    A ``.tmp`` beside it left by a killed earlier write of the same file is removed first: only the
    run's owner (or ``reconcile``, once the owner is gone) writes a run's result file."""
    path = result_path(out_dir, variant, run_id, result.get("dataset", "cifar10"))
    text = json.dumps(result, indent=2, sort_keys=False, allow_nan=False) + "\n"
    remove_stale_tmps(path)
    with atomic_open(path, "wb") as handle:
        handle.write(text.encode("utf-8"))
        handle.flush()
        kill_point("json-tmp")
    return path


def remove_stale_tmps(path: Path) -> int:
    """Remove ``.<name>.<random>.tmp`` files beside ``path`` (``fsutil``'s) -> how many."""
    removed = 0
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
            removed += 1
    return removed


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
    check_shape(obj, path)  # wrong types (e.g. "metrics": "oops"): one line naming the field
    return obj


def piece_from_measurement(m: Any) -> dict[str, Any]:
    """A meter ``Measurement`` (final or live snapshot) -> an energy piece (kWh with PUE), each
    energy and CO2 figure with its band (``greenai.uncertainty``: ``*_low``/``*_high``)."""

    def bands(energy_j: dict[str, float], co2_kg: float) -> dict[str, float]:
        from greenai.carbon.series import over_run  # a series: the band over this window

        grid = over_run(m.intensity, m.start_time, m.start_time + m.duration_s)
        out = figure_bands(energy_j, m.methods, m.pue, grid)
        # CO2 follows the meter's own figure (a time-varying intensity may differ from the
        # constant one): the band is kept as factors around it
        central = kwh(sum(energy_j.values())) * m.pue * grid.g_per_kwh / 1000.0
        if central > 0 and co2_kg > 0:
            out["co2_kg_low"] *= co2_kg / central
            out["co2_kg_high"] *= co2_kg / central
        return out

    return {
        "started_at": m.start_time,
        "duration_s": m.duration_s,
        "energy_j": {c: float(m.energy_j.get(c, 0.0)) for c in COMPONENTS},
        "energy_kwh": m.energy_kwh,
        "co2_kg": m.co2_kg,
        **bands(dict(m.energy_j), m.co2_kg),
        "methods": {c: meth.label() for c, meth in m.methods.items()},
        "phases": [
            {
                "path": p.path,
                "duration_s": p.duration_s,
                "energy_kwh": kwh(sum(p.energy_j.values())) * m.pue,
                "co2_kg": p.co2_kg,
                **bands(dict(p.energy_j), p.co2_kg),
            }
            for p in m.phases
        ],
    }


def lost_piece(
    pieces: list[dict[str, Any]], samples: list[Sample], carbon: Any, tolerance_s: float = 0.01
) -> dict[str, Any] | None:
    """The energy an interrupted process spent after its last checkpoint, or None.

    ``pieces`` are a checkpoint's: the last is the interrupted process's training piece as of that
    checkpoint. Its own samples (those whose ``timestamp - elapsed_s`` is its ``started_at``) run on
    past it; the latest one, less that piece, is the energy the checkpoint missed (the partial
    epoch, redone on resume). ``carbon`` (a ``CarbonConfig``) gives the PUE and CO2. None for an
    old checkpoint without ``started_at`` or when the samples add nothing. Each resume only looks at
    its predecessor (the checkpoint's last piece), so repeated resumes never count a piece twice.
    """
    last = pieces[-1] if pieces else {}
    started = last.get("started_at")
    if started is None:
        return None
    own = [s for s in samples if abs(s.timestamp - s.elapsed_s - started) <= tolerance_s]
    if not own:
        return None
    latest = max(own, key=lambda s: s.elapsed_s)
    energy_j = {
        c: max(0.0, float(latest.energy_j.get(c, 0.0)) - last["energy_j"].get(c, 0.0))
        for c in COMPONENTS
    }
    total_j = sum(energy_j.values())
    if total_j <= 0:
        return None
    duration_s = max(0.0, latest.elapsed_s - last["duration_s"])
    energy_kwh, co2_kg = kwh(total_j) * carbon.pue, carbon.co2_kg(total_j)
    bands = _scaled_bands(last, energy_kwh, co2_kg)  # the same methods: the same relative band
    return {
        "duration_s": duration_s,
        "energy_j": energy_j,
        "energy_kwh": energy_kwh,
        "co2_kg": co2_kg,
        **bands,
        "methods": dict(last.get("methods", {})),
        "phases": [
            {
                "path": LOST_PHASE,
                "duration_s": duration_s,
                "energy_kwh": energy_kwh,
                "co2_kg": co2_kg,
                **bands,
            }
        ],
    }


def _scaled_bands(like: dict[str, Any], energy_kwh: float, co2_kg: float) -> dict[str, float]:
    """Bands for new figures measured the same way as ``like``: its relative band, applied."""
    out: dict[str, float] = {}
    for key, value in (("energy_kwh", energy_kwh), ("co2_kg", co2_kg)):
        low, high = band_of(like, key)
        central = float(like.get(key) or 0.0)
        out[f"{key}_low"] = value * (low / central if central > 0 else 1.0)
        out[f"{key}_high"] = value * (high / central if central > 0 else 1.0)
    return out


ATTEMPT_PHASE = "an interrupted attempt (from the meter's samples)"


def attempt_pieces(
    samples: list[Sample], carbon: Any, tolerance_s: float = 0.01
) -> list[dict[str, Any]]:
    """One energy piece per earlier process that worked on a run and was killed before finishing.

    A run restarted from scratch under its id (an interrupted compression step rerun, a training
    run without a checkpoint) must still count what its killed attempts spent: each attempt's
    samples share one ``timestamp - elapsed_s`` (its start), and its latest sample holds its
    cumulative energy. ``carbon`` (a ``CarbonConfig``) gives the PUE and CO2. Estimated from the
    samples: whatever an attempt spent after its last sample is not counted.
    """
    latest: dict[float, Sample] = {}
    for s in sorted(samples, key=lambda s: s.timestamp - s.elapsed_s):
        start = s.timestamp - s.elapsed_s
        key = next((k for k in latest if abs(k - start) <= tolerance_s), start)
        if key not in latest or s.elapsed_s > latest[key].elapsed_s:
            latest[key] = s
    pieces = []
    for start, s in sorted(latest.items()):
        energy_j = {c: max(0.0, float(s.energy_j.get(c, 0.0))) for c in COMPONENTS}
        total_j = sum(energy_j.values())
        energy_kwh, co2_kg = kwh(total_j) * carbon.pue, carbon.co2_kg(total_j)
        phase = {"path": ATTEMPT_PHASE, "duration_s": s.elapsed_s, "energy_kwh": energy_kwh,
                 "co2_kg": co2_kg}  # fmt: skip
        pieces.append({
            "started_at": start, "duration_s": s.elapsed_s, "energy_j": energy_j,
            "energy_kwh": energy_kwh, "co2_kg": co2_kg, "methods": {}, "phases": [phase],
        })  # fmt: skip
    return pieces


def sum_pieces(pieces: list[dict[str, Any]], pue: float) -> dict[str, Any]:
    """``energy.step``: the sum of a run's pieces, phases merged by path (in first-seen order)."""
    phases: dict[str, list[dict[str, Any]]] = {}
    methods: dict[str, str] = {}
    energy_j = dict.fromkeys(COMPONENTS, 0.0)
    for piece in pieces:
        for c in COMPONENTS:
            energy_j[c] += piece["energy_j"].get(c, 0.0)
        methods.update(piece.get("methods", {}))
        for p in piece.get("phases", []):
            phases.setdefault(p["path"], []).append(p)
    return {
        "duration_s": sum(p["duration_s"] for p in pieces),
        **sum_bands(pieces),  # energy_kwh, co2_kg and their bands: interval sums
        "by_component_kwh": {c: kwh(j) * pue for c, j in energy_j.items()},
        "methods": methods,
        "phases": [
            {"path": path, "duration_s": sum(p["duration_s"] for p in ps), **sum_bands(ps)}
            for path, ps in phases.items()
        ],
        "pieces": [
            {"duration_s": p["duration_s"], **sum_bands([p])} for p in pieces
        ],  # one per process and meter window (the data load, the training; more after a resume)
        "includes_pue": True,
    }


def lifecycle(step: dict[str, Any], parent_result: dict[str, Any] | None) -> dict[str, Any]:
    """``energy.lifecycle`` = this step + the parent's lifecycle (recursively), bands summed as
    intervals (``greenai.uncertainty``)."""
    if parent_result is None:
        return {**sum_bands([step]), "ancestors": []}
    parent_life = parent_result["energy"]["lifecycle"]
    ancestors = [
        {
            "run_id": parent_result["run_id"],
            "variant": parent_result["variant"],
            **sum_bands([parent_result["energy"]["step"]]),
        },
        *parent_life.get("ancestors", []),
    ]
    return {**sum_bands([step, parent_life]), "ancestors": ancestors}


def efficiency(accuracy_pct: float, step_co2_kg: float, lifecycle_co2_kg: float) -> dict[str, Any]:
    """The study's metric: accuracy (%) per kg CO2 (None when no CO2 was accounted)."""

    def ratio(co2: float) -> float | None:
        return accuracy_pct / co2 if co2 > 0 else None

    return {
        "acc_per_kg_co2_step": ratio(step_co2_kg),
        "acc_per_kg_co2_lifecycle": ratio(lifecycle_co2_kg),
    }


def carbon_section(m: Any) -> dict[str, Any]:
    """The result's ``carbon`` section from a meter ``Measurement``: intensity, its source, PUE."""
    section = {
        "intensity_g_per_kwh": m.intensity.g_per_kwh,
        "intensity_source": m.intensity.source,
        "intensity_g_per_kwh_low": intensity_band(m.intensity)[0],
        "intensity_g_per_kwh_high": intensity_band(m.intensity)[1],
        "country_iso3": m.intensity.country_iso3,
        "pue": m.pue,
    }
    series = getattr(m.intensity, "series", None)
    if (
        series is not None
    ):  # time-varying: which series, its zone, average or marginal, this run's mean
        section["intensity_series"] = series.describe(m.start_time, m.start_time + m.duration_s)
        section["intensity_g_per_kwh"] = section["intensity_series"]["run_mean_g_per_kwh"]
        low_high = section["intensity_series"]["run_band_g_per_kwh"]  # over the run, like the mean
        section["intensity_g_per_kwh_low"], section["intensity_g_per_kwh_high"] = low_high
    return section


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
