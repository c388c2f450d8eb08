"""How derived models train (``ml.compression.finetune``): Adam, or the parent's airbench recipe
for a parent trained by one (pruning: 0.3x its LR decaying to zero; a distilled airbench student:
the recipe's own LR and schedule); recorded in the result's hyperparameters."""

from __future__ import annotations

import pytest
import torch

from greenai.errors import UsageError
from greenai.lifecycle.parents import resolve_parent
from greenai.lifecycle.run import RunEnv
from greenai.lifecycle.steps.baseline import train_run
from greenai.lifecycle.steps.distill import distill
from greenai.lifecycle.steps.prune import prune
from greenai.lifecycle.variant_data import DataSpec
from greenai.ml.compression.finetune import (
    FINETUNE_LR_SCALE,
    optimizer_for,
    settings_for,
    trained_config,
)
from greenai.ml.models import create_model
from greenai.ml.training.recipes import BIAS_SCALER, GREEN, GREEN_LONG_SGD, SEED, recipe

DATA = DataSpec(dataset="synthetic", limit_train=128, limit_test=64)


def test_adam_unless_the_parent_was_trained_by_an_airbench_recipe():
    assert settings_for(None, lr=5e-4, batch_size=128).optimizer == "adam"
    assert settings_for(SEED.to_dict(), lr=5e-4, batch_size=128).lr == 5e-4
    with pytest.raises(UsageError, match="needs a parent trained by an airbench recipe"):
        settings_for(SEED.to_dict(), lr=5e-4, batch_size=128, how="recipe")
    with pytest.raises(UsageError, match="unknown fine-tuning"):
        settings_for(None, lr=5e-4, batch_size=128, how="sgd")
    assert settings_for(GREEN.to_dict(), lr=5e-4, batch_size=128, how="adam").optimizer == "adam"


def test_the_recipe_fine_tunes_at_a_fraction_of_its_lr_for_the_batch_it_is_given():
    s = settings_for(GREEN_LONG_SGD.to_dict(), lr=5e-4, batch_size=512)
    # green_long_sgd's LR is for batch 1024 and proportional to the batch: half the batch, half the LR
    assert s.optimizer == "recipe" and s.schedule == "linear" and s.precision == "bf16"
    assert s.lr == pytest.approx(
        GREEN_LONG_SGD.lr * FINETUNE_LR_SCALE * 512 / GREEN_LONG_SGD.batch_size
    )
    assert s.crop_pad > 0 and s.label_smoothing == GREEN_LONG_SGD.label_smoothing
    scratch = settings_for(GREEN_LONG_SGD.to_dict(), lr=5e-4, batch_size=1024, from_scratch=True)
    assert (
        scratch.lr == pytest.approx(GREEN_LONG_SGD.lr)
        and scratch.schedule == GREEN_LONG_SGD.schedule
    )
    # green's Muon LR does not depend on the batch (muon_groups scales the SGD groups itself)
    muon = settings_for(GREEN.to_dict(), lr=5e-4, batch_size=128)
    assert muon.lr == pytest.approx(GREEN.lr * FINETUNE_LR_SCALE)
    assert settings_for(GREEN.to_dict(), lr=5e-4, batch_size=64, from_scratch=True).lr == GREEN.lr


def test_the_recipe_optimizer_keeps_its_groups_and_decays_to_zero():
    net = create_model("airbench", num_classes=10, width=0.125)
    s = settings_for(GREEN_LONG_SGD.to_dict(), lr=5e-4, batch_size=256)
    opt, schedule = optimizer_for(net, s, total_steps=4)
    norm, other = opt.param_groups
    assert norm["lr"] == pytest.approx(BIAS_SCALER * other["lr"])  # batch-norm biases at 64x
    assert other["lr"] == pytest.approx(s.lr)
    for _ in range(4):
        opt.step()
        schedule.step()
    assert [g["lr"] for g in opt.param_groups] == [0.0, 0.0]


def test_trained_config_only_for_trained_parents():
    assert trained_config({"hyperparameters": GREEN.to_dict()})["model"] == "airbench_small"
    assert trained_config({"hyperparameters": {"kind": "structured", "sparsity": 0.3}}) is None
    assert trained_config(None) is None


@pytest.fixture(scope="module")
def green_parent(tmp_path_factory):
    out = tmp_path_factory.mktemp("green")
    cfg = recipe("green", dataset="synthetic", limit_train=128, limit_test=64, width=0.125,
                 batch_size=32, epochs=1, threads=1, device="cpu")  # fmt: skip
    train_run(cfg, out_dir=out, store=None, carbon=None, run_id="gp", progress=False,
              inference_images=0)  # fmt: skip
    return out


def test_prune_and_distill_record_how_they_trained(green_parent):
    env = RunEnv(green_parent)
    parent = resolve_parent("gp", green_parent, None)
    pruned = prune(parent, env, DATA, sparsity=0.3, kind="structured", finetune_epochs=1,
                   batch_size=32, channel_multiple=1)  # fmt: skip
    assert pruned["hyperparameters"]["optimizer"] == "recipe"
    assert pruned["hyperparameters"]["finetune"]["schedule"] == "linear"
    assert len(pruned["compression"]["finetune_losses"]) == 1
    teacher = resolve_parent("gp", green_parent, None)
    same_net = distill(teacher, env, DATA, student="airbench_small", student_kwargs={"width": 0.1},
                       epochs=1, batch_size=32)  # fmt: skip
    assert same_net["hyperparameters"]["optimizer"] == "recipe"
    # the recipe is tuned for the teacher's net: another student keeps Adam (a seed_cnn diverged)
    other = distill(resolve_parent("gp", green_parent, None), env, DATA, student="seed_cnn",
                    student_kwargs={"width": 0.25}, epochs=1, batch_size=32)  # fmt: skip
    assert other["hyperparameters"]["optimizer"] == "adam"
    assert torch.isfinite(torch.tensor(other["metrics"]["test_loss"]))
