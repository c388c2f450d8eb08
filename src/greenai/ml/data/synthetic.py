"""Seeded random images for smoke tests: learnable, but their accuracy means nothing."""

from __future__ import annotations

import torch

from greenai.ml.data.dataset import Dataset

SYNTHETIC_NOTE = "synthetic data: random images for smoke tests; its accuracy means nothing"


def synthetic(n_train: int = 1024, n_test: int = 256, seed: int = 0) -> Dataset:
    """Seeded random images whose class shifts the colour a little: learnable, but meaningless."""
    g = torch.Generator().manual_seed(seed)

    def make(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, 10, (n,), generator=g)
        tint = torch.linspace(-60, 60, 10)[y].view(n, 1, 1, 1) * torch.tensor([1, -1, 0.5]).view(
            1, 3, 1, 1
        )
        noise = torch.randint(0, 256, (n, 3, 32, 32), generator=g).float() * 0.5 + 64
        return (noise + tint).clamp(0, 255).to(torch.uint8), y

    xtr, ytr = make(n_train)
    xte, yte = make(n_test)
    return Dataset(
        name="synthetic",
        x_train=xtr,
        y_train=ytr,
        x_test=xte,
        y_test=yte,
        classes=tuple(f"class{i}" for i in range(10)),
        mean=(0.5, 0.5, 0.5),
        std=(0.25, 0.25, 0.25),
        source=f"synthetic (seed {seed})",
        note=SYNTHETIC_NOTE,
        augment=("crop", "flip"),
        spec="synthetic",
    )
