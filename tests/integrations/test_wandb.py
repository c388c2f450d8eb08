"""W&B logging, read back from the offline run files (``WANDB_MODE=offline``: no network)."""

from __future__ import annotations

import pytest

pytest.importorskip("wandb")

from energy_fakes import FakeRapl
from wandb_files import finished_runs, history, summary

import greenai


@pytest.fixture(scope="module")
def wandb_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("wandb")  # one per module: wandb reads WANDB_DIR once a process


@pytest.fixture
def offline(tmp_path, monkeypatch, wandb_dir):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(wandb_dir))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_PROJECT", "greenai-test")
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    return tmp_path


def test_track_logs_its_phases_and_result_to_wandb(offline, wandb_dir):
    rapl = FakeRapl(offline / "powercap")
    tracked = greenai.track("tracked-wb", store=None, wandb=True, sensors=rapl.sensors(),
                            interval_s=None)  # fmt: skip
    with tracked as t, t.phase("work"):
        rapl.add(36.0)
    (path,) = finished_runs(wandb_dir, t.run_id)
    figures = summary(path)
    assert figures["energy.step.energy_kwh"] == pytest.approx(36.0 / 3.6e6)
    assert figures["phase/work/energy_kwh"] == pytest.approx(36.0 / 3.6e6)
    assert any("phase/work/co2_kg" in row for row in history(path))


@pytest.mark.slow
def test_trainer_logs_reach_wandb_with_the_energy(offline, wandb_dir):
    pytest.importorskip("transformers")
    from test_huggingface import Burn, rows, tiny_bert
    from transformers import Trainer, TrainingArguments

    from greenai.integrations.huggingface import GreenAICallback

    rapl = FakeRapl(offline / "powercap")
    args = TrainingArguments(
        output_dir=str(offline / "hf"), max_steps=4, per_device_train_batch_size=4,
        logging_steps=2, save_strategy="no", report_to=["wandb"], run_name="tiny-bert-wb",
        use_cpu=True, disable_tqdm=True,
    )  # fmt: skip
    trainer = Trainer(model=tiny_bert(), args=args, train_dataset=rows(16),
                      callbacks=[Burn(rapl)])  # fmt: skip
    cb = GreenAICallback(store=None, sensors=rapl.sensors(), interval_s=None).attach(trainer)
    trainer.train()
    import wandb

    run_id = wandb.run.id
    wandb.finish()  # the Trainer's W&B callback leaves its run open for the user
    (path,) = finished_runs(wandb_dir, run_id)
    rows_logged = history(path)
    deltas = [
        value for row in rows_logged for key, value in row.items()
        if key.endswith("greenai/energy_delta_j")
    ]  # fmt: skip
    assert len(deltas) >= 2, [sorted(r) for r in rows_logged]
    assert sum(deltas) == pytest.approx(cb.energy.measurement.energy_total_j) == pytest.approx(12.0)
    assert any(key.endswith("greenai/j_per_token") for row in rows_logged for key in row)


def test_the_commands_that_take_mlflow_take_wandb(monkeypatch, capsys, tmp_path):
    from greenai.cli.main import main
    from greenai.integrations.mlflow import NullMlflowLogger
    from greenai.integrations.wandb import TeeLogger, WandbLogger, trackers

    for command in ("baseline", "prune", "quantize", "distill", "export", "study", "search"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "--wandb" in capsys.readouterr().out, command
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert isinstance(trackers(), NullMlflowLogger)
    assert isinstance(trackers(wandb=True), WandbLogger)
    monkeypatch.setenv("WANDB_PROJECT", "from-env")
    logger = trackers()
    assert isinstance(logger, WandbLogger) and logger.project == "from-env"
    pytest.importorskip("mlflow")
    monkeypatch.chdir(tmp_path)  # MLflow's default store is ./mlflow.db
    assert isinstance(trackers(mlflow=True), TeeLogger)


@pytest.mark.slow
def test_a_command_with_wandb_logs_its_run_like_mlflow(offline, wandb_dir, monkeypatch):
    import json

    from greenai.cli.main import main

    monkeypatch.delenv("GREENAI_STORE", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    out = offline / "out"
    argv = ["baseline", "--dataset", "synthetic", "--epochs", "1", "--limit-train", "64",
            "--limit-test", "32", "--no-progress", "--inference-images", "0", "--out", str(out),
            "--wandb"]  # fmt: skip
    assert main(argv) == 0
    (result_path,) = out.glob("results/*.json")
    result = json.loads(result_path.read_text())
    (path,) = finished_runs(wandb_dir, result["run_id"])
    figures = summary(path)
    assert figures["energy.step.energy_kwh"] == pytest.approx(
        result["energy"]["step"]["energy_kwh"]
    )
    assert figures["metrics.test_accuracy_pct"] == pytest.approx(
        result["metrics"]["test_accuracy_pct"]
    )
    assert figures["work.j_per_training_sample"] == pytest.approx(
        result["work"]["j_per_training_sample"]
    )
    assert any("train_loss" in row for row in history(path))  # the epoch rows
