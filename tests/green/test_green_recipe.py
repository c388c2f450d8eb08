"""The green recipe's pieces on synthetic data: schedule, augmentation, model, hooks, presets, early stop."""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn

from greenai.ml.data import alternating_flips, augment, epoch_flips
from greenai.ml.models import create_model
from greenai.ml.models.airbench import SMALL_WIDTHS, AirbenchNet
from greenai.ml.training import loop
from greenai.ml.training.recipes import (
    BIAS_SCALER,
    EMA_EVERY,
    GREEN,
    GREEN_LONG,
    GREEN_LONG_SGD,
    GREEN_LR,
    MUON_LR,
    SEED,
    LookaheadEMA,
    freeze_whitening_bias,
    recipe,
    sgd_param_groups,
    triangle_lr,
    tta_logits,
    whiten_bias_steps,
)


def test_triangle_lr_warms_up_then_decays() -> None:
    lrs = triangle_lr(100, start=0.2, peak_at=0.25, end=0.05)
    peak = lrs.index(max(lrs))
    assert lrs[0] == 0.2 and max(lrs) == 1.0 and abs(lrs[-1] - 0.05) < 1e-9
    assert 0 < peak < 100
    assert all(a < b for a, b in pairwise(lrs[: peak + 1]))
    assert all(a > b for a, b in pairwise(lrs[peak:]))


def test_green_long_schedule_in_the_loop_warms_up_then_decays() -> None:
    lr = GREEN_LONG_SGD.lr
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)
    sched = loop.make_schedule(opt, GREEN_LONG_SGD.schedule, lr, total_steps=40)
    lrs = []
    for _ in range(40):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    peak = lrs.index(max(lrs))
    assert 0 < peak < 39 and abs(max(lrs) - lr) < 1e-6 * lr
    assert lrs[0] < 0.1 * lr and lrs[-1] < 0.01 * lr


def test_augmentation_keeps_shapes_dtype_and_labels() -> None:
    # every image is constant at its own label value (+1, so zero padding stays distinguishable)
    labels = torch.arange(10)
    x = (labels + 1).to(torch.uint8).view(10, 1, 1, 1).expand(10, 3, 32, 32).contiguous()
    out = augment(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    for i in range(10):
        values = set(out[i].unique().tolist()) - {0}
        assert values == {i + 1}  # image i still holds only its own content: labels still match


def test_augment_mirrors_exactly_the_images_it_is_told_to() -> None:
    x = torch.arange(4 * 3 * 4 * 5, dtype=torch.uint8).view(4, 3, 4, 5)
    flip = torch.tensor([True, False, False, True])
    out = augment(x, torch.Generator().manual_seed(0), pad_px=0, flip=flip)  # no shift: flip only
    for i in range(4):
        assert torch.equal(out[i], x[i].flip(-1) if flip[i] else x[i])


def test_alternating_flips_mirror_each_image_every_other_epoch() -> None:
    base = alternating_flips(1000, seed=3)
    assert torch.equal(base, alternating_flips(1000, seed=3))  # a resumed run gets the same
    assert not torch.equal(base, alternating_flips(1000, seed=4))
    assert 400 < int(base.sum()) < 600  # about half start mirrored
    idx = torch.randperm(1000)[:100]
    e1, e2, e3 = (epoch_flips(base, idx, e) for e in (1, 2, 3))
    assert torch.equal(e1, base[idx]) and torch.equal(e2, ~e1) and torch.equal(e3, e1)


def test_frozen_whitening_bias_stops_the_gradient_below_the_first_group() -> None:
    torch.manual_seed(0)
    net = create_model("airbench", width=0.125)
    x = torch.randn(8, 3, 32, 32)
    net(x).sum().backward()  # the first batch also sets the whitening filters
    assert net.whiten.bias.grad is not None
    net.zero_grad(set_to_none=True)
    freeze_whitening_bias(net, True)
    assert not net.whiten(x).requires_grad  # so autograd computes no input gradient for conv1
    net(x).sum().backward()
    assert net.whiten.bias.grad is None
    assert net.groups[0].conv1.weight.grad is not None  # the rest still trains
    freeze_whitening_bias(net, False)
    assert net.whiten.bias.requires_grad
    freeze_whitening_bias(nn.Linear(2, 2), True)  # nets without a whitening conv: no-op
    assert whiten_bias_steps(100, 0.3) == 30 and whiten_bias_steps(7, 0.0) == 0


def test_airbench_output_shape_and_self_whitening() -> None:
    torch.manual_seed(0)
    net = create_model("airbench", width=0.25)
    x = torch.randn(16, 3, 32, 32) * torch.tensor([1.0, 2.0, 0.5]).view(1, 3, 1, 1)
    assert not bool(net.whitening_ready)
    out = net(x)
    assert out.shape == (16, 10)
    assert bool(net.whitening_ready)  # set from the first training batch, saved in the state_dict
    assert "whitening_ready" in net.state_dict()
    # the first half of the whitening filters decorrelates the batch's 2x2 patches
    feats = nn.functional.conv2d(x, net.whiten.weight[:12]).permute(0, 2, 3, 1).reshape(-1, 12)
    cov = feats.T @ feats / len(feats)
    assert torch.allclose(cov, torch.eye(12), atol=0.05)
    net.eval()
    frozen = net.whiten.weight.clone()
    net.train()
    net(torch.randn(4, 3, 32, 32))
    assert torch.equal(frozen, net.whiten.weight)  # never re-initialised


def test_airbench_widths() -> None:
    assert isinstance(create_model("airbench"), AirbenchNet)
    net = create_model("airbench", widths=(8, 16, 16), num_classes=3)
    assert net.head.out_features == 3 and net.head.in_features == 16
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 3)


