"""What a metered run sends to MLflow (or its W&B twin): its parameters at the start, then its
epochs, result, files and charts at the end (``run.MeteredRun.execute``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def mlflow_params(spec: Any) -> dict[str, Any]:
    """The run's parameters (a ``RunSpec``'s own, else its identity and hyperparameters)."""
    if spec.mlflow_params is not None:
        return spec.mlflow_params
    return {
        "hyperparameters": spec.hyperparameters, "parent_run_id": spec.parent_run_id,
        "model": spec.model, "dataset": spec.dataset,
    }  # fmt: skip


def log_mlflow(
    mlflow: Any,
    run_id: str,
    result: dict[str, Any],
    m: Any,
    files: Sequence[Path],
    epochs: list[dict[str, Any]],
    epochs_logged: bool,
    samples: list[Any],
) -> None:
    """Log a finished run: its epochs (unless the step logged them as they ended), the result with
    the ``files`` that exist, the charts, then end the run "done"."""
    for row in [] if epochs_logged else epochs:
        metrics = {k: v for k, v in row.items() if k != "epoch" and _number(v)}
        mlflow.log_epoch(int(row["epoch"]), metrics, run_id=run_id)
    existing = [p for p in files if Path(p).is_file()]
    mlflow.log_result(result, existing, run_id=run_id)
    mlflow.log_charts(result, samples=samples, phases=m.phases, epochs=epochs, run_id=run_id)
    mlflow.end("done", run_id=run_id)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
