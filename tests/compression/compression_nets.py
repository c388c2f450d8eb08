"""Small convnets for the compression tests."""

from __future__ import annotations

import torch
from torch import nn


class TinyNet(nn.Module):
    """conv-bn-relu-pool x2, flatten, linear-relu-linear: the shape of the study's seed_cnn, smaller."""

    def __init__(self, width: int = 16, num_classes: int = 10, batchnorm: bool = True) -> None:
        super().__init__()

        def norm(c: int) -> nn.Module:
            return nn.BatchNorm2d(c) if batchnorm else nn.Identity()

        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1),
            norm(width),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            norm(2 * width),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(2 * width * 8 * 8, 64), nn.ReLU(), nn.Linear(64, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def trained_bn(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """Give BN layers non-trivial running statistics, then switch to eval."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(x)
    return model.eval()
