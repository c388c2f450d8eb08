"""Predictions with an interval (pure: fed figures, no clock), energy/CO2 budgets, and a training
run that stops on its budget and resumes with a larger one."""

from __future__ import annotations

import random

import pytest

from greenai.errors import UsageError
from greenai.lifecycle.budget import Budget, BudgetExceeded, parse_co2_kg, parse_energy_kwh
from greenai.results.prediction import EpochPredictor, t_quantile_90, with_actual


def _feed(p, epochs_done, seg_kwh, seg_s=1.0, overhead_kwh=0.0, warm_extra=0.0, noise=None):
    """Feed ``epochs_done`` epochs of 8 batches (segments of 2) at constant or noisy rates; returns
    each epoch's prediction and the cumulative energy and time at the end."""
    e = s = 0.0
    p.start(s, e, 0.0)
    preds = []
    for epoch in range(1, epochs_done + 1):
        for b in (2, 4, 6, 8):
            e += 2 * seg_kwh + (noise() if noise else 0.0)
            if epoch == 1 and b == 2:
                e += warm_extra  # warm-up: a slow, costly first segment
            s += 2 * seg_s
            assert p.wants(b)
            p.mark(b, s, e, e * 0.1)
        e += overhead_kwh
        s += 1.0
        preds.append(p.end_epoch(epoch, s, e, e * 0.1))
    return preds, e, s


def test_prediction_is_exact_for_steady_epochs_and_excludes_the_warm_up():
    p = EpochPredictor(epochs=5, steps_per_epoch=8, future_g_per_kwh=lambda _s: 100.0)
    (pred,), spent, _ = _feed(p, 1, seg_kwh=0.5, overhead_kwh=0.25, warm_extra=50.0)
    # after epoch 1: 4 more epochs of 8 batches x 0.5 kWh + 0.25 overhead each
    assert pred.energy_kwh == pytest.approx(spent + 4 * (8 * 0.5 + 0.25))
    assert pred.segments == 3  # the first segment was warm-up
    assert pred.energy_low_kwh == pytest.approx(pred.energy_kwh)  # no spread, no width
    assert pred.co2_kg == pytest.approx(spent * 0.1 + 4 * 4.25 * 0.1)  # 100 g/kWh ahead
    assert pred.duration_s == pytest.approx(9.0 + 4 * 9.0)


def test_coarse_reports_still_give_an_interval_after_the_first_epoch():
    # 157 batches reported every 19 (the loop's report_every): segment edges at quarter epochs
    p = EpochPredictor(epochs=4, steps_per_epoch=157, future_g_per_kwh=lambda _s: 0.0)
    p.start(0.0, 0.0, 0.0)
    for b in range(19, 158, 19):
        if p.wants(b):
            p.mark(b, b * 0.1, b * 1.0 + (b % 3), 0.0)
    pred = p.end_epoch(1, 16.0, 160.0, 0.0)
    assert pred.segments == 2 and pred.energy_low_kwh is not None


def test_prediction_interval_covers_about_90_percent_of_iid_runs():
    rng = random.Random(7)
    covered = []
    for _ in range(400):
        p = EpochPredictor(epochs=6, steps_per_epoch=8, future_g_per_kwh=lambda _s: 0.0)
        preds, actual, _ = _feed(p, 6, seg_kwh=1.0, noise=lambda: rng.gauss(0.0, 0.3))
        after_2 = preds[1]
        covered.append(after_2.energy_low_kwh <= actual <= after_2.energy_high_kwh)
    assert 0.84 <= sum(covered) / len(covered) <= 0.96


def test_t_quantiles_match_scipy_where_it_is_installed():
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 5, 10, 29, 30, 31, 60, 200):
        assert t_quantile_90(df) == pytest.approx(stats.t.ppf(0.95, df), abs=2e-3)


