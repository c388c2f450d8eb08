"""The study's model: three 3x3 conv layers (each followed by 2x2 max-pooling) and two linear layers.

At width 1 it has 620,362 parameters, 2.37 MiB as FP32 (the study's "2.38 MB").
"""

from __future__ import annotations

from torch import nn

from greenai.ml.models import register_model


class SeedCNN(nn.Module):
    def __init__(
        self,
        num_classes: int = 10,
        width: float = 1.0,
        batchnorm: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        c1, c2, c3, hidden = (max(1, round(c * width)) for c in (32, 64, 128, 256))
        layers: list[nn.Module] = []
        for cin, cout in ((3, c1), (c1, c2), (c2, c3)):
            layers.append(nn.Conv2d(cin, cout, 3, padding=1, bias=not batchnorm))
            if batchnorm:
                layers.append(nn.BatchNorm2d(cout))
            layers += [nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c3 * 4 * 4, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


@register_model("seed_cnn")
def seed_cnn(num_classes: int = 10, width: float = 1.0, **kw) -> SeedCNN:
    return SeedCNN(num_classes=num_classes, width=width, **kw)
