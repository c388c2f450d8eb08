"""``greenai.integrations.optuna.metered``: a user's own Optuna study gets energy as an objective."""

from __future__ import annotations

import pytest

optuna = pytest.importorskip("optuna")

from energy_fakes import FakeRapl  # noqa: E402

from greenai.errors import UsageError  # noqa: E402
from greenai.integrations.optuna import metered  # noqa: E402
from greenai.storage import open_store  # noqa: E402


def test_each_trial_is_metered_recorded_and_scored(tmp_path):
    rapl = FakeRapl(tmp_path / "powercap")

    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        rapl.add(3.6 * (trial.number + 1))  # trial n burns 3.6 (n+1) J
        if trial.number == 2:
            raise RuntimeError("diverged")
        return x

    store = str(tmp_path / "greenai.db")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="mine", directions=["maximize", "minimize"])
    study.optimize(
        metered(objective, store=store, sensors=rapl.sensors(), interval_s=None, pue=1.5),
        n_trials=3, catch=(RuntimeError,),
    )  # fmt: skip
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert [t.number for t in done] == [0, 1]
    for t in done:
        joules = 3.6 * (t.number + 1)
        assert t.values[1] == pytest.approx(joules / 3.6e6 * 1.5)  # grid kWh, PUE included
        assert t.user_attrs["energy_cpu_j"] == pytest.approx(joules)
        assert "measured" in t.user_attrs["energy_methods"]["cpu"]
    with open_store(store, create=False) as s:
        runs = {r.run_id: r for r in s.list_runs(group="mine")}
    assert {runs[t.user_attrs["greenai_run_id"]].status for t in done} == {"done"}
    assert sorted(r.status for r in runs.values()) == ["done", "done", "failed"]


def test_an_unknown_cost_is_one_line():
    with pytest.raises(UsageError, match="cost must be one of"):
        metered(lambda t: 0.0, cost="watts")
