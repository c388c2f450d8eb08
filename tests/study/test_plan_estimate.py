"""The plan printed before a study starts (steps, epochs, a rough duration from a per-epoch timing
taken on this machine) and the runner's overall line, with injected clocks."""

from __future__ import annotations

import pytest
from test_runner import Steps

from greenai.study import estimate
from greenai.study.plan import StudyConfig, plan
from greenai.study.runner import run_study

SETTINGS = {"finetune_epochs": 1, "qat_epochs": 2, "distill_epochs": 20, "calib_batches": 10}


def _steps():
    return plan(StudyConfig(train={"epochs": 20}, variant_settings=SETTINGS))


def test_each_step_counts_its_own_epochs():
    got = {s.variant: estimate.step_epochs(s) for s in _steps()}
    assert got == {
        "baseline": 20, "pruned_unstructured": 1, "pruned_structured": 1, "quantized_ptq": 0,
        "quantized_qat": 2, "distilled": 20,
    }  # fmt: skip


def test_plan_lines_give_steps_epochs_and_a_rough_duration_with_its_basis():
    lines = estimate.plan_lines(_steps(), estimate.EpochTiming(60.0, "N steps timed here"))
    assert lines[0].startswith("study plan: 6 steps: cpu/baseline (20 epochs), ")
    assert lines[0].endswith("44 epochs in all")
    assert lines[1].startswith("study estimate: roughly 44m00s if nothing is reused (rough: ")
    assert "N steps timed here × 44 epochs" in lines[1]


def test_without_a_timing_the_plan_says_why_there_is_no_estimate():
    assert "none" in estimate.plan_lines(_steps(), None)[1]


def test_time_epoch_scales_the_timed_steps_to_an_epoch():
    ticks = iter([10.0, 13.0])  # 3 timed steps in 3 s: 1 s per step
    train = {"model": "seed_cnn", "width": 0.125, "batch_size": 8, "limit_train": 80}
    timing = estimate.time_epoch(train, steps=3, clock=lambda: next(ticks))
    assert timing.seconds == pytest.approx(10.0)  # 80 images / batch 8 = 10 steps
    assert "3 training steps of seed_cnn at batch 8" in timing.how
    assert estimate.time_epoch({"dataset": "npz:x.npz"}) is None  # size unknown until read


def test_runner_prints_step_k_of_n_with_elapsed_and_time_left(tmp_path):
    said: list[str] = []
    cfg = StudyConfig(
        name="s", variants=("baseline", "pruned_unstructured"), train={"epochs": 3},
        variant_settings=SETTINGS,
    )  # fmt: skip
    run_study(cfg, tmp_path, Steps(), log=said.append)
    overall = [s for s in said if s.startswith("study: step ")]
    assert overall[0].startswith("study: step 1 of 2: ") and "time left known" in overall[0]
    assert overall[1].startswith("study: step 2 of 2: ") and "left (rough: " in overall[1]
