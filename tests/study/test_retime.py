"""A study's finished models timed together: interleaved in one process after a warm-up, with
each one's spread and the machine's load, and the report saying when the timing is unsure."""

from __future__ import annotations

import torch

from greenai.lifecycle.retime import report_lines, retime
from greenai.ml.models import create_model
from greenai.ml.training.checkpoint import save_checkpoint


def _model_file(out, name: str, width: float) -> str:
    torch.manual_seed(0)
    model = create_model("seed_cnn", width=width)
    save_checkpoint(
        out / "models" / f"{name}.pt",
        {"epoch": 1, "config": {"model": "seed_cnn", "width": width}, "num_classes": 10,
         "model_state": model.state_dict()},
    )  # fmt: skip
    return f"models/{name}.pt"


def test_two_models_are_timed_together_with_spread_and_machine_load(tmp_path):
    results = {
        "cpu/baseline": {"artifacts": {"model": _model_file(tmp_path, "a", 0.125)}},
        "cpu/distilled": {"artifacts": {"model": _model_file(tmp_path, "b", 0.0625)}},
        "cpu/quantized_ptq": {"artifacts": {}},  # no model file: not timed
    }
    timing = retime(results, tmp_path, rounds=4, calls=1)
    assert set(timing["steps"]) == {"cpu/baseline", "cpu/distilled"}
    for s in timing["steps"].values():
        assert s["throughput_img_s_b256"] > 0 and s["iqr_pct"] is not None
    assert set(timing["machine_load"]) == {
        "cpus",
        "load_avg_1m",
        "steal_pct",
        "busy",
        "own_threads",
    }
    assert "interleaved in one process" in timing["setting"]
    assert retime({"cpu/baseline": results["cpu/baseline"]}, tmp_path) is None  # nothing to compare


def test_report_lines_flag_an_unsure_timing():
    timing = {
        "setting": "interleaved in one process: ...",
        "timing_doubt": "busy machine: load average 7.96 on 2 CPUs",
        "steps": {
            "cpu/baseline": {"throughput_img_s_b256": 9000.0, "iqr_pct": 4.0},
            "cpu/pruned_structured": {"throughput_img_s_b256": 8000.0, "iqr_pct": 60.0},
        },
    }
    lines = report_lines(timing, {"cpu/baseline": "Baseline [CPU]"})
    assert "Baseline [CPU] 9,000 img/s (IQR 4%)" in lines[0]
    assert lines[1].startswith("TIMING UNSURE (busy machine: load average 7.96 on 2 CPUs)")
    assert report_lines(None, {}) == []
