"""Two views of one ``MlflowLogger``: ``NestedMlflowLogger`` (``logger.under(parent)``: runs
started through it nest under a study's or search's run) and ``MlflowPhaseSink`` (a meter sink
that logs each finished phase to the MLflow run of the same greenai run id).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from greenai.integrations.mlflow_logger import MlflowLogger


class NestedMlflowLogger:
    """``MlflowLogger.under(parent)``: the same logger, starting runs under ``parent`` by default."""

    active = True

    def __init__(self, logger: MlflowLogger, parent: str) -> None:
        self.logger = logger
        self.parent = parent

    def __getattr__(self, name: str) -> Any:
        return getattr(self.logger, name)

    def start_run(
        self,
        run_id: str,
        name: str,
        params: Mapping[str, Any] | None = None,
        parent: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        return self.logger.start_run(run_id, name, params, parent=parent or self.parent, tags=tags)

    def run(
        self,
        run_id: str,
        name: str,
        params: Mapping[str, Any] | None = None,
        parent: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> contextlib.AbstractContextManager[MlflowLogger]:
        return self.logger.run(run_id, name, params, parent=parent or self.parent, tags=tags)

    def under(self, parent: str | None) -> MlflowLogger | NestedMlflowLogger:
        return self.logger.under(parent)


class MlflowPhaseSink:
    """A meter ``Sink`` (``greenai.meter.types.Sink``) forwarding finished phases to MLflow."""

    def __init__(self, logger: MlflowLogger) -> None:
        self.logger = logger

    def on_start(self, run_id: str, name: str, start_time: float) -> None:
        self.logger._mlflow_id(run_id)  # fail early if the MLflow run was never started

    def on_sample(self, sample: Any) -> None:
        return None  # per-second power stays in the run store; MLflow gets phases and totals

    def on_phase(self, phase: Any) -> None:
        self.logger.log_phase_energy(phase, run_id=phase.run_id)

    def on_stop(self, measurement: Any) -> None:
        return None  # the totals arrive with log_result
