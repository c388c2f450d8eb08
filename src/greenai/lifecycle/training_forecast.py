"""A training run's prediction of its own total (energy, duration, CO2, with an interval) and its
energy/CO2 budget. Mixed into ``TrainingEpochs``: the epoch loop feeds the predictor, shows the
prediction on the progress bar, records it per epoch (log rows, checkpoint, store) and stops the
run gracefully once the prediction says the budget will be exceeded (the epoch's checkpoint is
already written, so ``--resume RUN`` with a larger budget continues it).

The interval is the Student-t one of ``results/prediction.py`` widened by the drift of the epoch
rates, the machine load read at each epoch's end (``machine_load`` in the epoch's row) and a
few-epoch floor (``results/prediction_drift.py``); the result's ``prediction.method`` says so.
"""

from __future__ import annotations

import os
import time
from typing import Any

from greenai.lifecycle.budget import BudgetExceeded
from greenai.results import prediction_drift
from greenai.results.prediction import EpochPredictor, Prediction, with_actual


def report_every(steps: int) -> int:
    """How often (batches) the loop reports: every 20, or 8 times an epoch for short epochs, so
    that every epoch is cut into segments."""
    return max(1, min(20, steps // 8))


class TrainingForecast:
    cfg: Any
    carbon: Any
    budget: Any = None  # a ``lifecycle.budget.Budget`` or None (set by ``train_run``)
    latest_prediction: Prediction | None = None
    on_epoch: Any = None  # called with each epoch's row after its checkpoint (set by train_run)
    log_rows: list[dict[str, Any]]

    ddp: Any = None

    def _cumulative(self, tracker: Any) -> dict[str, Any]: ...  # TrainingSession's

    def _live_all(self, tracker: Any) -> dict[str, Any]:
        """Cumulative figures over all pieces (and every rank of a distributed run)."""
        if getattr(self, "ddp", None) is None:
            return self._cumulative(tracker)
        from greenai.lifecycle.training_ddp import job_live

        return job_live(self, tracker)

    def _predictor(self, steps: int, tracker: Any) -> EpochPredictor:
        carbon = tracker.carbon  # the run's resolved settings (``self.carbon`` may be None)

        def future_g(remaining_s: float) -> float:
            series = getattr(carbon, "series", None)
            if series is None:
                return carbon.g_per_kwh
            now = time.time()
            return series.mean_between(now, now + remaining_s)

        predictor = EpochPredictor(self.cfg.epochs, steps, future_g)
        self._rates = prediction_drift.EpochRates()  # this process's epochs (warm-up excluded)
        live = self._live_all(tracker)
        predictor.start(live["duration_s"], live["energy_kwh"], live["co2_kg"])
        return predictor

    def _on_batch(self, bar: Any, predictor: EpochPredictor, tracker: Any) -> Any:
        def on_batch(i: int, loss: float, acc: float) -> None:
            bar.update_from(i, loss, acc)
            if predictor.wants(i + 1):
                live = self._live_all(tracker)
                predictor.mark(i + 1, live["duration_s"], live["energy_kwh"], live["co2_kg"])

        return on_batch

    def _predict(
        self, predictor: EpochPredictor, epoch: int, row: dict[str, Any], live: dict
    ) -> None:
        """The epoch's prediction into its row (with the cumulative figures it is judged against
        and the machine load at the epoch's end), its interval widened by drift and load."""
        p = predictor.end_epoch(epoch, live["duration_s"], live["energy_kwh"], live["co2_kg"])
        row["cumulative"] = {k: live[k] for k in ("energy_kwh", "co2_kg", "duration_s")}
        row["machine_load"] = machine_load()
        per_cpu = row["machine_load"]["load_per_cpu"]
        self._rates.add_epoch(predictor, per_cpu)
        row["prediction"] = None
        if p is not None:
            p, interval = prediction_drift.widen(p, predictor, self._rates, row["cumulative"])
            row["prediction"] = {**p.to_dict(), "interval": interval}
        self.latest_prediction = p
        if p is not None:
            from greenai.ml.training.progress import say

            say(prediction_line(p, self.cfg.epochs), getattr(self, "progress", False))

    def _after_checkpoint(self, row: dict[str, Any]) -> None:
        """After the epoch's checkpoint (not after the last epoch): stop when the predicted (or
        spent) total passes the budget; then ``on_epoch(row)`` (a search trial's pruning), which
        may stop the run too by raising a ``StopRun``."""
        if row["epoch"] >= self.cfg.epochs:
            return
        self._check_budget(row)
        if self.on_epoch is not None:
            self.on_epoch(row)

    def _check_budget(self, row: dict[str, Any]) -> None:
        if self.budget is None:
            return
        p = row.get("prediction")
        reason = self.budget.exceeded(row["cumulative"], p)
        if reason:
            raise BudgetExceeded(
                f"stopped: budget after epoch {row['epoch']} of {self.cfg.epochs}: {reason}; "
                f"the checkpoint is kept (greenai baseline --resume RUN with a larger budget)"
            )

    def prediction_section(self) -> dict[str, Any] | None:
        """The result's ``prediction``: every epoch's (this and earlier processes'), the actual."""
        rows = [r for r in self.log_rows if r.get("cumulative")]
        preds = [r["prediction"] for r in rows if r.get("prediction")]
        if not rows:
            return None
        section = with_actual(preds, rows[-1]["cumulative"])
        section["method"] = prediction_drift.METHOD  # the Student-t interval, widened
        section["confidence_note"] = (
            "the confidence is the Student-t part's; the widened interval is meant to cover at "
            "least as often, which each epoch's *_covered measures"
        )
        if rows[-1]["epoch"] < self.cfg.epochs:
            section["note"] = f"the run ended after epoch {rows[-1]['epoch']} of {self.cfg.epochs}"
        return section


def machine_load(proc: str = "/proc") -> dict[str, Any]:
    """The 1-minute load average at an epoch's end, per CPU too (None when /proc cannot say)."""
    from greenai.sensors.machine_load import load_average

    load, cpus = load_average(proc), os.cpu_count() or 1
    return {
        "load_avg_1m": load,
        "cpus": cpus,
        "load_per_cpu": None if load is None else load / cpus,
    }


def store_metrics(row: dict[str, Any]) -> dict[str, Any]:
    """The prediction's figures flattened for the store's epoch metrics (``pred_*``)."""
    p = row.get("prediction")
    if not p:
        return {}
    keys = ("energy_kwh", "energy_low_kwh", "energy_high_kwh", "co2_kg", "co2_low_kg",
            "co2_high_kg", "duration_s", "duration_low_s", "duration_high_s")  # fmt: skip
    return {f"pred_{k}": p[k] for k in keys if p.get(k) is not None}


def prediction_line(p: Prediction, epochs: int) -> str:
    """One line: the predicted totals after an epoch, with their (widened) intervals."""

    def span(v: float, lo: float | None, hi: float | None, fmt: str) -> str:
        return format(v, fmt) + ("" if lo is None or hi is None else f" [{lo:{fmt}}, {hi:{fmt}}]")

    return (
        f"prediction after epoch {p.after_epoch}/{epochs} (interval: 90% Student-t widened for "
        f"drift and load): energy "
        f"{span(p.energy_kwh, p.energy_low_kwh, p.energy_high_kwh, '.4g')} kWh, duration "
        f"{span(p.duration_s, p.duration_low_s, p.duration_high_s, '.0f')} s, CO2 "
        f"{span(p.co2_kg, p.co2_low_kg, p.co2_high_kg, '.4g')} kg"
    )
