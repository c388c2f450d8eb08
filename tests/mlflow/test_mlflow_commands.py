"""``--mlflow`` on the commands, read back from a real local tracking store: a standalone baseline
and a compression command each log their own run with its charts, also with only
``$MLFLOW_TRACKING_URI`` set; a tiny synthetic study is a parent run with one nested run per step (params,
energy metrics, result JSON) and the report's charts on the parent; search trials nest under the
search's parent run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

from greenai.cli.main import main
from greenai.ml.models import create_model
from greenai.ml.training.checkpoint import save_checkpoint
from greenai.reports.charts import SIZES
from greenai.results.resultfile import write_result

PARENT = "20261125-000000-parent"
PARENT_TAG = "mlflow.parentRunId"


@pytest.fixture
def mlflow_env(monkeypatch, tracking_uri, experiment):
    """``$MLFLOW_TRACKING_URI`` / ``$MLFLOW_EXPERIMENT_NAME`` pointing at the test's experiment;
    returns a client and a function listing the experiment's runs."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment)
    monkeypatch.delenv("GREENAI_STORE", raising=False)
    client = MlflowClient(tracking_uri=tracking_uri)

    def runs():
        found = client.get_experiment_by_name(experiment)
        assert found is not None, "nothing was logged to MLflow"
        return client.search_runs([found.experiment_id], max_results=100)

    return client, runs


def _result_json(client, run, tmp_path):
    path = client.download_artifacts(run.info.run_id, "greenai/result.json", str(tmp_path))
    return json.loads(open(path, encoding="utf-8").read())


def _artifacts(client, run, folder="greenai"):
    return {a.path for a in client.list_artifacts(run.info.run_id, folder)}


def _png_size(client, run, path, tmp_path):
    data = Path(client.download_artifacts(run.info.run_id, path, str(tmp_path))).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.fixture
def fast_sampling(monkeypatch):
    """A sub-second run still has a power series to chart (as tests/study/test_study_e2e.py)."""
    monkeypatch.setenv("GREENAI_INTERVAL", "0.05")


BASELINE = [
    "baseline", "--dataset", "synthetic", "--epochs", "1", "--limit-train", "64",
    "--limit-test", "32", "--no-progress",
]  # fmt: skip


def test_a_standalone_baseline_logs_params_epochs_energy_result_and_charts(
    tmp_path, mlflow_env, fast_sampling
):
    pytest.importorskip("matplotlib", reason="the report extra is not installed")
    client, runs = mlflow_env
    out = tmp_path / "out"
    assert main([*BASELINE, "--out", str(out), "--mlflow"]) == 0
    (run,) = runs()
    result = json.loads(next((out / "results").glob("synthetic_baseline_*.json")).read_text())
    assert run.info.status == "FINISHED" and run.info.run_name == "baseline"
    tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
    assert PARENT_TAG not in tags
    assert tags["greenai.run_id"] == result["run_id"]
    assert tags["greenai.variant"] == "baseline" and tags["greenai.dataset"] == "synthetic"
    # parameters: the training config
    assert params["dataset"] == "synthetic" and params["epochs"] == "1"
    assert params["limit_train"] == "64" and params["limit_test"] == "32"
    assert params["model"] == result["model"]
    # per-epoch metrics, one step per row of the training log
    log = (out / result["artifacts"]["training_log"]).read_text(encoding="utf-8")
    rows = list(csv.DictReader(log.splitlines()))
    assert len(rows) == 1
    for key in ("train_loss", "eval_acc_pct"):
        logged = client.get_metric_history(run.info.run_id, key)
        assert [m.step for m in logged] == [int(r["epoch"]) for r in rows]
        assert [m.value for m in logged] == pytest.approx([float(r[key]) for r in rows])
    # energy and CO2: the run's totals and each phase's
    step = result["energy"]["step"]
    assert step["energy_kwh"] > 0 and step["co2_kg"] > 0
    assert metrics["energy.step.energy_kwh"] == pytest.approx(step["energy_kwh"])
    assert metrics["energy.step.co2_kg"] == pytest.approx(step["co2_kg"])
    assert metrics["energy.lifecycle.co2_kg"] == pytest.approx(
        result["energy"]["lifecycle"]["co2_kg"]
    )
    assert metrics["metrics.test_accuracy_pct"] == pytest.approx(
        result["metrics"]["test_accuracy_pct"]
    )
    paths = {p["path"] for p in step["phases"]}
    assert {"data", "train", "eval"} <= paths
    for phase in step["phases"]:
        for field in ("energy_kwh", "co2_kg"):
            assert metrics[f"phase/{phase['path']}/{field}"] == pytest.approx(phase[field])
    # artifacts: the result JSON, the logs and the run's own charts
    logs = [Path(result["artifacts"][k]).name for k in ("training_log", "emissions_csv")]
    assert {"greenai/result.json", "greenai/charts", *(f"greenai/{n}" for n in logs)} <= (
        _artifacts(client, run)
    )
    assert _result_json(client, run, tmp_path / "dl") == result
    _assert_its_charts(client, run, tmp_path / "charts")


