"""A study under a budget skips the steps it cannot afford and says so (fake step functions: the
study runner is what is tested, not training)."""

from __future__ import annotations

import pytest

from greenai.lifecycle.budget import Budget
from greenai.study.budget import estimate, unaffordable
from greenai.study.plan import Step, StudyConfig
from greenai.study.runner import run_study
from greenai.study.state import DONE, SKIPPED


def _result(variant, run_id, kwh, epochs=None):
    hp = {"epochs": epochs} if epochs else {}
    return {
        "variant": variant, "run_id": run_id, "dataset": "synthetic", "hyperparameters": hp,
        "energy": {"step": {"energy_kwh": kwh, "co2_kg": kwh * 0.5}},
    }  # fmt: skip


def _step(variant, settings=None, train=None):
    config = {"train": train or {}, "settings": settings or {}}
    return Step(variant, "cpu", None if variant == "baseline" else "cpu/baseline", config, "h")


def test_a_step_is_estimated_from_the_baseline_per_epoch():
    results = {"cpu/baseline": _result("baseline", "b", 1.0, epochs=4)}
    qat = _step("quantized_qat", {"qat_epochs": 2})
    assert estimate(qat, results) == {"energy_kwh": 0.5, "co2_kg": 0.25}
    ptq = _step("quantized_ptq")
    assert estimate(ptq, results)["energy_kwh"] == pytest.approx(0.025)  # a tenth of an epoch
    assert estimate(_step("baseline", train={"epochs": 4}), {}) is None


def test_unaffordable_says_what_and_why():
    results = {"cpu/baseline": _result("baseline", "b", 1.0, epochs=4)}
    qat = _step("quantized_qat", {"qat_epochs": 2})
    assert unaffordable(Budget(energy_kwh=2.0), qat, results) is None
    why = unaffordable(Budget(energy_kwh=1.3), qat, results)
    assert why.startswith("not run: budget: estimated energy 0.5 kWh") and "0.3 kWh left" in why
    assert "budget spent" in unaffordable(Budget(co2_kg=0.4), qat, results)
    assert unaffordable(None, qat, results) is None


def test_the_runner_skips_what_it_cannot_afford_and_its_children(tmp_path):
    cfg = StudyConfig(
        name="b", devices=("cpu",),
        variants=("baseline", "pruned_unstructured", "quantized_ptq", "distilled"),
        train={"epochs": 2},
        variant_settings={"finetune_epochs": 1, "distill_epochs": 4, "sparsity": 0.5},
    ).validate()  # fmt: skip
    ran = []

    def fake(kwh):
        def step(ctx):
            ran.append(ctx.step.variant)
            epochs = ctx.step.config["train"].get("epochs")
            return _result(ctx.step.variant, ctx.run_id, kwh, epochs)

        return step

    steps = {v: fake(1.0 if v == "baseline" else 0.1) for v in cfg.variants}
    lines = []
    outcome = run_study(
        cfg, tmp_path, steps, budget=Budget(energy_kwh=1.7), log=lines.append, progress=False
    )
    status = {r.variant: (r.status, r.error) for r in outcome.records}
    # baseline 1 kWh (0.5 per epoch): pruning's 1 epoch fits (0.5 <= 0.7), PTQ's 0.05 then fits
    # (0.05 <= 0.6), distillation's 4 epochs (2 kWh) do not
    assert status["baseline"][0] == DONE and status["pruned_unstructured"][0] == DONE
    assert status["quantized_ptq"][0] == DONE
    assert status["distilled"][0] == SKIPPED and "estimated energy 2 kWh" in status["distilled"][1]
    assert ran == ["baseline", "pruned_unstructured", "quantized_ptq"]
    assert any("cpu/distilled: skipped (not run: budget" in line for line in lines)
