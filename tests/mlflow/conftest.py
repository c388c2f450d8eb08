"""MLflow tests run against a real local tracking store: one SQLite database for the session
(creating one takes MLflow ~10 s), one experiment per test."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before MLflow is imported anywhere in this process: no telemetry.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

pytest.importorskip("mlflow", reason="the mlflow extra is not installed")


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real SQLite tracking store. On tmpfs where there is one: MLflow's schema migrations
    commit (and fsync) dozens of times, which costs seconds on a busy disk."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        with tempfile.TemporaryDirectory(prefix="greenai-mlflow-", dir=shm) as folder:
            yield f"sqlite:///{Path(folder) / 'mlflow.db'}"
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture
def experiment(request: pytest.FixtureRequest) -> str:
    return re.sub(r"\W", "_", request.node.name)


@pytest.fixture(autouse=True)
def _no_ambient_mlflow_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(name, raising=False)
