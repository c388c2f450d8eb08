"""Test hook for the kill-point tests (issue #19): SIGKILL this process at a named write boundary.

``kill_point(name)`` does nothing unless ``$GREENAI_TEST_KILL_AT`` names that boundary; then the
process SIGKILLs itself, exactly as a power cut or ``kill -9`` would stop it there (no ``finally``,
no ``atexit``, no flush). ``GREENAI_TEST_KILL_AT=store-done`` kills at the first ``store-done``;
``store-done#2`` at the second. The boundaries are listed in docs/ARCHITECTURE.md ("Crash
consistency"). Users never set the variable; it exists so that a test can reach every boundary
without timed kills.
"""

from __future__ import annotations

import os
import signal

ENV_VAR = "GREENAI_TEST_KILL_AT"
_seen: dict[str, int] = {}


def kill_point(name: str) -> None:
    """SIGKILL this process if ``$GREENAI_TEST_KILL_AT`` names ``name`` (and its occurrence)."""
    wanted = os.environ.get(ENV_VAR)
    if not wanted:
        return
    target, _, nth = wanted.partition("#")
    if target != name:
        return
    _seen[name] = _seen.get(name, 0) + 1
    if _seen[name] == (int(nth) if nth.isdigit() else 1):
        os.kill(os.getpid(), signal.SIGKILL)
