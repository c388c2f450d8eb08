"""``greenai.track``: the meter's ``track``, with each run recorded in the run store.

The meter (``greenai.meter.track``) measures and writes nothing unless given sinks; this wrapper
sits above the store in the layers and records every use as one run of variant ``"tracked"``, so
``greenai runs``, ``greenai report`` and the dashboard see library runs like the commands' runs.
The store is ``store=`` (a URL, a SQLite file path or an open ``RunStore``), else ``$GREENAI_STORE``,
else ``./greenai.db`` in the current folder, as the commands choose it; ``store=None`` records
nothing (the pure meter). The run's final ``Measurement`` carries its run id, so a later step can
name the tracked run as its parent.

The result JSON is built in ``greenai.lifecycle.tracked_result``; the ``store=`` argument is
opened in ``greenai.lifecycle.tracked_store``.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from greenai.lifecycle.tracked_result import VARIANT, build_result, error_line
from greenai.lifecycle.tracked_store import DEFAULT_STORE, LateSink, open_store_arg
from greenai.meter.tracker import Tracker
from greenai.meter.types import Measurement

F = TypeVar("F", bound=Callable[..., Any])


class RecordedTracker(Tracker):
    """The meter's ``Tracker`` as ``greenai.track`` yields it: ``measurement`` is the final
    ``Measurement`` once the block has ended (None before), ``store_url`` where the run was
    recorded (None with ``store=None``)."""

    store_url: str | None = None
    #: set by trainer callbacks before the run ends: {"samples": N, "tokens": T} (the work done)
    training: dict[str, Any] | None = None

    @property
    def measurement(self) -> Measurement | None:
        return self._final


def _device_in_use() -> str:
    """ "cuda" when this program already uses CUDA through torch, else "cpu" (never imports torch)."""
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    return "cuda" if cuda is not None and cuda.is_initialized() else "cpu"


class _Recording:
    """One use of ``track``: the tracker, and the store run it is recorded as."""

    def __init__(self, spec: track) -> None:
        kwargs = dict(spec.tracker_kwargs)
        self.spec = spec
        self.sink = LateSink()
        sinks = list(kwargs.pop("sinks", ()))
        from greenai.integrations.wandb import explicit_loggers

        self.loggers = explicit_loggers(spec.mlflow, spec.wandb)
        sinks.extend(self.loggers.sinks())
        if spec.store is not None:
            sinks.append(self.sink)
        if (spec.store is not None or self.loggers.active) and not kwargs.get("run_id"):
            from greenai.storage import new_run_id

            kwargs["run_id"] = new_run_id()
        self.tracker = RecordedTracker(spec.name, sinks=sinks, **kwargs)
        self.store, self.owned = open_store_arg(spec.store)
        self.device = spec.device or _device_in_use()

    def begin(self) -> RecordedTracker:
        """Create the run (status "running") and start the meter."""
        spec, store = self.spec, self.store
        if self.loggers.active:
            params = {"model": spec.model, "dataset": spec.dataset, "device": self.device}
            self.loggers.start_run(self.tracker.run_id, spec.name, params=params)
        if store is None:
            try:
                return self.tracker.start()
            except BaseException:
                self._log_end(None, "failed")
                raise
        from greenai.storage import StoreSink

        try:
            store.create_run(
                self.tracker.run_id, name=spec.name, variant=VARIANT, model=spec.model,
                dataset=spec.dataset, device=self.device, config={}, group=spec.group,
            )  # fmt: skip
        except BaseException:  # e.g. the run id is taken: not our run to mark
            self._log_end(None, "failed")
            self.close()
            raise
        try:
            self.sink.target = StoreSink(store)
            self.tracker.store_url = store.url
            self.tracker.start()
        except BaseException as exc:
            self._finish(None, exc)
            self.close()
            raise
        return self.tracker

    def end(self, exc: BaseException | None) -> Measurement | None:
        """Stop the meter and close the run: "done" with its result, else "failed" or
        "interrupted" (KeyboardInterrupt) with the exception's line. Never hides ``exc``."""
        try:
            try:
                m: Measurement | None = self.tracker.stop()
            except Exception as error:
                if exc is None:
                    self._finish(None, error)
                    raise
                m = None  # the block's own failure matters more
            self._finish(m, exc)
            return m
        finally:
            self.close()

    def _log_end(self, result: dict[str, Any] | None, status: str) -> None:
        """Close the MLflow / W&B run (``mlflow=`` / ``wandb=``), with the result when done."""
        if not self.loggers.active:
            return
        if result is not None:
            self.loggers.log_result(result)
        self.loggers.end(status)

    def _finish(self, m: Measurement | None, exc: BaseException | None) -> None:
        run_id = self.tracker.run_id
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        if exc is None and m is not None:
            result = build_result(
                m, group=self.spec.group, model=self.spec.model, dataset=self.spec.dataset,
                device=self.device, emissions_csv=self.tracker.emissions_csv,
                training=self.tracker.training,
                gpus=int(self.tracker.hardware().get("gpu_count") or 0),
            )  # fmt: skip
            self._log_end(result, "done")
            if self.store is not None:
                self.store.finish_run(run_id, status="done", result=result)
            return
        self._log_end(None, status)
        if self.store is None:
            return
        try:
            self.store.finish_run(run_id, status=status, error=error_line(exc or RuntimeError()))
        except Exception as error:  # do not let the store replace the block's exception
            print(f"greenai: warning: could not record run {run_id} as {status}: {error}",
                  file=sys.stderr)  # fmt: skip

    def close(self) -> None:
        if self.owned and self.store is not None:
            self.store.close()
            self.owned = False


