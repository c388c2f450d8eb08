"""The training loop's pieces and train_run in-process: schedules, early stop on held-out data."""

from __future__ import annotations

import csv

import pytest
import torch

from greenai.carbon import CarbonConfig
from greenai.errors import UsageError
from greenai.lifecycle.steps.baseline import train_run
from greenai.ml.training import loop
from greenai.ml.training.config import TrainConfig
from greenai.storage import open_store


def _lrs(name: str, steps: int = 100) -> list[float]:
    opt = loop.make_optimizer(torch.nn.Linear(2, 2), "sgd", 0.1, 0.0)
    sched = loop.make_schedule(opt, name, 0.1, steps)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_schedule_shapes():
    assert set(_lrs("constant")) == {0.1}
    one = _lrs("onecycle")
    peak = one.index(max(one))
    assert 15 < peak < 35 and one[0] < 0.1 / 10 and one[-1] < 0.1 / 100
    assert one[: peak + 1] == sorted(one[: peak + 1])
    assert one[peak:] == sorted(one[peak:], reverse=True)
    cos = _lrs("cosine")
    assert cos[0] == 0.1 and cos[-1] < 0.001 and cos == sorted(cos, reverse=True)
    lin = _lrs("linear")  # airbench94_muon's: 0.1 * (1 - step / 100)
    assert lin[0] == 0.1 and lin[50] == pytest.approx(0.05) and lin[-1] == pytest.approx(0.001)


def test_sgd_uses_nesterov_momentum():
    opt = loop.make_optimizer(torch.nn.Linear(2, 2), "sgd", 0.1, 5e-4)
    group = opt.param_groups[0]
    assert group["nesterov"] and group["momentum"] == 0.9 and group["weight_decay"] == 5e-4


@pytest.mark.parametrize(
    "change, message",
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch size"),
        ({"lr": -1.0}, "learning rate"),
        ({"lr": float("inf")}, "learning rate"),
        ({"precision": "int4"}, "precision"),
        ({"optimizer": "lion"}, "optimizer"),
        ({"schedule": "step"}, "schedule"),
        ({"target_accuracy": 80.0}, "held-out"),
        ({"model": "nope"}, "unknown model"),
        ({"dataset": "imagenet"}, "unknown dataset"),
    ],
)
def test_config_validation(change, message):
    with pytest.raises(UsageError, match=message):
        TrainConfig(**change).validate()


def test_config_round_trips_and_refuses_unknown_settings():
    cfg = TrainConfig(model="resnet20", width=0.5, schedule="onecycle")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(UsageError, match="bogus"):
        TrainConfig.from_dict({**cfg.to_dict(), "bogus": 1})


def test_gpu_without_cuda_is_an_error_not_a_cpu_run():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(UsageError, match="no CUDA GPU"):
        loop.resolve_device("gpu")
    assert loop.resolve_device("auto").type == "cpu"


