"""A distributed fine-tuning step's data (``Data.batches`` with ``Data.ddp``): every rank takes an
equal, disjoint share of each epoch's order, in batches of the global batch over the ranks."""

from __future__ import annotations

import pytest
import torch

from greenai.errors import UsageError
from greenai.lifecycle.variant_data import Data
from greenai.ml.training.ddp import Ddp
from greenai.sensors.ranks import RankInfo


def _data(n: int, ddp: Ddp | None = None) -> Data:
    x = torch.arange(n, dtype=torch.float32).reshape(n, 1, 1, 1).expand(n, 1, 2, 2).clone()
    return Data(x, torch.arange(n), x[:4], torch.arange(4), flip=False, input_shape=(1, 2, 2),
                ddp=ddp)  # fmt: skip


def _ddp(rank: int, world: int) -> Ddp:
    return Ddp(RankInfo(rank=rank, world_size=world), torch.device("cpu"))


def test_ranks_share_each_epoch_disjointly_with_equal_steps():
    world, n, batch = 3, 100, 12  # 100 images: 99 shared out, 33 per rank, batches of 4
    epochs = []
    for epoch_pass in range(2):
        seen = []
        for rank in range(world):
            it = _data(n, _ddp(rank, world)).batches(batch, seed=7)
            for _ in range(epoch_pass + 1):
                labels = [y.tolist() for _x, y in it()]  # this pass's batches
            assert [len(b) for b in labels] == [4] * 8 + [1]  # the same steps on every rank
            seen.append(sorted(i for b in labels for i in b))
        flat = [i for s in seen for i in s]
        assert len(flat) == len(set(flat)) == 99  # disjoint, one image left out
        epochs.append(seen)
    assert epochs[0] != epochs[1]  # a fresh order each pass


def test_a_single_process_sees_every_image():
    labels = [y.tolist() for _x, y in _data(10).batches(4, seed=1)()]
    assert sorted(i for b in labels for i in b) == list(range(10))


def test_a_batch_smaller_than_the_ranks_is_refused():
    with pytest.raises(UsageError, match="smaller than the 4 ranks"):
        _data(10, _ddp(0, 4)).batches(2)
