"""Hinton knowledge distillation, and the small fine-tuning loop shared by prune, QAT and distill.

Loss (Hinton et al., 2015)::

    alpha * T^2 * KL(softmax(t / T) || softmax(s / T)) + (1 - alpha) * CE(s, y)

The KL term is the distillation term written with the teacher's distribution as the target (PyTorch's
``kl_div(log_softmax(s/T), softmax(t/T))``); T^2 keeps its gradient scale comparable to CE's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from greenai.errors import UsageError
from greenai.ml.compression.finetune import FitSettings, optimizer_for
from greenai.ml.training.loop import autocast

Batches = Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]]
LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def check_distill_args(temperature: float, alpha: float) -> None:
    if not (math.isfinite(temperature) and temperature > 0):
        raise UsageError(f"--temperature must be > 0, got {temperature}")
    if not 0.0 <= alpha <= 1.0:
        raise UsageError(f"--alpha must be in [0, 1], got {alpha}")


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    targets: torch.Tensor,
    temperature: float = 4.0,
    alpha: float = 0.9,
) -> torch.Tensor:
    """Mean over the batch of the Hinton loss above."""
    t = temperature
    soft = F.kl_div(
        F.log_softmax(student_logits / t, dim=1),
        F.softmax(teacher_logits / t, dim=1),
        reduction="batchmean",
    )
    hard = F.cross_entropy(student_logits, targets)
    return alpha * t * t * soft + (1.0 - alpha) * hard


@dataclass(frozen=True)
class FitStats:
    epochs: int
    steps: int
    last_loss: float
    epoch_losses: tuple[float, ...]


def fit(
    model: nn.Module,
    batches: Batches,
    epochs: int,
    lr: float = 1e-3,
    loss_fn: LossFn | None = None,
    teacher: nn.Module | None = None,
    after_step: Callable[[], None] | None = None,
    train_mode: Callable[[bool], None] | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
    ddp: Any = None,
    settings: FitSettings | None = None,
    steps_per_epoch: int | None = None,
) -> FitStats:
    """``epochs`` passes over ``batches()``: Adam at ``lr``, or as ``settings`` say
    (``finetune.settings_for``: a parent's airbench recipe, bf16, crops, label smoothing, a
    schedule over ``epochs * steps_per_epoch`` steps, which a schedule other than constant needs).

    ``loss_fn(student_logits, teacher_logits_or_empty, y)`` defaults to cross-entropy. ``after_step``
    runs after every optimizer step (pruning re-applies its masks there). ``train_mode(flag)`` replaces
    ``model.train(flag)`` for exported QAT programs. ``on_epoch(epoch, mean_loss)`` after each epoch
    (1-based): progress for a person watching (``progress.epoch_reporter``). ``ddp``: a distributed
    step's ``Ddp``: the forward runs through DistributedDataParallel, which averages the gradients.
    """
    if epochs < 0:
        raise UsageError(f"epochs must be >= 0, got {epochs}")
    s = settings or FitSettings(lr=lr)
    if s.schedule != "constant" and steps_per_epoch is None:
        raise ValueError(f"a {s.schedule} schedule needs steps_per_epoch")
    if s.channels_last:
        model.to(memory_format=torch.channels_last)
    opt, schedule = optimizer_for(model, s, epochs * (steps_per_epoch or 1))
    forward = model if ddp is None else ddp.wrap(model)
    (train_mode or model.train)(True)
    if teacher is not None:
        teacher.eval()
    steps, losses = 0, []
    empty = torch.empty(0)
    crops: torch.Generator | None = None
    for epoch in range(1, epochs + 1):
        total, n = 0.0, 0
        for x, y in batches():
            if crops is None:
                crops = torch.Generator(device=x.device).manual_seed(0)
            x = _augmented(x, s, crops)
            with autocast(x.device, s.precision):
                out = forward(x).float()
                if teacher is not None:
                    with torch.no_grad():
                        t_out = teacher(x).float()
                else:
                    t_out = empty
            if loss_fn:
                loss = loss_fn(out, t_out, y)
            else:
                loss = F.cross_entropy(out, y, label_smoothing=s.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            schedule.step()
            if after_step is not None:
                after_step()
            total += float(loss.detach()) * len(y)
            n += len(y)
            steps += 1
        losses.append(total / max(n, 1))
        if on_epoch is not None:
            on_epoch(epoch, losses[-1])
    (train_mode or model.train)(False)
    return FitStats(epochs, steps, losses[-1] if losses else float("nan"), tuple(losses))


def _augmented(x: torch.Tensor, s: FitSettings, generator: torch.Generator) -> torch.Tensor:
    """Random crops (the data already flipped) and the memory layout ``s`` asks for."""
    if s.crop_pad:
        from greenai.ml.data.augmentation import augment

        no_flip = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        x = augment(x, generator, s.crop_pad, True, no_flip)
    if s.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def hinton_loss_fn(temperature: float, alpha: float) -> LossFn:
    check_distill_args(temperature, alpha)

    def loss(s: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return distillation_loss(s, t, y, temperature, alpha)

    return loss