def test_target_accuracy_stops_on_held_out_data_and_records_its_energy(tmp_path):
    cfg = TrainConfig(
        dataset="synthetic", device="cpu", epochs=8, batch_size=64, lr=0.003, seed=1,
        precision="bf16", schedule="onecycle", label_smoothing=0.1, channels_last=True,
        holdout_fraction=0.25, target_accuracy=30.0, limit_train=512, limit_test=64,
    )  # fmt: skip
    store = open_store(None, default_dir=tmp_path)
    carbon = CarbonConfig.resolve(intensity_g_per_kwh=100.0, pue=1.5, env={})
    result = train_run(
        cfg, out_dir=tmp_path, store=store, carbon=carbon, run_id="target-1", group="g",
        progress=False, inference_images=0,
    )  # fmt: skip
    training = result["training"]
    reached = training["target_reached"]
    assert reached is not None and reached["holdout_acc_pct"] >= 30.0
    assert training["epochs_run"] == reached["epoch"] and training["holdout_images"] == 256
    assert training["stopped_early"] == (reached["epoch"] < 8)
    assert 0 < reached["energy_kwh"] < result["energy"]["step"]["energy_kwh"]
    assert result["carbon"]["pue"] == 1.5 and result["carbon"]["intensity_g_per_kwh"] == 100.0
    step = result["energy"]["step"]
    assert step["co2_kg"] == pytest.approx(step["energy_kwh"] * 0.1)
    assert result["inference"] is None and result["precision"] == "bf16"
    with open(tmp_path / "logs" / "training_log_target-1.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["eval_split"] for r in rows} == {"holdout"}  # the test set never decides
    run = store.get_run("target-1")
    assert run.group == "g" and run.status == "done"
    store.close()


def test_a_failing_run_is_recorded_as_failed(tmp_path, monkeypatch):
    store = open_store(None, default_dir=tmp_path)

    def boom(*args, **kwargs):
        raise RuntimeError("simulated failure in epoch 1")

    monkeypatch.setattr(loop, "train_epoch", boom)
    cfg = TrainConfig(dataset="synthetic", device="cpu", epochs=1, limit_train=64, limit_test=32)
    with pytest.raises(RuntimeError):
        train_run(cfg, out_dir=tmp_path, store=store, carbon=None, run_id="fail-1",
                  progress=False, inference_images=0)  # fmt: skip
    run = store.get_run("fail-1")
    assert run.status == "failed" and "simulated failure" in run.error
    store.close()


def test_a_foreign_emissions_csv_is_refused_before_the_run_is_recorded(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "emissions.csv").write_text("foo,bar\n1,2\n")
    store = open_store(None, default_dir=tmp_path)
    cfg = TrainConfig(dataset="synthetic", device="cpu", epochs=1, limit_train=64, limit_test=32)
    with pytest.raises(UsageError):
        train_run(cfg, out_dir=tmp_path, store=store, carbon=None, run_id="csv-1",
                  progress=False, inference_images=0)  # fmt: skip
    assert not store.has_run("csv-1")
    assert not (tmp_path / "models").exists()
    assert (tmp_path / "logs" / "emissions.csv").read_text() == "foo,bar\n1,2\n"
    store.close()


class _RecordingMlflow:
    """Stands in for MLflow's tracking server (an external service): records what it is told,
    with the same methods as greenai.integrations.mlflow.MlflowLogger."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        if name not in ("start_run", "log_epoch", "log_result", "log_charts", "end", "sinks"):
            raise AttributeError(name)

        def record(*args, **kwargs):
            self.calls.append((name, args, kwargs))
            return [] if name == "sinks" else None

        return record


def test_mlflow_logger_gets_the_run_epochs_result_and_status(tmp_path):
    from greenai.integrations.mlflow import NullMlflowLogger

    rec = _RecordingMlflow()
    assert {n for n in dir(NullMlflowLogger) if not n.startswith("_")} >= {
        "start_run", "log_epoch", "log_result", "log_charts", "end", "sinks",
    }  # fmt: skip
    cfg = TrainConfig(dataset="synthetic", device="cpu", epochs=2, limit_train=64, limit_test=32)
    result = train_run(cfg, out_dir=tmp_path, store=None, carbon=None, run_id="mlf-1",
                       progress=False, inference_images=0, mlflow=rec)  # fmt: skip
    names = [c[0] for c in rec.calls]
    # no meter sink: phases reach MLflow once, from the result (PUE applied), never live as well
    assert names == ["start_run", "log_epoch", "log_epoch", "log_result", "log_charts", "end"]
    assert rec.calls[0][1][0] == "mlf-1" and rec.calls[0][2]["params"]["epochs"] == 2
    assert rec.calls[3][1][0] == result and rec.calls[5][1] == ("done",)


def test_progress_bar_shows_power_from_the_meter_readings(capsys):
    from greenai.ml.training.progress import EpochBar

    readings = iter([(10.0, 100.0, 0.001), (12.0, 160.0, 0.002)])
    bar = EpochBar(1, 3, 40, enabled=True, live=lambda: next(readings))
    bar.update_from(19, 2.0, 20.0)
    bar.update_from(39, 1.5, 40.0)
    assert bar.power_w == pytest.approx(30.0)  # 60 J over 2 s
    assert bar.bar.postfix and "W=30" in bar.bar.postfix and "kWh=0.00200" in bar.bar.postfix
    bar.close(1.5, 40.0, "test", 38.0)
    assert "epoch 1/3" in capsys.readouterr().err
