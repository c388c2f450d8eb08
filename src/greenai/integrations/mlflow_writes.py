"""The writes to one MLflow run through ``MlflowClient``: params (those not logged yet) and metrics
in batches, files and folders under ``greenai/``. MLflow is imported only inside the functions.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from greenai.errors import UsageError
from greenai.integrations.mlflow_setup import ARTIFACT_DIR
from greenai.integrations.mlflow_values import BATCH, _metric_key, flatten_params


def write_params(client: Any, mlflow_id: str, params: Mapping[str, Any]) -> None:
    """``params`` flattened (``flatten_params``), skipping those the run already has with the same
    value (a resumed run logs its config again); MLflow refuses a changed one."""
    from mlflow.entities import Param

    logged = client.get_run(mlflow_id).data.params
    items = [Param(k, v) for k, v in flatten_params(params).items() if logged.get(k) != v]
    for i in range(0, len(items), BATCH):
        client.log_batch(mlflow_id, params=items[i : i + BATCH])


def write_metrics(client: Any, mlflow_id: str, metrics: Mapping[str, float], step: int) -> None:
    """``metrics`` at ``step``, timestamped now, under names MLflow accepts (``_metric_key``)."""
    from mlflow.entities import Metric

    now_ms = int(time.time() * 1000)
    items = [Metric(_metric_key(k), v, now_ms, step) for k, v in metrics.items()]
    for i in range(0, len(items), BATCH):
        client.log_batch(mlflow_id, metrics=items[i : i + BATCH])


def existing_paths(paths: Iterable[str | Path]) -> list[Path]:
    """``paths`` as ``Path``s; ``UsageError`` for the first that does not exist, before anything
    is logged."""
    files = [Path(p) for p in paths]
    for path in files:
        if not path.exists():
            raise UsageError(f"MLflow: artifact {path} does not exist")
    return files


def upload(client: Any, mlflow_id: str, paths: Sequence[Path]) -> None:
    """Each file under ``greenai/`` of the run, each folder as ``greenai/<its name>/``."""
    for path in paths:
        if path.is_dir():
            client.log_artifacts(mlflow_id, str(path), f"{ARTIFACT_DIR}/{path.name}")
        else:
            client.log_artifact(mlflow_id, str(path), ARTIFACT_DIR)
