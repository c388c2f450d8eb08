"""Between Python values and table rows: JSON columns, run-id checks, row -> record."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from greenai.errors import UsageError
from greenai.storage.records import RunRecord


def check_id(run_id: object, what: str = "run id") -> None:
    if not isinstance(run_id, str) or not run_id.strip() or len(run_id) > 64:
        raise UsageError(
            f"{what} must be a non-empty string of at most 64 characters, got {run_id!r}"
        )


def dumps(value: dict[str, Any], what: str) -> str:
    """JSON text for a stored dict; NaN and infinities become null so every backend accepts it."""
    try:
        return json.dumps(_finite(value), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise UsageError(f"the {what} cannot be stored as JSON: {error}") from None


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def loads(text: str | None) -> dict[str, Any] | None:
    return None if text is None else json.loads(text)


def summary(result: Mapping[str, Any]) -> dict[str, float]:
    """Accuracy, energy and CO2 from a result dict (schema in experiments/results.py), where present."""
    out: dict[str, float] = {}
    metrics = result.get("metrics") or {}
    step = (result.get("energy") or {}).get("step") or {}
    for key, source, field in (
        ("accuracy", metrics, "test_accuracy_pct"),
        ("energy_kwh", step, "energy_kwh"),
        ("co2_kg", step, "co2_kg"),
    ):
        value = source.get(field) if isinstance(source, Mapping) else None
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            out[key] = float(value)
    return out


def run_record(row: Any) -> RunRecord:
    return RunRecord(
        run_id=row.run_id,
        name=row.name,
        variant=row.variant,
        model=row.model,
        dataset=row.dataset,
        device=row.device,
        group=row.group_name,
        parent_run_id=row.parent_run_id,
        status=row.status,
        host=row.host,
        pid=row.pid,
        started_at=row.started_at,
        heartbeat_at=row.heartbeat_at,
        finished_at=row.finished_at,
        duration_s=row.duration_s,
        accuracy=row.accuracy,
        energy_kwh=row.energy_kwh,
        co2_kg=row.co2_kg,
        config=json.loads(row.config),
        result=loads(row.result),
        measurement=loads(row.measurement),
        error=row.error,
    )
