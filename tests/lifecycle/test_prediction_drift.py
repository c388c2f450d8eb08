"""The prediction interval widened by drift, machine load and a few-epoch floor
(``results/prediction_drift.py``), on synthetic epoch series fed as the training loop feeds them:
8 batches an epoch, a segment every 2, 1 s and 1 kWh per batch at the base rate."""

from __future__ import annotations

import itertools

import pytest

from greenai.results.prediction import EpochPredictor
from greenai.results.prediction_drift import FLOOR_REL, EpochRates, drift_factors, widen

EPOCHS = 6


def _run(slow, loads=None, epochs=EPOCHS):
    """Feed ``epochs`` epochs; ``slow(epoch, batch)``: the rate factor of the segment ending
    there. Returns (the Student-t predictions, the widened ones, their records, the actual)."""
    p = EpochPredictor(epochs=epochs, steps_per_epoch=8, future_g_per_kwh=lambda _s: 200.0)
    rates = EpochRates()
    e = s = 0.0
    p.start(s, e, 0.0)
    plain, wide, infos = [], [], []
    for epoch in range(1, epochs + 1):
        for b in (2, 4, 6, 8):
            f = slow(epoch, b)
            e, s = e + 2 * f, s + 2 * f
            p.mark(b, s, e, e * 0.2)
        e, s = e + 0.5 * slow(epoch, 8), s + 0.5 * slow(epoch, 8)  # evaluation: the overhead
        pred = p.end_epoch(epoch, s, e, e * 0.2)
        rates.add_epoch(p, None if loads is None else loads[epoch - 1])
        if pred is not None:
            w, info = widen(pred, p, rates, {"energy_kwh": e, "duration_s": s, "co2_kg": e * 0.2})
            plain.append(pred)
            wide.append(w)
            infos.append(info)
    return plain, wide, infos, {"energy_kwh": e, "duration_s": s, "co2_kg": e * 0.2}


def _covers(pred, actual):
    return (
        pred.energy_low_kwh <= actual["energy_kwh"] <= pred.energy_high_kwh
        and pred.duration_low_s <= actual["duration_s"] <= pred.duration_high_s
        and pred.co2_low_kg <= actual["co2_kg"] * (1 + 1e-12) <= pred.co2_high_kg * (1 + 1e-12)
    )


def test_a_steady_run_is_covered_and_its_interval_narrows_as_epochs_accrue():
    _plain, wide, infos, actual = _run(lambda _e, _b: 1.0)
    assert all(_covers(w, actual) for w in wide)
    widths = [w.energy_high_kwh - w.energy_low_kwh for w in wide]
    rel = [width / (w.energy_kwh - spent) for width, w, spent in
           zip(widths, wide, [8.5 * k for k in range(1, EPOCHS)], strict=True)]  # fmt: skip
    assert all(a > b for a, b in itertools.pairwise(widths))  # narrower every epoch
    assert all(a > b for a, b in itertools.pairwise(rel))  # also relative to what is left
    # after one epoch: +-50 % of the rest (the floor), nothing else (no drift, no load recorded)
    first = wide[0]
    rest = first.energy_kwh - 8.5
    assert first.energy_high_kwh == pytest.approx(8.5 + rest * (1 + FLOOR_REL))
    assert first.energy_low_kwh == pytest.approx(8.5 + rest / (1 + FLOOR_REL))
    assert infos[0]["floor_rel"] == FLOOR_REL and infos[3]["floor_rel"] == FLOOR_REL / 2


def test_a_2x_slowdown_mid_run_lies_inside_the_interval_once_it_shows():
    def slow(epoch, batch):  # from the second half of epoch 3 on, every batch takes twice as long
        return 2.0 if (epoch, batch) >= (3, 6) else 1.0

    plain, wide, infos, actual = _run(slow)
    after = wide[2:]  # predictions after epochs 3, 4, 5: the slowdown has been seen
    assert all(_covers(w, actual) for w in after)
    # the Student-t interval of the segments alone misses it
    assert not (plain[2].energy_low_kwh <= actual["energy_kwh"] <= plain[2].energy_high_kwh)
    assert infos[2]["energy_drift_factors"][1] > 1.5  # the drift is what widened it
    assert infos[2]["duration_drift_factors"][1] > 1.5


def test_on_a_shared_machine_the_load_covers_a_slowdown_before_it_shows():
    def slow(epoch, batch):
        return 2.0 if (epoch, batch) >= (3, 6) else 1.0

    # two runnable threads per CPU at every epoch's end: the run's share may halve or double
    _plain, wide, infos, actual = _run(slow, loads=[2.0] * EPOCHS)
    assert all(_covers(w, actual) for w in wide)  # from the first epoch's prediction on
    assert infos[0]["load_factor"] == 2.0 and infos[0]["load_per_cpu_max"] == 2.0
    # without the load, the predictions before the slowdown could not know of it
    _plain, unloaded, _infos, _actual = _run(slow)
    assert not _covers(unloaded[1], actual)


def test_drift_factors():
    assert drift_factors([1.0, 1.0], 1.0) == (1.0, 1.0)
    lo, hi = drift_factors([1.0, 1.5], 1.2)  # latest 1.5, moved 1.5x: 1.0 .. 2.25
    assert lo == pytest.approx(1.0 / 1.2) and hi == pytest.approx(2.25 / 1.2)
    assert drift_factors([], 1.0) == (1.0, 1.0) and drift_factors([0.0, 1.0], 0.5) == (1.0, 1.0)


def test_a_training_run_records_the_load_and_the_widened_interval(tmp_path):
    from greenai.lifecycle.steps.baseline import train_run
    from greenai.ml.training.config import TrainConfig
    from greenai.results.prediction_drift import METHOD
    from greenai.storage import open_store

    cfg = TrainConfig(
        dataset="synthetic", device="cpu", epochs=3, batch_size=32, limit_train=96,
        limit_test=16, model="seed_cnn", precision="fp32",
    )  # fmt: skip
    with open_store(None, default_dir=tmp_path) as store:
        result = train_run(cfg, out_dir=tmp_path, store=store, carbon=None, run_id="drift-1",
                           progress=False, inference_images=0)  # fmt: skip
        metrics = store.epochs("drift-1")[0].metrics
    section = result["prediction"]
    assert section["method"] == METHOD and "widened" in METHOD
    first = section["per_epoch"][0]
    assert first["interval"]["epochs_seen"] == 1 and first["interval"]["floor_rel"] == FLOOR_REL
    assert first["interval"]["load_factor"] >= 1.0  # this machine's load per CPU, read at epoch 1
    assert first["energy_low_kwh"] <= first["energy_kwh"] <= first["energy_high_kwh"]
    assert isinstance(first["energy_covered"], bool)
    # the dashboard's and the progress bar's fields are still there
    assert metrics["pred_energy_low_kwh"] == pytest.approx(first["energy_low_kwh"])
    assert metrics["pred_co2_high_kg"] == pytest.approx(first["co2_high_kg"])


def test_the_pre_flight_estimate_is_widened_at_least_by_the_floor():
    from greenai.lifecycle.estimate import _widened

    assert _widened(10.0, float("nan")) >= 10.0 * FLOOR_REL  # (more on a loaded machine)
    assert _widened(10.0, 100.0) == 100.0  # a wider Student-t half-width is kept
