"""Start a greenai module on every rank under torchrun, and tell a cancelled job from a failed one.

``torchrun_prefix`` builds ``python -m torch.distributed.run`` with torchrun's own flags (checked:
one ``UsageError`` line each); ``run_under_torchrun`` runs it (torchrun's main without its traceback
box) and forwards SIGTERM/SIGHUP, and Ctrl-C when it did not reach torchrun itself.

torchrun stops the other ranks with SIGTERM both when one rank fails and when the job is cancelled:
the ranks cannot tell which from the signal. So before forwarding a signal the launcher writes a
file whose path every rank has in ``$GREENAI_CANCEL_MARK``; a rank stopped by SIGTERM that finds it
records its run ``interrupted`` (as a single process's Ctrl-C or SIGTERM does), otherwise ``failed``
(``lifecycle.training_ddp``). Imports no torch.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from greenai.errors import UsageError

CANCEL_ENV = "GREENAI_CANCEL_MARK"
FORWARDED = (signal.SIGTERM, signal.SIGHUP)

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


def torchrun_prefix(
    nproc: int = 1, nnodes: int = 1, node_rank: int | None = None, endpoint: str | None = None
) -> list[str]:
    """``python -m torch.distributed.run`` and its flags for this layout (bad ones refused)."""
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
    return cmd


def _foreground() -> bool:
    """True when this process group is a terminal's foreground job (Ctrl-C reaches it all)."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False


def run_under_torchrun(command: Sequence[str]) -> int:
    """Run ``command`` (``torchrun_prefix(...)`` + ``-m greenai ...``); its exit code (a rank's
    failure fails the job with that rank's exit code: 2 for a refusal, 128+N for a signal)."""
    python, _m, _module, *rest = command  # python -m torch.distributed.run
    scratch = Path(tempfile.mkdtemp(prefix="greenai-launch-"))
    mark = scratch / "cancelled"
    proc = subprocess.Popen(
        [python, "-c", _RUNNER, *rest], env={**os.environ, CANCEL_ENV: str(mark)}
    )

    def forward(signum: int, _frame: object) -> None:  # torchrun passes it on to every rank
        with contextlib.suppress(OSError):
            mark.write_text(f"{signal.Signals(signum).name}\n")  # before the ranks hear of it
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:  # wait for torchrun to stop the ranks ("interrupted")
                with contextlib.suppress(OSError):
                    mark.write_text("SIGINT\n")
                if not _foreground():  # a terminal's Ctrl-C reached torchrun already
                    forward(signal.SIGINT, None)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        shutil.rmtree(scratch, ignore_errors=True)
