"""A search under a budget, and pruning of trials dominated at the same epoch on (accuracy,
energy). The trials' training is a stand-in that records a run of known energy (the search's
bookkeeping is what is tested); the pruning is fed epoch rows as the training loop gives them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from greenai.carbon import CarbonConfig
from greenai.lifecycle.budget import Budget, TrialDominated
from greenai.ml.training.config import TrainConfig
from greenai.search import space as space_mod
from greenai.search import study as study_mod
from greenai.search.budget import BudgetCallback, search_spent
from greenai.search.dominance import dominates, pruning_callback
from greenai.search.objective import TrialObjective
from greenai.storage import open_store

TRIAL_KWH = 0.4


def _fake_train(cfg, *, out_dir, store, carbon, variant, run_id, group, **_kw):
    store.create_run(run_id, name=variant, variant=variant, group=group, config={})
    result = {
        "run_id": run_id, "metrics": {"test_accuracy_pct": 50.0},
        "energy": {"step": {"energy_kwh": TRIAL_KWH, "co2_kg": TRIAL_KWH / 2}},
    }  # fmt: skip
    store.finish_run(run_id, status="done", result=result)
    return result


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_search_stops_launching_trials_once_its_budget_is_spent(tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    fixed = {"epochs": [1], "width": [0.25], "precision": ["fp32"], "sparsity": 0,
             "quantization": "off"}  # fmt: skip
    space = space_mod.build_space(None, fixed)
    study = study_mod.open_study("b", url, objective="energy", space=space)
    base = TrainConfig(dataset="synthetic", device="cpu", limit_train=64, limit_test=32)
    lines = []
    with open_store(None, default_dir=tmp_path) as store:
        objective = TrialObjective(
            space, base, objective="energy", store=store, carbon=CarbonConfig.resolve(env={}),
            out_dir=tmp_path, study_name="b", train=_fake_train, log=lambda _l: None,
        )  # fmt: skip
        budget = Budget(energy_kwh=1.0)
        callback = BudgetCallback(store, "b", budget, log=lines.append)
        study.optimize(objective, n_trials=10, callbacks=[callback])
        spent = search_spent(store, "b")["energy_kwh"]
    # 0.4, 0.8 (< 1.0: go on), 1.2: stop. At most the budget plus one trial's overshoot.
    assert len(study.trials) == 3
    assert spent == pytest.approx(1.2) and spent <= budget.energy_kwh + TRIAL_KWH
    assert "budget reached (energy spent 1.2 kWh >= budget 1 kWh)" in lines[0]


def _trial(number, study, attrs=None):
    t = SimpleNamespace(number=number, user_attrs=dict(attrs or {}), study=study)
    t.set_user_attr = t.user_attrs.__setitem__
    return t


def test_dominance_is_strict_on_one_objective():
    assert dominates((80.0, 1.0), (70.0, 1.0)) and dominates((70.0, 0.5), (70.0, 1.0))
    assert not dominates((70.0, 1.0), (70.0, 1.0)) and not dominates((90.0, 2.0), (70.0, 1.0))


def test_a_trial_dominated_at_the_same_epoch_is_stopped():
    trials = []
    study = SimpleNamespace(get_trials=lambda deepcopy=False: trials)
    good = _trial(0, study, {"epoch_1": [60.0, 0.10], "epoch_2": [70.0, 0.20]})
    mine = _trial(1, study)
    trials += [good, mine]
    on_epoch = pruning_callback(mine)
    on_epoch({"epoch": 1, "eval_acc_pct": 65.0, "energy_kwh": 0.12})  # better accuracy: goes on
    assert mine.user_attrs["epoch_1"] == [65.0, 0.12]
    with pytest.raises(TrialDominated, match=r"pruned after epoch 2: trial #0 had 70\.00%") as info:
        on_epoch({"epoch": 2, "eval_acc_pct": 69.0, "energy_kwh": 0.25})
    assert info.value.run_status == "pruned"


def test_search_dry_run_prints_the_start_and_runs_no_trial(tmp_path, monkeypatch, capsys):
    import time

    from greenai.cli.main import main

    monkeypatch.setenv("GREENAI_POWERCAP_ROOT", str(tmp_path / "no-powercap"))
    hour = (time.time() // 3600) * 3600
    forecast = tmp_path / "f.csv"
    forecast.write_text(
        "timestamp,g_co2e_per_kwh\n"
        + "\n".join(f"{int(hour + i * 3600)},{g}" for i, g in enumerate([500, 50, 500]))
        + "\n"
    )
    out = tmp_path / "out"
    code = main([
        "search", "--dataset", "synthetic", "--device", "cpu", "--trials", "2", "--out", str(out),
        "--start-within", "2h", "--forecast", str(forecast), "--expected-duration", "10m",
        "--dry-run", "--energy-budget", "5Wh", "--defer-trials", "--prune-dominated",
    ])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0 and "expected_saving_pct" in printed
    assert "start_at " + time.strftime("%Y-%m-%dT%H", time.gmtime(hour + 3600)) in printed
    assert not (out / "greenai.db").exists()
