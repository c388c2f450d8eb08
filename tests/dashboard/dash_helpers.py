"""Helpers for the dashboard tests: runs written through the real store API."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

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


def result_for(
    variant: str, acc: float, kwh: float, co2: float, run_id: str = "?", parent: str | None = None
) -> dict:
    """A result JSON (schema_version 1) with the fields the report and the dashboard read."""
    return {
        "schema_version": 1,
        "run_id": run_id,
        "variant": variant,
        "model": "seed_cnn",
        "device": "cpu",
        "parent_run_id": parent,
        "metrics": {
            "test_accuracy_pct": acc,
            "file_size_mib": 2.37,
            "file_size_bytes": 2485125,
            "params": 620362,
        },
        "inference": {
            "device": "cpu",
            "latency_ms_b1": 0.4,
            "energy_j_per_1000_images": 3.1,
            "energy_method": "estimated: TDP",
        },
        "energy": {
            "step": {
                "energy_kwh": kwh,
                "co2_kg": co2,
                "methods": {"cpu": "estimated: TDP (65 W)"},
            },
            "lifecycle": {"energy_kwh": kwh * 2, "co2_kg": co2 * 2},
        },
        "carbon": {"intensity_g_per_kwh": 475.0, "pue": 1.0},
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
    parent: str | None = None,
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
        parent_run_id=parent,
    )
    if status is not None:
        store.finish_run(
            run_id,
            status=status,
            result=result_for(variant, acc, kwh, co2, run_id, parent) if status == "done" else None,
            error=None if status == "done" else f"{status} on purpose",
        )


def wait_until(predicate, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


SEARCH_NAME = 'tiny "><img src=x onerror=alert(2)> search'  # a study name is store text too
# A real `greenai search` on synthetic data, as tests/search runs them: 3 one-epoch trials whose
# seeded samples are one trained model, one pruned then INT8-quantized model (two child runs), one
# trained model; objective CO2, so the dashboard must read the study's objective to score them.
SEARCH_ARGS = [
    "search", "--dataset", "synthetic", "--device", "cpu", "--limit-train", "64",
    "--limit-test", "32", "--epochs-range", "1", "1", "--widths", "0.25", "--batch-sizes", "32",
    "--precisions", "fp32", "--sparsities", "0", "0.3", "--quantization", "off", "on",
    "--prune-finetune-epochs", "0", "--trials", "3", "--seed", "1", "--objective", "co2",
    "--study-name", SEARCH_NAME,
]  # fmt: skip


def search_study(out: Path) -> Any:
    """The search's Optuna study, read back with optuna (what the search optimised)."""
    import optuna

    return optuna.load_study(study_name=SEARCH_NAME, storage=f"sqlite:///{out / 'search.db'}")
