"""The study's plan as a person reads it before it starts: its steps, how many training epochs each
runs, and a rough duration from a per-epoch timing taken on this machine just before.

How rough, and why: the timing is a few training steps of the baseline's model on random images
of the configured batch size (after one warm-up step), scaled to a full epoch and to every epoch of
the plan; a fine-tuning, QAT or distillation epoch is counted as one baseline epoch. Loading the
data, evaluation, inference timing and a machine busier later all add to it. The runner's own
"time left" line, once epochs have run, is the better figure.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from greenai.ml.training.progress import clock_text
from greenai.study.plan import Step

CIFAR10_TRAIN_IMAGES = 50_000
# Which study setting holds each derived step's epochs (PTQ calibrates on a few batches: ~0).
_EPOCH_SETTING = {
    "pruned_unstructured": "finetune_epochs",
    "pruned_structured": "finetune_epochs",
    "quantized_qat": "qat_epochs",
    "distilled": "distill_epochs",
}


def step_epochs(step: Step) -> int:
    """Training epochs (or epochs of fine-tuning, QAT, distillation) that ``step`` runs."""
    if step.variant == "baseline":
        return int(step.config["train"].get("epochs") or 1)
    setting = _EPOCH_SETTING.get(step.variant)
    value = step.config["settings"].get(setting) if setting else None
    return int(value or 0)


@dataclass(frozen=True)
class EpochTiming:
    """Seconds per training epoch of the baseline's model on this machine, and how it was got."""

    seconds: float
    how: str


def time_epoch(
    train: Mapping[str, Any], steps: int = 3, clock: Callable[[], float] = time.perf_counter
) -> EpochTiming | None:
    """Time ``steps`` training steps of ``train``'s model (random images, CPU) and scale them to
    one epoch; None when the epoch's size is unknown (a dataset other than CIFAR-10 without
    ``limit_train``: its size is only known once it is read)."""
    import torch

    from greenai.ml.models import create_model
    from greenai.ml.training.checkpoint import model_kwargs
    from greenai.ml.training.loop import steps_per_epoch

    images = train.get("limit_train") or (
        CIFAR10_TRAIN_IMAGES if train.get("dataset", "cifar10") == "cifar10" else None
    )
    if images is None:
        return None
    batch = int(train.get("batch_size") or 64)
    threads = train.get("threads")
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        side = int(train.get("image_size") or 32)
        model = create_model(
            str(train.get("model", "seed_cnn")), input_shape=(3, side, side),
            **model_kwargs(dict(train)),
        )  # fmt: skip
        x, y = torch.randn(batch, 3, side, side), torch.randint(0, 10, (batch,))
        if train.get("channels_last"):
            model, x = (
                model.to(memory_format=torch.channels_last),
                x.contiguous(memory_format=torch.channels_last),
            )
        opt = torch.optim.SGD(model.parameters(), lr=1e-3)
        bf16 = train.get("precision") == "bf16"
        model.train()

        def one() -> None:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        one()  # warm-up: first-call allocations and kernel selection
        start = clock()
        for _ in range(steps):
            one()
        per_step = (clock() - start) / steps
    finally:
        torch.set_num_threads(old_threads)
    n_steps = steps_per_epoch(int(images), batch)
    how = (
        f"{steps} training steps of {train.get('model', 'seed_cnn')} at batch {batch} timed here "
        f"just now ({per_step:.3g} s each) × {n_steps} steps per epoch"
    )
    return EpochTiming(per_step * n_steps, how)


def plan_lines(
    steps: Sequence[Step], timing: EpochTiming | None, why_none: str | None = None
) -> list[str]:
    """What the study will run and roughly how long it takes, for the terminal before it starts
    (``why_none``: why there is no timing, when it is None)."""
    parts = [f"{s.key} ({step_epochs(s)} epoch{'s' if step_epochs(s) != 1 else ''})" for s in steps]
    total = sum(step_epochs(s) for s in steps)
    lines = [f"study plan: {len(steps)} steps: {', '.join(parts)}; {total} epochs in all"]
    if timing is None:
        why = why_none or "the data set's size is known only once it is read"
        lines.append(f"study estimate: none ({why})")
        return lines
    lines.append(
        f"study estimate: roughly {clock_text(timing.seconds * total)} if nothing is reused "
        f"(rough: {timing.how} × {total} epochs; a fine-tuning or distillation epoch counted as "
        "a baseline epoch; data loading, evaluation, inference timing and a busier machine add "
        "to it)"
    )
    return lines
