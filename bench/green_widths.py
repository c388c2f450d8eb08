"""Training time per image of the airbench net at several widths, through the real epoch loop.

The `green` recipe's net (`airbench_small`, widths 16/96/96) was chosen by accuracy per joule of
one epoch; this prints the time side: each width trains a few batches of the shared
`loop.train_epoch` (Muon as in `green`, bf16, channels-last, crops and flips, frozen whitening
bias), round-robin so the machine's drift hits every width alike; medians over rounds, and the
ratio to the first width. Random images: the time does not depend on the data.

    python bench/green_widths.py                              # green's candidates
    python bench/green_widths.py 16,64,64 16,96,96 --rounds 6 --batches 20
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

DEFAULT = ["16,64,64", "16,96,96", "16,128,128", "24,96,96", "32,64,128", "32,96,96", "32,64,64"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("widths", nargs="*", default=DEFAULT, help="three widths each, e.g. 16,96,96")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--batches", type=int, default=16, help="batches per width and round")
    p.add_argument("--rounds", type=int, default=4)
    args = p.parse_args()
    try:
        widths = [tuple(int(c) for c in w.split(",")) for w in args.widths]
    except ValueError:
        p.error("widths are three whole numbers each, e.g. 16,96,96")
    if any(len(w) != 3 or min(w) < 1 for w in widths):
        p.error("widths are three positive whole numbers each, e.g. 16,96,96")

    sys.path.insert(0, str(Path(__file__).parent))
    from greenai.ml.models.airbench import airbench
    from greenai.ml.training import loop, recipes
    from greenai.ml.training.config import TrainConfig
    from machine import describe

    print(f"# {describe()}; {torch.get_num_threads()} threads", flush=True)
    torch.manual_seed(0)
    b, n = args.batch_size, args.batch_size * args.batches
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8)
    y = torch.randint(0, 10, (n,))
    cfg = recipes.recipe("green")
    runs = {}
    for w in widths:
        net = airbench(widths=w).to(memory_format=torch.channels_last)
        net.whiten.bias.requires_grad_(False)  # green freezes it after 30 % of the steps
        opt = recipes.tricks_optimizer(net, TrainConfig(**{**cfg.to_dict(), "batch_size": b}))
        kw = dict(
            optimizer=opt, schedule=torch.optim.lr_scheduler.LambdaLR(opt, lambda _s: 1.0),
            scaler=torch.amp.GradScaler("cpu", enabled=False),
            generator=torch.Generator().manual_seed(0), batch_size=b, mean=(0.5,) * 3,
            std=(0.25,) * 3, precision=cfg.precision, augment_pad=cfg.augment_pad,
            label_smoothing=cfg.label_smoothing, channels_last=cfg.channels_last,
        )  # fmt: skip
        loop.train_epoch(net, x[: 2 * b], y[: 2 * b], **kw)  # warm-up: kernels, whitening
        runs[w] = (net, kw)
    times: dict[tuple[int, ...], list[float]] = {w: [] for w in widths}
    for _ in range(args.rounds):
        for w in widths:  # round-robin: drift hits every width alike
            net, kw = runs[w]
            t = time.perf_counter()
            loop.train_epoch(net, x, y, **kw)
            times[w].append((time.perf_counter() - t) / n * 1000)
    first = statistics.median(times[widths[0]])
    for w in widths:
        med = statistics.median(times[w])
        print(
            f"widths {w}: {med:.3f} ms per image (median of {args.rounds}), x{med / first:.2f} "
            f"of {widths[0]}; a 45,000-image epoch ~{med * 45:.1f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
