"""The run page's prediction card: the latest epoch's predicted totals with their 90% interval
(``pred_*`` epoch metrics, see ``results/prediction.py``), and once the run has finished, the
actual total beside it (the result's ``prediction`` section)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def prediction_view(run: Any, epochs: Sequence[Any]) -> dict[str, Any] | None:
    """``{"after_epoch", "energy_kwh", "energy_low_kwh", ..., "actual": {...} | None}``, or None
    before any epoch had a prediction."""
    latest = None
    for e in sorted(epochs, key=lambda e: e.epoch):
        if e.metrics.get("pred_energy_kwh") is not None:
            latest = e
    if latest is None:
        return None
    view: dict[str, Any] = {"after_epoch": latest.epoch}
    for key in ("energy_kwh", "energy_low_kwh", "energy_high_kwh", "co2_kg", "co2_low_kg",
                "co2_high_kg", "duration_s", "duration_low_s", "duration_high_s"):  # fmt: skip
        view[key] = latest.metrics.get(f"pred_{key}")
    section = (run.result or {}).get("prediction") if getattr(run, "result", None) else None
    view["actual"] = section.get("actual") if isinstance(section, dict) else None
    return view
