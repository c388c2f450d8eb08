"""Is the process that owns a run still alive? (Linux /proc; elsewhere only "does the pid exist")."""

from __future__ import annotations

import os


def pid_alive(pid: int, since: float | None = None) -> bool:
    """Whether a live process with this pid exists on this host (a zombie counts as gone).

    With ``since`` (Unix seconds), a process that started after that moment is not the one we
    are asking about (its pid was reused), so the answer is False.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[-1].split()
    except OSError:
        return True  # no /proc (not Linux): the pid exists, that is all we can tell
    if fields[0] == "Z":
        return False
    if since is not None:
        started = _process_start_time(int(fields[19]))
        if started is not None and started > since + _START_TOLERANCE_S:
            return False
    return True


_START_TOLERANCE_S = 2.0  # /proc/stat's boot time is whole seconds


def _process_start_time(start_ticks: int) -> float | None:
    """Unix time at which a process started, from its /proc/<pid>/stat start time (clock ticks)."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            boot_s = next(float(line.split()[1]) for line in handle if line.startswith("btime "))
        return boot_s + start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, StopIteration, ValueError):
        return None
