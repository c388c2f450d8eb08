"""The data a derived model's step works on: which (``DataSpec``) and as loaded (``Data``).

``Data.batches`` yields shuffled, flipped training batches; in a distributed fine-tuning step
(``Data.ddp`` set) each rank's equal share of every pass (``training_ddp.variant_env``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class DataSpec:
    """Which data a step evaluates on (and fine-tunes or calibrates with)."""

    dataset: str = "cifar10"  # a dataset spec: cifar10, synthetic, imagefolder:PATH, npz:PATH, ...
    data_dir: str | None = None
    limit_train: int | None = None
    limit_test: int | None = None
    image_size: int | None = None
    source: Any = None  # a loaded ``greenai.ml.data.Dataset`` (the API's): used instead of the spec

    def check(self) -> None:
        """Fail fast (one line) when the data is not there; reads nothing."""
        from greenai.ml.data import check_dataset_spec

        if self.source is None:
            check_dataset_spec(self.dataset, self.data_dir, self.image_size)


class Normalized:
    """uint8 images (a tensor, or a streamed view) read as normalised float32 on indexing."""

    def __init__(self, x: Any, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        self.x, self.mean, self.std = x, mean, std

    def __len__(self) -> int:
        return len(self.x)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape)

    def __getitem__(self, index: Any) -> torch.Tensor:
        from greenai.ml.data import normalize

        return normalize(self.x[index], self.mean, self.std, torch.float32)


@dataclass
class Data:
    x_train: Normalized
    y_train: torch.Tensor
    x_test: Normalized
    y_test: torch.Tensor
    flip: bool = True  # random horizontal flips make sense for this data (natural images)
    input_shape: tuple[int, int, int] = (3, 32, 32)
    ddp: Any = None  # a distributed step: this rank's ``Ddp`` (``batches`` yields its shard)

    def steps(self, batch_size: int) -> int:
        """Batches per pass of ``batches(batch_size)`` on this rank."""
        from greenai.ml.training.loop import steps_per_epoch

        n, b = len(self.y_train), batch_size
        if self.ddp is not None:
            n, b = n // self.ddp.world, self.ddp.batch_size(batch_size)
        return steps_per_epoch(n, b)

    def batches(
        self, batch_size: int = 128, seed: int = 0, device: str = "cpu"
    ) -> Callable[[], Iterator[tuple[torch.Tensor, torch.Tensor]]]:
        """A fresh shuffled pass per call (random flips where the data allows), on ``device``.

        Distributed: every rank draws the same order and takes every ``world``-th image of it (equal
        shares, so every rank takes the same steps) in batches of ``batch_size // world``."""
        g = torch.Generator().manual_seed(seed)
        ddp = self.ddp
        if ddp is not None:
            batch_size = ddp.batch_size(batch_size)
            if len(self.y_train) < ddp.world:
                from greenai.errors import UsageError

                raise UsageError(f"fewer training images than the {ddp.world} ranks")

        def it() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
            order = torch.randperm(len(self.y_train), generator=g)
            if ddp is not None:
                order = order[: len(order) // ddp.world * ddp.world][ddp.rank :: ddp.world]
            for i in range(0, len(order), batch_size):
                idx, _ = order[i : i + batch_size].sort()
                xb = self.x_train[idx]
                if self.flip:
                    flip = torch.rand(len(idx), generator=g) < 0.5
                    xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
                yield xb.to(device), self.y_train[idx].to(device)

        return it


def load_data(spec: DataSpec) -> Data:
    from greenai.ml.data import load_dataset, make_splits

    ds = spec.source
    if ds is None:
        ds = load_dataset(spec.dataset, spec.data_dir, image_size=spec.image_size)
    s = make_splits(ds, limit_train=spec.limit_train, limit_test=spec.limit_test)
    return Data(
        Normalized(s.x_train, ds.mean, ds.std), s.y_train,
        Normalized(s.x_test, ds.mean, ds.std), s.y_test,
        flip="flip" in getattr(ds, "augment", ("crop", "flip")), input_shape=ds.input_shape,
    )  # fmt: skip