def test_each_phase_is_logged_once_with_pue_applied(tmp_path, mlflow_env, fast_sampling):
    """At --pue 1.5 each phase key holds one value, the result's (PUE included): the meter's own
    phase records (before PUE) are not logged as well under the same key."""
    client, runs = mlflow_env
    out = tmp_path / "out"
    assert main([*BASELINE, "--out", str(out), "--mlflow", "--pue", "1.5"]) == 0
    (run,) = runs()
    result = json.loads(next((out / "results").glob("synthetic_baseline_*.json")).read_text())
    assert result["carbon"]["pue"] == 1.5
    for phase in result["energy"]["step"]["phases"]:
        history = client.get_metric_history(run.info.run_id, f"phase/{phase['path']}/energy_kwh")
        assert [m.value for m in history] == pytest.approx([phase["energy_kwh"]])


def _assert_its_charts(client, run, folder):
    """The run's own power and epoch charts, logged as PNGs of the report's sizes."""
    assert _artifacts(client, run, "greenai/charts") == {
        "greenai/charts/power.png", "greenai/charts/epochs.png"
    }  # fmt: skip
    for name in ("power", "epochs"):
        assert _png_size(client, run, f"greenai/charts/{name}.png", folder) == SIZES[name]


def test_the_tracking_uri_alone_turns_logging_on(tmp_path, mlflow_env, fast_sampling):
    """No ``--mlflow``: ``$MLFLOW_TRACKING_URI`` (set by ``mlflow_env``) is enough."""
    client, runs = mlflow_env
    out = tmp_path / "out"
    assert main([*BASELINE, "--out", str(out), "--inference-images", "0"]) == 0
    (run,) = runs()
    result = json.loads(next((out / "results").glob("synthetic_baseline_*.json")).read_text())
    assert run.info.status == "FINISHED"
    assert run.data.tags["greenai.run_id"] == result["run_id"]
    assert run.data.metrics["energy.step.energy_kwh"] == pytest.approx(
        result["energy"]["step"]["energy_kwh"]
    )
    assert _result_json(client, run, tmp_path / "dl") == result


def test_a_compression_command_logs_its_run_and_charts(tmp_path, mlflow_env, fast_sampling):
    pytest.importorskip("matplotlib", reason="the report extra is not installed")
    client, runs = mlflow_env
    out = tmp_path / "out"
    torch.manual_seed(0)
    model = create_model("seed_cnn", width=0.125)
    save_checkpoint(
        out / "models" / f"{PARENT}.pt",
        {"epoch": 1, "config": {"model": "seed_cnn", "width": 0.125}, "num_classes": 10,
         "model_state": model.state_dict()},
    )  # fmt: skip
    step = {"energy_kwh": 0.01, "co2_kg": 0.005, "duration_s": 10.0}
    write_result(
        out, "baseline", PARENT,
        {"schema_version": 1, "run_id": PARENT, "parent_run_id": None, "variant": "baseline",
         "dataset": "synthetic", "model": "seed_cnn", "metrics": {},
         "inference": {"energy_j_per_1000_images": 1e6},
         "energy": {"step": step, "lifecycle": {**step, "ancestors": []}},
         "artifacts": {"model": f"models/{PARENT}.pt"}},
    )  # fmt: skip
    rc = main(
        ["prune", "--from", PARENT, "--sparsity", "0.5", "--finetune-epochs", "2",
         "--limit-train", "1024", "--limit-test", "32", "--out", str(out), "--no-progress",
         "--mlflow"]
    )  # fmt: skip
    assert rc == 0
    (run,) = runs()
    result = json.loads(next((out / "results").glob("synthetic_pruned_unstructured_*")).read_text())
    assert run.info.status == "FINISHED" and run.info.run_name == "pruned_unstructured"
    assert run.data.tags["greenai.run_id"] == result["run_id"]
    assert PARENT_TAG not in run.data.tags
    assert run.data.params["hyperparameters.sparsity"] == "0.5"
    assert run.data.params["parent_run_id"] == PARENT
    metrics = run.data.metrics
    assert metrics["metrics.test_accuracy_pct"] == pytest.approx(
        result["metrics"]["test_accuracy_pct"]
    )
    assert metrics["energy.step.energy_kwh"] == pytest.approx(
        result["energy"]["step"]["energy_kwh"]
    )
    assert metrics["energy.lifecycle.co2_kg"] == pytest.approx(
        result["energy"]["lifecycle"]["co2_kg"]
    )
    assert "phase/prune/energy_kwh" in metrics
    losses = client.get_metric_history(run.info.run_id, "finetune_loss")
    assert [m.step for m in losses] == [0, 1]
    assert [m.value for m in losses] == pytest.approx(result["compression"]["finetune_losses"])
    assert {"greenai/result.json", "greenai/emissions.csv"} <= _artifacts(client, run)
    assert _result_json(client, run, tmp_path / "dl") == result
    # its own charts: power over the prune/eval phases, the fine-tuning loss per epoch
    _assert_its_charts(client, run, tmp_path / "charts")


