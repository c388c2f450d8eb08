"""``NullMlflowLogger``: what ``MlflowLogger.maybe_create`` returns when MLflow is off. It has the
logger's methods, each doing nothing, so callers never test for None; it imports no MLflow.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any


class NullMlflowLogger:
    """The logger when MLflow is off: every call does nothing."""

    active = False

    def start_run(
        self,
        run_id: str,
        name: str,
        params: Mapping[str, Any] | None = None,
        parent: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        return None

    def log_params(self, params: Mapping[str, Any], run_id: str | None = None) -> None:
        return None

    def log_metrics(
        self, metrics: Mapping[str, Any], step: int | None = None, run_id: str | None = None
    ) -> None:
        return None

    def log_epoch(self, step: int, metrics: Mapping[str, Any], run_id: str | None = None) -> None:
        return None

    def log_phase_energy(self, phase: Any, run_id: str | None = None) -> None:
        return None

    def log_result(
        self,
        result: Mapping[str, Any],
        artifact_paths: Iterable[str | Path] = (),
        run_id: str | None = None,
    ) -> None:
        return None

    def log_charts(
        self,
        result: Mapping[str, Any],
        *,
        samples: Sequence[Any] = (),
        phases: Sequence[Any] = (),
        epochs: Sequence[Mapping[str, Any]] = (),
        run_id: str | None = None,
    ) -> list[str]:
        return []

    def end(self, status: str = "done", run_id: str | None = None) -> None:
        return None

    def log_artifacts(self, paths: Iterable[str | Path], run_id: str | None = None) -> None:
        return None

    def under(self, parent: str | None) -> NullMlflowLogger:
        return self

    @contextlib.contextmanager
    def run(
        self,
        run_id: str,
        name: str,
        params: Mapping[str, Any] | None = None,
        parent: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Iterator[NullMlflowLogger]:
        yield self

    def sinks(self) -> list[Any]:
        return []
