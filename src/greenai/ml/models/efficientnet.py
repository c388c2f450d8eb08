"""EfficientNet-B0 (Tan & Le 2019) for small images: ``efficientnet_b0``.

MBConv blocks: 1x1 expansion (ratio 1 or 6), depthwise kxk conv, squeeze-excitation (squeezed to
a quarter of the block's input channels), 1x1 projection without activation, and an identity
residual when stride is 1 and the channel counts match. SiLU and BatchNorm throughout. At width 1
it is B0's network: 4,020,358 parameters with a 10-class head (B0's 5.29 M less 1.27 M of its
1000-class head), the same count as torchvision's ``efficientnet_b0(num_classes=10)``.

Small inputs: B0 downsamples 32x, so a 32x32 CIFAR image would be 1x1 from stage 6 on, and the
last nine blocks would see a single pixel. For inputs of at most ``SMALL_INPUT_PX`` on each side
the stem and the first downsampling stage (stage 2) use stride 1: 8x in all, so 32x32 ends at
4x4, 28x28 at 4x4 and 64x64 at 8x8 (the layout of the common CIFAR ports). It costs more compute
than 2x2 would, but 4x4 keeps the 5x5 depthwise convs of stage 6 meaningful. Larger inputs get
B0's own strides.

Left out for simplicity: drop-connect (stochastic depth) and B0's depth and resolution scaling;
``width`` scales every channel count (stem, stages, head), rounded to multiples of 8 as in the
reference implementation.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from greenai.ml.models import register_model


class Stage(NamedTuple):
    expand: int  # expansion ratio of the 1x1 conv
    channels: int  # output channels at width 1
    repeats: int  # MBConv blocks in the stage
    stride: int  # of the stage's first block
    kernel: int  # depthwise kernel size


B0_STAGES = (
    Stage(1, 16, 1, 1, 3),
    Stage(6, 24, 2, 2, 3),
    Stage(6, 40, 2, 2, 5),
    Stage(6, 80, 3, 2, 3),
    Stage(6, 112, 3, 1, 5),
    Stage(6, 192, 4, 2, 5),
    Stage(6, 320, 1, 1, 3),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
SMALL_INPUT_PX = 64  # at or below: stride 1 in the stem and in stage 2 (see the module docstring)


def round_channels(channels: float, divisor: int = 8) -> int:
    """Nearest multiple of ``divisor`` (at least ``divisor``), never more than 10% below."""
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * channels else rounded


def _conv_bn(
    cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True
) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    """Channel gates from the global average: 1x1 conv down, SiLU, 1x1 conv up, sigmoid."""

    def __init__(self, channels: int, squeezed: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, squeezed, 1)
        self.act = nn.SiLU()
        self.expand = nn.Conv2d(squeezed, channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.adaptive_avg_pool2d(x, 1)
        return x * self.gate(self.expand(self.act(self.reduce(s))))


class MBConv(nn.Module):
    """Inverted residual block: expand, depthwise, squeeze-excite, project (+ input if same shape)."""

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = _conv_bn(cin, mid, 1) if expand != 1 else nn.Identity()
        self.depthwise = _conv_bn(mid, mid, kernel, stride, groups=mid)
        self.se = SqueezeExcite(mid, max(1, cin // 4))
        self.project = _conv_bn(mid, cout, 1, act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.se(self.depthwise(self.expand(x))))
        return out + x if self.residual else out


class EfficientNet(nn.Module):
    """Stem conv, the MBConv stages, 1x1 head conv, global average pool, dropout, linear."""

    def __init__(
        self,
        num_classes: int = 10,
        width: float = 1.0,
        input_shape: tuple[int, int, int] = (3, 32, 32),
        dropout: float = 0.2,
        stages: tuple[Stage, ...] = B0_STAGES,
    ) -> None:
        super().__init__()
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        in_channels, height, width_px = input_shape
        small = max(height, width_px) <= SMALL_INPUT_PX
        strides = [s.stride for s in stages]
        if small:
            strides[strides.index(2)] = 1  # the first downsampling stage keeps the resolution
        cin = round_channels(STEM_CHANNELS * width)
        self.stem = _conv_bn(in_channels, cin, 3, stride=1 if small else 2)
        blocks: list[nn.Module] = []
        for stage, stride in zip(stages, strides, strict=True):
            cout = round_channels(stage.channels * width)
            for i in range(stage.repeats):
                blocks.append(
                    MBConv(cin, cout, stage.expand, stage.kernel, stride if i == 0 else 1)
                )
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        head = round_channels(HEAD_CHANNELS * width)
        self.head = _conv_bn(cin, head, 1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(head, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        """The reference initialisation: He (fan-out) convs, unit-scale BN, uniform linear head."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                bound = 1 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The head's feature map, before pooling (4x4 for a 32x32 input)."""
        return self.head(self.blocks(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)
        return self.classifier(self.dropout(x))


@register_model("efficientnet_b0")
def efficientnet_b0(
    num_classes: int = 10,
    width: float = 1.0,
    input_shape: tuple[int, int, int] = (3, 32, 32),
    dropout: float = 0.2,
) -> EfficientNet:
    """EfficientNet-B0; ``width`` scales the channels (0.5 is roughly a quarter of the weights)."""
    return EfficientNet(num_classes, width, input_shape, dropout)
