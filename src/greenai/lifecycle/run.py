"""The one metered-run skeleton every lifecycle step runs on.

A step (training, pruning, quantization, distillation, export, registering a user's model) is a
``body`` that does the work under a running meter and a ``finish`` that turns what it produced into
the step's own result sections. ``MeteredRun.execute`` does the rest, the same way for every step:

1. the meter (``Tracker``) with the run store's sink, writing ``logs/emissions.csv``;
2. the store row (created, or resumed for a training run continued from its checkpoint);
3. MLflow (started, the result and charts logged at the end; phases are logged once, from the result,
   PUE included — the meter's own phase records are before PUE);
4. the result JSON's common sections (identity, energy step and lifecycle, carbon, software, time),
   written atomically, then the store row finished;
5. on any exception: the meter stopped, the row and the MLflow run marked ``failed`` (or
   ``interrupted`` for Ctrl-C), and the exception re-raised.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from greenai.ml.training.config import paths_for
from greenai.results import lineage, runinfo
from greenai.results import resultfile as results

T = TypeVar("T")
__all__ = ["MeteredRun", "RunEnv", "RunSpec", "paths_for"]

PARENT_UNKNOWN = "parent energy unknown: {why}; the lifecycle counts this step only"


@dataclass
class RunEnv:
    """Where runs are recorded and how they are metered: shared by every step of a session."""

    out_dir: Path
    store: Any = None  # a RunStore, or None (nothing recorded in a store)
    carbon: Any = None  # a CarbonConfig (None: resolved from the environment's defaults)
    group: str | None = None  # a study or search name
    mlflow: Any = None  # an integrations.mlflow logger (or its null twin); None: off
    progress: bool = False

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        if self.carbon is None:
            from greenai.carbon import CarbonConfig

            self.carbon = CarbonConfig.resolve()


@dataclass
class RunSpec:
    """What one run is: its identity in the store and the result JSON."""

    variant: str
    model: str | None
    dataset: str | None
    device: str
    hyperparameters: dict[str, Any]
    config: dict[str, Any] | None = None  # the store row's config (default: hyperparameters)
    parent_run_id: str | None = None
    parent_result: dict[str, Any] | None = None  # the parent's result: its lifecycle is counted
    parent_note: str | None = None  # why the parent's energy is unknown (a foreign file)
    run_id: str | None = None
    resume: bool = False  # continue the store row of ``run_id`` (a training run's --resume)
    break_even: bool = False  # a derived model: its break-even against the parent is computed
    mlflow_params: dict[str, Any] | None = None  # None: identity and hyperparameters


class MeteredRun:
    """One step's run: ``execute(body, finish)`` meters, records and returns the result dict."""

    def __init__(self, spec: RunSpec, env: RunEnv) -> None:
        from greenai.storage import new_run_id

        self.spec, self.env = spec, env
        self.run_id = spec.run_id or new_run_id()
        self.paths = paths_for(env.out_dir, self.run_id)
        self.tracker: Any = None
        self.samples: list[Any] = []

    def relpath(self, path: Path) -> str:
        return os.path.relpath(path, self.env.out_dir)

    def execute(
        self,
        body: Callable[[Any], T],
        finish: Callable[[T, Any], dict[str, Any]],
        *,
        earlier_pieces: Callable[[], Sequence[dict[str, Any]]] = tuple,
        before_open: Callable[[Any], None] | None = None,
        after_open: Callable[[], None] | None = None,
        artifacts: Callable[[], list[Path]] = list,
        epochs: Callable[[], list[dict[str, Any]]] = list,
        epochs_logged: bool = False,
    ) -> dict[str, Any]:
        """Run ``body(tracker)`` metered; ``finish(outcome, measurement)`` returns the step's own
        sections (metrics, inference, ...), merged over the common ones.

        ``earlier_pieces()``: energy pieces spent before this process's meter started (the data load,
        earlier processes of a resumed run); ``before_open(tracker)`` runs before the store row is
        created or resumed, ``after_open()`` right after; ``artifacts()``/``epochs()`` feed MLflow
        (``epochs_logged``: the step logged its epochs as they ended; only the charts use them)."""
        from greenai.meter import Tracker
        from greenai.meter.tracker import sampling_interval
        from greenai.storage import StoreSink

        spec, env, store, mlflow = self.spec, self.env, self.env.store, self.env.mlflow
        sinks = [StoreSink(store)] if store is not None else []
        # built before the store row: it refuses a foreign emissions CSV with nothing written yet
        tracker = Tracker(
            spec.variant, run_id=self.run_id, carbon=env.carbon, interval_s=sampling_interval(),
            sinks=sinks, emissions_csv=self.paths["emissions_csv"],
        )  # fmt: skip
        self.tracker = tracker
        if before_open is not None:
            before_open(tracker)
        self._open_row()
        if after_open is not None:
            after_open()
        stopped = False
        try:
            if mlflow is not None:
                mlflow.start_run(self.run_id, name=spec.variant, params=self._mlflow_params())
            tracker.start()
            outcome = body(tracker)
            measurement = tracker.stop()
            stopped = True
            self.samples = list(tracker.samples)
            pieces = [*earlier_pieces(), results.piece_from_measurement(measurement)]
            result = self.common_sections(measurement, pieces)
            result.update(finish(outcome, measurement))
            self._complete(result)
            self._write(result)
            if mlflow is not None:
                self._log_mlflow(result, measurement, artifacts(), epochs(), epochs_logged)
            return result
        except BaseException as exc:
            if not stopped:
                with contextlib.suppress(Exception):  # the original failure matters more
                    tracker.stop()
            status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            if mlflow is not None:
                with contextlib.suppress(Exception):
                    mlflow.end(status, run_id=self.run_id)
            if store is not None:
                text = str(exc).strip()
                message = text.splitlines()[0] if text else type(exc).__name__
                store.finish_run(self.run_id, status=status, error=message[:500])
            raise

    # -- pieces of execute --------------------------------------------------------------------------

    def _open_row(self) -> None:
        spec, store = self.spec, self.env.store
        if store is None:
            return
        if spec.resume and store.has_run(self.run_id):
            store.resume_run(self.run_id)
            return
        store.create_run(
            self.run_id, name=spec.variant, variant=spec.variant, model=spec.model,
            dataset=spec.dataset, device=spec.device,
            config=spec.hyperparameters if spec.config is None else spec.config,
            parent_run_id=spec.parent_run_id, group=self.env.group,
        )  # fmt: skip

    def common_sections(self, m: Any, pieces: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Identity, energy (step and lifecycle), carbon, software and time: every step's."""
        spec = self.spec
        step = results.sum_pieces(list(pieces), m.pue)
        life = results.lifecycle(step, spec.parent_result)
        if spec.parent_result is None and spec.parent_note:
            life["note"] = PARENT_UNKNOWN.format(why=spec.parent_note)
            life["parent_energy_known"] = False
        return {
            "schema_version": results.SCHEMA_VERSION,
            "run_id": self.run_id,
            "parent_run_id": spec.parent_run_id,
            "variant": spec.variant,
            "group": self.env.group,
            "dataset": spec.dataset,
            "model": spec.model,
            "device": spec.device,
            "hyperparameters": spec.hyperparameters,
            "energy": {"step": step, "lifecycle": life},
            "carbon": results.carbon_section(m),
            "break_even": None,
            "software": runinfo.software(),
            "artifacts": {"emissions_csv": self.relpath(self.paths["emissions_csv"])},
            "created_at": results.utc_now(),
        }

    def _complete(self, result: dict[str, Any]) -> None:
        """Sections computed from the others: efficiency and break-even against the parent."""
        acc = (result.get("metrics") or {}).get("test_accuracy_pct")
        step, life = result["energy"]["step"], result["energy"]["lifecycle"]
        if isinstance(acc, (int, float)):
            result["efficiency"] = results.efficiency(acc, step["co2_kg"], life["co2_kg"])
        else:
            result.setdefault("efficiency", {})
        parent = self.spec.parent_result
        if parent is not None and self.spec.break_even:
            result["break_even"] = lineage.break_even(result, parent)

    def _write(self, result: dict[str, Any]) -> None:
        results.write_result(self.env.out_dir, self.spec.variant, self.run_id, result)
        if self.env.store is not None:
            self.env.store.finish_run(self.run_id, status="done", result=result)

    def _mlflow_params(self) -> dict[str, Any]:
        spec = self.spec
        if spec.mlflow_params is not None:
            return spec.mlflow_params
        return {
            "hyperparameters": spec.hyperparameters, "parent_run_id": spec.parent_run_id,
            "model": spec.model, "dataset": spec.dataset,
        }  # fmt: skip

    def _log_mlflow(
        self,
        result: dict[str, Any],
        m: Any,
        files: list[Path],
        epochs: list[dict[str, Any]],
        epochs_logged: bool,
    ) -> None:
        mlflow = self.env.mlflow
        for row in [] if epochs_logged else epochs:
            metrics = {k: v for k, v in row.items() if k != "epoch" and _number(v)}
            mlflow.log_epoch(int(row["epoch"]), metrics, run_id=self.run_id)
        existing = [p for p in (*files, self.paths["emissions_csv"]) if Path(p).is_file()]
        mlflow.log_result(result, existing, run_id=self.run_id)
        mlflow.log_charts(
            result, samples=self.samples, phases=m.phases, epochs=epochs, run_id=self.run_id
        )
        mlflow.end("done", run_id=self.run_id)


def _number(v: Any) -> bool:
    import math

    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
