"""Inference measurement, the same for every variant: accuracy, size, latency, throughput, energy.

Timings: warm-up calls first, then repeated timed calls; the median is reported with the thread
count. When several variants are compared (``interleaved_throughput``) their timed calls alternate
round by round, so the shared machine's speed drift hits all of them alike.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from greenai.ml.evaluation import INFERENCE_IMAGES

Predict = Callable[[torch.Tensor], torch.Tensor]
MIB = 1024 * 1024
FP32_SETTING = "eager fp32"  # how FP32 models (a baseline and its FP32 variants) are measured


@dataclass(frozen=True)
class Accuracy:
    test_accuracy_pct: float
    test_loss: float
    n_images: int


@torch.no_grad()
def accuracy(predict: Predict, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500) -> Accuracy:
    """Top-1 accuracy (percent) and mean cross-entropy of ``predict`` over (x, y)."""
    correct, loss_sum = 0, 0.0
    for i in range(0, len(x), batch_size):
        out = predict(x[i : i + batch_size]).float()
        yb = y[i : i + batch_size]
        correct += int((out.argmax(1) == yb).sum())
        loss_sum += float(F.cross_entropy(out, yb, reduction="sum"))
    n = len(x)
    return Accuracy(100.0 * correct / n, loss_sum / n, n)


def file_size(path: str | os.PathLike[str]) -> dict[str, float]:
    size = Path(path).stat().st_size
    return {"file_size_bytes": size, "file_size_mib": size / MIB}


def param_counts(model: nn.Module) -> dict[str, int]:
    """Total and nonzero parameters (int8 weights of a converted program count as parameters)."""
    tensors = [t for n, t in model.state_dict().items() if not _is_qparam(n)]
    return {
        "params": sum(t.numel() for t in tensors),
        "nonzero_params": sum(int((t != 0).sum()) for t in tensors),
    }


def _is_qparam(name: str) -> bool:
    leaf = name.rsplit(".", 1)[-1]
    return leaf.startswith(("_scale_", "_zero_point_")) or leaf in ("num_batches_tracked",)


@torch.no_grad()
def time_call_s(
    predict: Predict, x: torch.Tensor, warmup: int = 2, repeats: int = 7
) -> list[float]:
    """Wall seconds of ``repeats`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        predict(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        predict(x)
        times.append(time.perf_counter() - start)
    return times


@dataclass(frozen=True)
class Speed:
    device: str
    threads: int
    latency_ms_b1: float
    throughput_img_s_b256: float
    repeats: int
    # spread of the timed calls: interquartile range over the median, in percent
    latency_iqr_pct: float | None = None
    throughput_iqr_pct: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: A timing whose interquartile range exceeds this share of its median (percent) is flagged as
#: unsure: its calls disagreed too much for a comparison (or a break-even) to rest on it.
WIDE_SPREAD_PCT = 25.0


def iqr_pct(values: list[float]) -> float | None:
    """Interquartile range over the median, in percent (None for fewer than 4 values)."""
    if len(values) < 4:
        return None
    q1, med, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return 100.0 * (q3 - q1) / med if med > 0 else None


def speed(predict: Predict, sample: torch.Tensor, batch_size: int = 256, repeats: int = 7) -> Speed:
    """Median latency at batch 1 and median throughput at ``batch_size`` (images from ``sample``),
    with the spread (interquartile range) of each."""
    x1 = sample[:1].contiguous()
    xb = _batch(sample, batch_size)
    lat_s = time_call_s(predict, x1, warmup=3, repeats=repeats * 3)
    thr_s = time_call_s(predict, xb, warmup=2, repeats=repeats)
    lat, thr = statistics.median(lat_s), statistics.median(thr_s)
    return Speed(
        "cpu", torch.get_num_threads(), 1000.0 * lat, batch_size / thr, repeats,
        iqr_pct(lat_s), iqr_pct(thr_s),
    )  # fmt: skip


def checked_speed(predict: Predict, sample: torch.Tensor, repeats: int = 7) -> dict[str, Any]:
    """``speed`` as a result's ``inference`` keys, with how busy the machine was while it ran
    (``machine_load``: load average, steal time) and ``timing_doubt``: why the figures are unsure
    (a wide spread, a busy machine), or None. A doubtful timing must not drive a verdict."""
    from greenai.sensors.machine_load import LoadWindow

    window = LoadWindow(own_threads=torch.get_num_threads()).start()
    figures = speed(predict, sample, repeats=repeats).to_dict()
    load = window.stop()
    return {
        **figures,
        "machine_load": load.to_dict(),
        "timing_doubt": timing_doubt(figures, load.busy),
        "energy_doubt": energy_doubt(figures, load.busy),
    }


def timing_doubt(figures: Mapping[str, Any], busy: str | None = None) -> str | None:
    """Why inference figures (``Speed.to_dict()`` keys, or a ``interleaved_throughput`` entry) are
    unsure: a wide spread of the timed calls, or a busy machine (``busy``). None when neither."""
    reasons = []
    for key, what in (("latency_iqr_pct", "latency"), ("throughput_iqr_pct", "throughput"),
                      ("iqr_pct", "throughput")):  # fmt: skip
        value = figures.get(key)
        if value is not None and value > WIDE_SPREAD_PCT:
            reasons.append(f"{what} spread {value:.0f}% of the median (IQR)")
    if busy:
        reasons.append(busy)
    return "; ".join(reasons) or None


def energy_doubt(figures: Mapping[str, Any], busy: str | None = None) -> str | None:
    """Why the energy per inference (taken at batch 256) is unsure: the batch-256 throughput's
    wide spread or a busy machine. The batch-1 latency's spread is left out: a break-even rests
    on the energy figure, and sub-millisecond calls spread wide even on an idle machine."""
    return timing_doubt({"throughput_iqr_pct": figures.get("throughput_iqr_pct")}, busy)


def _batch(sample: torch.Tensor, batch_size: int) -> torch.Tensor:
    reps = -(-batch_size // len(sample))
    return torch.cat([sample] * reps)[:batch_size].contiguous()


@torch.no_grad()
def interleaved_throughput(
    candidates: Mapping[str, tuple[Predict, torch.Tensor]],
    rounds: int = 7,
    warmup: int = 2,
    calls: int = 5,
) -> dict[str, dict[str, float]]:
    """Throughput (images/s) of each candidate, timed round-robin; median and spread per name.

    ``candidates`` maps a name to (predict, batch) — each gets its own batch so a channels_last or
    bf16 variant gets its input in its own layout. In every round each candidate makes one untimed
    call (its weights back in cache after the others ran), then ``calls`` timed calls in a row: the
    figure is steady-state throughput, and the switch between candidates, which costs a fast
    model relatively more, is charged to none of them.
    """
    for predict, xb in candidates.values():
        for _ in range(warmup):
            predict(xb)
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, (predict, xb) in candidates.items():
            predict(xb)
            start = time.perf_counter()
            for _ in range(calls):
                predict(xb)
            times[name].append((time.perf_counter() - start) / calls)
    out = {}
    for name, ts in times.items():
        n = len(candidates[name][1])
        rates = sorted(n / t for t in ts)
        out[name] = {
            "median_img_s": statistics.median(rates),
            "min_img_s": rates[0],
            "max_img_s": rates[-1],
            "iqr_pct": iqr_pct(rates),
        }
    return out


def inference_energy(
    predict: Predict,
    sample: torch.Tensor,
    carbon: Any = None,
    n_images: int = INFERENCE_IMAGES,
    batch_size: int = 256,
    run_id: str = "inference",
) -> dict[str, Any]:
    """Energy per 1,000 images from the meter, over ``n_images`` images at ``batch_size``.

    The figure is whatever the Tracker measured or estimated; its method label travels with it
    (on this project's CPU-only machines it is an estimate from CPU time and TDP). Grid energy:
    PUE applied, like ``energy.step.energy_kwh``.
    """
    from greenai.meter import Tracker

    xb = _batch(sample, batch_size)
    predict(xb)
    tracker = Tracker("inference", run_id=run_id, carbon=carbon, interval_s=0.2)
    tracker.start()
    done = 0
    with torch.no_grad():
        while done < n_images:
            predict(xb)
            done += len(xb)
    m = tracker.stop()
    methods = "; ".join(f"{c}: {meth.label()}" for c, meth in m.methods.items())
    return {
        "energy_j_per_1000_images": m.energy_total_j * m.pue * 1000.0 / done,
        "energy_method": methods,
        "energy_images": done,
        "energy_duration_s": m.duration_s,
        "energy_batch_size": len(xb),
        "energy_threads": torch.get_num_threads(),
        "energy_window": f"steady state: 1 warm-up batch excluded, then {done} images",
    }


def as_float(predict: Predict) -> Predict:
    """Wrap a predictor whose outputs are not float32 (bf16 autocast) so metrics see float32."""

    def call(x: torch.Tensor) -> torch.Tensor:
        return predict(x).float()

    return call


def best_fp32_candidates(
    model: nn.Module, compile_fn: Callable[[nn.Module], Predict] | None = None
) -> dict[str, tuple[Predict, Callable[[torch.Tensor], torch.Tensor]]]:
    """FP32 settings worth trying: eager, channels_last, torch.compile (optionally channels_last).

    Returns name -> (predict, input transform). The caller times them (interleaved) and takes the
    fastest as "best FP32", so a speed-up is never quoted against a handicapped baseline.
    """
    model = model.eval()
    cl = lambda x: x.contiguous(memory_format=torch.channels_last)  # noqa: E731
    same = lambda x: x.contiguous()  # noqa: E731
    out: dict[str, tuple[Predict, Callable[[torch.Tensor], torch.Tensor]]] = {
        "fp32_eager": (model, same),
    }
    import copy

    model_cl = copy.deepcopy(model).to(memory_format=torch.channels_last)
    out["fp32_eager_channels_last"] = (model_cl, cl)
    if compile_fn is not None:
        out["fp32_compiled"] = (compile_fn(copy.deepcopy(model)), same)
        out["fp32_compiled_channels_last"] = (compile_fn(copy.deepcopy(model_cl)), cl)
    return out
