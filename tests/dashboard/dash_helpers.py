"""Helpers for the dashboard tests: runs written through the real store API."""

from __future__ import annotations

import time

from greenai.meter.types import Sample
from greenai.storage import RunStore

EVIL = "<script>alert(1)</script>"


def write_samples(store: RunStore, run_id: str, n: int, start: int = 0, t0: float = 0.0) -> None:
    """``n`` one-second samples: cpu 20 W + i, ram 3 W; cumulative energies consistent with them."""
    for i in range(start, start + n):
        store.add_sample(
            Sample(
                run_id=run_id,
                timestamp=t0 + i,
                elapsed_s=float(i),
                phase="train/epoch",
                power_w={"cpu": 20.0 + i, "ram": 3.0},
                energy_j={"cpu": 20.0 * i + i * (i - 1) / 2, "ram": 3.0 * i},
                co2_kg=(23.0 * i) / 3.6e6 * 0.475,
            )
        )


def result_for(variant: str, acc: float, kwh: float, co2: float) -> dict:
    """The parts of a result JSON the dashboard reads (schema_version 1)."""
    return {
        "schema_version": 1,
        "variant": variant,
        "metrics": {"test_accuracy_pct": acc, "file_size_mib": 2.37, "params": 620362},
        "inference": {"latency_ms_b1": 0.4, "energy_j_per_1000_images": 3.1},
        "energy": {
            "step": {"energy_kwh": kwh, "co2_kg": co2},
            "lifecycle": {"energy_kwh": kwh * 2, "co2_kg": co2 * 2},
        },
    }


def add_run(
    store: RunStore,
    run_id: str,
    *,
    name: str | None = None,
    variant: str = "baseline",
    group: str | None = None,
    status: str | None = "done",
    acc: float = 70.0,
    kwh: float = 0.01,
    co2: float = 0.005,
    config: dict | None = None,
    started_at: float | None = None,
) -> None:
    store.create_run(
        run_id,
        name=name or variant,
        variant=variant,
        model="seed_cnn",
        dataset="cifar10",
        device="cpu",
        config=config or {"lr": 0.001},
        group=group,
        started_at=started_at,
    )
    if status is not None:
        store.finish_run(
            run_id,
            status=status,
            result=result_for(variant, acc, kwh, co2) if status == "done" else None,
            error=None if status == "done" else f"{status} on purpose",
        )


def wait_until(predicate, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)
