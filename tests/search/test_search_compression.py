"""Trials that compress: the trained model is pruned and/or INT8-quantized as child runs, and the
trial's objectives are the final model's accuracy and the lifecycle cost (training + every step)."""

from __future__ import annotations

import optuna
import pytest

from greenai.cli.main import main
from greenai.search import study as study_mod
from greenai.search.objective import TrialObjective
from greenai.search.space import build_space
from greenai.search.trial import VARIANT, compression_choice
from greenai.storage import open_store

pytest.importorskip("torchao")

FIXED = {"epochs": [1], "width": [0.25], "batch_size": [32], "precision": ["fp32"]}


@pytest.fixture(autouse=True)
def _no_env_store(monkeypatch):
    monkeypatch.delenv("GREENAI_STORE", raising=False)


def _objective(tmp_path, store, space, name):
    from greenai.carbon import CarbonConfig
    from greenai.ml.training.config import TrainConfig

    base = TrainConfig(dataset="synthetic", device="cpu", limit_train=64, limit_test=32)
    return TrialObjective(
        space,
        base,
        objective="energy",
        store=store,
        carbon=CarbonConfig.resolve(),
        out_dir=tmp_path,
        study_name=name,
        finetune_epochs=1,
        log=lambda _line: None,
    )


def test_a_pruned_and_quantized_trial_is_a_lineage_of_runs_scored_on_its_lifecycle(tmp_path):
    space = build_space(None, {**FIXED, "sparsity": [0.3], "quantization": ["on"]})
    url = study_mod.storage_url(None, tmp_path)
    study = study_mod.open_study("c", url, objective="energy", space=space)
    with open_store(None, default_dir=tmp_path) as store:
        study.optimize(_objective(tmp_path, store, space, "c"), n_trials=1)
        trial = study.trials[0]
        assert trial.state == optuna.trial.TrialState.COMPLETE
        trained_id = trial.user_attrs["run_id"]
        pruned_id, quantized_id = trial.user_attrs["child_run_ids"]
        assert trial.user_attrs["final_run_id"] == quantized_id

        trained, pruned, quantized = (
            store.get_run(r) for r in (trained_id, pruned_id, quantized_id)
        )
        # Lineage: trained -> pruned -> quantized, all done, all in the study's group.
        assert (trained.variant, trained.parent_run_id) == (VARIANT, None)
        assert (pruned.variant, pruned.parent_run_id) == ("pruned_unstructured", trained_id)
        assert (quantized.variant, quantized.parent_run_id) == ("quantized_ptq", pruned_id)
        for run in (trained, pruned, quantized):
            assert (run.status, run.group) == ("done", "c")
        assert {r.run_id for r in store.list_runs(group="c")} == {
            trained_id,
            pruned_id,
            quantized_id,
        }
        assert pruned.result["hyperparameters"]["sparsity"] == 0.3
        assert pruned.result["compression"]["sparsity_achieved"]
        assert quantized.result["precision"] == "int8"

        # Objectives: the final (quantized) model's accuracy, and the sum of the three steps.
        accuracy, cost = trial.values
        assert accuracy == pytest.approx(quantized.result["metrics"]["test_accuracy_pct"])
        steps = [r.result["energy"]["step"]["energy_kwh"] for r in (trained, pruned, quantized)]
        assert all(s > 0 for s in steps)
        assert cost == pytest.approx(sum(steps), rel=1e-9)
        assert cost == pytest.approx(quantized.result["energy"]["lifecycle"]["energy_kwh"])
        assert cost > trained.result["energy"]["step"]["energy_kwh"]
        ancestors = quantized.result["energy"]["lifecycle"]["ancestors"]
        assert [a["run_id"] for a in ancestors] == [pruned_id, trained_id]


def test_a_failing_compression_step_fails_the_trial_and_the_search_goes_on(tmp_path, monkeypatch):
    from greenai.lifecycle.steps import quantize

    def broken_quantize(parent, env, data, **kw):  # fault injection: the INT8 conversion fails
        raise RuntimeError("int8 conversion failed (injected)")

    monkeypatch.setattr(quantize, "quantize", broken_quantize)
    space = build_space(None, {**FIXED, "sparsity": [0.0], "quantization": ["on"]})
    url = study_mod.storage_url(None, tmp_path)
    study = study_mod.open_study("f", url, objective="energy", space=space)
    with open_store(None, default_dir=tmp_path) as store:
        study.optimize(_objective(tmp_path, store, space, "f"), n_trials=2, catch=(Exception,))
        assert [t.state.name for t in study.trials] == ["FAIL", "FAIL"]
        for t in study.trials:
            reason = t.user_attrs["fail_reason"]
            assert reason.startswith("CompressionFailed: quantize (int8 ptq) of run ")
            assert reason.endswith("RuntimeError: int8 conversion failed (injected)")
            assert "child_run_ids" not in t.user_attrs
            # The training itself finished: its run stays done.
            assert store.get_run(t.user_attrs["run_id"]).status == "done"


def test_search_over_sparsity_and_quantization_completes(tmp_path, capsys):
    out = tmp_path / "out"
    argv = [
        "search", "--dataset", "synthetic", "--device", "cpu", "--limit-train", "64",
        "--limit-test", "32", "--epochs-range", "1", "1", "--widths", "0.25", "--batch-sizes",
        "32", "--precisions", "fp32", "--sparsities", "0", "0.3", "--quantization", "off", "on",
        "--prune-finetune-epochs", "0", "--trials", "3", "--seed", "4", "--out", str(out),
        "--study-name", "sq",
    ]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "sparsity in [0.0, 0.3]; quantization in ['off', 'on']" in printed
    study = optuna.load_study(study_name="sq", storage=study_mod.storage_url(None, out))
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    chosen = [compression_choice(t.params) for t in study.trials]
    # (seed 4 happens to sample a pruned-only and a quantized-only trial; the point is that some compress)
    assert any(s > 0 or q for s, q in chosen), chosen
    with open_store(None, default_dir=out, create=False) as store:
        for t in study.trials:
            sparsity, quantize = compression_choice(t.params)
            children = t.user_attrs.get("child_run_ids", [])
            assert len(children) == (sparsity > 0) + quantize
            final = store.get_run(t.user_attrs["final_run_id"])
            assert final.run_id == (children[-1] if children else t.user_attrs["run_id"])
            assert final.accuracy == pytest.approx(t.values[0])
            life = final.result["energy"]["lifecycle"]["energy_kwh"]
            assert life == pytest.approx(t.values[1])
