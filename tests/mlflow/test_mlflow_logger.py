"""``MlflowLogger`` against a real SQLite tracking store, read back through ``MlflowClient``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from greenai.errors import MissingExtraError, UsageError
from greenai.integrations.mlflow import MlflowError, MlflowLogger, NullMlflowLogger, is_enabled
from greenai.meter.types import PhaseResult, Sample
from greenai.reports.charts import SIZES


def result_json(run_id: str, variant: str, acc: float) -> dict:
    return {
        "schema_version": 1,
        "run_id": run_id,
        "variant": variant,
        "group": "study-1",
        "model": "seed_cnn",
        "device": "cpu",
        "metrics": {"test_accuracy_pct": acc, "test_loss": 0.66, "params": 620362},
        "inference": {"latency_ms_b1": 0.4, "energy_method": "estimated: x"},
        "energy": {
            "step": {
                "energy_kwh": 0.01,
                "co2_kg": 0.0047,
                "by_component_kwh": {"cpu": 0.009, "ram": 0.001},
                "phases": [
                    {"path": "train", "duration_s": 700.0, "energy_kwh": 0.009, "co2_kg": 0.004}
                ],
            },
            "lifecycle": {"energy_kwh": 0.02, "co2_kg": 0.0094, "ancestors": []},
        },
        "carbon": {"intensity_g_per_kwh": 475.0, "country_iso3": None, "pue": 1.0},
        "break_even": None,
    }


def phase(run_id: str, energy_j: float) -> PhaseResult:
    return PhaseResult(run_id, "epoch", "train/epoch", 0.0, 10.0, {"cpu": energy_j}, 1e-6)


def history(client: MlflowClient, mlflow_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in client.get_metric_history(mlflow_id, key)]


def test_study_with_nested_runs_is_read_back(tracking_uri, experiment, tmp_path):
    chart = tmp_path / "energy.png"
    chart.write_bytes(b"\x89PNG\r\n\x1a\nnot really a chart")
    log = tmp_path / "training_log.csv"
    log.write_text("epoch,train_loss\n0,1.5\n1,1.1\n")

    mlf = MlflowLogger.maybe_create(True, tracking_uri=tracking_uri, experiment=experiment)
    assert mlf.active
    study_id = mlf.start_run("study-1", "study cifar10", {"variants": "baseline,pruned"})
    base_id = mlf.start_run(
        "run-base",
        "baseline",
        {"hyperparameters": {"lr": 0.001, "epochs": 2}, "model": "seed_cnn"},
        parent="study-1",
    )
    for epoch, (loss, acc) in enumerate([(1.5, 41.0), (1.1, 55.5)]):
        mlf.log_epoch(epoch, {"train_loss": loss, "test_acc": acc, "note": "text is skipped"})
    for sink in mlf.sinks():  # as the meter calls it
        sink.on_start("run-base", "baseline", 0.0)
        sink.on_phase(phase("run-base", 3600.0))
        sink.on_phase(phase("run-base", 7200.0))
    mlf.log_result(result_json("run-base", "baseline", 55.5), [chart, log])
    mlf.end("done")
    pruned_id = mlf.start_run("run-pruned", "pruned", {"amount": 0.5}, parent="study-1")
    mlf.end("failed")
    mlf.end("interrupted")  # the study, now the current run again

    client = MlflowClient(tracking_uri=tracking_uri)
    base = client.get_run(base_id)
    assert base.info.status == "FINISHED" and base.info.run_name == "baseline"
    assert base.data.params == {
        "hyperparameters.lr": "0.001",
        "hyperparameters.epochs": "2",
        "model": "seed_cnn",
    }
    assert base.data.tags["mlflow.parentRunId"] == study_id
    assert base.data.tags["greenai.run_id"] == "run-base"
    assert base.data.tags["greenai.variant"] == "baseline"
    assert base.data.tags["greenai.carbon.intensity_g_per_kwh"] == "475.0"
    assert history(client, base_id, "test_acc") == [(0, 41.0), (1, 55.5)]
    assert history(client, base_id, "train_loss") == [(0, 1.5), (1, 1.1)]
    assert "note" not in base.data.metrics
    assert history(client, base_id, "phase/train/epoch/energy_kwh") == [(0, 0.001), (1, 0.002)]
    assert base.data.metrics["phase/train/energy_kwh"] == 0.009
    assert base.data.metrics["metrics.test_accuracy_pct"] == 55.5
    assert base.data.metrics["energy.step.energy_kwh"] == 0.01
    assert base.data.metrics["energy.step.by_component_kwh.cpu"] == 0.009
    assert base.data.metrics["energy.lifecycle.co2_kg"] == 0.0094

    artifacts = {a.path for a in client.list_artifacts(base_id, "greenai")}
    assert artifacts == {"greenai/result.json", "greenai/energy.png", "greenai/training_log.csv"}
    out = Path(client.download_artifacts(base_id, "greenai/result.json", str(tmp_path / "dl")))
    assert json.loads(out.read_text()) == result_json("run-base", "baseline", 55.5)
    png = Path(client.download_artifacts(base_id, "greenai/energy.png", str(tmp_path / "dl")))
    assert png.read_bytes() == chart.read_bytes()

    assert client.get_run(pruned_id).info.status == "FAILED"
    assert client.get_run(pruned_id).data.tags["mlflow.parentRunId"] == study_id
    assert client.get_run(study_id).info.status == "KILLED"
    assert "mlflow.parentRunId" not in client.get_run(study_id).data.tags


def test_resumed_run_reopens_the_same_mlflow_run(tracking_uri, experiment):
    first = MlflowLogger.create(tracking_uri=tracking_uri, experiment=experiment)
    mlflow_id = first.start_run("run-1", "baseline", {"lr": 0.01})
    first.log_epoch(0, {"test_acc": 30.0})
    first.end("interrupted")

    again = MlflowLogger.create(tracking_uri=tracking_uri, experiment=experiment)  # new process
    assert again.start_run("run-1", "baseline", {"lr": 0.01, "resumed_from": 1}) == mlflow_id
    again.log_epoch(1, {"test_acc": 45.0})
    again.log_params({"lr": 0.01})  # the trainer logs its config again on resume: no conflict
    again.end("done")

    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    assert len(client.search_runs([exp.experiment_id])) == 1
    run = client.get_run(mlflow_id)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"lr": "0.01", "resumed_from": "1"}
    assert history(client, mlflow_id, "test_acc") == [(0, 30.0), (1, 45.0)]


def test_stands_in_for_the_mlflow_module_in_the_trainer(tracking_uri, experiment):
    """train_run(..., mlflow=logger) calls log_params(dict) and log_metrics(dict, step=...)."""
    mlf = MlflowLogger.create(tracking_uri=tracking_uri, experiment=experiment)
    mlflow_id = mlf.start_run("r", "baseline", {})
    mlf.log_params({"lr": 0.001, "epochs": 3, "augment": True})
    mlf.log_metrics({"train_loss": 1.2, "eval_acc_pct": 40.0}, step=0)
    mlf.log_metrics({"train_loss": 0.8, "eval_acc_pct": 52.0}, step=1)
    mlf.log_metrics({"test_accuracy_pct": 52.0, "energy_kwh": 0.001})
    mlf.end("done")
    client = MlflowClient(tracking_uri=tracking_uri)
    run = client.get_run(mlflow_id)
    assert run.data.params == {"lr": "0.001", "epochs": "3", "augment": "True"}
    assert history(client, mlflow_id, "eval_acc_pct") == [(0, 40.0), (1, 52.0)]
    assert run.data.metrics["energy_kwh"] == 0.001
    mlf.start_run("r", "baseline", {})
    with pytest.raises(MlflowError, match=r"^MLflow: .*lr") as refused:
        mlf.log_params({"lr": 0.1})  # params are immutable in MLflow: one line, not a traceback
    assert "\n" not in str(refused.value)


def test_run_block_ends_with_the_outcome(tracking_uri, experiment):
    mlf = MlflowLogger.create(tracking_uri=tracking_uri, experiment=experiment)
    with mlf.run("study", "study", {"variants": 2}):
        with mlf.run("ok", "baseline", {}, parent="study"):
            mlf.log_epoch(0, {"test_acc": 50.0})
        with (
            pytest.raises(RuntimeError, match="boom"),
            mlf.run("bad", "pruned", {}, parent="study"),
        ):
            raise RuntimeError("boom")
        with pytest.raises(KeyboardInterrupt), mlf.run("cut", "distilled", {}, parent="study"):
            raise KeyboardInterrupt
    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    status = {
        r.data.tags["greenai.run_id"]: r.info.status
        for r in client.search_runs([exp.experiment_id])
    }
    assert status == {"study": "FINISHED", "ok": "FINISHED", "bad": "FAILED", "cut": "KILLED"}


def test_bad_calls_are_one_line_usage_errors(tracking_uri, experiment, tmp_path):
    mlf = MlflowLogger.create(tracking_uri=tracking_uri, experiment=experiment)
    with pytest.raises(UsageError, match="no run started"):
        mlf.log_epoch(0, {"loss": 1.0})
    with pytest.raises(UsageError, match="parent run 'nope' was not logged"):
        mlf.start_run("child", "child", {}, parent="nope")
    mlflow_id = mlf.start_run("r", "r", {})
    with pytest.raises(UsageError, match="does not exist"):
        mlf.log_result(result_json("r", "baseline", 1.0), [tmp_path / "missing.png"])
    with pytest.raises(UsageError, match="unknown final status 'ok'"):
        mlf.end("ok")
    client = MlflowClient(tracking_uri=tracking_uri)
    assert client.list_artifacts(mlflow_id) == []  # the refused result logged nothing
    assert client.get_run(mlflow_id).data.metrics == {}
    mlf.end("done")


def test_disabled_is_a_null_logger_that_does_not_import_mlflow(monkeypatch):
    assert not is_enabled(False, {})
    assert is_enabled(False, {"MLFLOW_TRACKING_URI": "sqlite:///x.db"})
    code = (
        "import sys; from greenai.integrations.mlflow import MlflowLogger as M; "
        "m = M.maybe_create(False); m.start_run('r', 'n', {}); m.log_epoch(0, {'a': 1}); "
        "m.log_params({'a': 1}); m.log_metrics({'b': 2.0}, step=1); m.end('done'); "
        "cm = m.run('r', 'n'); cm.__enter__(); cm.__exit__(None, None, None); "
        "print(type(m).__name__, 'mlflow' in sys.modules, m.sinks())"
    )
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.split() == ["NullMlflowLogger", "False", "[]"], out.stderr


def test_tracking_uri_in_the_environment_enables_it(monkeypatch, tracking_uri, experiment):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment)
    mlf = MlflowLogger.maybe_create(False)
    assert isinstance(mlf, MlflowLogger)
    assert mlf.client.tracking_uri == tracking_uri
    assert mlf.client.get_experiment(mlf.experiment_id).name == experiment


def test_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # what an uninstalled package looks like
    with pytest.raises(MissingExtraError, match=r"pip install 'greenai\[mlflow\]'"):
        MlflowLogger.maybe_create(True)
    assert isinstance(MlflowLogger.maybe_create(False), NullMlflowLogger)


def test_telemetry_is_off_unless_the_user_opted_in():
    """In a clean environment (no CI markers), creating the logger leaves MLflow no telemetry client."""
    code = (
        "from greenai.integrations.mlflow import quiet_mlflow; quiet_mlflow(); "
        "from mlflow.telemetry import get_telemetry_client; print(get_telemetry_client())"
    )
    keep = ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if k in keep}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "None", out.stderr


def samples(run_id: str, n: int = 5) -> list[Sample]:
    """What a meter recorded over ``n`` one-second intervals (CPU at 20 W, RAM at 2 W)."""
    return [
        Sample(run_id, 1000.0 + t, float(t), "train", {"cpu": 20.0, "ram": 2.0},
               {"cpu": 20.0 * t, "ram": 2.0 * t}, 1e-6 * t)
        for t in range(1, n + 1)
    ]  # fmt: skip


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_a_run_logs_its_own_power_and_epoch_charts(tracking_uri, experiment, tmp_path):
    pytest.importorskip("matplotlib", reason="the report extra is not installed")
    mlf = MlflowLogger.create(tracking_uri=tracking_uri, experiment=experiment)
    mlflow_id = mlf.start_run("run-c", "baseline", {})
    phases = [PhaseResult("run-c", "train", "train", 1000.0, 5.0, {"cpu": 100.0}, 1e-5)]
    rows = [
        {"epoch": 1, "train_loss": 1.4, "eval_split": "test", "eval_acc_pct": 40.0},
        {"epoch": 2, "train_loss": 1.1, "eval_split": "test", "eval_acc_pct": 52.5},
    ]
    logged = mlf.log_charts(
        result_json("run-c", "baseline", 52.5), samples=samples("run-c"), phases=phases,
        epochs=rows,
    )  # fmt: skip
    mlf.end("done")
    assert logged == ["greenai/charts/power.png", "greenai/charts/epochs.png"]
    client = MlflowClient(tracking_uri=tracking_uri)
    listed = {a.path for a in client.list_artifacts(mlflow_id, "greenai/charts")}
    assert listed == set(logged)
    for name in ("power", "epochs"):
        got = client.download_artifacts(mlflow_id, f"greenai/charts/{name}.png", str(tmp_path))
        assert png_size(Path(got).read_bytes()) == SIZES[name]
    assert "greenai.charts" not in client.get_run(mlflow_id).data.tags


def test_a_loss_only_run_gets_an_epoch_chart_and_too_few_samples_no_power_chart(
    tracking_uri, experiment
):
    pytest.importorskip("matplotlib", reason="the report extra is not installed")
    mlf = MlflowLogger.create(tracking_uri=tracking_uri, experiment=experiment)
    mlf.start_run("run-p", "pruned_unstructured", {})
    rows = [{"epoch": 0, "finetune_loss": 0.9}, {"epoch": 1, "finetune_loss": 0.7}]
    result = result_json("run-p", "pruned_unstructured", 50.0)
    logged = mlf.log_charts(result, samples=samples("run-p", n=1), epochs=rows)
    assert logged == ["greenai/charts/epochs.png"]  # one sample is no power series
    assert mlf.log_charts(result) == []  # nothing measured, no epochs: nothing to draw
    mlf.end("done")


@pytest.mark.parametrize("measured", [5, 0], ids=["power-and-epochs", "epochs-only"])
def test_without_matplotlib_the_charts_are_skipped_and_the_run_still_finishes(
    tracking_uri, experiment, monkeypatch, caplog, measured
):
    for name in ("matplotlib", "matplotlib.pyplot", "matplotlib.ticker"):
        monkeypatch.setitem(sys.modules, name, None)  # what the missing report extra looks like
    mlf = MlflowLogger.create(tracking_uri=tracking_uri, experiment=experiment)
    mlflow_id = mlf.start_run("run-m", "baseline", {})
    with caplog.at_level("INFO", logger="greenai.integrations.mlflow"):
        logged = mlf.log_charts(
            result_json("run-m", "baseline", 50.0), samples=samples("run-m", n=measured),
            epochs=[{"epoch": 1, "train_loss": 1.0, "eval_acc_pct": 50.0}],
        )  # fmt: skip
    mlf.end("done")
    assert logged == []
    assert "greenai[report]" in caplog.text
    client = MlflowClient(tracking_uri=tracking_uri)
    run = client.get_run(mlflow_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["greenai.charts"].startswith("skipped: ")
    assert "greenai[report]" in run.data.tags["greenai.charts"]
    assert client.list_artifacts(mlflow_id, "greenai/charts") == []
