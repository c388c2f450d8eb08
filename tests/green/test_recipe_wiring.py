"""``--recipe`` on the CLI and ``TrainConfig.airbench_tricks`` in the shared loop, on synthetic data."""

from __future__ import annotations

import pytest
import torch

from greenai.cli import training_args
from greenai.cli.main import build_parser, main
from greenai.errors import UsageError
from greenai.lifecycle.steps.baseline import train_run
from greenai.ml.training import checkpoint, loop
from greenai.ml.training.config import TrainConfig
from greenai.ml.training.recipes import BIAS_SCALER, GREEN, GREEN_LONG_SGD, recipe
from greenai.results import resultfile as results

TINY = ["--dataset", "synthetic", "--limit-train", "256", "--limit-test", "64", "--device", "cpu"]
# the study's flags before recipes existed: `--recipe seed` must give exactly these
STUDY_DEFAULTS = dict(
    model="seed_cnn", dataset="cifar10", data_dir=None, download=False, device="auto", epochs=20,
    batch_size=64, lr=0.001, seed=0, precision="fp32", optimizer="adam", weight_decay=0.0,
    schedule="constant", label_smoothing=0.0, channels_last=False, augment=True,
    holdout_fraction=0.0, target_accuracy=None, limit_train=None, limit_test=None, width=1.0,
    compile=False, threads=None,
)  # fmt: skip


def _kwargs(*argv: str) -> dict:
    return training_args.train_config_kwargs(build_parser().parse_args(list(argv)))


@pytest.mark.parametrize("command", ["baseline", "study"])
def test_recipe_seed_is_the_study_unchanged(command):
    assert _kwargs(command, "--recipe", "seed") == STUDY_DEFAULTS  # same configuration hashes


def test_baseline_defaults_to_green_and_the_study_to_seed():
    args = build_parser().parse_args(["baseline"])
    assert TrainConfig(**training_args.train_config_kwargs(args)) == GREEN
    assert args.recipe == "green" and args.recipe_note is None  # no study flag given: no note
    assert _kwargs("baseline") == _kwargs("baseline", "--recipe", "green")
    study = build_parser().parse_args(["study", "--epochs", "20", "--lr", "0.001"])
    assert training_args.train_config_kwargs(study) == {**STUDY_DEFAULTS, "epochs": 20}
    assert study.recipe == "seed" and study.recipe_note is None  # the study's flags: no note