def test_the_actual_is_recorded_beside_each_prediction():
    preds = [
        {"energy_kwh": 1.0, "energy_low_kwh": 0.9, "energy_high_kwh": 1.1, "duration_s": 10.0,
         "duration_low_s": None, "duration_high_s": None, "co2_kg": 0.1, "co2_low_kg": 0.09,
         "co2_high_kg": 0.2},
    ]  # fmt: skip
    section = with_actual(preds, {"energy_kwh": 1.2, "duration_s": 10.0, "co2_kg": 0.12})
    row = section["per_epoch"][0]
    assert row["energy_covered"] is False and row["co2_covered"] is True
    assert row["duration_covered"] is None
    assert row["energy_error_pct"] == pytest.approx(-100 / 6)
    assert "Student-t" in section["method"] and section["confidence"] == 0.9


@pytest.mark.parametrize(
    "text, kwh", [("50Wh", 0.05), ("3.6e6J", 1.0), ("2 kWh", 2.0), ("36kJ", 0.01)]
)
def test_energy_budgets_take_their_units(text, kwh):
    assert parse_energy_kwh(text) == pytest.approx(kwh)


def test_co2_budgets_take_their_units_and_bad_ones_are_one_line():
    assert parse_co2_kg("20g") == pytest.approx(0.02)
    assert parse_co2_kg("1.5kg") == pytest.approx(1.5)
    for bad in ("20", "-1g", "5 lbs", "g"):
        with pytest.raises(UsageError) as info:
            parse_co2_kg(bad)
        assert "\n" not in str(info.value)


def test_budget_says_why_it_is_exceeded():
    b = Budget(energy_kwh=1.0)
    spent = {"energy_kwh": 0.4, "co2_kg": 0.0}
    assert b.exceeded(spent, None) is None
    assert "predicted total energy 1.2" in b.exceeded(spent, {"energy_kwh": 1.2, "co2_kg": 0})
    assert "spent" in b.exceeded({"energy_kwh": 1.0, "co2_kg": 0.0}, None)
    assert Budget(co2_kg=0.01).exceeded({"energy_kwh": 9, "co2_kg": 0.02}, None)


@pytest.mark.slow
def test_a_budget_stop_is_consistent_and_resumes_with_a_larger_budget(tmp_path):
    from greenai.lifecycle.steps.baseline import train_run
    from greenai.ml.training.checkpoint import load_checkpoint
    from greenai.ml.training.config import TrainConfig, paths_for
    from greenai.storage import open_store

    store = open_store(None, default_dir=tmp_path)
    cfg = TrainConfig(
        dataset="synthetic", device="cpu", epochs=3, batch_size=32, limit_train=96,
        limit_test=16, model="seed_cnn", precision="fp32",
    )  # fmt: skip
    with pytest.raises(BudgetExceeded, match="stopped: budget after epoch 1 of 3"):
        train_run(cfg, out_dir=tmp_path, store=store, carbon=None, run_id="bud-1",
                  progress=False, inference_images=0, budget=Budget(energy_kwh=1e-12))  # fmt: skip
    run = store.get_run("bud-1")
    assert run.status == "stopped: budget" and "budget" in run.error
    ck = load_checkpoint(paths_for(tmp_path, "bud-1")["checkpoint"])
    assert ck["epoch"] == 1
    first = ck["log_rows"][0]
    assert (
        first["prediction"]["segments"] >= 2 and first["prediction"]["energy_low_kwh"] is not None
    )
    assert [e.epoch for e in store.epochs("bud-1")] == [1]
    assert "pred_energy_kwh" in store.epochs("bud-1")[0].metrics

    result = train_run(cfg, out_dir=tmp_path, store=store, carbon=None, run_id="bud-1",
                       resume=True, progress=False, inference_images=0,
                       budget=Budget(energy_kwh=100.0))  # fmt: skip
    assert store.get_run("bud-1").status == "done"
    assert result["hyperparameters"]["epochs"] == 3 and result["budget"]["energy_kwh"] == 100.0
    section = result["prediction"]
    assert [r["after_epoch"] for r in section["per_epoch"]] == [1, 2]  # nothing left after 3
    assert section["actual"]["energy_kwh"] > 0
    assert all(isinstance(r["energy_error_pct"], float) for r in section["per_epoch"])
    assert [e.epoch for e in store.epochs("bud-1")] == [1, 2, 3]
    store.close()