def _widths(net: AirbenchNet) -> tuple[int, ...]:
    return tuple(g.conv2.out_channels for g in net.groups)


def test_airbench_small_is_green_s_widths_scaled_by_the_multiplier() -> None:
    assert _widths(create_model("airbench_small")) == SMALL_WIDTHS == (16, 96, 96)
    assert _widths(create_model("airbench_small", width=0.5)) == (8, 48, 48)
    assert _widths(create_model("airbench_small", width=0.125)) == (8, 12, 12)  # >= 8 each
    assert _widths(create_model("airbench", width=0.25)) == (16, 64, 64)


def test_sgd_groups_give_norm_biases_the_scaled_lr() -> None:
    net = AirbenchNet(widths=(8, 16, 16))
    groups = sgd_param_groups(net, lr=11.5, weight_decay=0.0153, batch_size=1024)
    norm, other = groups
    assert abs(norm["lr"] / other["lr"] - BIAS_SCALER) < 1e-9
    # decoupled decay: lr * weight_decay is the same absolute decay in both groups
    assert abs(norm["lr"] * norm["weight_decay"] - other["lr"] * other["weight_decay"]) < 1e-12
    trainable = {id(p) for p in net.parameters() if p.requires_grad}
    grouped = [id(p) for g in groups for p in g["params"]]
    assert sorted(grouped) == sorted(trainable)
    assert len(norm["params"]) == 6  # the six batch-norm biases (scales are frozen)
    mean = sgd_param_groups(net, lr=11.5, weight_decay=0.0153, batch_size=1024, mean_loss=True)
    assert abs(mean[1]["lr"] - 1024 * other["lr"]) < 1e-9
    assert (
        abs(mean[1]["lr"] * mean[1]["weight_decay"] - other["lr"] * other["weight_decay"]) < 1e-12
    )


def test_lookahead_ema_waits_then_averages() -> None:
    net = nn.Linear(2, 2)
    ema = LookaheadEMA(net, total_steps=100)
    before = net.weight.detach().clone()
    ema.update(net, step=EMA_EVERY)  # before the start: nothing happens
    assert ema.state is None
    ema.update(net, step=50)  # first call after the start takes a snapshot
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(net, step=100)
    moved = net.weight.detach() - before
    assert torch.all(moved > 0) and torch.all(moved < 1)  # between the old and the new weights


def test_tta_mirror_averages_flipped_views() -> None:
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4))
    x = torch.randn(5, 3, 8, 8)
    expected = 0.5 * (net(x) + net(x.flip(-1)))
    assert torch.allclose(tta_logits(net, x, 1), expected)
    assert torch.allclose(tta_logits(net, x, 0), net(x))
    assert tta_logits(net, x, 2).shape == (5, 4)


def test_presets_are_what_they_say() -> None:
    assert (SEED.model, SEED.optimizer, SEED.lr, SEED.batch_size, SEED.epochs, SEED.precision) == (
        "seed_cnn", "adam", 0.001, 64, 20, "fp32"
    )  # fmt: skip
    assert GREEN.model == "airbench_small" and GREEN.optimizer == "muon"
    assert GREEN.precision == "bf16" and GREEN.epochs == 1 and GREEN.lr == 0.8 * MUON_LR == GREEN_LR
    assert GREEN.channels_last and GREEN.augment and GREEN.label_smoothing == 0.2
    assert GREEN.schedule == "cosine" and GREEN.batch_size >= 128
    assert GREEN.alternate_flip and GREEN.whiten_bias_fraction == 0.15 and not GREEN.ema
    assert GREEN_LONG_SGD.model == "airbench" and GREEN_LONG_SGD.optimizer == "sgd"
    assert GREEN_LONG_SGD.schedule == "onecycle" and GREEN_LONG_SGD.width == 1.0
    assert GREEN_LONG.model == "airbench" and GREEN_LONG.optimizer == "muon"
    assert (GREEN_LONG.batch_size, GREEN_LONG.epochs, GREEN_LONG.schedule) == (1024, 10, "linear")
    assert GREEN_LONG.airbench_tricks and not GREEN_LONG.ema and GREEN_LONG_SGD.ema
    custom = recipe("green", seed=3, target_accuracy=50.0, holdout_fraction=0.1)
    assert custom.seed == 3 and custom.model == GREEN.model and custom.validate() is custom


def test_early_stop_triggers_at_the_target(tmp_path) -> None:
    from greenai.carbon import CarbonConfig
    from greenai.lifecycle.steps.baseline import train_run

    cfg = recipe(
        "green", dataset="synthetic", width=0.125, batch_size=128, epochs=4,
        holdout_fraction=0.25, target_accuracy=1.0, limit_test=64,
    )  # fmt: skip
    res = train_run(
        cfg, out_dir=tmp_path, store=None, carbon=CarbonConfig.resolve(), progress=False,
        inference_images=0,
    )  # fmt: skip
    training = res["training"]
    assert training["target_reached"]["epoch"] == 1 and training["epochs_run"] == 1
    assert training["stopped_early"] is True
    assert training["target_reached"]["holdout_acc_pct"] >= 1.0
    assert training["target_reached"]["energy_kwh"] > 0
