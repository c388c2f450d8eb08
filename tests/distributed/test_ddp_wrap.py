"""``Ddp.wrap`` on two real gloo ranks (spawned processes, a file rendezvous): airbench's whitening
filters, set from each rank's own first batch before wrapping, come out rank 0's everywhere, and a whitening bias
frozen mid-run does not stall DDP's gradient reduction."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from greenai.ml.models import create_model
from greenai.ml.training.ddp import Ddp
from greenai.sensors.ranks import RankInfo


def _rank(rank: int, world: int, init: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    torch.manual_seed(0)
    net = create_model("airbench", num_classes=10, width=0.25)
    own = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(100 + rank))
    ddp = Ddp(RankInfo(rank=rank, world_size=world), torch.device("cpu"), owns_group=False)
    net.prime_from(own)  # as the training set-up does before wrapping
    model = ddp.wrap(net, may_freeze=True)
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1)
    for step in range(3):
        if step == 1:
            net.whiten.bias.requires_grad_(False)  # frozen mid-run, as whiten_bias_fraction does
            net.whiten.bias.grad = None
        loss = F.cross_entropy(model(own), torch.arange(16) % 10)
        opt.zero_grad()
        loss.backward()
        opt.step()
    gathered = [torch.zeros_like(net.whiten.weight) for _ in range(world)]
    dist.all_gather(gathered, net.whiten.weight.detach().contiguous())
    heads = [torch.zeros_like(net.head.weight) for _ in range(world)]
    dist.all_gather(heads, net.head.weight.detach().contiguous())
    if rank == 0:
        torch.save({"whiten": gathered, "head": heads, "ready": bool(net.whitening_ready)}, out)
    dist.destroy_process_group()


def test_whitening_is_rank_zeros_and_a_frozen_bias_does_not_stall(tmp_path):
    out = tmp_path / "weights.pt"
    init = f"file://{tmp_path / 'rendezvous'}"
    mp.spawn(_rank, args=(2, init, str(out)), nprocs=2, join=True)
    got = torch.load(out)
    assert got["ready"]
    assert torch.equal(got["whiten"][0], got["whiten"][1])  # one whitening, rank 0's
    assert torch.allclose(got["head"][0], got["head"][1])  # gradients averaged: the same steps
    # rank 0's whitening is the one its own batch gives
    alone = create_model("airbench", num_classes=10, width=0.25)
    alone.prime_from(torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(100)))
    assert torch.allclose(got["whiten"][0], alone.whiten.weight, atol=1e-4)  # threads' rounding
