"""The study's model: three 3x3 conv layers (each followed by 2x2 max-pooling) and two linear layers.

At width 1 on 3x32x32 images it has 620,362 parameters, 2.37 MiB as FP32 (the study's "2.38 MB").
Other input shapes keep the same layers: the first conv takes the input's channels and the first
linear layer's size follows the feature map left after the three poolings (so the state_dict keys
never change, and a 32x32 model is exactly the study's).
"""

from __future__ import annotations

from torch import nn

from greenai.ml.models import register_model

POOLINGS = 3  # each halves height and width (rounding down)


class SeedCNN(nn.Module):
    def __init__(
        self,
        num_classes: int = 10,
        width: float = 1.0,
        batchnorm: bool = False,
        dropout: float = 0.0,
        input_shape: tuple[int, int, int] = (3, 32, 32),
    ) -> None:
        super().__init__()
        channels, height, width_px = input_shape
        h, w = height >> POOLINGS, width_px >> POOLINGS
        if h < 1 or w < 1:
            raise ValueError(
                f"seed_cnn needs inputs of at least {2**POOLINGS}x{2**POOLINGS} pixels, "
                f"got {height}x{width_px}"
            )
        c1, c2, c3, hidden = (max(1, round(c * width)) for c in (32, 64, 128, 256))
        layers: list[nn.Module] = []
        for cin, cout in ((channels, c1), (c1, c2), (c2, c3)):
            layers.append(nn.Conv2d(cin, cout, 3, padding=1, bias=not batchnorm))
            if batchnorm:
                layers.append(nn.BatchNorm2d(cout))
            layers += [nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c3 * h * w, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


@register_model("seed_cnn")
def seed_cnn(
    num_classes: int = 10,
    width: float = 1.0,
    batchnorm: bool = False,
    dropout: float = 0.0,
    input_shape: tuple[int, int, int] = (3, 32, 32),
) -> SeedCNN:
    return SeedCNN(num_classes, width, batchnorm, dropout, input_shape)
