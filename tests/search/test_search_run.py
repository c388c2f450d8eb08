"""Tiny real searches on synthetic data: every trial is a measured greenai run in the store."""

from __future__ import annotations

import optuna
import pytest

from greenai.cli.main import main
from greenai.search import study as study_mod
from greenai.search.objective import TrialObjective
from greenai.search.space import build_space
from greenai.search.stale import close_stale_run
from greenai.search.summary import STALE_REASON, format_summary, summarise
from greenai.search.trial import VARIANT
from greenai.storage import open_store

TINY = [
    "--dataset", "synthetic", "--device", "cpu", "--limit-train", "64", "--limit-test", "32",
    "--epochs-range", "1", "1", "--widths", "0.25", "0.5", "--batch-sizes", "32", "64",
    "--precisions", "fp32", "--sparsities", "0", "--quantization", "off",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _no_env_store(monkeypatch):
    monkeypatch.delenv("GREENAI_STORE", raising=False)


def load(out, name):
    url = study_mod.storage_url(None, out)
    return optuna.load_study(study_name=name, storage=url)


def brute_force_front(trials):
    """Completed trials no other completed trial beats (more or as accurate and as cheap, better in one)."""
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    return {
        t.number
        for t in done
        if not any(
            o.values[0] >= t.values[0] and o.values[1] <= t.values[1] and o.values != t.values
            for o in done
        )
    }


def pareto_numbers(stdout):
    """Trial numbers listed in the printed Pareto table."""
    lines = stdout.split("Pareto-optimal trials", 1)[1].splitlines()[2:]
    return {int(line.split()[0][1:]) for line in lines if line.strip().startswith("#")}


def test_search_records_runs_resumes_and_shows_the_front(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["search", *TINY, "--out", str(out), "--study-name", "tiny", "--seed", "3"]
    assert main([*argv, "--trials", "2"]) == 0
    first = capsys.readouterr().out
    study = load(out, "tiny")
    assert len(study.trials) == 2
    assert study.user_attrs["greenai_objective"] == "energy"

    # Resuming (same name, same storage) adds trials to the same study; --total-trials caps it.
    assert main([*argv, "--trials", "5", "--total-trials", "3"]) == 0
    second = capsys.readouterr().out
    assert "(2 trials so far" in second
    study = load(out, "tiny")
    trials = study.trials
    assert [t.number for t in trials] == [0, 1, 2]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    # The resumed sampler does not replay the first run's suggestions.
    assert trials[2].params["lr"] not in (trials[0].params["lr"], trials[1].params["lr"])

    # Every trial is a run in the store: group = study, variant search_trial, params in its config.
    with open_store(None, default_dir=out, create=False) as store:
        runs = {r.run_id: r for r in store.list_runs(group="tiny")}
        assert sorted(runs) == sorted(t.user_attrs["run_id"] for t in trials)
        for t in trials:
            run = runs[t.user_attrs["run_id"]]
            assert (run.variant, run.status) == (VARIANT, "done")
            assert run.config["lr"] == pytest.approx(t.params["lr"])
            assert run.config["width"] == t.params["width"]
            assert run.accuracy == pytest.approx(t.values[0])
            assert run.energy_kwh == pytest.approx(t.values[1])

    # The printed front is exactly the non-dominated set; charts are drawn.
    assert pareto_numbers(second) == brute_force_front(trials)
    assert "hypervolume:" in first and "hypervolume:" in second
    for suffix in ("pareto", "hypervolume"):
        png = out / "results" / f"search_tiny_{suffix}.png"
        assert png.read_bytes()[:4] == b"\x89PNG"

    # --show summarises without running anything.
    assert main(["search", "--show", "--out", str(out), "--study-name", "tiny"]) == 0
    shown = capsys.readouterr().out
    assert pareto_numbers(shown) == brute_force_front(trials)
    assert len(load(out, "tiny").trials) == 3


def test_a_study_refuses_another_objective_or_space(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["search", *TINY, "--out", str(out), "--study-name", "s", "--trials", "1"]
    assert main(argv) == 0
    capsys.readouterr()
    assert main([*argv, "--objective", "co2"]) == 2
    assert "optimises energy, not co2" in capsys.readouterr().err
    assert main([*argv, "--lr-range", "0.001", "0.002"]) == 2
    assert "another search space (differs in lr)" in capsys.readouterr().err
    assert len(load(out, "s").trials) == 1


def test_a_failing_trial_is_recorded_and_the_search_goes_on(tmp_path):
    from greenai.carbon import CarbonConfig
    from greenai.lifecycle.steps.baseline import train_run
    from greenai.ml.training.config import TrainConfig

    calls = []

    def train_crashing_on_the_second_call(cfg, **kw):
        # Fault injection at the hardware boundary: the device "runs out of memory" mid-trial.
        calls.append(kw["run_id"])
        if len(calls) == 2:
            raise RuntimeError("CUDA out of memory (injected)")
        return train_run(cfg, **kw)

    url = study_mod.storage_url(None, tmp_path)
    space = build_space(
        None,
        {
            "epochs": [1],
            "width": [0.25],
            "precision": ["fp32"],
            "sparsity": 0,
            "quantization": "off",
        },
    )
    study = study_mod.open_study("f", url, objective="co2", space=space)
    base = TrainConfig(dataset="synthetic", device="cpu", limit_train=64, limit_test=32)
    with open_store(None, default_dir=tmp_path) as store:
        objective = TrialObjective(
            space,
            base,
            objective="co2",
            store=store,
            carbon=CarbonConfig.resolve(),
            out_dir=tmp_path,
            study_name="f",
            train=train_crashing_on_the_second_call,
            log=lambda _line: None,
        )
        study.optimize(objective, n_trials=3, catch=(Exception,))
        assert [t.state.name for t in study.trials] == ["COMPLETE", "FAIL", "COMPLETE"]
        failed = study.trials[1]
        assert failed.user_attrs["fail_reason"] == "RuntimeError: CUDA out of memory (injected)"
        # train_run never started that run: the objective still records it, as failed.
        run = store.get_run(failed.user_attrs["run_id"])
        assert (run.status, run.variant, run.group) == ("failed", VARIANT, "f")
        assert "out of memory" in run.error
        done = [r for r in store.list_runs(group="f") if r.status == "done"]
        assert len(done) == 2
        # The CO2 objective is the run's own CO2 in kg.
        by_id = {r.run_id: r for r in done}
        for t in (study.trials[0], study.trials[2]):
            assert by_id[t.user_attrs["run_id"]].co2_kg == pytest.approx(t.values[1])


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_trial_whose_worker_died_is_failed_and_its_run_closed(tmp_path):
    import time

    url = study_mod.storage_url(None, tmp_path)
    with open_store(None, default_dir=tmp_path) as store:
        on_stale = close_stale_run(store, log=lambda _line: None)
        study = study_mod.open_study(
            "crash",
            url,
            objective="energy",
            space=None,
            on_stale=on_stale,
            heartbeat_s=1,
            grace_s=1,
        )
        # A worker started a trial and its run, sent one heartbeat, then was killed.
        trial = study.ask()
        trial.set_user_attr("run_id", "20261125-000000-dead00")
        store.create_run("20261125-000000-dead00", variant=VARIANT, group="crash")
        study._storage.record_heartbeat(trial._trial_id)
        time.sleep(2.5)
        # The next worker to start a trial fails it (what study.optimize does first).
        optuna.storages.fail_stale_trials(study)
        assert study.trials[0].state == optuna.trial.TrialState.FAIL
        run = store.get_run("20261125-000000-dead00")
        assert run.status == "failed"
        assert "heartbeats" in run.error
    summary = summarise(study, "energy")
    assert summary.failures == [(0, STALE_REASON)]
    assert "trial #0 failed: its worker stopped" in format_summary(summary)


def test_samplers():
    assert isinstance(study_mod.make_sampler("nsga2", 1), optuna.samplers.NSGAIISampler)
    assert isinstance(study_mod.make_sampler("tpe", 1), optuna.samplers.TPESampler)


def test_tpe_with_the_same_seed_suggests_the_same_trials_and_co2_is_the_lifecycle_co2(
    tmp_path, capsys
):
    """--sampler tpe --seed N is repeatable across fresh storages; --objective co2 scores each
    trial on its run's lifecycle CO2 (a bf16 trial included)."""
    space = [*TINY[: TINY.index("--precisions")], "--precisions", "fp32", "bf16",
             "--sparsities", "0", "--quantization", "off"]  # fmt: skip
    params = []
    for name in ("a", "b"):
        out = tmp_path / name
        argv = ["search", *space, "--sampler", "tpe", "--seed", "11", "--objective", "co2",
                "--trials", "3", "--out", str(out), "--study-name", "rep"]  # fmt: skip
        assert main(argv) == 0, capsys.readouterr().err
        study = load(out, "rep")
        assert study.user_attrs["greenai_objective"] == "co2"
        assert isinstance(study.sampler, optuna.samplers.TPESampler)
        params.append([t.params for t in study.trials])
        with open_store(None, default_dir=out, create=False) as store:
            for t in study.trials:
                result = store.get_run(t.user_attrs["final_run_id"]).result
                assert t.values[1] == pytest.approx(result["energy"]["lifecycle"]["co2_kg"])
                assert result["precision"] == t.params["precision"]
    assert params[0] == params[1]
    assert len({p["lr"] for p in params[0]}) == 3
