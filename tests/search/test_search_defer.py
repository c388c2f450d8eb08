"""``--defer-trials``: a search worker with an intensity forecast waits for each trial's cleanest
start, on an injected clock and sleeper (nothing really waits), shows it and records it on the trial.
The trials' training is a stand-in that records a run (the deferral is what is tested); one real
``greenai search --defer-trials`` checks the wiring and the record."""

from __future__ import annotations

import time

import optuna
import pytest

from greenai.carbon import CarbonConfig
from greenai.carbon.series import iso
from greenai.cli.main import main
from greenai.ml.training.config import TrainConfig
from greenai.search import space as space_mod
from greenai.search import study as study_mod
from greenai.search.defer import TrialDeferral
from greenai.search.objective import TrialObjective
from greenai.storage import open_store

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
HOUR = 3600.0


def _forecast(tmp_path, start, values, name="forecast.csv"):
    path = tmp_path / name
    rows = "\n".join(f"{int(start + i * HOUR)},{g}" for i, g in enumerate(values))
    path.write_text(f"timestamp,g_co2e_per_kwh\n{rows}\n", encoding="utf-8")
    return path


class Clock:
    """A clock that only the sleeper moves."""

    def __init__(self, now):
        self.now = now
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_trial_is_deferred_to_the_clean_window_on_an_injected_clock(tmp_path):
    clock = Clock(T0 + 600.0)  # 00:10; 500 g/kWh until 01:00, 50 until 02:00, then 500
    forecast = _forecast(tmp_path, T0, [500, 50, 500])
    started_at = []

    def train(cfg, *, out_dir, store, carbon, variant, run_id, group, **_kw):
        started_at.append(clock())
        store.create_run(run_id, name=variant, variant=variant, group=group, config={})
        result = {"run_id": run_id, "metrics": {"test_accuracy_pct": 50.0},
                  "energy": {"step": {"energy_kwh": 0.1, "co2_kg": 0.01}}}  # fmt: skip
        store.finish_run(run_id, status="done", result=result)
        clock.now += 600.0  # the trial takes 10 minutes
        return result

    fixed = {"epochs": [1], "width": [0.25], "precision": ["fp32"], "sparsity": 0,
             "quantization": "off"}  # fmt: skip
    space = space_mod.build_space(None, fixed)
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = study_mod.open_study("d", url, objective="energy", space=space)
    lines = []
    deferral = TrialDeferral(
        str(forecast), 2 * HOUR, expected_s=600.0, clock=clock, sleep=clock.sleep,
        say=lines.append,
    )  # fmt: skip
    with open_store(None, default_dir=tmp_path) as store:
        objective = TrialObjective(
            space, TrainConfig(dataset="synthetic", device="cpu"), objective="energy",
            store=store, carbon=CarbonConfig.resolve(env={}), out_dir=tmp_path, study_name="d",
            train=train, log=lines.append, before_trial=deferral,
        )  # fmt: skip
        study.optimize(objective, n_trials=2)
    first, second = study.trials
    # trial 0 waits from 00:10 to 01:00 (the 50 g/kWh hour) and only then trains
    assert sum(clock.slept) == pytest.approx(3000.0)
    assert started_at[0] == pytest.approx(T0 + HOUR)
    rec = first.user_attrs["deferral"]
    assert rec["deferred"] is True and rec["chosen_start_utc"] == iso(T0 + HOUR)
    assert rec["decided_at_utc"] == iso(T0 + 600.0) and rec["waited_s"] == pytest.approx(3000.0)
    assert rec["forecast_g_per_kwh_now"] == pytest.approx(500.0)
    assert rec["forecast_g_per_kwh_chosen"] == pytest.approx(50.0)
    assert rec["expected_saving_pct"] == pytest.approx(90.0)
    assert rec["duration_source"] == "--expected-duration"
    # trial 1 is decided at 01:10, inside the clean hour: it starts at once, no more sleeping
    rec = second.user_attrs["deferral"]
    assert rec["deferred"] is False and rec["waited_s"] == 0.0
    assert started_at[1] == pytest.approx(T0 + HOUR + 600.0) and len(clock.slept) >= 1
    assert sum(clock.slept) == pytest.approx(3000.0)
    shown = "\n".join(lines)
    assert "search: trial #0: carbon-aware start at 2026-01-01T01:00:00Z" in shown
    assert "greenai: waiting:" in shown and "greenai: starting at 2026-01-01T01:00:00Z" in shown
    assert "search: trial #1: carbon-aware start now" in shown


