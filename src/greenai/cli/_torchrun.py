"""``--nproc-per-node``, ``--nnodes``, ``--node-rank``, ``--rdzv-endpoint`` on a training command:
the command starts itself again under torchrun (``python -m torch.distributed.run``), one process
per rank, all with the same run id. Under torchrun already (``torchrun ... -m greenai baseline``) the
flags are ignored: the ranks find their place from torchrun's variables. Imports no torch.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence

from greenai.cli import common
from greenai.errors import UsageError

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
        "--nproc-per-node", "--nproc_per_node", dest="nproc_per_node", type=common.positive_int,
        default=None, metavar="N", help="ranks on this machine (starts torchrun; default: none)",
    )  # fmt: skip
    g.add_argument(
        "--nnodes", type=common.positive_int, default=None, metavar="M", help="machines (default 1)"
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


def torchrun_command(args: argparse.Namespace, run_id: str) -> list[str]:
    """The torchrun command line that runs this same command on every rank. Checks the flags."""
    nproc, nnodes = args.nproc_per_node or 1, args.nnodes or 1
    endpoint, node_rank = args.rdzv_endpoint, args.node_rank
    if nnodes > 1 and not endpoint:
        raise UsageError("--nnodes > 1 needs --rdzv-endpoint HOST:PORT (where the machines meet)")
    if node_rank is not None and node_rank >= nnodes:
        raise UsageError(f"--node-rank {node_rank} is outside 0..{nnodes - 1} (--nnodes {nnodes})")
    if endpoint and (":" not in endpoint or not endpoint.rsplit(":", 1)[1].isdigit()):
        raise UsageError(f"--rdzv-endpoint must be HOST:PORT, got {endpoint!r}")
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}"]
    cmd.append(f"--nnodes={nnodes}")
    if not endpoint:
        cmd.append("--standalone")
    elif node_rank is not None or nnodes == 1:
        cmd += [
            "--rdzv-backend=static",
            f"--rdzv-endpoint={endpoint}",
            f"--node-rank={node_rank or 0}",
        ]
    else:
        cmd += ["--rdzv-backend=c10d", f"--rdzv-endpoint={endpoint}"]
    argv = _strip(getattr(args, "_argv", None) or sys.argv[1:])
    if not any(t in ("--run-id", "--run_id") or t.startswith("--run-id=") for t in argv):
        argv += ["--run-id", run_id]
    return [*cmd, "-m", "greenai", *argv]


# torchrun's own main, except that a failed rank ends it with that rank's exit code instead of
# torchrun's traceback and log box: the rank has already printed its one ``greenai: error:`` line
_RUNNER = """
import logging, sys
logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.run import main
try:
    main(sys.argv[1:])
except ChildFailedError as exc:
    code = exc.get_first_failure()[1].exitcode
    sys.exit(128 - code if code < 0 else (code or 1))
except SignalException as exc:  # SIGTERM/SIGHUP: torchrun has stopped the ranks (gracefully)
    sys.exit(128 + int(exc.sigval))
"""
FORWARDED = (signal.SIGTERM, signal.SIGHUP)


def _foreground() -> bool:
    """True when this process group is a terminal's foreground job (Ctrl-C reaches it all)."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False


def launch(args: argparse.Namespace, run_id: str) -> int:
    """Run the command under torchrun; its exit code (a rank's failure fails the job, with that
    rank's exit code: 2 for a refusal, 128+N for a signal)."""
    python, _m, _module, *rest = torchrun_command(args, run_id)  # python -m torch.distributed.run
    proc = subprocess.Popen([python, "-c", _RUNNER, *rest])

    def forward(signum: int, _frame: object) -> None:  # torchrun passes it on to every rank
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:  # wait for torchrun to stop the ranks ("interrupted")
                if not _foreground():  # a terminal's Ctrl-C reached torchrun already
                    forward(signal.SIGINT, None)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
