"""The Muon recipes (`green`, `green_long`): Muon on the conv filters, SGD on the rest, in the loop."""

from __future__ import annotations

import pytest
import torch

from greenai.cli import training_args
from greenai.cli.main import build_parser
from greenai.lifecycle.steps.baseline import train_run
from greenai.ml.models import create_model
from greenai.ml.models.airbench import LOGIT_SCALE
from greenai.ml.training import checkpoint, loop
from greenai.ml.training.config import TrainConfig
from greenai.ml.training.muon import Muon
from greenai.ml.training.recipes import (
    GREEN_LONG,
    GREEN_LONG_SGD,
    MUON_BIAS_LR,
    MUON_HEAD_LR,
    MUON_LR,
    MUON_MOMENTUM,
    MUON_WD,
    recipe,
    tricks_optimizer,
)


def test_green_long_is_the_sgd_net_with_airbench94_muons_optimizer() -> None:
    assert GREEN_LONG.optimizer == "muon" and GREEN_LONG.airbench_tricks
    assert (GREEN_LONG.lr, GREEN_LONG.weight_decay, GREEN_LONG.batch_size) == (
        MUON_LR,
        MUON_WD,
        1024,
    )
    same = ("model", "width", "precision", "augment_pad", "alternate_flip", "label_smoothing")
    assert all(getattr(GREEN_LONG_SGD, k) == getattr(GREEN_LONG, k) for k in same)
    assert GREEN_LONG_SGD.optimizer == "sgd"  # airbench94's, the measured defaults unchanged
    assert recipe("green_long", seed=4).validate() == TrainConfig(
        **{**GREEN_LONG.to_dict(), "seed": 4}
    )


def test_groups_put_conv_filters_under_muon_and_the_rest_under_sgd() -> None:
    torch.manual_seed(0)
    net = create_model("airbench", width=0.25)
    cfg = recipe("green_long", batch_size=100)
    opt = tricks_optimizer(net, cfg)
    assert isinstance(opt, Muon)
    muon, vectors, head = opt.param_groups
    convs = [m.weight for m in net.modules() if isinstance(m, torch.nn.Conv2d)][1:]  # not whiten's
    assert {id(p) for p in muon["params"]} == {id(p) for p in convs}
    assert muon["muon"] and muon["muon_momentum"] == MUON_MOMENTUM and muon["norm_weights"]
    assert muon["lr"] == MUON_LR
    assert len(vectors["params"]) == 7 and not vectors["muon"]  # whitening + six batch-norm biases
    assert vectors["lr"] == pytest.approx(MUON_BIAS_LR * 100)  # summed-loss LR x batch
    assert head["params"] == [net.head.weight]
    d = net.head.in_features
    assert head["lr"] == pytest.approx(MUON_HEAD_LR / (d * LOGIT_SCALE) ** 2 * 100)
    for g in (vectors, head):  # the same absolute decay per step: airbench94_muon's 2e-6 x batch
        assert g["lr"] * g["weight_decay"] == pytest.approx(MUON_WD * 100)
    trainable = {id(p) for p in net.parameters() if p.requires_grad}
    assert sorted(id(p) for g in opt.param_groups for p in g["params"]) == sorted(trainable)
    halved = tricks_optimizer(net, recipe("green_long", batch_size=100, lr=MUON_LR / 2))
    assert [g["lr"] for g in halved.param_groups] == pytest.approx(
        [g["lr"] / 2 for g in opt.param_groups]
    )  # --lr scales every group alike


@pytest.mark.parametrize("schedule", ["onecycle", "cosine", "linear"])
def test_schedules_leave_muons_momentum_alone(schedule: str) -> None:
    net = create_model("airbench", width=0.125)
    opt = tricks_optimizer(net, recipe("green_long", batch_size=64))
    sched = loop.make_schedule(opt, schedule, MUON_LR, total_steps=20)
    for _ in range(5):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["muon_momentum"] == MUON_MOMENTUM
    assert 0 < opt.param_groups[0]["lr"] < MUON_LR


