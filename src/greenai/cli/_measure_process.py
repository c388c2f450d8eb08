"""The measured command's process for ``greenai measure``: checking it exists, tying it to greenai's
life, reading its exit status, and telling whether greenai is the terminal's foreground job."""

from __future__ import annotations

import os
import shutil
import signal
import sys
from typing import Any

from greenai.errors import GreenAIError, UsageError

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class CommandNotFound(GreenAIError):
    """The command to measure does not exist or is not executable (exit 127, as shells do)."""

    exit_code = 127


def _check_command(command: list[str]) -> None:
    if not command:
        raise UsageError(
            "no command to measure: give it after '--', e.g. greenai measure -- python train.py"
        )
    exe = command[0]
    found = shutil.which(exe) if os.sep not in exe else (exe if os.access(exe, os.X_OK) else None)
    if found is None or os.path.isdir(found):
        raise CommandNotFound(f"command not found or not executable: {exe}")


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent() -> Any:
    """A ``preexec_fn`` that makes the kernel SIGKILL the command if greenai itself dies (even by
    SIGKILL, which greenai cannot catch to forward): a measured command never runs on unmeasured.
    Linux only (None elsewhere). Resolved here, in the parent: the child, forked from a process
    with a sampling thread, only makes one libc call before exec."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # greenai died before the call: do not run orphaned
            os._exit(1)

    return preexec


def _exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _foreground() -> bool:
    """True when greenai (and so the command, same process group) is a terminal's foreground job."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False
