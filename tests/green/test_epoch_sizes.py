"""Progressive resizing (``TrainConfig.epoch_sizes``, ``--epoch-sizes``): the first epochs train on
downscaled images, later epochs and every evaluation on the data's own size."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.modules.module import register_module_forward_pre_hook

from greenai.cli import training_args
from greenai.cli.main import build_parser, main
from greenai.errors import UsageError
from greenai.lifecycle.steps.baseline import train_run
from greenai.ml import data as data_mod
from greenai.ml.models.airbench import init_whitening
from greenai.ml.training import loop
from greenai.ml.training.config import TrainConfig
from greenai.ml.training.recipes import recipe


def test_config_names_each_epochs_size_and_survives_json():
    cfg = TrainConfig(epochs=3, epoch_sizes=[16, 24])
    assert cfg.epoch_sizes == (16, 24)  # a list (as from JSON) becomes a tuple
    assert [cfg.epoch_size(e) for e in (1, 2, 3)] == [16, 24, None]
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert TrainConfig().epoch_size(1) is None
    with pytest.raises(UsageError, match="3 epoch sizes for 2 epochs"):
        TrainConfig(epochs=2, epoch_sizes=(16, 16, 16)).validate(check_data=False)
    with pytest.raises(UsageError, match="whole pixels >= 8"):
        TrainConfig(epochs=2, epoch_sizes=(4,)).validate(check_data=False)


def test_resized_shape_keeps_the_aspect_ratio():
    assert loop.resized_shape(32, 32, 16) == (16, 16)
    assert loop.resized_shape(32, 48, 16) == (16, 24)  # the shorter side becomes `size`
    assert loop.resized_shape(48, 32, 24) == (36, 24)


@pytest.mark.parametrize(("hw", "size", "seen"), [((32, 32), 16, (16, 16)),
                                                  ((32, 48), 16, (16, 24)),
                                                  ((32, 32), None, (32, 32))])  # fmt: skip
def test_an_epoch_trains_on_images_of_its_size(hw, size, seen):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    shapes = []
    net.register_forward_pre_hook(lambda _m, args: shapes.append(tuple(args[0].shape[-2:])))
    x = torch.randint(0, 256, (20, 3, *hw), dtype=torch.uint8)
    y = torch.randint(0, 2, (20,))
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    loop.train_epoch(
        net, x, y, optimizer=opt, schedule=loop.make_schedule(opt, "constant", 0.1, 2),
        scaler=torch.amp.GradScaler("cpu", enabled=False), generator=torch.Generator(),
        batch_size=10, mean=(0.5,) * 3, std=(0.25,) * 3, size=size,
    )  # fmt: skip
    assert shapes == [seen, seen]


def test_a_resized_run_whitens_from_full_size_images_and_evaluates_at_full_size(tmp_path):
    cfg = recipe("green", dataset="synthetic", device="cpu", width=0.125, batch_size=32, epochs=2,
                 limit_train=128, limit_test=32, threads=1, epoch_sizes=(16,))  # fmt: skip
    seen = []
    hook = register_module_forward_pre_hook(
        lambda m, args: seen.append((m.training, tuple(args[0].shape[-2:])))
        if type(m).__name__ == "AirbenchNet" else None
    )  # fmt: skip
    try:
        result = train_run(cfg, out_dir=tmp_path, store=None, carbon=None, run_id="sizes-1",
                           progress=False, inference_images=0)  # fmt: skip
    finally:
        hook.remove()
    start = next(i for i, (training, _) in enumerate(seen) if training)
    assert seen[:start] == [(False, (32, 32)), (False, (16, 16))]  # the checks before the run
    trained = [shape for training, shape in seen[start:] if training]
    assert trained == [(16, 16)] * 4 + [(32, 32)] * 4  # epoch 1 at 16 px, epoch 2 at the data's
    assert {shape for training, shape in seen[start:] if not training} == {(32, 32)}
    assert list(result["hyperparameters"]["epoch_sizes"]) == [16]
    # the whitening filters come from the first batch at full size, not from a 16-pixel one
    ds = data_mod.load_dataset("synthetic")
    splits = data_mod.make_splits(ds, limit_train=128, limit_test=32, seed=cfg.seed)
    first = data_mod.normalize(splits.x_train[:32], ds.mean, ds.std, torch.float32)
    expected = nn.Conv2d(3, 24, 2)
    init_whitening(expected, first)
    weights = torch.load(tmp_path / "models" / "sizes-1_weights.pt")
    assert torch.allclose(weights["whiten.weight"], expected.weight, atol=1e-5)


def test_cli_flag_sets_the_sizes_and_off_clears_them():
    args = build_parser().parse_args(["baseline", "--epochs", "2", "--epoch-sizes", "16", "24"])
    assert training_args.train_config(args).epoch_sizes == (16, 24)
    off = build_parser().parse_args(["baseline", "--epoch-sizes", "off"])
    assert training_args.train_config(off).epoch_sizes == ()


@pytest.mark.parametrize(("sizes", "says"), [
    (["64"], "--epoch-sizes 64: larger than the images' 32 pixels"),
    (["8"], "--epoch-sizes 8: model 'airbench_small': a forward pass on a (2, 3, 8, 8) batch failed"),
    (["16", "16", "16", "16"], "4 epoch sizes for 3 epochs"),
])  # fmt: skip
def test_bad_sizes_get_one_line_exit_2_and_write_nothing(tmp_path, capsys, sizes, says):
    out = tmp_path / "run"
    code = main(["baseline", "--dataset", "synthetic", "--limit-train", "64", "--device", "cpu",
                 "--epochs", "3", "--epoch-sizes", *sizes, "--out", str(out), "--no-progress"])  # fmt: skip
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and says in lines[0]
    assert not out.exists()
