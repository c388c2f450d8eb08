"""`airbench`: a small, fast CIFAR-10 network after KellerJordan/cifar10-airbench (airbench94).

A VGG-like stack of three conv groups (conv, max-pool, batch norm, GELU, conv, batch norm, GELU)
behind a frozen 2x2 "whitening" conv whose filters are set from the training data's patch
covariance (`init_whitening`, run by the net itself on its first training batch). With widths (64, 256, 256) it is airbench94's net (about 1.97 M
parameters); narrower widths trade accuracy for energy.
"""

from __future__ import annotations

import torch
from torch import nn

from greenai.ml.models import register_model

BASE_WIDTHS = (64, 256, 256)  # airbench94's widths: wide early layers are cheap at low resolution
# `airbench_small`'s, the `green` recipe's net. One epoch of `green` (2026-12-02, 2-core Xeon, seed
# 0, held-out accuracy; time per image from bench/green_widths.py, two runs): (16, 64, 64) 77.6 %
# at 1.00x, (16, 96, 96) 79.0 % at 1.32-1.34x, (32, 64, 128) 80.9 % at 1.62-1.77x. The first group
# runs at full resolution, so its width costs most; the later groups' width buys most accuracy
SMALL_WIDTHS = (16, 96, 96)
WHITEN_KERNEL = 2  # 2x2 patches: 12-dim covariance, cheap to whiten, as in airbench94
WHITEN_WIDTH = 2 * 3 * WHITEN_KERNEL**2  # each eigenvector and its negation (GELU keeps both signs)
MIN_SIDE = WHITEN_KERNEL + 2**3 - 1  # the 2x2 conv loses a pixel, then three 2x2 max-pools
LOGIT_SCALE = 1 / 9  # shrinks initial logits; airbench's tuned value for this head
# batch-norm momentum 0.4 in PyTorch's convention (new stats' weight) = 0.6 in airbench's (the old
# stats' weight), the value of both airbench94 and airbench94_muon: running stats follow the
# fast-changing weights
BN_MOMENTUM = 0.4


class _BatchNorm(nn.BatchNorm2d):
    """Batch norm with a frozen unit scale: only the bias learns (fewer, better-conditioned params)."""

    def __init__(self, num_features: int) -> None:
        super().__init__(num_features, eps=1e-12, momentum=BN_MOMENTUM)
        self.weight.requires_grad = False


@torch.no_grad()
def _conv(c_in: int, c_out: int) -> nn.Conv2d:
    """3x3 'same' conv without bias, identity-initialised on its first in-channels (implicit residual).

    A plain ``nn.Conv2d`` with ``padding=1``, not a subclass with ``padding="same"`` (the same
    output): the x86 INT8 quantizer finds convs by their module class, so a subclass's convs were
    left in FP32 by PTQ/QAT."""
    conv = nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False)
    w = conv.weight
    nn.init.dirac_(w[: w.size(1)])  # dirac init lets signal pass through a deep plain net at init
    return conv


