"""Predict a training run's total energy, duration and CO2 from its first epochs, with an interval.

How (the method string every prediction carries says the same):

- Each epoch's training batches are cut into ``segments_per_epoch`` segments (by batch count); each
  segment gives an energy, a duration and a batch count. The first segment of each process is
  warm-up (allocations, kernel selection, compilation) and is excluded.
- The rest of an epoch (evaluation, logging) is its "overhead", one figure per epoch.
- The remaining K segments' worth of batches and R epochs' overheads are predicted by the means, with
  a Student-t prediction interval for a sum of future draws: half-width
  ``t(n-1) * sqrt(s_seg^2 (K^2/n + K) + s_ovh^2 (R^2/m + R))`` (s: sample standard deviations, n
  segments and m overheads seen). Segments of one epoch are not independent, so the interval may be
  too narrow; its coverage is measured (the actual is recorded beside every prediction).
- CO2: the predicted remaining energy at the intensity expected over the predicted remaining time
  (the series' mean there, or the constant figure), added to the CO2 already spent.

No torch: the training loop feeds it cumulative figures.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

CONFIDENCE = 0.90
# Student-t quantiles t(0.95, df) for a two-sided 90% interval, df = 1..30
_T95 = (
    6.314, 2.920, 2.353, 2.132, 2.015, 1.943, 1.895, 1.860, 1.833, 1.812, 1.796, 1.782, 1.771,
    1.761, 1.753, 1.746, 1.740, 1.734, 1.729, 1.725, 1.721, 1.717, 1.714, 1.711, 1.708, 1.706,
    1.703, 1.701, 1.699, 1.697,
)  # fmt: skip
METHOD = (
    "mean of training segments (quarter epochs; the first segment of each process excluded as "
    "warm-up) x remaining batches + mean per-epoch overhead x remaining epochs; 90% Student-t "
    "prediction interval for the sum of the remaining draws"
)


def t_quantile_90(df: int) -> float:
    """t(0.95, df): the two-sided 90% Student-t quantile (table to 30 df, Cornish-Fisher beyond)."""
    if df < 1:
        raise ValueError("df must be >= 1")
    if df <= len(_T95):
        return _T95[df - 1]
    z = 1.6448536269514722
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


@dataclass(frozen=True)
class Prediction:
    """The predicted total after ``after_epoch`` epochs; ``*_low``/``*_high`` are None when there
    were fewer than two segments to spread over."""

    after_epoch: int
    energy_kwh: float
    energy_low_kwh: float | None
    energy_high_kwh: float | None
    duration_s: float
    duration_low_s: float | None
    duration_high_s: float | None
    co2_kg: float
    co2_low_kg: float | None
    co2_high_kg: float | None
    segments: int
    confidence: float = CONFIDENCE

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def short(self) -> str:
        """``0.0123 kWh [0.0110-0.0135]``: what the progress bar shows."""
        if self.energy_low_kwh is None or self.energy_high_kwh is None:
            return f"{self.energy_kwh:.4g} kWh"
        return f"{self.energy_kwh:.4g} kWh [{self.energy_low_kwh:.3g}-{self.energy_high_kwh:.3g}]"


@dataclass
class _Mark:
    elapsed_s: float
    energy_kwh: float
    co2_kg: float


def _spread(values: list[float], per: float, k: float, n: int) -> float:
    """Variance term of a sum of k future draws, each ``per`` x a mean of n past ones."""
    if n < 2 or k <= 0:
        return 0.0
    return statistics.variance(values) * per * per * (k * k / n + k)


@dataclass
class EpochPredictor:
    """Fed cumulative figures (all processes' pieces) at segment edges and epoch ends.

    ``future_g_per_kwh(remaining_s)``: the intensity expected over the next ``remaining_s``
    seconds (grid kWh, PUE included, times it gives CO2)."""

    epochs: int
    steps_per_epoch: int
    future_g_per_kwh: Callable[[float], float]
    segments_per_epoch: int = 4
    seg_energy: list[float] = field(default_factory=list)  # per batch
    seg_seconds: list[float] = field(default_factory=list)  # per batch
    ovh_energy: list[float] = field(default_factory=list)
    ovh_seconds: list[float] = field(default_factory=list)
    _last: _Mark | None = None
    _last_batches: int = 0
    _marked: int = 0  # batches per epoch covered by segments (the rest is in the overhead)
    _marks: int = 0  # segments ended in this epoch
    _warm: bool = True

    def wants(self, batches: int) -> bool:
        """Whether a reading after ``batches`` batches of this epoch ends a segment (the loop
        reports every few batches: a segment ends at the first report past its edge)."""
        k = max(1, min(self.segments_per_epoch, self.steps_per_epoch))
        return batches >= (self._marks + 1) * self.steps_per_epoch / k

    def start(self, elapsed_s: float, energy_kwh: float, co2_kg: float) -> None:
        """The process's first epoch begins (cumulative figures over all pieces)."""
        self._last, self._last_batches = _Mark(elapsed_s, energy_kwh, co2_kg), 0

    def mark(self, batches: int, elapsed_s: float, energy_kwh: float, co2_kg: float) -> None:
        """A segment ended after ``batches`` batches of the current epoch."""
        now = _Mark(elapsed_s, energy_kwh, co2_kg)
        n = batches - self._last_batches
        if self._last is not None and n > 0:
            if self._warm:
                self._warm = False
            else:
                self.seg_energy.append((now.energy_kwh - self._last.energy_kwh) / n)
                self.seg_seconds.append((now.elapsed_s - self._last.elapsed_s) / n)
        self._last, self._last_batches = now, batches
        self._marked = max(self._marked, batches)
        self._marks += 1

    def end_epoch(
        self, epoch: int, elapsed_s: float, energy_kwh: float, co2_kg: float
    ) -> Prediction | None:
        """The epoch's overhead is recorded; returns the prediction of the total (None before any
        segment past warm-up was seen, and after the last epoch: nothing is left to predict)."""
        if self._last is not None:
            self.ovh_energy.append(max(0.0, energy_kwh - self._last.energy_kwh))
            self.ovh_seconds.append(max(0.0, elapsed_s - self._last.elapsed_s))
        self._last, self._last_batches, self._marks = _Mark(elapsed_s, energy_kwh, co2_kg), 0, 0
        n = len(self.seg_energy)
        remaining_epochs = max(0, self.epochs - epoch)
        if n == 0 or remaining_epochs == 0:  # nothing seen past warm-up, or nothing left
            return None
        batches = remaining_epochs * self._marked
        seg = self.steps_per_epoch / max(1, min(self.segments_per_epoch, self.steps_per_epoch))
        k = batches / seg  # future segments
        m = len(self.ovh_energy)
        t = t_quantile_90(n - 1) if n >= 2 else math.nan

        def total(per_batch: list[float], ovh: list[float], spent: float) -> tuple[float, ...]:
            point = spent + batches * statistics.fmean(per_batch)
            point += remaining_epochs * (statistics.fmean(ovh) if ovh else 0.0)
            var = _spread(per_batch, seg, k, n) + _spread(ovh, 1.0, remaining_epochs, m)
            if n < 2:
                return point, math.nan, math.nan
            half = t * math.sqrt(var)
            return point, max(spent, point - half), point + half

        e, e_lo, e_hi = total(self.seg_energy, self.ovh_energy, energy_kwh)
        d, d_lo, d_hi = total(self.seg_seconds, self.ovh_seconds, elapsed_s)
        g = self.future_g_per_kwh(max(0.0, d - elapsed_s)) / 1000.0

        def co2(kwh_total: float) -> float:
            return co2_kg + max(0.0, kwh_total - energy_kwh) * g

        def opt(x: float) -> float | None:
            return None if math.isnan(x) else x

        return Prediction(
            after_epoch=epoch,
            energy_kwh=e, energy_low_kwh=opt(e_lo), energy_high_kwh=opt(e_hi),
            duration_s=d, duration_low_s=opt(d_lo), duration_high_s=opt(d_hi),
            co2_kg=co2(e), co2_low_kg=None if n < 2 else co2(e_lo),
            co2_high_kg=None if n < 2 else co2(e_hi), segments=n,
        )  # fmt: skip


def with_actual(predictions: list[dict[str, Any]], actual: dict[str, float]) -> dict[str, Any]:
    """The result's ``prediction`` section: every epoch's prediction, the actual beside it, and
    whether each interval covered it (``actual``: energy_kwh, duration_s, co2_kg of the training
    through its last epoch)."""
    rows = []
    for p in predictions:
        row = dict(p)
        for key, unit in (("energy", "kwh"), ("duration", "s"), ("co2", "kg")):
            lo, hi = p.get(f"{key}_low_{unit}"), p.get(f"{key}_high_{unit}")
            value = actual[f"{key}_{unit}"]
            row[f"{key}_error_pct"] = (
                100.0 * (p[f"{key}_{unit}"] - value) / value if value > 0 else None
            )
            row[f"{key}_covered"] = None if lo is None or hi is None else lo <= value <= hi
        rows.append(row)
    return {
        "method": METHOD,
        "confidence": CONFIDENCE,
        "actual": dict(actual),
        "actual_scope": "the training through its last epoch (final evaluation and inference "
        "figures excluded), in all pieces",
        "per_epoch": rows,
    }
