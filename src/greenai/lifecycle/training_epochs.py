"""The epochs of a training run: the epoch loop with its per-epoch evaluation, log rows, store rows
and checkpoints (the set-up: ``training_setup``). Mixed into ``TrainingSession``."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch

from greenai.killpoints import kill_point
from greenai.lifecycle.training_ddp import job_live
from greenai.lifecycle.training_forecast import report_every, store_metrics
from greenai.lifecycle.training_setup import TrainingSetup
from greenai.ml.training import checkpoint as ckpt_mod
from greenai.ml.training import loop
from greenai.ml.training.config import write_training_log
from greenai.ml.training.progress import EpochBar, overall_line, say


class TrainingEpochs(TrainingSetup):
    """The epoch machinery of ``TrainingSession`` (its fields: cfg, dataset, device, store, ...)."""

    def _cumulative(self, tracker: Any) -> dict[str, Any]: ...  # TrainingSession's

    def pieces_so_far(self, measurement: Any) -> list[dict[str, Any]]: ...

    def _train_and_evaluate(self, tracker: Any, paths: dict[str, Path]) -> dict[str, Any]:
        cfg, ds = self.cfg, self.dataset
        st = self._setup(tracker)
        splits, model = st["splits"], st["model"]
        judge = model if self.ddp is None else st["net"]  # evaluation: no collective per rank
        eval_split = "holdout" if len(splits.y_holdout) else "test"
        x_eval, y_eval = (
            (splits.x_holdout, splits.y_holdout)
            if eval_split == "holdout"
            else (splits.x_test, splits.y_test)
        )
        started = time.perf_counter()
        predictor = self._predictor(st["steps"], tracker)
        with tracker.phase("train"):
            for epoch in range(st["start_epoch"], cfg.epochs + 1):
                if st["target"] is not None:
                    break
                t0 = time.perf_counter()
                lr_now = st["optimizer"].param_groups[0]["lr"]
                with tracker.phase(f"epoch_{epoch}"):
                    say(
                        overall_line(
                            f"{self.variant} {self.run_id}: epoch {epoch} of {cfg.epochs}",
                            epoch - st["start_epoch"], cfg.epochs - st["start_epoch"] + 1,
                            time.perf_counter() - started, "epochs",
                        ),
                        self.progress,
                    )  # fmt: skip
                    bar = self._bar(epoch, st["steps"])
                    train_loss, train_acc = loop.train_epoch(
                        model,
                        splits.x_train,
                        splits.y_train,
                        optimizer=st["optimizer"],
                        schedule=st["schedule"],
                        scaler=st["scaler"],
                        generator=st["generator"],
                        batch_size=st["batch_size"],
                        mean=ds.mean,
                        std=ds.std,
                        precision=cfg.precision,
                        do_augment=cfg.augment,
                        crop="crop" in ds.augment,
                        flip="flip" in ds.augment,
                        augment_pad=cfg.augment_pad,
                        augment_reflect=cfg.augment_reflect,
                        flip_base=st["flip_base"],
                        epoch=epoch,
                        label_smoothing=cfg.label_smoothing,
                        channels_last=cfg.channels_last,
                        on_batch=self._on_batch(bar, predictor, tracker),
                        report_every=report_every(st["steps"]),
                        after_step=self._step_hook(st, epoch),
                        size=cfg.epoch_size(epoch),
                    )
                    if st["ema"] is not None:
                        st["ema"].sync(st["net"])  # evaluate and checkpoint the averaged weights
                    eval_loss, eval_acc = self._evaluate(
                        judge, x_eval, y_eval, stops=eval_split == "holdout"
                    )
                    if self.ddp is not None:  # rank 0's figure: every rank stops at one epoch
                        eval_loss, eval_acc = self.ddp.broadcast((eval_loss, eval_acc))
                    bar.close(
                        train_loss, train_acc, eval_split, eval_acc, self._eval_how(eval_split)
                    )
                live = self._cumulative(tracker) if self.ddp is None else job_live(self, tracker)
                row = {
                    "epoch": epoch,
                    "train_loss": round(train_loss, 6),
                    "train_acc_pct": round(train_acc, 4),
                    "eval_split": eval_split,
                    "eval_loss": round(eval_loss, 6),
                    "eval_acc_pct": round(eval_acc, 4),
                    "lr": lr_now,
                    "seconds": round(time.perf_counter() - t0, 3),
                    "energy_kwh": live["energy_kwh"],
                    "co2_kg": live["co2_kg"],
                }
                self._predict(predictor, epoch, row, live)
                if (
                    cfg.target_accuracy is not None
                    and eval_split == "holdout"
                    and eval_acc >= cfg.target_accuracy
                ):
                    st["target"] = {
                        "epoch": epoch,
                        "holdout_acc_pct": eval_acc,
                        "energy_kwh": live["energy_kwh"],
                        "co2_kg": live["co2_kg"],
                        "duration_s": live["duration_s"],
                    }
                self._end_epoch(row, st, paths, tracker)
                self._after_checkpoint(row)  # budget, search pruning: a stop here is resumable
        train_seconds = time.perf_counter() - started
        with tracker.phase("eval"):
            # the model as deployed (one forward per image: what the inference figures time, and
            # what every derived variant is judged by), and airbench's test-time augmentation
            test_loss, test_acc = self._evaluate(judge, splits.x_test, splits.y_test)
            tta = None
            if self.cfg.airbench_tricks:
                tta = self._evaluate(judge, splits.x_test, splits.y_test, final=True)[1]
            holdout = self._evaluate(judge, splits.x_holdout, splits.y_holdout, final=True)
            weights_bytes = ckpt_mod.save_weights(paths["weights"], st["net"])
        return {
            "state": st,
            "test_loss": test_loss,
            "test_acc": test_acc,
            "test_acc_tta": tta,
            "holdout_acc": holdout[1],
            "weights_bytes": weights_bytes,
            "train_seconds_this_piece": train_seconds,
        }

    def _evaluate(
        self,
        model: Any,
        x: torch.Tensor,
        y: torch.Tensor,
        final: bool = False,
        stops: bool = False,
    ) -> tuple[float, float]:
        """Loss and accuracy. With the airbench tricks: airbench94's full TTA (flips + 1-pixel
        shifts, 3x the eval) for the final figures, flip TTA for the per-epoch held-out figure
        that decides early stopping (``stops``), none for a per-epoch test figure (only logged)."""
        ds = self.dataset
        tta = (2 if final else 1 if stops else 0) if self.cfg.airbench_tricks else 0
        return loop.evaluate(
            model, x, y, mean=ds.mean, std=ds.std, precision=self.cfg.precision,
            channels_last=self.cfg.channels_last, tta=tta,
        )  # fmt: skip

    def _eval_how(self, eval_split: str) -> str:
        """How the per-epoch figure on the bar is taken (the final one adds TTA: see _evaluate)."""
        stops = eval_split == "holdout"
        return "flip TTA" if self.cfg.airbench_tricks and stops else "no TTA"

    def _end_epoch(
        self, row: dict[str, Any], st: dict[str, Any], paths: dict[str, Path], tracker: Any
    ) -> None:
        """Log the epoch (CSV, store, MLflow), then checkpoint it (CSV first: a kill between the
        two leaves a row the resumed run rewrites, never a checkpoint without its row)."""
        self.log_rows = [r for r in self.log_rows if r["epoch"] < row["epoch"]] + [row]
        write_training_log(paths["training_log"], self.log_rows)
        if self.store is not None:
            metrics = {
                k: v for k, v in row.items()
                if k != "epoch" and _finite(v) and not isinstance(v, dict | None)
            }  # fmt: skip
            metrics.update(store_metrics(row))
            if row["eval_split"] == "test":
                metrics["test_acc"] = row["eval_acc_pct"]
            self.store.add_epoch(self.run_id, row["epoch"], metrics)
        if self.mlflow is not None:
            self.mlflow.log_epoch(
                row["epoch"], {k: v for k, v in row.items() if isinstance(v, float) and _finite(v)}
            )
        rng = {"torch": torch.get_rng_state(), "data": st["generator"].get_state()}
        ckpt_mod.save_checkpoint(
            paths["checkpoint"],
            {
                "run_id": self.run_id,
                "variant": self.variant,
                "parent_run_id": self.parent_run_id,
                "group": self.group,
                "epoch": row["epoch"],
                "config": self.cfg.to_dict(),
                "num_classes": self.dataset.num_classes,
                "input_shape": list(self.dataset.input_shape),
                "model_state": st["net"].state_dict(),
                "optimizer_state": st["optimizer"].state_dict(),
                "schedule_state": st["schedule"].state_dict(),
                "scaler_state": st["scaler"].state_dict(),
                "rng": rng,
                "energy_pieces": self.pieces_so_far(tracker.snapshot()),
                "log_rows": self.log_rows,
                "target": st["target"],
                "ema_state": st["ema"].state if st["ema"] is not None else None,
            },
        )
        kill_point("checkpoint-saved")

    def _bar(self, epoch: int, steps: int) -> EpochBar:
        def live() -> tuple[float, float, float]:
            snap = self.tracker.snapshot()
            total = self._cumulative(self.tracker)["energy_kwh"]
            return snap.duration_s, snap.energy_total_j, total

        bar = EpochBar(epoch, self.cfg.epochs, steps, enabled=self.progress, live=live)
        bar.predicted = self.latest_prediction.short() if self.latest_prediction else None
        return bar


def _finite(v: Any) -> bool:
    return not isinstance(v, float) or math.isfinite(v)