def test_study_flags_on_the_default_recipe_get_one_note(capsys):
    args = build_parser().parse_args(
        ["baseline", "--epochs", "20", "--batch_size", "64", "--lr", "0.001"]
    )
    got = training_args.train_config_kwargs(args)
    assert (got["model"], got["epochs"], got["batch_size"], got["lr"]) == (
        "airbench_small",
        20,
        64,
        0.001,
    )
    assert capsys.readouterr().err == ""  # not yet: the command prints it once its input is checked
    training_args.print_recipe_note(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--epochs, --batch-size, --lr" in err[0]
    assert "--recipe seed" in err[0]
    for chosen in ("green", "seed"):  # a recipe named on purpose: no note
        args = build_parser().parse_args(["baseline", "--recipe", chosen, "--lr", "0.1"])
        training_args.train_config_kwargs(args)
        assert getattr(args, "recipe_note", None) is None


def test_the_note_is_printed_once_the_run_starts_never_before_an_error(tmp_path, capsys):
    code = main(["baseline", *TINY, "--epochs", "1", "--out", str(tmp_path / "ok"),
                 "--inference-images", "0", "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0 and err.count("greenai: note: --epochs applied to the default recipe") == 1
    code = main(["baseline", *TINY, "--epochs", "1", "--country", "XXX", "--out",
                 str(tmp_path / "bad")])  # fmt: skip
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("greenai: error:")


def test_explicit_flags_override_the_recipe():
    args = build_parser().parse_args(
        ["baseline", "--recipe", "green", "--lr", "0.5", "--epochs", "5"]
    )
    cfg = training_args.train_config(args)
    assert (cfg.lr, cfg.epochs) == (0.5, 5)
    assert (args.lr, args.epochs, args.batch_size) == (0.5, 5, GREEN.batch_size)  # filled in
    assert cfg == TrainConfig(**{**GREEN.to_dict(), "lr": 0.5, "epochs": 5})
    off = training_args.train_config(build_parser().parse_args(["baseline", "--recipe", "green_long",
                                                         "--no-airbench-tricks"]))  # fmt: skip
    assert not off.airbench_tricks and off.width == 1.0 and off.momentum == GREEN.momentum
    on = training_args.train_config(build_parser().parse_args(["baseline", "--recipe", "seed",
                                                        "--airbench-tricks", "--optimizer",
                                                        "sgd"]))  # fmt: skip
    assert on.airbench_tricks and on.model == "seed_cnn"
    with pytest.raises(UsageError, match="--no-airbench-tricks"):
        training_args.train_config(build_parser().parse_args(["baseline", "--recipe", "green",
                                                       "--optimizer", "adam"]))  # fmt: skip


def test_old_configs_without_the_field_still_load():
    old = {k: v for k, v in TrainConfig().to_dict().items() if k != "airbench_tricks"}
    assert TrainConfig.from_dict(old).airbench_tricks is False


def test_baseline_recipe_green_records_the_presets_hyperparameters(tmp_path, capsys):
    given = {"dataset": "synthetic", "limit_train": 256, "limit_test": 64, "device": "cpu",
             "width": 0.125, "epochs": 1, "batch_size": 128, "threads": 1}  # fmt: skip
    argv = ["baseline", "--recipe", "green", *TINY, "--width", "0.125", "--epochs", "1",
            "--batch-size", "128", "--threads", "1", "--out", str(tmp_path), "--no-progress",
            "--run-id", "green-1", "--inference-images", "0"]  # fmt: skip
    assert main(argv) == 0
    result = results.load_result(tmp_path / "results" / "synthetic_baseline_green-1.json")
    hp = result["hyperparameters"]
    expected = {**GREEN.to_dict(), **given}
    assert {k: hp[k] for k in hp} == {k: expected[k] for k in hp}
    assert hp["airbench_tricks"] is True and hp["model"] == "airbench_small"
    assert hp["optimizer"] == "muon" and hp["momentum"] == 0.85
    assert result["precision"] == "bf16" and result["model"] == "airbench_small"
    capsys.readouterr()


# 256 images / batch 32 = 8 steps per epoch: the EMA starts at step 5 of 16, blends at 10, 15
_TINY = dict(dataset="synthetic", device="cpu", width=0.125, batch_size=32, epochs=2,
             limit_train=256, limit_test=64, threads=1)  # fmt: skip


def _tiny_green(**over) -> TrainConfig:
    return recipe("green", **{**_TINY, **over})


def _tiny_sgd(**over) -> TrainConfig:
    """green_long_sgd's airbench94 SGD tricks (one-cycle, SGD groups) at green's tiny size."""
    lr = GREEN_LONG_SGD.lr * 32 / GREEN_LONG_SGD.batch_size  # its LR is proportional to the batch
    return recipe("green_long_sgd", **{**_TINY, "lr": lr, **over})


def test_tricks_train_and_evaluate_end_to_end(tmp_path, monkeypatch):
    tta_calls = []
    real_tta = loop.tta_logits

    def counting_tta(model, x, level=2):
        tta_calls.append(level)
        return real_tta(model, x, level)

    monkeypatch.setattr(loop, "tta_logits", counting_tta)
    cfg = _tiny_sgd()
    result = train_run(cfg, out_dir=tmp_path, store=None, carbon=None, run_id="tricks-1",
                       progress=False, inference_images=0)  # fmt: skip
    m = result["metrics"]
    assert 0 <= m["test_accuracy_pct"] <= 100 and 0 <= m["test_accuracy_tta_pct"] <= 100
    # a per-epoch TEST figure is only logged: no TTA; the final figure is the plain one (as
    # deployed, as variants are judged) and airbench94's flips + shifts beside it, once
    assert tta_calls == [2]
    tta_calls.clear()
    train_run(_tiny_sgd(holdout_fraction=0.25), out_dir=tmp_path / "h", store=None, carbon=None,
              run_id="tricks-2", progress=False, inference_images=0)  # fmt: skip
    # the per-epoch HELD-OUT figure decides early stopping: flip TTA, then the final full TTA
    assert set(tta_calls) == {1, 2} and tta_calls[0] == 1 and tta_calls[-1] == 2
    ck = checkpoint.load_checkpoint(tmp_path / "models" / "tricks-1.pt")
    norm, other = ck["optimizer_state"]["param_groups"]
    assert norm["max_lr"] == pytest.approx(BIAS_SCALER * other["max_lr"])  # onecycle per group
    assert other["max_lr"] == pytest.approx(cfg.lr)
    assert norm["lr"] * norm["weight_decay"] == pytest.approx(other["lr"] * other["weight_decay"])
    ema = ck["ema_state"]
    assert ema is not None
    for k, avg in ema.items():  # the net was synced to the average at the end of the epoch
        assert torch.equal(ck["model_state"][k], avg)


def test_plain_config_has_no_tricks(tmp_path, monkeypatch):
    monkeypatch.setattr(loop, "tta_logits", lambda *a, **k: pytest.fail("TTA without the tricks"))
    cfg = _tiny_sgd(airbench_tricks=False, epochs=1)
    train_run(cfg, out_dir=tmp_path, store=None, carbon=None, run_id="plain-1", progress=False,
              inference_images=0)  # fmt: skip
    ck = checkpoint.load_checkpoint(tmp_path / "models" / "plain-1.pt")
    assert len(ck["optimizer_state"]["param_groups"]) == 1 and ck["ema_state"] is None
    (result,) = (tmp_path / "results").glob("*plain-1.json")
    assert results.load_result(result)["metrics"]["test_accuracy_tta_pct"] is None


def test_resume_restores_the_ema_state(tmp_path, monkeypatch):
    whole = train_run(_tiny_green(ema=True), out_dir=tmp_path / "whole", store=None, carbon=None,
                      run_id="ema-1", progress=False, inference_images=0)  # fmt: skip
    real_epoch, calls = loop.train_epoch, []

    def dies_in_epoch_2(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("simulated crash in epoch 2")
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(loop, "train_epoch", dies_in_epoch_2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_run(_tiny_green(ema=True), out_dir=tmp_path / "cut", store=None, carbon=None,
                  run_id="ema-1", progress=False, inference_images=0)  # fmt: skip
    ck = checkpoint.load_checkpoint(tmp_path / "cut" / "models" / "ema-1.pt")
    assert ck["epoch"] == 1 and ck["ema_state"] is not None  # the EMA started in epoch 1
    monkeypatch.setattr(loop, "train_epoch", real_epoch)
    resumed = train_run(_tiny_green(ema=True), out_dir=tmp_path / "cut", store=None, carbon=None,
                        run_id="ema-1", resume=True, progress=False, inference_images=0)  # fmt: skip
    assert resumed["training"]["epochs_run"] == 2
    a = checkpoint.load_state_dict(tmp_path / "whole" / "models" / "ema-1_weights.pt")
    b = checkpoint.load_state_dict(tmp_path / "cut" / "models" / "ema-1_weights.pt")
    # same weights as the uninterrupted run: a fresh EMA would snapshot at step 10, not blend
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["metrics"]["test_accuracy_pct"] == whole["metrics"]["test_accuracy_pct"]


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 5])
def test_onecycle_survives_very_short_runs(steps):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = loop.make_schedule(opt, "onecycle", 0.1, total_steps=steps)  # 4 divided by zero
    for _ in range(steps):
        opt.step()
        sched.step()
        assert 0 < opt.param_groups[0]["lr"] <= 0.1


def test_augment_flags_reach_the_config_and_bad_pads_are_one_usage_error():
    cfg = training_args.train_config(
        build_parser().parse_args(["baseline", "--augment-pad", "2", "--augment-reflect"])
    )
    assert (cfg.augment_pad, cfg.augment_reflect) == (2, True)
    plain = _kwargs("baseline", "--recipe", "seed")
    assert "augment_pad" not in plain and "augment_reflect" not in plain  # hashes unchanged
    with pytest.raises(UsageError, match="augment pad"):
        training_args.train_config(build_parser().parse_args(["baseline", "--augment-pad", "9"]))


def test_alternate_flip_flag_reaches_the_config_and_seed_stays_unchanged():
    assert (
        training_args.train_config(build_parser().parse_args(["baseline"])).alternate_flip is True
    )
    off = build_parser().parse_args(["baseline", "--no-alternate-flip"])
    assert training_args.train_config(off).alternate_flip is False
    on = _kwargs("baseline", "--recipe", "seed", "--alternate-flip")
    assert on["alternate_flip"] is True
    plain = _kwargs("baseline", "--recipe", "seed")
    assert "alternate_flip" not in plain and "whiten_bias_fraction" not in plain  # hashes unchanged


@pytest.mark.parametrize("fraction", [0.5, 1.0])
def test_the_whitening_bias_freezes_after_its_fraction_of_the_run(tmp_path, monkeypatch, fraction):
    # 256 images / batch 32 = 8 steps an epoch: 0.5 of 16 steps freezes it at the end of epoch 1
    real_epoch, after_epoch_1 = loop.train_epoch, {}

    def remembers_epoch_1(model, *args, **kwargs):
        out = real_epoch(model, *args, **kwargs)
        after_epoch_1.setdefault("bias", model.whiten.bias.detach().clone())
        return out

    monkeypatch.setattr(loop, "train_epoch", remembers_epoch_1)
    cfg = _tiny_green(whiten_bias_fraction=fraction, airbench_tricks=False)
    train_run(cfg, out_dir=tmp_path, store=None, carbon=None, run_id="wb-1", progress=False,
              inference_images=0)  # fmt: skip
    final = checkpoint.load_state_dict(tmp_path / "models" / "wb-1_weights.pt")["whiten.bias"]
    assert torch.equal(final, after_epoch_1["bias"]) is (fraction == 0.5)


def test_whitening_bias_fraction_flag_and_bad_values(capsys):
    assert (
        training_args.train_config(build_parser().parse_args(["baseline"])).whiten_bias_fraction
        == 0.15
    )
    long = build_parser().parse_args(["baseline", "--recipe", "green_long"])
    assert training_args.train_config(long).whiten_bias_fraction == 0.375  # airbench94_muon's
    given = build_parser().parse_args(["baseline", "--whiten-bias-fraction", "0.5"])
    assert training_args.train_config(given).whiten_bias_fraction == 0.5
    with pytest.raises(SystemExit) as exit_:
        main(["baseline", "--whiten-bias-fraction", "1.5"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "fraction in [0, 1]" in err and err.strip().count("\n") == 0
    with pytest.raises(UsageError, match="whitening-bias fraction"):
        TrainConfig(whiten_bias_fraction=1.5).validate()


def test_green_runs_on_the_threads_torch_was_given(tmp_path):
    """No fixed thread count: under torchrun (OMP_NUM_THREADS=1 per rank) or on a bigger machine,
    green trains and measures its inference on the threads the process has (here 1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = train_run(_tiny_green(threads=None, epochs=1), out_dir=tmp_path, store=None,
                           carbon=None, run_id="threads-1", progress=False,
                           inference_images=64)  # fmt: skip
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert recipe("green").threads is None and result["hyperparameters"]["threads"] is None
    assert result["inference"]["threads"] == 1


def test_the_parsers_choices_mirror_the_library():
    from greenai.ml.training import config, recipes

    assert tuple(recipes.RECIPES) == training_args.RECIPES
    assert config.SCHEDULES == training_args.SCHEDULES


def test_ema_flag_reaches_the_config():
    assert training_args.train_config(build_parser().parse_args(["baseline"])).ema is False
    on = build_parser().parse_args(["baseline", "--ema"])
    assert training_args.train_config(on).ema is True
    sgd = build_parser().parse_args(["baseline", "--recipe", "green_long_sgd", "--no-ema"])
    assert training_args.train_config(sgd).ema is False
    assert "ema" not in _kwargs("baseline", "--recipe", "seed")  # the study's hashes unchanged
