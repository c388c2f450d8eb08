"""The ``Dataset`` record every source returns, its train/hold-out/test ``Splits``, and the
statistics computed from the data (channel mean and std) rather than assumed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeAlias

import torch

from greenai.errors import UsageError
from greenai.ml.data.imagefiles import ImageFiles

# Images in memory (a uint8 (N, C, H, W) tensor) or decoded from files batch by batch.
Images: TypeAlias = torch.Tensor | ImageFiles

STATS_MAX_IMAGES = 10_000  # channel statistics: an evenly spaced sample this large is plenty


@dataclass(frozen=True)
class Dataset:
    """One data set: uint8 (N, C, H, W) images and int64 (N,) labels, on the CPU until moved.

    ``x_train``/``x_test``: tensors, or ``ImageFiles`` views for folders too big for memory.
    ``mean``/``std``: one per channel, on the 0..1 scale. ``augment``: the batch augmentations that
    suit the data ("crop", "flip": natural images); the training loop applies no others.
    ``name``: a short file-name-safe slug (result files are ``<name>_<variant>_<run>.json``);
    ``spec``: the ``--dataset`` string that rebuilds it in another process (paths absolute);
    "" for data handed over in this process, which no string rebuilds.
    """

    name: str
    x_train: Images
    y_train: torch.Tensor
    x_test: Images
    y_test: torch.Tensor
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str  # where the data came from
    note: str = ""  # a caveat to print and record (e.g. the synthetic warning)
    augment: tuple[str, ...] = ("crop", "flip")
    spec: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image, from the training images."""
        _n, c, h, w = self.x_train.shape
        return (c, h, w)

    @property
    def streamed(self) -> bool:
        """True when the images are decoded from files per batch instead of held in memory."""
        return isinstance(self.x_train, ImageFiles)


def slugify(text: str, limit: int = 60) -> str:
    """A lower-case file-name-safe slug: letters, digits, '.' and '-' (no '_', which separates the
    parts of result file names)."""
    slug = re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.")
    return re.sub(r"\.{2,}", ".", slug)[:limit].strip("-.") or "data"


def channel_stats(
    x: Images, max_images: int = STATS_MAX_IMAGES, batch_size: int = 256
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel (mean, std) on the 0..1 scale over at most ``max_images`` evenly spaced images.

    Sums run in float64 batch by batch, so memory stays at one batch. A constant channel gets std
    1.0 (normalisation then only shifts it) instead of a division by zero.
    """
    n, c = x.shape[0], x.shape[1]
    if n == 0:
        return (0.5,) * c, (0.25,) * c
    pick = torch.linspace(0, n - 1, min(n, max_images)).round().long().unique()
    parts = [pick[s : s + batch_size] for s in range(0, len(pick), batch_size)]
    batches = x.batches(parts) if isinstance(x, ImageFiles) else (x[p] for p in parts)
    total = torch.zeros(c, dtype=torch.float64)
    squares = torch.zeros(c, dtype=torch.float64)
    count = 0
    for xb in batches:
        flat = xb.transpose(0, 1).reshape(c, -1).double() / 255
        total += flat.sum(1)
        squares += (flat * flat).sum(1)
        count += flat.shape[1]
    mean = total / count
    std = (squares / count - mean * mean).clamp_min(0).sqrt()
    std = torch.where(std < 1e-6, torch.ones_like(std), std)
    return tuple(round(float(v), 6) for v in mean), tuple(round(float(v), 6) for v in std)


@dataclass(frozen=True)
class Splits:
    """Train / held-out / test images and labels. Tensors may be on the training device; an
    ``ImageFiles`` view stays a view (its batches are decoded on the CPU and moved per batch)."""

    x_train: Images
    y_train: torch.Tensor
    x_holdout: Images
    y_holdout: torch.Tensor
    x_test: Images
    y_test: torch.Tensor


def make_splits(
    ds: Dataset,
    *,
    holdout_fraction: float = 0.0,
    limit_train: int | None = None,
    limit_test: int | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> Splits:
    """Hold out a seeded random part of the training images (for early stopping, never the test
    set), keep at most ``limit_train`` training and ``limit_test`` test images, move tensors to
    ``device`` (views are narrowed with ``subset`` and stay on disk)."""
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(ds.y_train), generator=g)
    n_hold = round(len(order) * holdout_fraction)
    hold, train = order[:n_hold], order[n_hold:]
    if limit_train is not None:
        train = train[:limit_train]
    if len(train) == 0:
        raise UsageError("no training images left after the hold-out split and --limit-train")
    n_test = len(ds.y_test) if limit_test is None else min(limit_test, len(ds.y_test))
    train, _ = train.sort()
    hold, _ = hold.sort()

    def pick(x: Images, index: torch.Tensor | slice) -> Images:
        if isinstance(x, ImageFiles):
            return x.subset(index)
        return x[index].to(device)

    return Splits(
        pick(ds.x_train, train),
        ds.y_train[train].to(device),
        pick(ds.x_train, hold),
        ds.y_train[hold].to(device),
        pick(ds.x_test, slice(0, n_test)),
        ds.y_test[:n_test].to(device),
    )
