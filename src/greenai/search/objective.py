"""One search trial = one greenai training run (and its compressed children), measured and stored.

The trial samples the space, turns the sample into a ``TrainConfig`` (the base config from the
command line with the sampled fields replaced) and runs ``train_run`` with variant ``search_trial``
and group = the study name. When the sample asks for compression, the trained model is then
compressed by child runs, through the same code as ``greenai prune`` / ``greenai quantize``
(``greenai.lifecycle.steps``), each metered and stored with ``parent_run_id`` and the same
group: unstructured magnitude pruning at the sampled sparsity (fine-tuned for ``finetune_epochs``,
0 = none) when sparsity > 0, then static INT8 post-training quantization when quantization is "on".

The trial returns ``(test accuracy %, cost)`` of the FINAL model (the last child, or the trained
model when there is none), where cost is its lifecycle energy in kWh or CO2 in kg
(``energy.lifecycle``: training plus every compression step; with no compression step it equals
``energy.step``). The Optuna trial's user attributes hold the greenai ``run_id`` of the training
run, ``child_run_ids`` (in order) and ``final_run_id``. A failure (training or a compression step)
is recorded on both sides (trial ``fail_reason``, run status "failed" with the error) and re-raised
so Optuna marks the trial FAIL and the search goes on.

The sampled parameters and the result's values are read in ``greenai.search.trial``; a dead
worker's trial is closed by ``greenai.search.stale``.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from greenai.errors import UsageError
from greenai.lifecycle.budget import TrialDominated
from greenai.search.space import SearchSpace
from greenai.search.study import OBJECTIVES
from greenai.search.trial import (
    VARIANT,
    compression_choice,
    failure_reason,
    objective_value,
    trial_config,
    untrainable_dimensions,
)

TrainFn = Callable[..., Mapping[str, Any]]

PRUNE_FINETUNE_EPOCHS = 1  # fine-tuning after pruning, by default (0: none)
PTQ_CALIB_BATCHES = 10  # calibration batches (of the trial's batch size) for INT8 PTQ


class CompressionFailed(RuntimeError):
    """A compression step (prune or quantize) of a trial's trained model failed."""


def default_train() -> TrainFn:
    from greenai.lifecycle.steps.baseline import train_run

    return train_run


