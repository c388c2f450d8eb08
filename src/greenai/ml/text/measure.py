"""Inference figures of a text encoder: latency at batch 1, throughput, energy per 1,000 sentences.

Energy is taken over a steady-state window, as the ML.ENERGY benchmark does: the first batches are
run before the meter starts (warm-up: allocator, oneDNN/ORT kernel choice, caches), then the meter
reads the sensors over whole passes of the measured sentences only. The batch size, the thread
count, the number of sentences and tokens, and the meter's method labels are stated with the figure.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

import torch

from greenai.ml.text.encoder import Batch, Encoder

WARMUP_BATCHES = 2


def latency_ms_b1(encoder: Encoder, singles: Sequence[Batch], repeats: int = 3) -> float:
    """Median milliseconds to embed one sentence (each of ``singles`` ``repeats`` times, after one
    warm-up pass over them)."""
    for b in singles:
        encoder.encode(b)
    times = []
    for _ in range(repeats):
        for b in singles:
            t0 = time.perf_counter()
            encoder.encode(b)
            times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def pass_seconds(encoder: Encoder, batches: Sequence[Batch]) -> float:
    """Seconds for one pass over ``batches``."""
    t0 = time.perf_counter()
    for b in batches:
        encoder.encode(b)
    return time.perf_counter() - t0


def rows(batches: Sequence[Batch]) -> int:
    return sum(int(b["input_ids"].shape[0]) for b in batches)


def tokens(batches: Sequence[Batch]) -> int:
    """Non-padding tokens (special tokens included: the model computes them)."""
    return sum(int(b["attention_mask"].sum()) for b in batches)


def inference_energy(
    encoder: Encoder,
    batches: Sequence[Batch],
    *,
    carbon: Any = None,
    min_seconds: float = 2.0,
    run_id: str = "inference",
) -> dict[str, Any]:
    """J per 1,000 sentences (and per 1,000 tokens) over whole passes of ``batches`` lasting at least
    ``min_seconds`` (so the meter's edges are small against the window), after warm-up batches.
    Grid energy: PUE applied, like ``energy.step.energy_kwh``."""
    from greenai.meter import Tracker

    for b in batches[:WARMUP_BATCHES]:
        encoder.encode(b)
    tracker = Tracker("inference", run_id=run_id, carbon=carbon, interval_s=0.2).start()
    passes = 0
    t0 = time.monotonic()
    while passes == 0 or time.monotonic() - t0 < min_seconds:
        for b in batches:
            encoder.encode(b)
        passes += 1
    m = tracker.stop()
    n_rows, n_tokens = rows(batches) * passes, tokens(batches) * passes
    joules = m.energy_total_j * m.pue
    return {
        "energy_j_per_1000_items": joules * 1000.0 / n_rows,
        "energy_j_per_1000_sentences": joules * 1000.0 / n_rows,
        "energy_j_per_1000_tokens": joules * 1000.0 / n_tokens,
        "energy_items": n_rows,
        "energy_tokens": n_tokens,
        "energy_duration_s": m.duration_s,
        "energy_window": (
            f"steady state: {WARMUP_BATCHES} warm-up batches excluded, then {passes} pass(es) over "
            f"{rows(batches)} sentences"
        ),
        "energy_method": "; ".join(f"{c}: {meth.label()}" for c, meth in m.methods.items()),
    }


def figures(
    encoder: Encoder,
    batches: Sequence[Batch],
    singles: Sequence[Batch],
    *,
    batch_size: int,
    carbon: Any = None,
    min_seconds: float = 2.0,
) -> dict[str, Any]:
    """The result's ``inference`` section for a text encoder (figures, batch size, threads)."""
    seconds = statistics.median(pass_seconds(encoder, batches) for _ in range(3))
    out = {
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "batch_size": batch_size,
        "item": "sentence",
        "latency_ms_b1": latency_ms_b1(encoder, singles),
        "throughput_items_s": rows(batches) / seconds,
        "throughput_tokens_s": tokens(batches) / seconds,
    }
    out.update(inference_energy(encoder, batches, carbon=carbon, min_seconds=min_seconds))
    return out
