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

from greenai.killpoints import kill_point
from greenai.lifecycle.budget import StopRun
from greenai.lifecycle.run_mlflow import log_mlflow, mlflow_params
from greenai.lifecycle.run_ranks import embodied_over, refuse_unshared_ranks
from greenai.ml.evaluation import INFERENCE_IMAGES
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
    inference_images: int = INFERENCE_IMAGES  # images a variant's inference energy is measured on
    # a distributed run: this rank's Measurement -> (the job's, its per-node/per-rank detail)
    gather: Any = None

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
    rerun: bool = False  # no run_id: take over an interrupted run of the same step and parent
    count_attempts: bool = True  # a taken-over run counts its killed attempts' energy (samples)
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
        self.attempts: list[dict[str, Any]] = []  # killed earlier attempts of a taken-over run
        self.taken_over = False

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
        from greenai.meter.interval import sampling_interval
        from greenai.storage import StoreSink

        spec, env, store, mlflow = self.spec, self.env, self.env.store, self.env.mlflow
        refuse_unshared_ranks(spec.variant, env.gather is not None)
        if store is not None:
            from greenai.lifecycle import reconcile

            reconcile.reconcile_quietly(store, env.out_dir)  # what an earlier kill left behind
            if spec.run_id is None and spec.rerun:
                self._take_over(reconcile.find_rerun(store, spec, env.group))
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
        kill_point("row-open")
        if after_open is not None:
            after_open()
        stopped = committed = False
        try:
            if mlflow is not None:
                mlflow.start_run(self.run_id, name=spec.variant, params=mlflow_params(spec))
            tracker.start()
            outcome = body(tracker)
            kill_point("body-done")
            measurement = tracker.stop()
            stopped = True
            self.samples = list(tracker.samples)
            detail = None
            if env.gather is not None:  # every rank's share: raises if a rank is gone
                measurement, detail = env.gather(measurement)
                tracker.restate(measurement)  # the CSV and the store hold the job's figures
            pieces = [
                *self.attempts,
                *earlier_pieces(),
                results.piece_from_measurement(measurement),
            ]
            result = self.common_sections(measurement, pieces)
            if detail is not None:
                result["distributed"] = detail
                result["embodied"] = embodied_over(result["embodied"], detail, spec.parent_result)
            result.update(finish(outcome, measurement))
            self._complete(result)
            committed = self._commit(result)
            self._write(result)
            if mlflow is not None:
                files = [*artifacts(), self.paths["emissions_csv"]]
                log_mlflow(mlflow, self.run_id, result, measurement, files, epochs(),
                           epochs_logged, self.samples)  # fmt: skip
            return result
        except BaseException as exc:
            if committed:  # the store holds the result: the run is done, whatever failed after
                raise
            if not stopped:
                with contextlib.suppress(Exception):  # the original failure matters more
                    measurement = tracker.stop()
                    stopped = True
            status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            spent: dict[str, float] = {}
            if isinstance(exc, StopRun):  # a graceful stop (budget, pruned): checkpoint kept
                status = exc.run_status
                if stopped:  # its row holds all it spent, earlier pieces too, as a done run's
                    with contextlib.suppress(Exception):
                        so_far = [*self.attempts, *earlier_pieces(),
                                  results.piece_from_measurement(measurement)]  # fmt: skip
                        spent = {k: sum(p[k] for p in so_far) for k in ("energy_kwh", "co2_kg")}
            if mlflow is not None:
                with contextlib.suppress(Exception):
                    mlflow.end(status, run_id=self.run_id)
            if store is not None:
                text = str(exc).strip()
                message = text.splitlines()[0] if text else type(exc).__name__
                store.finish_run(self.run_id, status=status, error=message[:500], **spent)
            raise

    # -- pieces of execute --------------------------------------------------------------------------

    def _take_over(self, run_id: str | None) -> None:
        """Rerun an interrupted run under its own id (``RunSpec.rerun``), if no one else took it."""
        if run_id is not None and self.env.store.reclaim_run(run_id):
            self.run_id, self.paths = run_id, paths_for(self.env.out_dir, run_id)
            self.taken_over = True
            self._count_attempts()

    def _count_attempts(self) -> None:
        if self.spec.count_attempts:
            samples = self.env.store.samples(self.run_id)
            self.attempts = results.attempt_pieces(samples, self.env.carbon)

    def _open_row(self) -> None:
        spec, store = self.spec, self.env.store
        if store is None or self.taken_over:
            return
        if spec.resume and store.has_run(self.run_id):
            store.resume_run(self.run_id)
            return
        if store.has_run(self.run_id) and store.reclaim_run(self.run_id):  # a killed step rerun
            self._count_attempts()
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
            "embodied": self._embodied(step),  # beside the operational CO2, never added into it
            "carbon": results.carbon_section(m),
            "break_even": None,
            "software": runinfo.software(),
            "artifacts": {"emissions_csv": self.relpath(self.paths["emissions_csv"])},
            "created_at": results.utc_now(),
        }

    def _embodied(self, step: dict[str, Any]) -> dict[str, Any]:
        """The hardware's embodied carbon for the step's time (``greenai.carbon.embodied``)."""
        from greenai.carbon.embodied import embodied_section

        hw = self.tracker.hardware() if self.tracker is not None else {}
        gpus = int(hw.get("gpu_count") or 0)
        return embodied_section(step["duration_s"], gpus, self.spec.parent_result)

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
        from greenai.results.work import work_section

        result["work"] = work_section(result)  # J per sample, per inference item, per correct one

    def _commit(self, result: dict[str, Any]) -> bool:
        """The commit point: the result stored with status "done" in one transaction. True once the
        run is done (the JSON written next is a copy; ``reconcile`` rewrites it if a kill beat it)."""
        if self.env.store is None:
            return False
        self.env.store.finish_run(self.run_id, status="done", result=result)
        kill_point("store-done")
        return True

    def _write(self, result: dict[str, Any]) -> None:
        results.write_result(self.env.out_dir, self.spec.variant, self.run_id, result)
        kill_point("json-written")
