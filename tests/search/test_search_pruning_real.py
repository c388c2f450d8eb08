"""A real search (``greenai search``'s study and objective, the real ``train_run``, synthetic data,
a tiny model, SQLite in tmp_path) where the second trial is dominated at epoch 1 by the first on
(accuracy, energy) and is pruned: recorded as PRUNED by Optuna and as a ``pruned`` run, with the
reason, by greenai.

The pruning decision is made deterministic by the hyperparameters alone (``enqueue_trial``): the
first trial learns (a usable learning rate, the narrowest model), the second cannot (a learning
rate of 1e-7 leaves it at its initial weights) and is 8x wider, so it costs more CPU time, which
is what the energy estimate (no RAPL here) is made of.
"""

from __future__ import annotations

import optuna
import pytest

from greenai.carbon import CarbonConfig
from greenai.ml.training.config import TrainConfig
from greenai.search import space as space_mod
from greenai.search import study as study_mod
from greenai.search.objective import TrialObjective
from greenai.search.spent import spent
from greenai.search.summary import format_summary, summarise
from greenai.storage import open_store

GOOD = {"lr": 3e-3, "width": 0.25}
BAD = {"lr": 1e-7, "width": 2.0}


@pytest.fixture(autouse=True)
def _estimated_energy(monkeypatch, tmp_path):
    monkeypatch.delenv("GREENAI_STORE", raising=False)
    monkeypatch.setenv("GREENAI_POWERCAP_ROOT", str(tmp_path / "no-powercap"))


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_trial_dominated_at_the_same_epoch_is_pruned_in_a_real_search(tmp_path):
    url = study_mod.storage_url(None, tmp_path)
    flags = {"lr": [1e-7, 1e-2], "epochs": [2, 2], "width": [0.25, 2.0], "batch_size": [32],
             "precision": ["fp32"], "sparsity": [0.0], "quantization": ["off"]}  # fmt: skip
    space = space_mod.build_space(None, flags)
    study = study_mod.open_study(
        "prune", url, objective="energy", space=space, sampler=study_mod.make_sampler("tpe", 0)
    )
    study.enqueue_trial(GOOD)
    study.enqueue_trial(BAD)
    base = TrainConfig(
        dataset="synthetic", device="cpu", limit_train=256, limit_test=64, model="seed_cnn",
        holdout_fraction=0.25, seed=0, augment=False,
    )  # fmt: skip
    lines: list[str] = []
    with open_store(None, default_dir=tmp_path) as store:
        objective = TrialObjective(
            space, base, objective="energy", store=store, carbon=CarbonConfig.resolve(env={}),
            out_dir=tmp_path, study_name="prune", log=lines.append, prune_dominated=True,
        )  # fmt: skip
        study.optimize(objective, n_trials=2, catch=(Exception,))
        good, bad = study.trials
        assert good.state == optuna.trial.TrialState.COMPLETE, lines
        assert bad.state == optuna.trial.TrialState.PRUNED, lines
        # both trials recorded their epoch-1 figures; the first one's dominates the second's
        (acc0, kwh0), (acc1, kwh1) = good.user_attrs["epoch_1"], bad.user_attrs["epoch_1"]
        figures = f"trial 0: {acc0}% {kwh0} kWh; trial 1: {acc1}% {kwh1} kWh"
        assert acc0 >= acc1 and kwh0 <= kwh1 and (acc0, kwh0) != (acc1, kwh1), figures
        assert "epoch_2" not in bad.user_attrs  # stopped after epoch 1 of 2
        reason = bad.user_attrs["pruned_reason"]
        assert reason.startswith("pruned after epoch 1: trial #0 had")
        run = store.get_run(bad.user_attrs["run_id"])
        assert run.status == "pruned" and run.error == reason
        assert [e.epoch for e in store.epochs(run.run_id)] == [1]
        # what the pruned trial spent counts in the search's spending (budget, totals)
        assert run.energy_kwh is not None and run.energy_kwh >= kwh1, run.energy_kwh
        assert spent(store, "prune").energy_kwh == pytest.approx(
            run.energy_kwh + store.get_run(good.user_attrs["run_id"]).energy_kwh
        )
        assert store.get_run(good.user_attrs["run_id"]).status == "done"
    assert any(line.startswith(f"trial #1 {reason}") for line in lines)
    summary = summarise(study, "energy")
    assert summary.pruned == [(1, reason)] and summary.counts == {"COMPLETE": 1, "PRUNED": 1}
    assert f"trial #1 {reason}" in format_summary(summary).splitlines()