class _ConvGroup(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = _conv(c_in, c_out)
        self.pool = nn.MaxPool2d(2)  # pool before norm: batch norm then runs on 4x fewer pixels
        self.norm1 = _BatchNorm(c_out)
        self.conv2 = _conv(c_out, c_out)
        self.norm2 = _BatchNorm(c_out)
        self.activ = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.activ(self.norm1(self.pool(self.conv1(x))))
        return self.activ(self.norm2(self.conv2(x)))


class AirbenchNet(nn.Module):
    """Whitening conv + three conv groups + global max-pool + linear head."""

    def __init__(
        self,
        num_classes: int = 10,
        widths: tuple[int, int, int] = (64, 256, 256),
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        whiten_width = 2 * in_channels * WHITEN_KERNEL**2  # WHITEN_WIDTH for RGB
        self.whiten = nn.Conv2d(
            in_channels, whiten_width, kernel_size=WHITEN_KERNEL, padding=0, bias=True
        )
        self.whiten.weight.requires_grad = False  # fixed by init_whitening; only its bias trains
        self.groups = nn.Sequential(
            _ConvGroup(whiten_width, widths[0]),
            _ConvGroup(widths[0], widths[1]),
            _ConvGroup(widths[1], widths[2]),
        )
        self.head = nn.Linear(widths[2], num_classes, bias=False)
        self.activ = nn.GELU()
        # set on the first training batch (a buffer, so checkpoints keep it): no loop hook needed
        self.register_buffer("whitening_ready", torch.zeros((), dtype=torch.bool))
        # the buffer's value as a plain Python bool, kept in step on load: tracers (fx, export for
        # QAT) see a constant, not a data-dependent branch
        self._whitened = False
        self.register_load_state_dict_post_hook(_sync_whitened)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and not self._whitened:
            self.prime_from(x)
        x = self.groups(self.activ(self.whiten(x)))
        x = torch.amax(x, dim=(2, 3))  # global max-pool: any input size >= MIN_SIDE works
        return self.head(x) * LOGIT_SCALE

    @torch.no_grad()
    def prime_from(self, x: torch.Tensor) -> None:
        """Set the whitening filters from normalised images ``x`` unless they are set already
        (the first training batch does it; a distributed run calls it before DDP wraps the net)."""
        if not bool(self.whitening_ready):
            with torch.autocast(x.device.type, enabled=False):
                init_whitening(self.whiten, x.detach())
            self.whitening_ready.fill_(True)
        self._whitened = True


def _sync_whitened(module: nn.Module, _keys: object) -> None:
    module._whitened = bool(module.whitening_ready)


def _scaled(base: tuple[int, int, int], width: float) -> tuple[int, int, int]:
    """`base` widths times the multiplier `width`, at least 8 channels each."""
    a, b, c = (max(8, round(w * width)) for w in base)
    return a, b, c


@register_model("airbench")
def airbench(
    num_classes: int = 10,
    width: float = 1.0,
    widths: tuple[int, int, int] | None = None,
    input_shape: tuple[int, int, int] = (3, 32, 32),
) -> AirbenchNet:
    """airbench94's net; `width` scales BASE_WIDTHS, or `widths` gives the three explicitly."""
    if min(input_shape[1:]) < MIN_SIDE:
        raise ValueError(f"airbench needs inputs of at least {MIN_SIDE}x{MIN_SIDE} pixels")
    chosen = tuple(widths) if widths is not None else _scaled(BASE_WIDTHS, width)
    return AirbenchNet(num_classes=num_classes, widths=chosen, in_channels=input_shape[0])


@register_model("airbench_small")
def airbench_small(
    num_classes: int = 10, width: float = 1.0, input_shape: tuple[int, int, int] = (3, 32, 32)
) -> AirbenchNet:
    """airbench's net at SMALL_WIDTHS (`green`'s), scaled by `width` (at least 8 channels each)."""
    return airbench(num_classes, widths=_scaled(SMALL_WIDTHS, width), input_shape=input_shape)


@torch.no_grad()
def init_whitening(layer: nn.Conv2d, images: torch.Tensor, eps: float = 5e-4) -> None:
    """Set `layer`'s filters to whiten its input patches, estimated from normalised `images` (N,C,H,W)."""
    c, (h, w) = images.shape[1], layer.weight.shape[2:]
    patches = images.float().unfold(2, h, 1).unfold(3, w, 1).transpose(1, 3).reshape(-1, c * h * w)
    cov = patches.T @ patches / len(patches)
    eigenvalues, eigenvectors = torch.linalg.eigh(cov)
    eigenvalues, eigenvectors = (
        eigenvalues.flip(0),
        eigenvectors.T.flip(0),
    )  # largest variance first
    filters = (eigenvectors / torch.sqrt(eigenvalues + eps).unsqueeze(1)).reshape(-1, c, h, w)
    layer.weight.copy_(torch.cat((filters, -filters)))