def test_one_training_step_moves_every_trained_parameter() -> None:
    torch.manual_seed(0)
    net = create_model("airbench", width=0.125)
    cfg = recipe("green_long", batch_size=16)
    x = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    y = torch.randint(0, 10, (16,))
    net(torch.randn(16, 3, 32, 32))  # whitening set up first, so `before` is the step's start
    before = {k: v.clone() for k, v in net.state_dict().items()}
    opt = tricks_optimizer(net, cfg)
    loop.train_epoch(
        net, x, y, optimizer=opt, schedule=loop.make_schedule(opt, cfg.schedule, cfg.lr, 1),
        scaler=torch.amp.GradScaler("cpu", enabled=False), generator=torch.Generator(),
        batch_size=16, mean=(0.5,) * 3, std=(0.25,) * 3, precision="bf16", channels_last=True,
        label_smoothing=cfg.label_smoothing,
    )  # fmt: skip
    after = net.state_dict()
    for name, p in net.named_parameters():
        moved = not torch.equal(after[name], before[name])
        assert moved is p.requires_grad, name  # filters (Muon), biases and head (SGD); not frozen
    # norm_weights: a filter is rescaled to norm sqrt(rows) and then moved by lr x an update of
    # norm <= ~1.5 sqrt(rows) (singular values below 1.5)
    w = after["groups.1.conv2.weight"]
    rows = w.shape[0]
    assert abs(float(w.norm()) - rows**0.5) <= MUON_LR * 1.5 * rows**0.5


def test_green_long_trains_on_synthetic_data_and_checkpoints(tmp_path) -> None:
    cfg = recipe("green_long", dataset="synthetic", device="cpu", width=0.125, batch_size=32,
                 epochs=1, limit_train=64, limit_test=32, threads=1)  # fmt: skip
    result = train_run(cfg, out_dir=tmp_path, store=None, carbon=None, run_id="muon-1",
                       progress=False, inference_images=0)  # fmt: skip
    assert 0 <= result["metrics"]["test_accuracy_pct"] <= 100
    assert result["hyperparameters"]["optimizer"] == "muon"
    ck = checkpoint.load_checkpoint(tmp_path / "models" / "muon-1.pt")
    groups = ck["optimizer_state"]["param_groups"]
    assert [g["muon"] for g in groups] == [True, False, False]
    after = ck["model_state"]
    assert all(torch.isfinite(v).all() for v in after.values() if v.is_floating_point())
    assert ck["optimizer_state"]["state"]  # momentum buffers are saved for a resume


def _tiny_green_run(tmp_path, run_id: str, **over) -> tuple[dict, dict]:
    """A tiny synthetic `green` run with `over`: (its result, its checkpoint)."""
    cfg = recipe("green", **{"dataset": "synthetic", "device": "cpu", "width": 0.125,
                             "batch_size": 32, "limit_train": 64, "limit_test": 32,
                             "threads": 1, **over})  # fmt: skip
    result = train_run(cfg, out_dir=tmp_path, store=None, carbon=None, run_id=run_id,
                       progress=False, inference_images=0)  # fmt: skip
    return result, checkpoint.load_checkpoint(tmp_path / "models" / f"{run_id}.pt")


def test_muon_without_the_tricks_keeps_its_groups_and_drops_the_ema(tmp_path) -> None:
    result, ck = _tiny_green_run(tmp_path, "plain-muon", airbench_tricks=False)
    assert [g["muon"] for g in ck["optimizer_state"]["param_groups"]] == [True, False, False]
    assert ck["ema_state"] is None and result["metrics"]["test_accuracy_tta_pct"] is None


def test_tricks_without_the_ema_keep_tta_and_drop_the_average(tmp_path) -> None:
    # batch 8: 8 steps, so the average starts (every EMA_EVERY = 5 steps, after 30 %)
    result, ck = _tiny_green_run(tmp_path, "no-ema", batch_size=8, ema=False)
    assert ck["ema_state"] is None and result["metrics"]["test_accuracy_tta_pct"] is not None
    with_ema, ck = _tiny_green_run(tmp_path, "ema", batch_size=8, ema=True)
    assert ck["ema_state"] is not None
    assert with_ema["metrics"]["test_accuracy_tta_pct"] is not None


def test_cli_recipe_green_long() -> None:
    args = build_parser().parse_args(["baseline", "--recipe", "green_long", "--epochs", "2"])
    cfg = training_args.train_config(args)
    assert cfg == TrainConfig(**{**GREEN_LONG.to_dict(), "epochs": 2})
