"""CIFAR ResNets (He et al. 2016, section 4.2): 6n+2 layers, 16/32/64 channels, option-A shortcuts
replaced by 1x1 projections. ResNet-20 has about 0.27 M parameters. Global average pooling before
the head: any input size works; the stem takes the input's channel count."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from greenai.ml.models import register_model


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(
        self, depth: int = 20, num_classes: int = 10, width: float = 1.0, in_channels: int = 3
    ) -> None:
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
        n = (depth - 2) // 6
        widths = [max(1, round(c * width)) for c in (16, 32, 64)]
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        )
        blocks: list[nn.Module] = []
        cin = widths[0]
        for stage, cout in enumerate(widths):
            for i in range(n):
                blocks.append(BasicBlock(cin, cout, 2 if stage > 0 and i == 0 else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


@register_model("resnet20")
def resnet20(
    num_classes: int = 10, width: float = 1.0, input_shape: tuple[int, int, int] = (3, 32, 32)
) -> CifarResNet:
    return CifarResNet(20, num_classes, width, in_channels=input_shape[0])


@register_model("resnet32")
def resnet32(
    num_classes: int = 10, width: float = 1.0, input_shape: tuple[int, int, int] = (3, 32, 32)
) -> CifarResNet:
    return CifarResNet(32, num_classes, width, in_channels=input_shape[0])
