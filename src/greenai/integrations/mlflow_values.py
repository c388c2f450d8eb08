"""greenai's values as MLflow takes them: nested params as dotted string keys, metrics as finite
floats under names MLflow accepts, a phase's figures, and a result JSON's metrics and tags.

Pure functions (no MLflow import); ``integrations.wandb`` uses the same flattening.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from greenai.errors import UsageError

# Result JSON sections whose numeric leaves become metrics (phases are logged per phase).
METRIC_SECTIONS = ("metrics", "inference", "energy", "efficiency", "break_even")
TAG_KEYS = ("variant", "group", "dataset", "model", "device", "precision", "schema_version")
MAX_PARAM_CHARS = 6000
BATCH = 100  # params or metrics per log_batch call
PHASE_FIELDS = ("energy_kwh", "co2_kg", "duration_s")


def flatten_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Nested params as ``a.b`` keys and string values (MLflow's params are strings)."""
    return {
        k: ("None" if v is None else str(v))[:MAX_PARAM_CHARS]
        for k, v in _flatten(params, "").items()
    }


def _flatten(value: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(item, Mapping):
            out.update(_flatten(item, name))
        elif not isinstance(item, (list, tuple)):
            out[name] = item
    return out


def _numeric(values: Mapping[str, Any]) -> dict[str, float]:
    """The finite numbers among ``values`` (bools and text skipped; NaN and inf are not logged)."""
    return {
        str(k): float(v)
        for k, v in values.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }


def _metric_key(name: str) -> str:
    """MLflow allows letters, digits, ``_ - . / `` and spaces in metric names."""
    return re.sub(r"[^\w\-./ ]", "_", name)


def phase_metrics(phase: Any) -> tuple[str | None, str, dict[str, float]]:
    """A finished phase as (the run id it names, if any; its metric prefix ``phase/<path>``; its
    numeric ``energy_kwh``, ``co2_kg``, ``duration_s``). ``phase``: a meter ``PhaseResult`` or a
    result JSON's ``energy.step.phases`` entry; ``UsageError`` when it has no path."""
    if isinstance(phase, Mapping):
        own, path = phase.get("run_id"), phase.get("path")
        values = {k: phase.get(k) for k in PHASE_FIELDS}
    else:
        own, path = getattr(phase, "run_id", None), getattr(phase, "path", None)
        values = {k: getattr(phase, k, None) for k in PHASE_FIELDS}
    if not path:
        raise UsageError("MLflow: a phase needs a path (e.g. 'train/epoch')")
    return own, "phase/" + _metric_key(str(path)), _numeric(values)


def result_metrics(result: Mapping[str, Any]) -> dict[str, float]:
    """A result JSON's figures as metrics: the numeric leaves of its ``METRIC_SECTIONS``
    (``metrics.test_accuracy_pct``, ``energy.step.energy_kwh``, ``inference.*``, ...)."""
    metrics: dict[str, float] = {}
    for section in METRIC_SECTIONS:
        value = result.get(section)
        if isinstance(value, Mapping):
            metrics.update(_numeric(_flatten(value, section)))
    return metrics


def result_tags(result: Mapping[str, Any]) -> dict[str, str]:
    """A result JSON's identity (``greenai.variant``, ...) and carbon settings
    (``greenai.carbon.*``) as tags."""
    tags = {f"greenai.{k}": str(result[k]) for k in TAG_KEYS if result.get(k) is not None}
    for k, v in _flatten(result.get("carbon") or {}, "greenai.carbon").items():
        if v is not None:
            tags[k] = str(v)[:MAX_PARAM_CHARS]
    return tags