class TrialObjective:
    """The callable handed to ``study.optimize``."""

    def __init__(
        self,
        space: SearchSpace,
        base_config: Any,
        *,
        objective: str,
        store: Any,
        carbon: Any,
        out_dir: str | Path,
        study_name: str,
        train: TrainFn | None = None,
        progress: bool = False,
        inference_images: int = 0,
        finetune_epochs: int = PRUNE_FINETUNE_EPOCHS,
        log: Callable[[str], None] | None = None,
        mlflow: Any = None,
        prune_dominated: bool = False,
        before_trial: Callable[[Any], None] | None = None,
    ) -> None:
        if objective not in OBJECTIVES:
            raise UsageError(
                f"unknown objective {objective!r} (choose from {', '.join(OBJECTIVES)})"
            )
        missing = untrainable_dimensions(base_config, space)
        if missing:
            raise UsageError(f"this training config has no field for {', '.join(missing)}")
        self.space = space
        self.base_config = base_config
        self.objective = objective
        self.store = store
        self.carbon = carbon
        self.out_dir = Path(out_dir)
        self.study_name = study_name
        self.train = train or default_train()
        self.progress = progress
        self.inference_images = inference_images
        self.finetune_epochs = finetune_epochs
        self.log = log or _print_flush
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.started: list[int] = []  # numbers of the trials this objective ran
        self.mlflow = mlflow  # an MLflow logger nesting each trial under the search's run; or None
        self.prune_dominated = prune_dominated  # search/dominance.py, after every epoch
        # called with the trial before it trains: e.g. search/defer.py's wait for a cleaner window
        self.before_trial = before_trial

    def __call__(self, trial: Any) -> tuple[float, float]:
        from greenai.storage import new_run_id

        self.started.append(trial.number)
        params = self.space.suggest(trial)
        run_id = new_run_id()
        trial.set_user_attr("run_id", run_id)
        trial.set_user_attr("worker", self.worker)
        cfg = trial_config(self.base_config, params)
        shown = ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
        )
        self.log(f"trial #{trial.number} (run {run_id}): {shown}")
        if self.before_trial is not None:
            self.before_trial(trial)
        extra: dict[str, Any] = {"mlflow": self.mlflow} if self.mlflow is not None else {}
        if self.prune_dominated:
            from greenai.search.dominance import pruning_callback

            extra["on_epoch"] = pruning_callback(trial)
        try:
            result = self.train(
                cfg,
                out_dir=self.out_dir,
                store=self.store,
                carbon=self.carbon,
                variant=VARIANT,
                run_id=run_id,
                group=self.study_name,
                progress=self.progress,
                inference_images=self.inference_images,
                **extra,
            )
            result = self._compress(trial, cfg, params, run_id, result)
            values = objective_value(result, self.objective)
        except TrialDominated as exc:  # its run is recorded "pruned"; Optuna marks it PRUNED
            import optuna

            trial.set_user_attr("pruned_reason", str(exc))  # the run's error says the same
            self.log(f"trial #{trial.number} {exc}")
            raise optuna.TrialPruned(str(exc)) from None
        except BaseException as exc:
            reason = failure_reason(exc)
            trial.set_user_attr("fail_reason", reason)
            self._record_failure(run_id, cfg, params, reason)
            self.log(f"trial #{trial.number} failed: {reason}")
            raise
        unit = OBJECTIVES[self.objective][1]
        self.log(f"trial #{trial.number}: {values[0]:.2f} % for {values[1]:.4g} {unit}")
        return values

    def _compress(
        self,
        trial: Any,
        cfg: Any,
        params: Mapping[str, Any],
        run_id: str,
        result: Mapping[str, Any],
    ) -> Mapping[str, Any]:
        """Derive the sampled compressed model from the trained run ``run_id`` as child runs;
        return the final run's result (``result`` itself when nothing is to be compressed)."""
        sparsity, quantize = compression_choice(params)
        if sparsity <= 0 and not quantize:
            trial.set_user_attr("final_run_id", run_id)
            return result
        from greenai.lifecycle.parents import resolve_parent
        from greenai.lifecycle.run import RunEnv
        from greenai.lifecycle.steps import quantize as quantize_mod
        from greenai.lifecycle.steps.prune import prune
        from greenai.lifecycle.variant_data import DataSpec

        env = RunEnv(
            out_dir=self.out_dir, store=self.store, carbon=self.carbon, group=self.study_name,
            mlflow=self.mlflow,
        )  # fmt: skip
        data = DataSpec(
            dataset=getattr(cfg, "dataset", "cifar10"), data_dir=getattr(cfg, "data_dir", None),
            limit_train=getattr(cfg, "limit_train", None),
            limit_test=getattr(cfg, "limit_test", None),
            image_size=getattr(cfg, "image_size", None),
        )  # fmt: skip
        device = str(result.get("device") or "cpu")  # fine-tune where the trial trained
        batch_size = int(getattr(cfg, "batch_size", 128))

        def prune_step(parent: Any) -> Any:
            return prune(
                parent, env, data, sparsity=sparsity, kind="unstructured",
                finetune_epochs=self.finetune_epochs, batch_size=batch_size, device=device,
            )  # fmt: skip

        def quantize_step(parent: Any) -> Any:
            return quantize_mod.quantize(
                parent, env, data, method="ptq", calib_batches=PTQ_CALIB_BATCHES,
                batch_size=batch_size,
            )  # fmt: skip

        steps: list[tuple[str, Callable[[Any], Any]]] = []
        if sparsity > 0:
            steps.append((f"prune (sparsity {sparsity:g})", prune_step))
        if quantize:
            steps.append(("quantize (int8 ptq)", quantize_step))
        children: list[str] = []
        source = run_id
        for label, make_step in steps:
            try:
                result = make_step(resolve_parent(source, self.out_dir, self.store))
            except Exception as exc:
                raise CompressionFailed(f"{label} of run {source}: {failure_reason(exc)}") from exc
            source = str(result["run_id"])
            children.append(source)
            trial.set_user_attr("child_run_ids", list(children))
            acc = (result.get("metrics") or {}).get("test_accuracy_pct")
            shown = f"{acc:.2f} %" if isinstance(acc, (int, float)) else "no accuracy"
            self.log(f"trial #{trial.number}: {label} -> run {source}: {shown}")
        trial.set_user_attr("final_run_id", source)
        return result

    def _record_failure(
        self, run_id: str, cfg: Any, params: Mapping[str, Any], reason: str
    ) -> None:
        """Make sure the failed trial is a failed run in the store (train_run may not have got as
        far as creating it, or may have left it running)."""
        try:
            if not self.store.has_run(run_id):
                self.store.create_run(
                    run_id,
                    name=f"{self.study_name} trial",
                    variant=VARIANT,
                    model=getattr(cfg, "model", None),
                    dataset=getattr(cfg, "dataset", None),
                    device=getattr(cfg, "device", None),
                    config={**_config_dict(cfg), "search_params": dict(params)},
                    group=self.study_name,
                )
            if self.store.get_run(run_id).status == "running":
                self.store.finish_run(run_id, status="failed", error=reason)
        except Exception as exc:  # the store itself is failing: say so, keep the original error
            self.log(
                f"could not record the failure of run {run_id} in the store: {failure_reason(exc)}"
            )


def _print_flush(line: str) -> None:
    print(line, flush=True)


def _config_dict(cfg: Any) -> dict[str, Any]:
    try:
        return {k: v for k, v in dataclasses.asdict(cfg).items() if _jsonable(v)}
    except TypeError:
        return {}


def _jsonable(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, list, dict))
