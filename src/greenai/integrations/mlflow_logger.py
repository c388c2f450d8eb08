"""``MlflowLogger``: one MLflow run per greenai run, in one experiment, through ``MlflowClient``.
Parameters, per-epoch metrics, each phase's energy, the result JSON and chosen files; runs nested
under a study's or search's run. See ``greenai.integrations.mlflow`` for the whole picture.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from greenai.errors import GreenAIError, MissingExtraError, UsageError
from greenai.integrations.mlflow_charts import log_run_charts
from greenai.integrations.mlflow_nested import MlflowPhaseSink, NestedMlflowLogger
from greenai.integrations.mlflow_null import NullMlflowLogger
from greenai.integrations.mlflow_setup import (
    ARTIFACT_DIR,
    DEFAULT_EXPERIMENT,
    ENV_EXPERIMENT,
    ENV_TRACKING_URI,
    PARENT_TAG,
    RUN_ID_TAG,
    STATUSES,
    is_enabled,
    open_experiment,
    quiet_mlflow,
    translated,
)
from greenai.integrations.mlflow_values import _numeric, phase_metrics, result_metrics, result_tags
from greenai.integrations.mlflow_writes import existing_paths, upload, write_metrics, write_params


class MlflowLogger:
    """Logs greenai runs into one MLflow experiment through ``MlflowClient`` (no global active run,
    so it is safe next to user code that uses ``mlflow.start_run`` itself). Thread-safe.

    Runs are addressed by their greenai run id; calls without ``run_id`` go to the most recently
    started run that has not ended (so a study can ``start_run`` its parent, then each child).
    """

    active = True

    def __init__(self, client: Any, experiment_id: str) -> None:
        self.client = client
        self.experiment_id = experiment_id
        self._runs: dict[str, str] = {}  # greenai run id -> MLflow run id
        self._stack: list[str] = []  # greenai run ids started and not ended, newest last
        self._phase_steps: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    # -- creation ---------------------------------------------------------------------------------

    @classmethod
    def maybe_create(
        cls,
        enabled: bool,
        *,
        tracking_uri: str | None = None,
        experiment: str | None = None,
    ) -> MlflowLogger | NullMlflowLogger:
        """A logger when ``enabled`` (``--mlflow``) or ``$MLFLOW_TRACKING_URI`` is set, else a
        ``NullMlflowLogger``. The tracking URI is ``tracking_uri``, else ``$MLFLOW_TRACKING_URI``,
        else MLflow's default (``sqlite:///mlflow.db`` in the working directory); the experiment is
        ``experiment``, else ``$MLFLOW_EXPERIMENT_NAME``, else "greenai" (created when missing).
        Raises ``MissingExtraError`` without the mlflow package."""
        if not (is_enabled(enabled) or tracking_uri):
            return NullMlflowLogger()
        return cls.create(tracking_uri=tracking_uri, experiment=experiment)

    @classmethod
    def create(
        cls, *, tracking_uri: str | None = None, experiment: str | None = None
    ) -> MlflowLogger:
        """A logger, unconditionally (see ``maybe_create``)."""
        quiet_mlflow()
        try:
            from mlflow.tracking import MlflowClient

            import mlflow
        except ImportError:
            raise MissingExtraError("mlflow", "mlflow") from None
        uri = tracking_uri or os.environ.get(ENV_TRACKING_URI, "").strip() or None
        name = experiment or os.environ.get(ENV_EXPERIMENT, "").strip() or DEFAULT_EXPERIMENT
        client, experiment_id = translated(open_experiment)(mlflow, MlflowClient, uri, name)
        return cls(client, experiment_id)

    # -- runs -------------------------------------------------------------------------------------

    @translated
    def start_run(
        self,
        run_id: str,
        name: str,
        params: Mapping[str, Any] | None = None,
        parent: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Start (or, for a resumed greenai run, reopen) the MLflow run of greenai run ``run_id``;
        returns the MLflow run id. ``params`` may nest (``{"hp": {"lr": 1e-3}}`` logs ``hp.lr``).
        ``parent``: the greenai run id of a study or search started with this logger (or earlier
        in this experiment); the new run is nested under it."""
        if not run_id or not name:
            raise UsageError("MLflow: start_run needs a run id and a name")
        all_tags = {RUN_ID_TAG: run_id, **{str(k): str(v) for k, v in (tags or {}).items()}}
        if parent is not None:
            parent_mlflow = self._lookup(parent)
            if parent_mlflow is None:
                raise UsageError(f"MLflow: parent run {parent!r} was not logged to MLflow")
            all_tags[PARENT_TAG] = parent_mlflow
            all_tags["greenai.parent_run_id"] = parent

        existing = self._lookup(run_id)
        if existing is not None:  # --resume: one MLflow run per greenai run
            self.client.update_run(existing, status="RUNNING")
            mlflow_id = existing
        else:
            mlflow_id = self.client.create_run(self.experiment_id, run_name=name).info.run_id
        from mlflow.entities import RunTag

        self.client.log_batch(mlflow_id, tags=[RunTag(k, v) for k, v in all_tags.items()])
        self._log_params(mlflow_id, params or {})
        with self._lock:
            self._runs[run_id] = mlflow_id
            if run_id in self._stack:
                self._stack.remove(run_id)
            self._stack.append(run_id)
        return mlflow_id

    @translated
    def log_params(self, params: Mapping[str, Any], run_id: str | None = None) -> None:
        """Parameters of the current (or given) run, nested keys joined with dots. Values already
        logged are skipped (a resumed run logs its config again); MLflow refuses a changed one."""
        self._log_params(self._mlflow_id(run_id), params)

    @translated
    def log_metrics(
        self, metrics: Mapping[str, Any], step: int | None = None, run_id: str | None = None
    ) -> None:
        """Numeric metrics of the current (or given) run at ``step`` (default 0); like
        ``mlflow.log_metrics``, so this logger can stand in for the ``mlflow`` module."""
        self._log_metrics(self._mlflow_id(run_id), _numeric(metrics), step=int(step or 0))

    @translated
    def log_epoch(self, step: int, metrics: Mapping[str, Any], run_id: str | None = None) -> None:
        """One epoch's numeric metrics at ``step`` (the epoch number); other values are skipped."""
        self._log_metrics(self._mlflow_id(run_id), _numeric(metrics), step=int(step))

    @translated
    def log_phase_energy(self, phase: Any, run_id: str | None = None) -> None:
        """A finished phase's energy (kWh, before PUE for a meter ``PhaseResult``), CO2 (kg) and
        duration (s), as metrics ``phase/<path>/energy_kwh`` etc. A phase that repeats (one per
        epoch) gets steps 0, 1, 2, ... of the same metrics.

        ``phase``: a meter ``PhaseResult`` or a mapping with ``path``, ``energy_kwh``, ``co2_kg``
        and optionally ``duration_s`` (a result JSON's ``energy.step.phases`` entry)."""
        own, prefix, values = phase_metrics(phase)
        # A meter phase names its run; a result JSON phase goes to the given or current run.
        mlflow_id = self._mlflow_id(run_id or own)
        with self._lock:
            step = self._phase_steps.get((mlflow_id, prefix), 0)
            self._phase_steps[(mlflow_id, prefix)] = step + 1
        self._log_metrics(mlflow_id, {f"{prefix}/{k}": v for k, v in values.items()}, step=step)

    @translated
    def log_result(
        self,
        result: Mapping[str, Any],
        artifact_paths: Iterable[str | Path] = (),
        run_id: str | None = None,
    ) -> None:
        """The result JSON: its figures as metrics (``metrics.test_accuracy_pct``,
        ``energy.step.energy_kwh``, ``energy.lifecycle.co2_kg``, ``inference.*``, ...), its
        phases, identity as tags, the whole dict as ``greenai/result.json``, and each file (or
        folder) of ``artifact_paths`` under ``greenai/``. Missing files are refused before
        anything is logged."""
        paths = existing_paths(artifact_paths)
        mlflow_id = self._mlflow_id(run_id)
        self._log_metrics(mlflow_id, result_metrics(result), step=0)
        for phase in ((result.get("energy") or {}).get("step") or {}).get("phases") or []:
            if isinstance(phase, Mapping):
                self.log_phase_energy(phase, run_id=self._greenai_id(mlflow_id))
        from mlflow.entities import RunTag

        tags = result_tags(result)
        self.client.log_batch(mlflow_id, tags=[RunTag(k, v) for k, v in tags.items()])
        self.client.log_dict(mlflow_id, dict(result), f"{ARTIFACT_DIR}/result.json")
        upload(self.client, mlflow_id, paths)

    @translated
    def log_charts(
        self,
        result: Mapping[str, Any],
        *,
        samples: Sequence[Any] = (),
        phases: Sequence[Any] = (),
        epochs: Sequence[Mapping[str, Any]] = (),
        run_id: str | None = None,
    ) -> list[str]:
        """The run's own charts as ``greenai/charts/power.png`` (power per component over time,
        from the meter's ``samples``, its top-level ``phases`` shaded) and, when there are
        ``epochs`` (rows with an ``epoch`` number and metrics), ``greenai/charts/epochs.png``
        (accuracy and loss per epoch); drawn by ``greenai.reports`` (``run_charts``). A chart
        without enough data is left out. Returns the artifact paths logged.

        Charts are an extra: without matplotlib (``greenai[report]``), or if drawing fails, none
        are logged, the reason goes to the ``greenai.integrations.mlflow`` logger and to the run's
        ``greenai.charts`` tag, and nothing is raised. MLflow's own failures are ``MlflowError``
        as elsewhere (``mlflow_charts.log_run_charts``)."""
        return log_run_charts(
            self.client, self._mlflow_id(run_id), result,
            samples=samples, phases=phases, epochs=epochs,
        )  # fmt: skip

    @translated
    def end(self, status: str = "done", run_id: str | None = None) -> None:
        """Close the run with greenai's final status: done, failed or interrupted."""
        if status not in STATUSES:
            raise UsageError(
                f"MLflow: unknown final status {status!r} (choose from {', '.join(STATUSES)})"
            )
        greenai_id = self._greenai_id(self._mlflow_id(run_id))
        self.client.set_terminated(self._runs[greenai_id], status=STATUSES[status])
        with self._lock:
            if greenai_id in self._stack:
                self._stack.remove(greenai_id)

    @contextlib.contextmanager
    def run(
        self,
        run_id: str,
        name: str,
        params: Mapping[str, Any] | None = None,
        parent: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Iterator[MlflowLogger]:
        """``start_run`` ... ``end``: "done" when the block finishes, "interrupted" on Ctrl+C,
        "failed" on any other exception (which is re-raised, never replaced by MLflow's)."""
        self.start_run(run_id, name, params, parent=parent, tags=tags)
        try:
            yield self
        except KeyboardInterrupt:
            with contextlib.suppress(GreenAIError):
                self.end("interrupted", run_id=run_id)
            raise
        except BaseException:
            with contextlib.suppress(GreenAIError):
                self.end("failed", run_id=run_id)
            raise
        self.end("done", run_id=run_id)

    @translated
    def log_artifacts(self, paths: Iterable[str | Path], run_id: str | None = None) -> None:
        """Files (or folders) under ``greenai/`` of the current (or given) run, e.g. a study's
        report and charts on its parent run. Missing files are refused before anything is logged."""
        files = existing_paths(paths)
        upload(self.client, self._mlflow_id(run_id), files)

    def under(self, parent: str | None) -> MlflowLogger | NestedMlflowLogger:
        """This logger, with every run started through it nested under greenai run ``parent``
        (a study's or search's parent run, started first). Lets code that starts its own run
        (``train_run``, the compression commands) be nested without knowing about the parent."""
        return self if parent is None else NestedMlflowLogger(self, parent)

    def sinks(self) -> list[Any]:
        """Meter sinks to add to a ``Tracker``: one logging each finished phase to the MLflow run
        of the same greenai run id (``NullMlflowLogger.sinks()`` is empty)."""
        return [MlflowPhaseSink(self)]

    # -- helpers ----------------------------------------------------------------------------------

    def _lookup(self, run_id: str) -> str | None:
        """The MLflow run id of greenai run ``run_id``: started here, or found in the experiment."""
        with self._lock:
            if run_id in self._runs:
                return self._runs[run_id]
        if not re.fullmatch(r"[\w.:-]+", run_id):
            return None  # not a greenai run id; never put it into a filter string
        found = self.client.search_runs(
            [self.experiment_id], filter_string=f"tags.`{RUN_ID_TAG}` = '{run_id}'", max_results=1
        )
        return found[0].info.run_id if found else None

    def _mlflow_id(self, run_id: str | None) -> str:
        with self._lock:
            if run_id is None:
                if not self._stack:
                    raise UsageError("MLflow: no run started (call start_run first)")
                return self._runs[self._stack[-1]]
            if run_id not in self._runs:
                raise UsageError(f"MLflow: run {run_id!r} was not started with this logger")
            return self._runs[run_id]

    def _greenai_id(self, mlflow_id: str) -> str:
        with self._lock:
            return next(g for g, m in self._runs.items() if m == mlflow_id)

    def _log_params(self, mlflow_id: str, params: Mapping[str, Any]) -> None:
        write_params(self.client, mlflow_id, params)

    def _log_metrics(self, mlflow_id: str, metrics: Mapping[str, float], step: int) -> None:
        write_metrics(self.client, mlflow_id, metrics, step)
