"""The pieces of the training loop: device, optimizer, schedule, one epoch, evaluation.

Data stay on the training device as uint8 tensors; each batch is indexed, augmented and normalised
there (no DataLoader, no worker processes). Data too big for memory come as ``ImageFiles`` views:
their batches are decoded by worker processes a few batches ahead and moved to the device one by
one; the rest of the step is the same. Everything random draws from one seeded generator.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from greenai.errors import UsageError
from greenai.ml.data import ImageFiles, Images, augment, epoch_flips, normalize
from greenai.ml.training.recipes import tta_logits

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``gpu`` without CUDA is an error, never a CPU run."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name in ("gpu", "cuda"):
        if not torch.cuda.is_available():
            raise UsageError(
                "--device gpu: no CUDA GPU is available here (use --device cpu or auto)"
            )
        return torch.device("cuda")
    if name == "cpu":
        return torch.device("cpu")
    raise UsageError(f"unknown device {name!r}; choose gpu, cpu or auto")


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def make_optimizer(
    model: torch.nn.Module, name: str, lr: float, weight_decay: float, momentum: float = 0.9
) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=lr, momentum=momentum, nesterov=True, weight_decay=weight_decay
        )
    raise UsageError(f"unknown optimizer {name!r}; choose adam, adamw or sgd")


def make_schedule(
    optimizer: torch.optim.Optimizer, name: str, lr: float, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """A per-batch learning-rate schedule over ``total_steps`` batches."""
    if name == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _step: 1.0)
    if name == "onecycle":  # each group peaks at its own LR (the tricks' groups differ), else `lr`
        peaks = [g["lr"] for g in optimizer.param_groups] if len(optimizer.param_groups) > 1 else lr
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=peaks, total_steps=max(total_steps, 8), pct_start=0.25
        )  # >= 8: OneCycleLR divides by pct_start * total - 1, which is 0 at 4 steps
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total_steps, 1))
    if name == "linear":  # from the full LR at the first step down to 0 (airbench94_muon's)
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: max(0.0, 1.0 - step / max(total_steps, 1))
        )
    raise UsageError(f"unknown schedule {name!r}; choose constant, onecycle, cosine or linear")


def resized_shape(h: int, w: int, size: int) -> tuple[int, int]:
    """(h, w) scaled so that the shorter side is ``size`` pixels (the aspect ratio kept)."""
    scale = size / min(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    return math.ceil(n_train / batch_size)


def train_epoch(
    model: torch.nn.Module,
    x: Images,
    y: torch.Tensor,
    *,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    generator: torch.Generator,
    batch_size: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    precision: str = "fp32",
    do_augment: bool = True,
    crop: bool = True,
    flip: bool = True,
    augment_pad: int = 4,
    augment_reflect: bool = False,
    flip_base: torch.Tensor | None = None,
    epoch: int = 1,
    label_smoothing: float = 0.0,
    channels_last: bool = False,
    on_batch: Callable[[int, float, float], None] | None = None,
    report_every: int = 20,
    after_step: Callable[[int], None] | None = None,
    size: int | None = None,
) -> tuple[float, float]:
    """One pass over the training tensors in a seeded random order: (mean loss, accuracy %).

    ``on_batch(batch_index, running_loss, running_acc_pct)`` is called every ``report_every`` batches
    (reading the running figures synchronises the device, so not after every batch);
    ``after_step(batch_index)`` after every optimizer step (the Lookahead/EMA hook).
    ``flip_base``: ``data.alternating_flips`` for the training tensors; with it, image i is
    mirrored in ``epoch`` iff its base flip differs from "epoch is even" (no coin per batch).
    ``crop``/``flip``: which augmentations suit the data (``Dataset.augment``); ``do_augment=False``
    turns both off. ``x``: a tensor on the training device, or an ``ImageFiles`` view (``y`` on the
    device) whose batches are decoded ahead by workers and moved to the device. ``size``: each
    batch downscaled (bilinear, antialiased) to ``size`` x ``size`` pixels (progressive resizing).
    """
    model.train()
    device = y.device if isinstance(x, ImageFiles) else x.device
    order = torch.randperm(len(y), device=device, generator=generator)
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    starts = range(0, len(y), batch_size)
    decoded = None
    if isinstance(x, ImageFiles):
        cpu_order = order.cpu()
        pin = device.type == "cuda"
        decoded = x.batches((cpu_order[s : s + batch_size] for s in starts), pin_memory=pin)
    do_augment = do_augment and (crop or flip)
    for i, start in enumerate(starts):
        idx = order[start : start + batch_size]
        xb = x[idx] if decoded is None else next(decoded).to(device, non_blocking=True)
        yb = y[idx]
        if do_augment:
            flips = None if flip_base is None else epoch_flips(flip_base, idx, epoch)
            if not flip:
                flips = torch.zeros(len(idx), dtype=torch.bool, device=device)
            xb = augment(xb, generator, augment_pad if crop else 0, augment_reflect, flips)
        xb = normalize(xb, mean, std, torch.float32)
        if size is not None and size != min(xb.shape[-2:]):  # progressive resizing: cheaper
            shape = resized_shape(*xb.shape[-2:], size)
            xb = F.interpolate(xb, size=shape, mode="bilinear", antialias=True)
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with autocast(device, precision):
            logits = model(xb)
            loss = F.cross_entropy(logits.float(), yb, label_smoothing=label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        schedule.step()
        if after_step is not None:
            after_step(i)
        total_loss += loss.detach() * len(yb)
        correct += (logits.argmax(1) == yb).sum()
        seen += len(yb)
        if on_batch is not None and i % report_every == report_every - 1:
            on_batch(i, float(total_loss) / seen, 100.0 * float(correct) / seen)
    return float(total_loss) / seen, 100.0 * float(correct) / seen


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    x: Images,
    y: torch.Tensor,
    *,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    precision: str = "fp32",
    channels_last: bool = False,
    batch_size: int = 1000,
    tta: int = 0,
) -> tuple[float, float]:
    """(mean cross-entropy loss, accuracy %) over ``x, y``; (nan, nan) when empty.

    ``tta``: test-time augmentation level of ``recipes.tta_logits`` (0 none, 1 flip, 2 + shifts).
    ``x``: a tensor, or an ``ImageFiles`` view decoded batch by batch onto ``y``'s device.
    """
    if len(y) == 0:
        return math.nan, math.nan
    model.eval()
    device = y.device if isinstance(x, ImageFiles) else x.device
    starts = range(0, len(y), batch_size)
    decoded = None
    if isinstance(x, ImageFiles):
        parts = (torch.arange(s, min(s + batch_size, len(y))) for s in starts)
        decoded = x.batches(parts, pin_memory=device.type == "cuda")
    total_loss, correct = 0.0, 0
    for start in starts:
        xb = (
            x[start : start + batch_size]
            if decoded is None
            else next(decoded).to(device, non_blocking=True)
        )
        xb = normalize(xb, mean, std, torch.float32)
        yb = y[start : start + batch_size]
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with autocast(device, precision):
            logits = (tta_logits(model, xb, tta) if tta else model(xb)).float()
        total_loss += float(F.cross_entropy(logits, yb, reduction="sum"))
        correct += int((logits.argmax(1) == yb).sum())
    return total_loss / len(y), 100.0 * correct / len(y)
