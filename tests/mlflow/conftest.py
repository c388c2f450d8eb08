"""MLflow tests run against a real local tracking store: one SQLite database for the session
(creating one takes MLflow ~10 s), one experiment per test."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

# Before MLflow is imported anywhere in this process: no telemetry.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

pytest.importorskip("mlflow", reason="the mlflow extra is not installed")


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    db: Path = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    return f"sqlite:///{db}"


@pytest.fixture
def experiment(request: pytest.FixtureRequest) -> str:
    return re.sub(r"\W", "_", request.node.name)


@pytest.fixture(autouse=True)
def _no_ambient_mlflow_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(name, raising=False)
