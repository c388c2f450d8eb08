"""Reaching MLflow: the settings greenai reads (``$MLFLOW_TRACKING_URI``,
``$MLFLOW_EXPERIMENT_NAME``), the tag and artifact names it writes, telemetry off, the experiment
opened (or created), and MLflow's own exceptions turned into one-line ``MlflowError``s at the
boundary.

MLflow itself is imported only inside functions, so importing this module costs nothing.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from greenai.errors import GreenAIError

ENV_TRACKING_URI = "MLFLOW_TRACKING_URI"
ENV_EXPERIMENT = "MLFLOW_EXPERIMENT_NAME"
DEFAULT_EXPERIMENT = "greenai"
RUN_ID_TAG = "greenai.run_id"
PARENT_TAG = "mlflow.parentRunId"  # what the MLflow UI nests runs by
ARTIFACT_DIR = "greenai"
CHART_DIR = f"{ARTIFACT_DIR}/charts"  # a run's own charts: power.png, epochs.png
CHARTS_TAG = "greenai.charts"  # why a run has no charts, when they were skipped

# greenai's final statuses -> MLflow's run statuses
STATUSES = {
    "done": "FINISHED", "failed": "FAILED", "interrupted": "KILLED", "stopped: budget": "KILLED",
    "pruned": "KILLED",
}  # fmt: skip

T = TypeVar("T")


class MlflowError(GreenAIError):
    """MLflow refused or failed (tracking store unreachable, bad URI, rejected value)."""


def is_enabled(flag: bool, environ: Mapping[str, str] | None = None) -> bool:
    """``--mlflow`` given, or ``MLFLOW_TRACKING_URI`` set to something."""
    env = os.environ if environ is None else environ
    return bool(flag) or bool(env.get(ENV_TRACKING_URI, "").strip())


def quiet_mlflow() -> None:
    """Keep MLflow off the network unless the user opted in: no usage telemetry."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")


def translated(method: Callable[..., T]) -> Callable[..., T]:
    """Turn MLflow's exceptions into one-line ``MlflowError``s, here at the boundary."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        from mlflow.exceptions import MlflowException

        try:
            return method(*args, **kwargs)
        except MlflowException as error:
            first = str(error.message if hasattr(error, "message") else error).splitlines()
            raise MlflowError(f"MLflow: {first[0] if first else type(error).__name__}") from None

    return wrapper


def open_experiment(mlflow: Any, client_class: Any, uri: str | None, name: str) -> tuple[Any, str]:
    """A client on ``uri`` (else MLflow's default) and the id of experiment ``name``, created when
    missing (tolerating another process creating it at the same moment)."""
    client = client_class(tracking_uri=uri or mlflow.get_tracking_uri())
    found = client.get_experiment_by_name(name)
    if found is None:
        try:
            experiment_id = client.create_experiment(
                name, artifact_location=artifact_location(client.tracking_uri, name)
            )
        except mlflow.exceptions.MlflowException:
            found = client.get_experiment_by_name(name)  # created meanwhile by another process
            if found is None:
                raise
            experiment_id = found.experiment_id
    else:
        experiment_id = found.experiment_id
    return client, experiment_id


def artifact_location(tracking_uri: str, experiment: str) -> str | None:
    """For a SQLite tracking store, artifacts next to the database (MLflow's default would be
    ``./mlruns`` in whatever directory the command runs from); else the store's own default."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    db = Path(tracking_uri[len("sqlite:///") :])
    if str(db) in ("", ":memory:"):
        return None
    safe = re.sub(r"[^\w.-]", "_", experiment)
    return (db.resolve().parent / "mlartifacts" / safe).as_uri()
