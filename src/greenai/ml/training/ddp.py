"""DistributedDataParallel for greenai's own training: the process group, the data shard, the model.

Started by torchrun (``greenai baseline --nproc-per-node N`` launches it): every rank loads the same
data and builds the same model from the same seed, trains on its own shard of the training set
(every ``world``-th image, equal sizes so every rank takes the same number of steps) with a batch of
``batch_size // world`` per rank (the global batch stays the configured one), and DDP averages the
gradients (batch-norm buffers are rank 0's, sent to every rank at each training forward).
Evaluation uses the plain module on each rank (no collective). gloo on CPU, nccl on CUDA.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from greenai.errors import UsageError


@dataclass
class Ddp:
    """This rank's part in a DDP run (``info`` is its ``greenai.sensors.ranks.RankInfo``)."""

    info: Any
    device: torch.device
    owns_group: bool = True

    @property
    def rank(self) -> int:
        return int(self.info.rank)

    @property
    def world(self) -> int:
        return int(self.info.world_size)

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def batch_size(self, global_batch: int) -> int:
        if global_batch < self.world:
            raise UsageError(
                f"batch size {global_batch} is smaller than the {self.world} ranks sharing it"
            )
        return global_batch // self.world

    def shard(self, splits: Any) -> Any:
        """The training part of ``splits`` this rank trains on (held-out and test unchanged)."""
        n = len(splits.y_train) // self.world * self.world
        if n == 0:
            raise UsageError(f"fewer training images than the {self.world} ranks")
        index = torch.arange(self.rank, n, self.world)
        x = splits.x_train
        x = x.subset(index) if hasattr(x, "subset") else x[index.to(x.device)]
        y = splits.y_train[index.to(splits.y_train.device)]
        return dataclasses.replace(splits, x_train=x, y_train=y)

    def wrap(self, net: torch.nn.Module, may_freeze: bool = False) -> torch.nn.Module:
        """``net`` under DistributedDataParallel, its parameters and buffers rank 0's.

        A net that sets weights from its first training batch (airbench's whitening conv, which
        would otherwise take each rank's own batch) must have them set before: DDP's start-up
        broadcast then gives every rank rank 0's. ``may_freeze``: some parameters stop training
        mid-run (airbench's whitening bias): DDP then looks for unused parameters every step
        instead of waiting for their gradients."""
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(net, device_ids=ids, find_unused_parameters=may_freeze)

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank (e.g. the run id)."""
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        """Wait for every rank: meter windows open and close together, so the node's counters
        (read by local rank 0 only) cover every rank's work."""
        import torch.distributed as dist

        dist.barrier()

    def close(self) -> None:
        import torch.distributed as dist

        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def join(info: Any, device: torch.device) -> Ddp | None:
    """Join the job's process group (created here unless the program already did). None when
    this process is not part of a distributed job."""
    if not info.distributed:
        return None
    import torch.distributed as dist

    if device.type == "cuda":
        device = torch.device("cuda", info.local_rank % max(torch.cuda.device_count(), 1))
        torch.cuda.set_device(device)
    if dist.is_initialized():
        return Ddp(info, device, owns_group=False)
    import os

    if not os.environ.get("MASTER_ADDR") or not os.environ.get("MASTER_PORT"):
        raise UsageError(
            "a distributed run needs MASTER_ADDR and MASTER_PORT (torchrun sets them; "
            "under srun without torchrun export them in the batch script)"
        )
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, rank=info.rank, world_size=info.world_size)
    return Ddp(info, device)