def _recording(spec: track) -> _Recording:
    """Under torchrun/SLURM each rank records its share under the job (``lifecycle.rank_job``)."""
    from greenai.lifecycle.rank_job import recording_for

    return recording_for(spec) or _Recording(spec)


class track:
    """``with greenai.track("x") as t:`` or ``@greenai.track("x")``: one metered, recorded run per use.

    ``store``: where the run is recorded (a URL, a SQLite file path or a ``RunStore``; default
    ``$GREENAI_STORE``, else ``./greenai.db`` in the current folder; None: record nothing).
    ``group``, ``model``, ``dataset`` label the run; ``device`` defaults to "cuda" when the
    program already uses CUDA through torch, else "cpu". Other keyword arguments are those of the
    meter's ``Tracker`` (``run_id``, ``country``, ``interval_s``, ``emissions_csv``, ...).
    ``mlflow=True`` / ``wandb=True`` also log the run (its phases, then the result's figures) to
    MLflow (``$MLFLOW_TRACKING_URI``) / Weights & Biases (``$WANDB_PROJECT``, ``$WANDB_MODE``).
    In a rank of a torchrun/SLURM job each rank records its share under the job's id and the job's
    run holds their sum (``lifecycle.rank_job``); ``job=False``: one run per rank instead.

    The block's tracker is yielded; after the block ``t.measurement`` (or ``t.energy``) is the final
    ``Measurement``, whose ``run_id`` names the stored run. As a decorator each call is one run, the
    last one's measurement kept as ``wrapper.last_measurement``. An exception in the block marks
    the run "failed" ("interrupted" for KeyboardInterrupt) and propagates. A store that cannot be
    opened, or a bad argument, is a ``UsageError`` before the block runs.
    """

    def __init__(
        self,
        name: str = "run",
        *,
        store: Any = DEFAULT_STORE,
        group: str | None = None,
        model: str | None = None,
        dataset: str | None = None,
        device: str | None = None,
        mlflow: bool = False,
        wandb: bool = False,
        job: bool | None = None,
        **tracker_kwargs: Any,
    ) -> None:
        self.job = job  # a rank of a job without a process group: lifecycle.rank_job (False: off)
        self.name, self.store, self.group = name, store, group
        self.mlflow, self.wandb = mlflow, wandb
        self.model, self.dataset, self.device = model, dataset, device
        self.tracker_kwargs = tracker_kwargs
        self._recording: _Recording | None = None

    def __enter__(self) -> RecordedTracker:
        self._recording = _recording(self)
        return self._recording.begin()

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        assert self._recording is not None
        recording, self._recording = self._recording, None
        recording.end(exc)

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            recording = _recording(self)
            recording.begin()
            try:
                value = fn(*args, **kwargs)
            except BaseException as exc:
                wrapper.last_measurement = recording.end(exc)  # type: ignore[attr-defined]
                raise
            wrapper.last_measurement = recording.end(None)  # type: ignore[attr-defined]
            return value

        wrapper.last_measurement = None  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]