def test_without_a_duration_the_trial_starts_now_and_says_why(tmp_path):
    clock = Clock(T0 + 600.0)
    lines, attrs = [], {}
    trial = type("T", (), {"number": 4, "set_user_attr": lambda _s, k, v: attrs.__setitem__(k, v)})
    deferral = TrialDeferral(
        str(_forecast(tmp_path, T0, [500, 50])), HOUR, history=lambda: None, clock=clock,
        sleep=clock.sleep, say=lines.append,
    )  # fmt: skip
    deferral(trial())
    assert clock.slept == [] and attrs["deferral"]["deferred"] is False
    assert lines == ["search: --defer-trials: no finished trial to time yet; trial #4 starts now"]
    # with the search's history (median of finished trials) it defers
    deferral.history = lambda: (600.0, 3)
    deferral(trial())
    assert attrs["deferral"]["duration_source"] == "median of 3 finished trial(s)"
    assert sum(clock.slept) == pytest.approx(3000.0)


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_search_cli_records_each_trials_deferral(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("GREENAI_STORE", raising=False)
    monkeypatch.setenv("GREENAI_POWERCAP_ROOT", str(tmp_path / "no-powercap"))
    # clean from an hour before this hour to an hour after it: now and the next minute (the
    # expected duration) lie inside it whatever the time, so the trial starts without waiting
    hour = (time.time() // HOUR) * HOUR
    forecast = _forecast(tmp_path, hour - HOUR, [50, 50, 50, 900])
    out = tmp_path / "out"
    code = main([
        "search", "--dataset", "synthetic", "--device", "cpu", "--limit-train", "64",
        "--limit-test", "32", "--epochs-range", "1", "1", "--widths", "0.25",
        "--batch-sizes", "32", "--precisions", "fp32", "--sparsities", "0",
        "--quantization", "off", "--trials", "1", "--out", str(out), "--study-name", "dcli",
        "--start-within", "1h", "--forecast", str(forecast), "--expected-duration", "1m",
        "--defer-trials",
    ])  # fmt: skip
    assert code == 0
    assert "search: trial #0: carbon-aware start now" in capsys.readouterr().err
    study = optuna.load_study(study_name="dcli", storage=study_mod.storage_url(None, out))
    rec = study.trials[0].user_attrs["deferral"]
    assert rec["deferred"] is False and rec["forecast_g_per_kwh_chosen"] == pytest.approx(50.0)
    assert rec["waited_s"] < 60.0


def test_a_stale_forecast_for_deferred_trials_is_one_line_before_anything_is_written(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.delenv("GREENAI_STORE", raising=False)
    monkeypatch.setenv("GREENAI_POWERCAP_ROOT", str(tmp_path / "no-powercap"))
    stale = _forecast(tmp_path, (time.time() // HOUR - 10) * HOUR, [50, 900])
    out = tmp_path / "out"
    code = main([
        "search", "--dataset", "synthetic", "--device", "cpu", "--trials", "1", "--out", str(out),
        "--start-within", "1h", "--forecast", str(stale), "--expected-duration", "1m",
        "--defer-trials",
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "lies wholly outside" in err and err.count("\n") == 1
    assert not (out / "search.db").exists() and not (out / "greenai.db").exists()
