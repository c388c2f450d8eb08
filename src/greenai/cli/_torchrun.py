"""``--nproc-per-node``, ``--nnodes``, ``--node-rank``, ``--rdzv-endpoint`` on a training command:
the command starts itself again under torchrun (``python -m torch.distributed.run``), one process
per rank, all with the same run id. Under torchrun already (``torchrun ... -m greenai baseline``) the
flags are ignored: the ranks find their place from torchrun's variables. Imports no torch.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

from greenai.cli import argtypes

_FLAGS = {
    "--nproc-per-node", "--nproc_per_node", "--nnodes", "--node-rank", "--node_rank",
    "--rdzv-endpoint", "--rdzv_endpoint",
}  # fmt: skip


def _rank(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}")
    return int(text)


def add_launch_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("distributed training (torchrun's flags; gloo on CPU, nccl on GPU)")
    g.add_argument(
        "--nproc-per-node", "--nproc_per_node", dest="nproc_per_node", type=argtypes.positive_int,
        default=None, metavar="N", help="ranks on this machine (starts torchrun; default: none)",
    )  # fmt: skip
    g.add_argument(
        "--nnodes",
        type=argtypes.positive_int,
        default=None,
        metavar="M",
        help="machines (default 1)",
    )
    g.add_argument(
        "--node-rank", "--node_rank", dest="node_rank", type=_rank, default=None, metavar="R",
        help="this machine's place, 0..M-1 (static rendezvous at --rdzv-endpoint)",
    )  # fmt: skip
    g.add_argument(
        "--rdzv-endpoint", "--rdzv_endpoint", dest="rdzv_endpoint", default=None,
        metavar="HOST:PORT", help="where the machines meet (needed with --nnodes > 1)",
    )  # fmt: skip


def wants_launch(args: argparse.Namespace, env: Mapping[str, str] = os.environ) -> bool:
    """True when the launch flags were given and this process is not a rank already."""
    given = any(
        getattr(args, k, None) is not None
        for k in ("nproc_per_node", "nnodes", "node_rank", "rdzv_endpoint")
    )
    return given and not is_rank(env)


def is_rank(env: Mapping[str, str] = os.environ) -> bool:
    """True in a rank started by torchrun (its launcher already waited for a chosen start)."""
    return "WORLD_SIZE" in env


def _strip(argv: Sequence[str]) -> list[str]:
    out: list[str] = []
    skip = False
    for token in argv:
        if skip:
            skip = False
        elif token in _FLAGS:
            skip = True
        elif token.split("=", 1)[0] not in _FLAGS:
            out.append(token)
    return out


def torchrun_command(args: argparse.Namespace, run_id: str | None = None) -> list[str]:
    """The torchrun command line that runs this same command on every rank. Checks the flags.
    ``run_id``: given to every rank as ``--run-id`` (a training run's; the fine-tuning steps'
    leader picks its own)."""
    from greenai.lifecycle.ddp_launch import torchrun_prefix

    cmd = torchrun_prefix(
        args.nproc_per_node or 1, args.nnodes or 1, args.node_rank, args.rdzv_endpoint
    )
    argv = _strip(getattr(args, "_argv", None) or sys.argv[1:])
    named = any(t in ("--run-id", "--run_id") or t.startswith("--run-id=") for t in argv)
    if run_id is not None and not named:
        argv += ["--run-id", run_id]
    return [*cmd, "-m", "greenai", *argv]


def launch(args: argparse.Namespace, run_id: str | None = None) -> int:
    """Run the command under torchrun; its exit code (a rank's failure fails the job, with that
    rank's exit code: 2 for a refusal, 128+N for a signal). A cancelled job (SIGTERM, SIGHUP or
    Ctrl-C to this process) is recorded ``interrupted`` by its ranks (``lifecycle.ddp_launch``)."""
    from greenai.lifecycle.ddp_launch import run_under_torchrun

    return run_under_torchrun(torchrun_command(args, run_id))
