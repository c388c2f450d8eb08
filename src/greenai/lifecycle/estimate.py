"""``greenai estimate``: a pre-flight prediction of a training job's energy, duration and CO2.

It loads the data and builds the model and optimiser exactly as the real run would, then runs a
handful of profiled training batches under the meter: ``warmup`` batches first (excluded: kernel
selection, allocation, compilation), then ``groups`` groups of ``per_group`` batches, each group
one figure of energy and time per batch. The full job is predicted as

- training: the mean per-batch figure x every batch of every epoch, with a 90% Student-t
  prediction interval for that sum (``results.prediction``'s formula, groups as segments),
  widened as a training run's prediction is (``results/prediction_drift.py``): by the few-epoch
  floor (less than an epoch is seen: ``FLOOR_REL`` either way) and by the machine's load per CPU
  when above 1 (the job's share of the CPUs may change by that ratio);
- evaluation: one measured pass over up to 1,000 evaluation images, scaled per image to every
  epoch's evaluation and the final test evaluation (3x with the airbench tricks' test-time
  augmentation); no interval of its own;
- the data load as measured here.

CO2 is that energy at the intensity expected over the predicted duration from now (the
``--intensity-series`` mean there, or the constant figure). Nothing is written: no store row, no
result file, no checkpoint; the estimate's own energy is printed beside it.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenai.results.prediction import CONFIDENCE, t_quantile_90
from greenai.results.prediction_drift import floor_and_load

EVAL_IMAGES = 1000


@dataclass(frozen=True)
class Estimate:
    energy_kwh: float
    energy_low_kwh: float
    energy_high_kwh: float
    duration_s: float
    duration_low_s: float
    duration_high_s: float
    co2_kg: float
    co2_low_kg: float
    co2_high_kg: float
    profiled_batches: int
    total_batches: int
    own_energy_kwh: float  # what the estimate itself used

    def lines(self) -> list[str]:
        c = f"{CONFIDENCE:.0%}"
        return [
            f"estimate from {self.profiled_batches} profiled batches of {self.total_batches} "
            f"(warm-up excluded; {c} Student-t interval widened for few samples and load):",
            f"  energy   {self.energy_kwh:.4g} kWh [{self.energy_low_kwh:.4g}, "
            f"{self.energy_high_kwh:.4g}] from the grid (PUE included)",
            f"  duration {self.duration_s:.0f} s [{self.duration_low_s:.0f}, "
            f"{self.duration_high_s:.0f}]",
            f"  CO2      {self.co2_kg:.4g} kg [{self.co2_low_kg:.4g}, {self.co2_high_kg:.4g}]",
            f"  this estimate used {self.own_energy_kwh:.3g} kWh; nothing was written",
        ]


def _sum_interval(per_batch: list[float], per_group: int, batches: int) -> tuple[float, float]:
    """Point and half-width of the sum over ``batches`` future batches (groups as draws)."""
    n = len(per_batch)
    point = batches * statistics.fmean(per_batch)
    if n < 2:
        return point, math.nan
    k = batches / per_group
    spread = statistics.stdev(per_batch) * per_group * math.sqrt(k * k / n + k)
    return point, t_quantile_90(n - 1) * spread


def _widened(point: float, half: float) -> float:
    """The half-width, at least what the few-epoch floor and the machine load allow for above the
    point (``results/prediction_drift.py``), used on both sides."""
    from greenai.lifecycle.training_forecast import machine_load

    per_cpu = machine_load()["load_per_cpu"]
    floor, load = floor_and_load(1, [] if per_cpu is None else [per_cpu])
    wide = point * (load * (1.0 + floor) - 1.0)
    return wide if math.isnan(half) else max(half, wide)


def estimate_job(
    cfg: Any, carbon: Any, *, warmup: int = 3, groups: int = 5, per_group: int = 4
) -> Estimate:
    """Profile ``cfg``'s training for ``warmup + groups * per_group`` batches and predict the job."""
    import torch

    from greenai.errors import UsageError
    from greenai.lifecycle.training_session import TrainingSession
    from greenai.meter import Tracker
    from greenai.ml.training import loop

    session = TrainingSession.prepare(
        cfg, out_dir=Path("."), store=None, carbon=carbon, variant="estimate", run_id=None,
        parent_run_id=None, group=None, resume=False, progress=False, mlflow=None,
        inference_images=0,
    )  # fmt: skip
    cfg, ds = session.cfg, session.dataset
    tracker = Tracker("estimate", carbon=carbon, interval_s=None, sinks=[])
    tracker.start()
    try:
        st = session._setup(tracker)
        splits, bs = st["splits"], st.get("batch_size", cfg.batch_size)
        if not isinstance(splits.x_train, torch.Tensor):
            raise UsageError(
                "greenai estimate profiles in-memory data sets only, not streamed folders"
            )

        def batches(n: int, offset: int) -> tuple[float, float]:
            """Train ``n`` batches (images taken in turn, wrapping round a small set)."""
            idx = torch.arange(offset * bs, (offset + n) * bs) % len(splits.y_train)
            idx = idx.to(splits.y_train.device)
            x, y = splits.x_train[idx], splits.y_train[idx]
            before = tracker.snapshot()
            loop.train_epoch(
                st["model"], x, y, optimizer=st["optimizer"], schedule=st["schedule"],
                scaler=st["scaler"], generator=st["generator"], batch_size=bs, mean=ds.mean,
                std=ds.std, precision=cfg.precision, do_augment=cfg.augment,
                crop="crop" in ds.augment, flip="flip" in ds.augment,
                augment_pad=cfg.augment_pad, augment_reflect=cfg.augment_reflect,
                label_smoothing=cfg.label_smoothing, channels_last=cfg.channels_last,
            )  # fmt: skip
            after = tracker.snapshot()
            done = max(1, math.ceil(len(y) / bs))
            return (
                (after.energy_kwh - before.energy_kwh) / done,
                (after.duration_s - before.duration_s) / done,
            )

        batches(warmup, 0)
        profiled = [batches(per_group, warmup + i * per_group) for i in range(groups)]
        held = len(splits.y_holdout) > 0
        x_eval = splits.x_holdout if held else splits.x_test
        y_eval = splits.y_holdout if held else splits.y_test
        n = min(EVAL_IMAGES, len(y_eval))
        before = tracker.snapshot()
        loop.evaluate(
            st["model"], x_eval[:n], y_eval[:n], mean=ds.mean, std=ds.std,
            precision=cfg.precision, channels_last=cfg.channels_last,
        )  # fmt: skip
        after = tracker.snapshot()
    finally:
        own = tracker.stop()
    per_img_kwh = (after.energy_kwh - before.energy_kwh) / max(1, n)
    per_img_s = (after.duration_s - before.duration_s) / max(1, n)
    final_factor = 3 if cfg.airbench_tricks else 1
    eval_images = len(y_eval) * cfg.epochs + len(splits.y_test) * final_factor
    total_batches = st["steps"] * cfg.epochs
    data = session.data_piece
    e, e_half = _sum_interval([p[0] for p in profiled], per_group, total_batches)
    d, d_half = _sum_interval([p[1] for p in profiled], per_group, total_batches)
    e_half, d_half = _widened(e, e_half), _widened(d, d_half)
    e += per_img_kwh * eval_images + data["energy_kwh"]
    d += per_img_s * eval_images + data["duration_s"]
    series = getattr(carbon, "series", None)
    now = time.time()
    g = series.mean_between(now, now + d) if series is not None else carbon.g_per_kwh
    e_half = 0.0 if math.isnan(e_half) else e_half
    d_half = 0.0 if math.isnan(d_half) else d_half
    lo, hi = max(0.0, e - e_half), e + e_half
    return Estimate(
        energy_kwh=e, energy_low_kwh=lo, energy_high_kwh=hi,
        duration_s=d, duration_low_s=max(0.0, d - d_half), duration_high_s=d + d_half,
        co2_kg=e * g / 1000, co2_low_kg=lo * g / 1000, co2_high_kg=hi * g / 1000,
        profiled_batches=warmup + groups * per_group, total_batches=total_batches,
        own_energy_kwh=own.energy_kwh + data["energy_kwh"],
    )  # fmt: skip
