"""Logging greenai runs to MLflow: parameters, per-epoch metrics, energy and CO2 per phase, the result
JSON and chosen files (charts, logs), one MLflow run per greenai run, nested under a study's or a
search's parent run.

```python
from greenai.integrations.mlflow import MlflowLogger
mlf = MlflowLogger.maybe_create(args.mlflow)   # enabled by the flag or by $MLFLOW_TRACKING_URI
with mlf.run(run_id, "baseline", params={"epochs": 20}, parent=study_run_id):  # end() for you
    result = train_run(cfg, ..., run_id=run_id, mlflow=mlf)  # log_params / log_metrics(step=)
    mlf.log_result(result, [chart_png, training_log_csv])
# or step by step:
mlf.start_run(run_id, name="baseline", params={"epochs": 20, "lr": 1e-3}, parent=study_run_id)
mlf.log_epoch(epoch, {"train_loss": 0.9, "test_acc": 61.2})
mlf.log_phase_energy(phase)                    # a meter PhaseResult, or a result JSON phase dict
mlf.log_result(result, [chart_png, training_log_csv])
mlf.log_charts(result, samples=tracker.samples, phases=measurement.phases, epochs=log_rows)
mlf.end("done")                                # or "failed" / "interrupted"
Tracker(..., sinks=[StoreSink(store), *mlf.sinks()])   # phases logged as the meter ends them
```
When disabled, ``maybe_create`` returns a ``NullMlflowLogger`` with the same methods doing nothing,
so callers never test for None. MLflow is imported only when enabled (the ``mlflow`` extra), with its
telemetry off unless the user opted in (``MLFLOW_DISABLE_TELEMETRY``, ``DO_NOT_TRACK``).
Failures of MLflow itself become ``MlflowError`` (one line, exit 1); bad arguments ``UsageError``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from greenai.errors import GreenAIError, MissingExtraError, UsageError

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

# Result JSON sections whose numeric leaves become metrics (phases are logged per phase).
_METRIC_SECTIONS = ("metrics", "inference", "energy", "efficiency", "break_even")
_TAG_KEYS = ("variant", "group", "dataset", "model", "device", "precision", "schema_version")
_MAX_PARAM_CHARS = 6000
_BATCH = 100

T = TypeVar("T")
_log = logging.getLogger(__name__)


class MlflowError(GreenAIError):
    """MLflow refused or failed (tracking store unreachable, bad URI, rejected value)."""


def is_enabled(flag: bool, environ: Mapping[str, str] | None = None) -> bool:
    """``--mlflow`` given, or ``MLFLOW_TRACKING_URI`` set to something."""
    env = os.environ if environ is None else environ
    return bool(flag) or bool(env.get(ENV_TRACKING_URI, "").strip())


def _translated(method: Callable[..., T]) -> Callable[..., T]:
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
        return _translated(cls._open)(mlflow, MlflowClient, uri, name)

    @classmethod
    def _open(cls, mlflow: Any, client_class: Any, uri: str | None, name: str) -> MlflowLogger:
        client = client_class(tracking_uri=uri or mlflow.get_tracking_uri())
        found = client.get_experiment_by_name(name)
        if found is None:
            try:
                experiment_id = client.create_experiment(
                    name, artifact_location=_artifact_location(client.tracking_uri, name)
                )
            except mlflow.exceptions.MlflowException:
                found = client.get_experiment_by_name(name)  # created meanwhile by another process
                if found is None:
                    raise
                experiment_id = found.experiment_id
        else:
            experiment_id = found.experiment_id
        return cls(client, experiment_id)

    # -- runs -------------------------------------------------------------------------------------

    @_translated
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

    @_translated
    def log_params(self, params: Mapping[str, Any], run_id: str | None = None) -> None:
        """Parameters of the current (or given) run, nested keys joined with dots. Values already
        logged are skipped (a resumed run logs its config again); MLflow refuses a changed one."""
        self._log_params(self._mlflow_id(run_id), params)

    @_translated
    def log_metrics(
        self, metrics: Mapping[str, Any], step: int | None = None, run_id: str | None = None
    ) -> None:
        """Numeric metrics of the current (or given) run at ``step`` (default 0); like
        ``mlflow.log_metrics``, so this logger can stand in for the ``mlflow`` module."""
        self._log_metrics(self._mlflow_id(run_id), _numeric(metrics), step=int(step or 0))

    @_translated
    def log_epoch(self, step: int, metrics: Mapping[str, Any], run_id: str | None = None) -> None:
        """One epoch's numeric metrics at ``step`` (the epoch number); other values are skipped."""
        self._log_metrics(self._mlflow_id(run_id), _numeric(metrics), step=int(step))

    @_translated
    def log_phase_energy(self, phase: Any, run_id: str | None = None) -> None:
        """A finished phase's energy (kWh, before PUE for a meter ``PhaseResult``), CO2 (kg) and
        duration (s), as metrics ``phase/<path>/energy_kwh`` etc. A phase that repeats (one per
        epoch) gets steps 0, 1, 2, ... of the same metrics.

        ``phase``: a meter ``PhaseResult`` or a mapping with ``path``, ``energy_kwh``, ``co2_kg``
        and optionally ``duration_s`` (a result JSON's ``energy.step.phases`` entry)."""
        if isinstance(phase, Mapping):
            own, path = phase.get("run_id"), phase.get("path")
            values = {k: phase.get(k) for k in _PHASE_FIELDS}
        else:
            own, path = getattr(phase, "run_id", None), getattr(phase, "path", None)
            values = {k: getattr(phase, k, None) for k in _PHASE_FIELDS}
        if not path:
            raise UsageError("MLflow: a phase needs a path (e.g. 'train/epoch')")
        # A meter phase names its run; a result JSON phase goes to the given or current run.
        mlflow_id = self._mlflow_id(run_id or own)
        prefix = "phase/" + _metric_key(str(path))
        with self._lock:
            step = self._phase_steps.get((mlflow_id, prefix), 0)
            self._phase_steps[(mlflow_id, prefix)] = step + 1
        self._log_metrics(
            mlflow_id, {f"{prefix}/{k}": v for k, v in _numeric(values).items()}, step=step
        )

    @_translated
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
        paths = [Path(p) for p in artifact_paths]
        for path in paths:
            if not path.exists():
                raise UsageError(f"MLflow: artifact {path} does not exist")
        mlflow_id = self._mlflow_id(run_id)
        metrics: dict[str, float] = {}
        for section in _METRIC_SECTIONS:
            value = result.get(section)
            if isinstance(value, Mapping):
                metrics.update(_numeric(_flatten(value, section)))
        self._log_metrics(mlflow_id, metrics, step=0)
        for phase in ((result.get("energy") or {}).get("step") or {}).get("phases") or []:
            if isinstance(phase, Mapping):
                self.log_phase_energy(phase, run_id=self._greenai_id(mlflow_id))
        from mlflow.entities import RunTag

        tags = {f"greenai.{k}": str(result[k]) for k in _TAG_KEYS if result.get(k) is not None}
        for k, v in _flatten(result.get("carbon") or {}, "greenai.carbon").items():
            if v is not None:
                tags[k] = str(v)[:_MAX_PARAM_CHARS]
        self.client.log_batch(mlflow_id, tags=[RunTag(k, v) for k, v in tags.items()])
        self.client.log_dict(mlflow_id, dict(result), f"{ARTIFACT_DIR}/result.json")
        for path in paths:
            if path.is_dir():
                self.client.log_artifacts(mlflow_id, str(path), f"{ARTIFACT_DIR}/{path.name}")
            else:
                self.client.log_artifact(mlflow_id, str(path), ARTIFACT_DIR)

    @_translated
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
        are logged, the reason goes to this module's logger and to the run's ``greenai.charts``
        tag, and nothing is raised. MLflow's own failures are ``MlflowError`` as elsewhere."""
        mlflow_id = self._mlflow_id(run_id)
        try:
            charts = run_charts(result, samples=samples, phases=phases, epochs=epochs)
        except (MissingExtraError, ImportError) as error:
            if not isinstance(error, MissingExtraError):  # e.g. matplotlib.ticker, imported first
                error = MissingExtraError("matplotlib", "report")
            _log.info("MLflow: no charts for run %s: %s", result.get("run_id"), error)
            self.client.set_tag(mlflow_id, CHARTS_TAG, f"skipped: {error}"[:_MAX_PARAM_CHARS])
            return []
        except Exception as error:  # a chart must never fail a finished run
            _log.warning(
                "MLflow: drawing the charts of run %s failed", result.get("run_id"), exc_info=True
            )
            reason = f"skipped: {type(error).__name__}: {error}"
            self.client.set_tag(mlflow_id, CHARTS_TAG, reason[:_MAX_PARAM_CHARS])
            return []
        logged = []
        with tempfile.TemporaryDirectory(prefix="greenai-charts-") as folder:
            for name, png in charts.items():
                path = Path(folder) / f"{name}.png"
                path.write_bytes(png)
                self.client.log_artifact(mlflow_id, str(path), CHART_DIR)
                logged.append(f"{CHART_DIR}/{path.name}")
        return logged

    @_translated
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

    @_translated
    def log_artifacts(self, paths: Iterable[str | Path], run_id: str | None = None) -> None:
        """Files (or folders) under ``greenai/`` of the current (or given) run, e.g. a study's
        report and charts on its parent run. Missing files are refused before anything is logged."""
        files = [Path(p) for p in paths]
        for path in files:
            if not path.exists():
                raise UsageError(f"MLflow: artifact {path} does not exist")
        mlflow_id = self._mlflow_id(run_id)
        for path in files:
            if path.is_dir():
                self.client.log_artifacts(mlflow_id, str(path), f"{ARTIFACT_DIR}/{path.name}")
            else:
                self.client.log_artifact(mlflow_id, str(path), ARTIFACT_DIR)

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
        from mlflow.entities import Param

        logged = self.client.get_run(mlflow_id).data.params
        items = [Param(k, v) for k, v in flatten_params(params).items() if logged.get(k) != v]
        for i in range(0, len(items), _BATCH):
            self.client.log_batch(mlflow_id, params=items[i : i + _BATCH])

    def _log_metrics(self, mlflow_id: str, metrics: Mapping[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now_ms = _now_ms()
        items = [Metric(_metric_key(k), v, now_ms, step) for k, v in metrics.items()]
        for i in range(0, len(items), _BATCH):
            self.client.log_batch(mlflow_id, metrics=items[i : i + _BATCH])


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


_PHASE_FIELDS = ("energy_kwh", "co2_kg", "duration_s")


def run_charts(
    result: Mapping[str, Any],
    *,
    samples: Sequence[Any] = (),
    phases: Sequence[Any] = (),
    epochs: Sequence[Mapping[str, Any]] = (),
) -> dict[str, bytes]:
    """One run's charts as PNG bytes, by ``greenai.reports``: ``"power"`` from the meter's
    ``Sample`` records and ``PhaseResult`` phases (``reports.sources.power_trace``), ``"epochs"``
    from per-epoch rows (``{"epoch": 1, "train_loss": 0.9, "eval_acc_pct": 61.0, ...}``; a run
    that only records a loss per epoch, e.g. ``finetune_loss``, gets that loss alone). A chart
    without enough data is left out. Raises ``MissingExtraError`` without matplotlib."""
    from greenai.reports import chartdata, charts
    from greenai.reports.inputs import EpochPoint, RunInput
    from greenai.reports.sources import power_trace

    points = tuple(
        EpochPoint(int(row["epoch"]), _numeric({k: v for k, v in row.items() if k != "epoch"}))
        for row in epochs
        if isinstance(row.get("epoch"), int) and not isinstance(row.get("epoch"), bool)
    )
    trace = power_trace(list(samples), list(phases))
    run = RunInput.from_result(result, epochs=points, power=trace)
    out: dict[str, bytes] = {}
    power = chartdata.power(run)
    if power is not None:
        out["power"] = charts.power_png(power)
    per_epoch = chartdata.epochs([run]) or _loss_only(run)
    if per_epoch is not None:
        out["epochs"] = charts.epochs_png(per_epoch)
    return out


def _loss_only(run: Any) -> Any:
    """``EpochData`` for epochs that carry a loss ``chartdata.epochs`` does not know (a pruned
    model's ``finetune_loss``, QAT's ``qat_loss``), without accuracy; None when there is none."""
    from greenai.reports.chartdata import EpochCurve, EpochData
    from greenai.reports.rows import variant_name

    keys = sorted({k for p in run.epochs for k in p.metrics if k.endswith("loss")})
    if not keys:
        return None
    pts = sorted(run.epochs, key=lambda p: p.epoch)
    curve = EpochCurve(
        variant_name(run.variant),
        tuple(p.epoch for p in pts),
        tuple(None for _ in pts),
        tuple(p.metrics.get(keys[0]) for p in pts),
    )
    return EpochData((curve,), "", keys[0])


def quiet_mlflow() -> None:
    """Keep MLflow off the network unless the user opted in: no usage telemetry."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")


def flatten_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Nested params as ``a.b`` keys and string values (MLflow's params are strings)."""
    return {
        k: ("None" if v is None else str(v))[:_MAX_PARAM_CHARS]
        for k, v in _flatten(params, "").items()
    }


def _flatten(value: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(item, Mapping):
            out.update(_flatten(item, name))
        elif not isinstance(item, (list, tuple)):
            out[name] = item
    return out


def _numeric(values: Mapping[str, Any]) -> dict[str, float]:
    """The finite numbers among ``values`` (bools and text skipped; NaN and inf are not logged)."""
    return {
        str(k): float(v)
        for k, v in values.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }


def _metric_key(name: str) -> str:
    """MLflow allows letters, digits, ``_ - . / `` and spaces in metric names."""
    return re.sub(r"[^\w\-./ ]", "_", name)


def _artifact_location(tracking_uri: str, experiment: str) -> str | None:
    """For a SQLite tracking store, artifacts next to the database (MLflow's default would be
    ``./mlruns`` in whatever directory the command runs from); else the store's own default."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    db = Path(tracking_uri[len("sqlite:///") :])
    if str(db) in ("", ":memory:"):
        return None
    safe = re.sub(r"[^\w.-]", "_", experiment)
    return (db.resolve().parent / "mlartifacts" / safe).as_uri()


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)
