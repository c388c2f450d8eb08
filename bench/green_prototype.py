"""Standalone prototype of the green CIFAR-10 recipe (issue #8), to measure choices on this CPU.

Independent of the shared loop on purpose: it reads the npz pair directly, keeps the data as one
uint8 tensor, augments whole batches, and reports per epoch the wall time and CPU time spent
training (evaluation excluded) with held-out and test accuracy. CPU seconds are the energy proxy:
on a CPU-only box the meter's estimate is proportional to them.

    python bench/green_prototype.py --widths 64,256,256 --epochs 10 --precision bf16
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from greenai.ml.models.airbench import AirbenchNet
from greenai.ml.training.recipes import (
    EMA_EVERY,
    LookaheadEMA,
    sgd_param_groups,
    triangle_lr,
    tta_logits,
)

DATA = Path("/work/shared/data/cifar10")
MEAN = torch.tensor((0.4914, 0.4822, 0.4465)).view(1, 3, 1, 1)
STD = torch.tensor((0.2470, 0.2435, 0.2616)).view(1, 3, 1, 1)


def normalize(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """uint8 NCHW -> normalised float32 (optionally channels_last)."""
    out = (x.float() / 255 - MEAN) / STD
    return out.contiguous(memory_format=torch.channels_last) if channels_last else out


def batch_crop(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Random translation by up to `pad` pixels (reflect padding), one shift per image, whole batch."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad,) * 4, mode="reflect")
    shifts = torch.randint(0, 2 * pad + 1, (n, 2))
    out = torch.empty_like(x)
    for sy in range(2 * pad + 1):
        for sx in range(2 * pad + 1):
            m = (shifts[:, 0] == sy) & (shifts[:, 1] == sx)
            out[m] = padded[m, :, sy : sy + h, sx : sx + w]
    return out


def load(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (uint8 NCHW images, int64 labels) of one split."""
    with np.load(DATA / f"cifar10_{split}.npz") as z:
        x = torch.from_numpy(z["x"]).permute(0, 3, 1, 2).contiguous()
        y = torch.from_numpy(z["y"]).long()
    return x, y


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, tta: int, args) -> float:
    model.eval()
    correct = 0
    with torch.no_grad(), torch.autocast("cpu", torch.bfloat16, enabled=args.precision == "bf16"):
        for i in range(0, len(x), 1000):
            xb = normalize(x[i : i + 1000], args.channels_last)
            correct += (tta_logits(model, xb, tta).argmax(1) == y[i : i + 1000]).sum().item()
    return 100.0 * correct / len(x)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--widths", default="64,256,256")
    p.add_argument("--epochs", type=float, default=10.0)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--lr", type=float, default=11.5)
    p.add_argument("--wd", type=float, default=0.0153)
    p.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    p.add_argument("--channels-last", type=int, default=1)
    p.add_argument("--compile", type=int, default=0)
    p.add_argument("--tta", type=int, default=2)
    p.add_argument("--holdout", type=int, default=5000)
    p.add_argument("--ema", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--eval-every", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    x, y = load("train")
    xt, yt = load("test")
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(1234))
    xv, yv = x[perm[: args.holdout]], y[perm[: args.holdout]]
    x, y = x[perm[args.holdout :]], y[perm[args.holdout :]]

    widths = tuple(int(w) for w in args.widths.split(","))
    model = AirbenchNet(widths=widths)  # whitens itself on its first training batch
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    fwd = torch.compile(model) if args.compile else model

    bs = args.batch_size
    steps_per_epoch = len(x) // bs
    total_steps = math.ceil(steps_per_epoch * args.epochs)
    groups = sgd_param_groups(model, lr=args.lr, weight_decay=args.wd, batch_size=bs)
    opt = torch.optim.SGD(groups, momentum=0.85, nesterov=True)
    base_lrs = [g["lr"] for g in opt.param_groups]
    schedule = triangle_lr(total_steps)
    ema = LookaheadEMA(model, total_steps) if args.ema else None
    flip0 = torch.rand(len(x)) < 0.5  # alternating flip: fixed per-image bit, inverted every epoch

    step, wall, cpu = 0, 0.0, 0.0
    print(
        f"widths={widths} epochs={args.epochs} bs={bs} prec={args.precision} cl={args.channels_last} "
        f"compile={args.compile} params={sum(q.numel() for q in model.parameters())}",
        flush=True,
    )
    for epoch in range(math.ceil(args.epochs)):
        t0, c0 = time.perf_counter(), time.process_time()
        model.train()
        model.whiten.bias.requires_grad = epoch < 3  # train whitening bias briefly, then freeze
        order = torch.randperm(len(x))
        for i in range(steps_per_epoch):
            idx = order[i * bs : (i + 1) * bs]
            flip = flip0[idx] ^ bool(epoch % 2)
            xb = batch_crop(normalize(x[idx], False), 2)
            xb = torch.where(flip.view(-1, 1, 1, 1), xb.flip(-1), xb)
            if args.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cpu", torch.bfloat16, enabled=args.precision == "bf16"):
                out = fwd(xb)
            loss = F.cross_entropy(out.float(), y[idx], label_smoothing=0.2, reduction="sum")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            for g, lr0 in zip(opt.param_groups, base_lrs, strict=True):
                g["lr"] = lr0 * schedule[step]
            opt.step()
            step += 1
            if ema is not None and step % EMA_EVERY == 0:
                ema.update(model, step, epoch)
            if step >= total_steps:
                break
        if ema is not None:
            ema.sync(model)
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
        last = step >= total_steps
        if (epoch + 1) % args.eval_every == 0 or last:
            va = evaluate(fwd, xv, yv, 0, args) if args.holdout else float("nan")
            te = evaluate(fwd, xt, yt, 0, args)
            msg = f"ep {epoch + 1:2d} loss {loss.item() / bs:.3f} val {va:.2f} test {te:.2f}"
            if last and args.tta:
                vt = evaluate(fwd, xv, yv, args.tta, args) if args.holdout else float("nan")
                msg += f" | tta{args.tta} val {vt:.2f} test {evaluate(fwd, xt, yt, args.tta, args):.2f}"
            print(
                f"{msg} | train wall {wall:.1f}s cpu {cpu:.1f}s ({len(x) * (epoch + 1) / wall:.0f} img/s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
