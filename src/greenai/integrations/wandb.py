"""Logging greenai runs to Weights & Biases, the same things the MLflow logger logs (the ``wandb``
extra): parameters as the run's config, per-epoch metrics, energy and CO2 per phase, the result
JSON's figures as the run's summary (and the file itself), one W&B run per greenai run, grouped by
the study or search's run.

```python
loggers = trackers(mlflow=args.mlflow, wandb=args.wandb)   # MLflow and/or W&B, or a null logger
with loggers.run(run_id, "baseline", params={...}):        # same calls as MlflowLogger
    loggers.log_epoch(1, {"train_loss": 0.9}); loggers.log_result(result)
```
Enabled by ``--wandb`` or ``$WANDB_PROJECT``; the project is ``$WANDB_PROJECT``, else "greenai".
``WANDB_MODE=offline`` writes the runs under ``./wandb`` (or ``$WANDB_DIR``) and never touches the
network (``wandb sync`` uploads them later). Failures of wandb become ``WandbError`` (one line).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from greenai.errors import GreenAIError, MissingExtraError, UsageError
from greenai.integrations.mlflow import NullMlflowLogger, _flatten, _numeric

ENV_PROJECT = "WANDB_PROJECT"
DEFAULT_PROJECT = "greenai"
_METRIC_SECTIONS = ("metrics", "inference", "energy", "efficiency", "break_even", "work")
_EXIT_CODES = {"done": 0, "failed": 1, "interrupted": 130}


class WandbError(GreenAIError):
    """wandb refused or failed (not logged in while online, a rejected value)."""


def is_enabled(flag: bool, environ: Mapping[str, str] | None = None) -> bool:
    """``--wandb`` given, or ``WANDB_PROJECT`` set to something."""
    env = os.environ if environ is None else environ
    return bool(flag) or bool(env.get(ENV_PROJECT, "").strip())


def _phase_metrics(phase: Any) -> tuple[str, dict[str, float]]:
    """(path, figures) of a meter ``PhaseResult`` or a result JSON phase dict."""
    if isinstance(phase, Mapping):
        path = str(phase.get("path"))
        values = {k: phase.get(k) for k in ("energy_kwh", "co2_kg", "duration_s")}
    else:
        path = phase.path
        values = {"energy_kwh": phase.energy_kwh, "co2_kg": phase.co2_kg,
                  "duration_s": phase.duration_s}  # fmt: skip
    return path, _numeric({f"phase/{path}/{k}": v for k, v in values.items()})


class WandbLogger(NullMlflowLogger):
    """Logs greenai runs to W&B with the methods of ``MlflowLogger``. Runs are addressed by greenai
    run id (the W&B run id is the same); calls without one go to the newest run not ended."""

    active = True

    def __init__(self, wandb: Any, project: str) -> None:
        self.wandb, self.project = wandb, project
        self._runs: dict[str, Any] = {}
        self._stack: list[str] = []
        self._steps: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    @classmethod
    def maybe_create(cls, enabled: bool) -> WandbLogger | NullMlflowLogger:
        """A logger when ``--wandb`` or ``$WANDB_PROJECT``, else a null one. ``MissingExtraError``
        without the wandb package."""
        if not is_enabled(enabled):
            return NullMlflowLogger()
        try:
            import wandb
        except ImportError:
            raise MissingExtraError("wandb", "wandb") from None
        project = os.environ.get(ENV_PROJECT, "").strip() or DEFAULT_PROJECT
        return cls(wandb, project)

    def _run(self, run_id: str | None) -> Any:
        with self._lock:
            key = run_id or (self._stack[-1] if self._stack else None)
            if key is None or key not in self._runs:
                raise UsageError(f"W&B: run {key!r} was not started")
            return self._runs[key]

    def start_run(
        self, run_id: str, name: str, params: Mapping[str, Any] | None = None,
        parent: str | None = None, tags: Mapping[str, str] | None = None,
    ) -> None:  # fmt: skip
        """Start (or resume) the W&B run of greenai run ``run_id``; ``parent`` becomes its group."""
        if not run_id or not name:
            raise UsageError("W&B: start_run needs a run id and a name")
        try:
            run = self.wandb.init(
                project=self.project, id=run_id, name=name, group=parent, resume="allow",
                config=dict(_flatten(params or {}, "")), tags=[f"{k}={v}" for k, v in (tags or {}).items()],
                reinit="create_new",
            )  # fmt: skip
        except Exception as exc:
            raise WandbError(f"W&B: cannot start run {run_id}: {exc}".splitlines()[0]) from None
        with self._lock:
            self._runs[run_id] = run
            self._stack = [r for r in self._stack if r != run_id] + [run_id]

    def log_params(self, params: Mapping[str, Any], run_id: str | None = None) -> None:
        self._run(run_id).config.update(dict(_flatten(params, "")), allow_val_change=True)

    def log_metrics(
        self, metrics: Mapping[str, Any], step: int | None = None, run_id: str | None = None
    ) -> None:
        """Numeric ``metrics`` (others skipped), at ``step`` when given."""
        self._run(run_id).log(_numeric(metrics), step=None if step is None else int(step))

    def log_epoch(self, step: int, metrics: Mapping[str, Any], run_id: str | None = None) -> None:
        self._run(run_id).log({"epoch": step, **_numeric(metrics)})

    def log_phase_energy(self, phase: Any, run_id: str | None = None) -> None:
        """A finished phase as ``phase/<path>/energy_kwh``, ``co2_kg``, ``duration_s``."""
        run = self._run(run_id or getattr(phase, "run_id", None))
        run.log(_phase_metrics(phase)[1])

    def log_result(
        self, result: Mapping[str, Any], artifact_paths: Iterable[str | Path] = (),
        run_id: str | None = None,
    ) -> None:  # fmt: skip
        """The result's figures in the run's summary (``energy.step.energy_kwh``, ...), its phases,
        and the files of ``artifact_paths`` saved with the run."""
        paths = [Path(p) for p in artifact_paths]
        for path in paths:
            if not path.exists():
                raise UsageError(f"W&B: artifact {path} does not exist")
        run = self._run(run_id)
        figures: dict[str, float] = {}
        for section in _METRIC_SECTIONS:
            value = result.get(section)
            if isinstance(value, Mapping):
                figures.update(_numeric(_flatten(value, section)))
        run.summary.update(figures)
        for phase in ((result.get("energy") or {}).get("step") or {}).get("phases") or []:
            if isinstance(phase, Mapping):
                run.summary.update(_phase_metrics(phase)[1])
        for path in paths:
            run.save(str(path), base_path=str(path.parent), policy="now")

    def log_artifacts(self, paths: Iterable[str | Path], run_id: str | None = None) -> None:
        run = self._run(run_id)
        for path in [Path(p) for p in paths]:
            if not path.exists():
                raise UsageError(f"W&B: artifact {path} does not exist")
            run.save(str(path), base_path=str(path.parent), policy="now")

    def end(self, status: str = "done", run_id: str | None = None) -> None:
        if status not in _EXIT_CODES:
            raise UsageError(f"W&B: unknown final status {status!r}")
        run = self._run(run_id)
        run.finish(exit_code=_EXIT_CODES[status])
        with self._lock:
            self._stack = [r for r in self._stack if self._runs[r] is not run]

    def under(self, parent: str | None) -> Any:
        """This logger, with runs started through it grouped under greenai run ``parent``."""
        return self if parent is None else _Grouped(self, parent)

    @contextlib.contextmanager
    def run(
        self, run_id: str, name: str, params: Mapping[str, Any] | None = None,
        parent: str | None = None, tags: Mapping[str, str] | None = None,
    ) -> Iterator[WandbLogger]:  # fmt: skip
        self.start_run(run_id, name, params, parent=parent, tags=tags)
        try:
            yield self
        except BaseException as exc:
            with contextlib.suppress(GreenAIError):
                self.end("interrupted" if isinstance(exc, KeyboardInterrupt) else "failed", run_id)
            raise
        self.end("done", run_id)

    def sinks(self) -> list[Any]:
        return [_PhaseSink(self)]


class _Grouped:
    """A ``WandbLogger`` whose new runs default to the group ``parent`` (``under``)."""

    def __init__(self, logger: WandbLogger, parent: str) -> None:
        self.logger, self.parent = logger, parent

    def __getattr__(self, name: str) -> Any:
        return getattr(self.logger, name)

    def start_run(self, run_id: str, name: str, params: Any = None, parent: Any = None,
                  tags: Any = None) -> None:  # fmt: skip
        self.logger.start_run(run_id, name, params, parent=parent or self.parent, tags=tags)

    def run(self, run_id: str, name: str, params: Any = None, parent: Any = None,
            tags: Any = None) -> Any:  # fmt: skip
        return self.logger.run(run_id, name, params, parent=parent or self.parent, tags=tags)

    def under(self, parent: str | None) -> Any:
        return self.logger.under(parent or self.parent)


class _PhaseSink:
    """A meter sink logging each finished phase to the W&B run of the same greenai run id."""

    def __init__(self, logger: WandbLogger) -> None:
        self.logger = logger

    def on_start(self, run_id: str, name: str, start_time: float) -> None:
        return None

    def on_sample(self, sample: Any) -> None:
        return None

    def on_phase(self, phase: Any) -> None:
        if phase.run_id in self.logger._runs:
            self.logger.log_phase_energy(phase, run_id=phase.run_id)

    def on_stop(self, measurement: Any) -> None:
        return None


class TeeLogger:
    """Several loggers (MLflow, W&B) behind the one logger interface: each call goes to all."""

    def __init__(self, loggers: Sequence[Any]) -> None:
        self.loggers = list(loggers)
        self.active = any(getattr(lg, "active", False) for lg in self.loggers)

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            results = [getattr(lg, name)(*args, **kwargs) for lg in self.loggers]
            return results[0] if results else None

        return call

    def log_charts(self, *args: Any, **kwargs: Any) -> list[str]:
        return [p for lg in self.loggers for p in lg.log_charts(*args, **kwargs)]

    def under(self, parent: str | None) -> TeeLogger:
        return TeeLogger([lg.under(parent) for lg in self.loggers])

    def sinks(self) -> list[Any]:
        return [s for lg in self.loggers for s in lg.sinks()]

    @contextlib.contextmanager
    def run(self, *args: Any, **kwargs: Any) -> Iterator[TeeLogger]:
        with contextlib.ExitStack() as stack:
            for lg in self.loggers:
                stack.enter_context(lg.run(*args, **kwargs))
            yield self


def explicit_loggers(mlflow: bool, wandb: bool) -> TeeLogger:
    """The loggers ``greenai.track(mlflow=True, wandb=True)`` asks for, explicitly only:
    ``$MLFLOW_TRACKING_URI`` alone does not make every tracked block log to MLflow."""
    from greenai.integrations.mlflow import MlflowLogger

    loggers: list[Any] = []
    if mlflow:
        loggers.append(MlflowLogger.create())
    if wandb:
        loggers.append(WandbLogger.maybe_create(True))
    return TeeLogger(loggers)


def trackers(*, mlflow: bool = False, wandb: bool = False) -> Any:
    """The run loggers a command's ``--mlflow`` / ``--wandb`` (or their environment variables) ask
    for: one logger, a ``TeeLogger`` of both, or a null logger."""
    from greenai.integrations.mlflow import MlflowLogger

    loggers = [MlflowLogger.maybe_create(mlflow), WandbLogger.maybe_create(wandb)]
    active = [lg for lg in loggers if lg.active]
    if len(active) == 2:
        return TeeLogger(active)
    return active[0] if active else loggers[0]
