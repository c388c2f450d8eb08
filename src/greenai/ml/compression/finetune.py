"""How a derived model trains: Adam (the study's fine-tuning), or its parent's own airbench recipe.

A net trained by an airbench recipe (``green``, ``green_long``, ``green_long_sgd``: SGD groups with
batch-norm biases at 64x the LR or Muon's groups, bf16, channels-last, crops, label smoothing)
fine-tunes poorly with plain Adam in fp32. Structured 30 % pruning, then one epoch
(bench/finetune_settings.py, batch 256):
- on the earlier SGD green baseline (80.20 % plain): Adam at 5e-4 68.67 % in 33 s; the recipe at
  0.3x its LR, decaying linearly to zero, 72.19 % in 18 s (a first experiment: 0.3x 73.19 %, 1.0x
  72.80 %);
- on the Muon-trained ``green`` (one epoch of airbench_small, 78.38 % plain; 2026-12-02, one run
  each): Adam 68.11 %; the recipe at 0.3x 74.72 %, 0.6x 74.26 %, 1.0x 73.01 %.
``settings_for`` picks the recipe for such a parent unless told otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from greenai.errors import UsageError

HOW = ("auto", "adam", "recipe")
FINETUNE_LR_SCALE = 0.3  # a trained net's fine-tuning at 0.3x its recipe's LR (see the docstring)


@dataclass(frozen=True)
class FitSettings:
    """The optimizer, precision, augmentation and schedule of ``distill.fit``."""

    optimizer: str = "adam"  # "adam", or "recipe": the parent recipe's SGD groups
    lr: float = 1e-3  # Adam's; "recipe": the recipe's LR for this batch size, scaled
    recipe: Mapping[str, Any] | None = None  # "recipe": the TrainConfig dict the groups come from
    precision: str = "fp32"
    channels_last: bool = False
    crop_pad: int = 0  # random crops (mirrored border) on top of the data's flips; 0: none
    label_smoothing: float = 0.0
    schedule: str = "constant"  # "constant", "linear" (to zero at the last step) or "onecycle"

    def describe(self) -> dict[str, Any]:
        """The hyperparameters a result records (the recipe's name instead of its whole dict)."""
        out = {k: v for k, v in asdict(self).items() if k != "recipe"}
        if self.recipe is not None:
            out["recipe_model"] = self.recipe.get("model")
        return out


def trained_config(result: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The training settings (a TrainConfig dict) of a trained parent's result; None for others
    (a derived model, a foreign file)."""
    hyper = (result or {}).get("hyperparameters") or {}
    return dict(hyper) if "airbench_tricks" in hyper and "epochs" in hyper else None


def settings_for(
    parent_config: Mapping[str, Any] | None,
    *,
    lr: float,
    batch_size: int,
    from_scratch: bool = False,
    how: str = "auto",
) -> FitSettings:
    """Adam at ``lr``, or (``how="recipe"``, or ``"auto"`` for a parent trained with an airbench
    recipe) that recipe at ``batch_size``: fine-tuning at FINETUNE_LR_SCALE x its LR decaying to
    zero, or for a new net trained from scratch (``from_scratch``: a distillation student) the
    recipe's own LR and schedule."""
    if how not in HOW:
        raise UsageError(f"unknown fine-tuning {how!r}; choose {', '.join(HOW)}")
    cfg = dict(parent_config or {})
    airbench = bool(cfg.get("airbench_tricks"))
    if how == "recipe" and not airbench:
        raise UsageError(
            "--finetune recipe needs a parent trained by an airbench recipe (green, green_long, "
            "green_long_sgd); this parent was not"
        )
    if how == "adam" or not airbench:
        return FitSettings(lr=lr)
    # the SGD recipes' LR is proportional to their batch (lr = 11.5 x B / kilostep): keep that;
    # Muon's is not (muon_groups scales its SGD groups with the batch itself)
    scale = 1.0 if from_scratch else FINETUNE_LR_SCALE
    if cfg.get("optimizer") != "muon":
        scale *= batch_size / int(cfg["batch_size"])
    cfg.update(lr=float(cfg["lr"]) * scale, batch_size=batch_size)
    return FitSettings(
        optimizer="recipe", lr=cfg["lr"], recipe=cfg, precision=cfg.get("precision", "fp32"),
        channels_last=bool(cfg.get("channels_last")), crop_pad=int(cfg.get("augment_pad") or 2),
        label_smoothing=float(cfg.get("label_smoothing") or 0.0),
        schedule=str(cfg.get("schedule") or "onecycle") if from_scratch else "linear",
    )  # fmt: skip


def optimizer_for(
    model: nn.Module, s: FitSettings, total_steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """The optimizer and its per-step schedule over ``total_steps`` steps."""
    from greenai.ml.training import loop

    if s.optimizer == "recipe":
        from greenai.ml.training import recipes
        from greenai.ml.training.config import TrainConfig

        opt = recipes.tricks_optimizer(model, TrainConfig(**dict(s.recipe or {})))
    else:
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=s.lr)
    return opt, loop.make_schedule(opt, s.schedule, s.lr, total_steps)