STUDY = [
    "study", "--dataset", "synthetic", "--epochs", "2", "--limit-train", "64", "--limit-test",
    "64", "--batch_size", "32", "--device", "cpu", "--no-progress", "--inferences", "1000",
    "--variants", "baseline", "pruned_unstructured", "--name", "tiny",
]  # fmt: skip


def test_a_study_is_a_parent_run_with_one_nested_run_per_step(tmp_path, mlflow_env):
    client, runs = mlflow_env
    out = tmp_path / "out"
    assert main([*STUDY, "--out", str(out), "--mlflow"]) == 0
    logged = runs()
    (parent,) = [r for r in logged if PARENT_TAG not in r.data.tags]
    children = [r for r in logged if r.data.tags.get(PARENT_TAG) == parent.info.run_id]
    assert len(logged) == 3 and len(children) == 2
    assert parent.info.status == "FINISHED" and parent.info.run_name == "study tiny"
    assert parent.data.params["variants"] == "baseline,pruned_unstructured"
    assert parent.data.metrics["steps_done"] == 2
    charts = {p for p in _artifacts(client, parent) if p.endswith(".png")}
    assert charts, "the report's charts are logged on the parent"
    assert any(p.endswith(".html") for p in _artifacts(client, parent))

    by_name = {r.info.run_name: r for r in children}
    assert set(by_name) == {"baseline", "pruned_unstructured"}
    for name, run in by_name.items():
        assert run.info.status == "FINISHED"
        assert run.data.params, f"{name} has params"
        assert run.data.metrics["energy.step.energy_kwh"] > 0
        assert "energy.step.co2_kg" in run.data.metrics
        result = _result_json(client, run, tmp_path / name)
        assert result["run_id"] == run.data.tags["greenai.run_id"] and result["variant"] == name
        assert result["group"] == "tiny"
    base, pruned = by_name["baseline"], by_name["pruned_unstructured"]
    assert base.data.params["epochs"] == "2"
    assert pruned.data.params["parent_run_id"] == base.data.tags["greenai.run_id"]
    # per-epoch metrics of the trained baseline, one step per epoch
    keys = [k for k in base.data.metrics if "acc" in k and not k.startswith("metrics.")]
    assert keys
    assert len(client.get_metric_history(base.info.run_id, keys[0])) == 2


SEARCH = [
    "search", "--dataset", "synthetic", "--device", "cpu", "--limit-train", "64", "--limit-test",
    "32", "--epochs-range", "1", "1", "--widths", "0.25", "--batch-sizes", "32",
    "--precisions", "fp32", "--sparsities", "0", "--quantization", "off", "--trials", "2",
    "--study-name", "tiny",
]  # fmt: skip


def test_search_trials_nest_under_the_search_run(tmp_path, mlflow_env):
    client, runs = mlflow_env
    assert main([*SEARCH, "--out", str(tmp_path / "out"), "--mlflow"]) == 0
    logged = runs()
    (parent,) = [r for r in logged if PARENT_TAG not in r.data.tags]
    trials = [r for r in logged if r.data.tags.get(PARENT_TAG) == parent.info.run_id]
    assert len(logged) == 3 and len(trials) == 2
    assert parent.info.status == "FINISHED" and parent.data.params["objective"] == "energy"
    assert {"greenai/search_tiny_pareto.png", "greenai/search_tiny_hypervolume.png"} <= (
        _artifacts(client, parent)
    )
    for run in trials:
        assert run.info.status == "FINISHED" and run.info.run_name == "search_trial"
        assert run.data.metrics["energy.step.energy_kwh"] > 0
        assert "greenai/result.json" in _artifacts(client, run)
