"""Result JSON files in the documented schema (ARCHITECTURE.md), written to disk as input data.

The figures are chosen so the expected table cells can be computed by hand (see each test).
Grid: 500 gCO2e/kWh, PUE 1.0, so 1 J of inference = 500/3.6e9 kg CO2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BASE_ID = "20261125-040000-aaaaaa"


def make_result(
    variant: str,
    run_id: str,
    *,
    acc: float,
    co2_step: float,
    co2_life: float,
    j_per_1000: float | None,
    parent: str | None = None,
    device: str = "cpu",
    size_mib: float = 2.37,
    break_even: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "run_id": run_id,
        "parent_run_id": parent,
        "variant": variant,
        "group": "study-test",
        "dataset": "cifar10",
        "model": "seed_cnn",
        "device": device,
        "precision": "fp32",
        "hyperparameters": {"epochs": 1, "batch_size": 64, "lr": 0.001, "seed": 0},
        "metrics": {
            "test_accuracy_pct": acc,
            "test_loss": 0.7,
            "params": 620362,
            "nonzero_params": 620362,
            "file_size_bytes": int(size_mib * 1048576),
            "file_size_mib": size_mib,
            "dense_size_bytes": 2489000,
        },
        "inference": {
            "device": "cpu",
            "threads": 2,
            "latency_ms_b1": 0.4,
            "throughput_img_s_b256": 9000.0,
            "energy_j_per_1000_images": j_per_1000,
            "energy_method": "estimated: cpu-time x TDP (test)",
        },
        "energy": {
            "step": {
                "duration_s": 100.0,
                "energy_kwh": co2_step / 0.5,
                "co2_kg": co2_step,
                "by_component_kwh": {"cpu": co2_step / 0.5, "gpu": 0.0, "ram": 0.0},
                "methods": {
                    "cpu": "estimated: cpu-time x TDP (Test CPU 65 W / 8 cores)",
                    "ram": "estimated: 0.375 W/GiB",
                },
                "phases": [],
            },
            "lifecycle": {
                "energy_kwh": co2_life / 0.5,
                "co2_kg": co2_life,
                "ancestors": [parent] if parent else [],
            },
        },
        "carbon": {
            "intensity_g_per_kwh": 500.0,
            "intensity_source": "test grid",
            "country_iso3": None,
            "pue": 1.0,
        },
        "efficiency": {"acc_per_kg_co2_step": 0.0, "acc_per_kg_co2_lifecycle": 0.0},
        "break_even": break_even,
        "software": {"greenai": "0.1.0", "torch": "2.13.0", "python": "3.11", "git_commit": None},
        "artifacts": {"model": None, "training_log": None, "emissions_csv": None},
        "created_at": "2026-11-25T04:00:00Z",
    }


def study_results() -> list[dict[str, Any]]:
    """A CPU study: baseline, unstructured pruning, PTQ and distillation."""
    return [
        make_result("baseline", BASE_ID, acc=78.1, co2_step=0.005, co2_life=0.005, j_per_1000=36.0),
        make_result(
            "pruned_unstructured",
            "20261125-041000-bbbbbb",
            acc=77.0,
            co2_step=0.001,
            co2_life=0.006,
            j_per_1000=18.0,
            parent=BASE_ID,
            break_even={
                "vs_run_id": BASE_ID,
                "inferences": None,
                "never": True,
                "explanation": "x",
            },
        ),
        make_result(
            "quantized_ptq",
            "20261125-042000-cccccc",
            acc=77.9,
            co2_step=0.00001,
            co2_life=0.00501,
            j_per_1000=7.2,
            parent=BASE_ID,
            size_mib=0.61,
            break_even={
                "vs_run_id": BASE_ID,
                "inferences": 2500,
                "never": False,
                "explanation": "y",
            },
        ),
        make_result(
            "distilled",
            "20261125-043000-dddddd",
            acc=70.0,
            co2_step=0.003,
            co2_life=0.008,
            j_per_1000=9.0,
            parent=BASE_ID,
        ),
    ]


def write_results(folder: Path, results: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for r in results:
        path = folder / f"cifar10_{r['variant']}_{r['run_id']}.json"
        path.write_text(json.dumps(r, indent=2), encoding="utf-8")
    return folder
