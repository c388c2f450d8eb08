"""How busy the machine was while something was timed: load average and steal time (/proc).

A timing taken while other processes compete for the CPUs (a load average above the CPU count),
or while the hypervisor takes the CPUs away (steal time in /proc/stat), says more about the machine
than about the model. ``LoadWindow`` reads both at the start and the end of a timing, so the result
can carry them and be flagged instead of driving a verdict. The /proc root is passed in (tests give a
fake tree); an unreadable file gives None for its figure, never a made-up one.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: A timing is flagged when the load of other work (the 1-minute load average less the timing's own
#: threads, which count in it) exceeds this share of the CPUs: they had to share the machine...
BUSY_OTHERS_PER_CPU = 0.5
#: ...or when more than this share of the CPU time during the timing was stolen by the hypervisor.
BUSY_STEAL_PCT = 5.0


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def load_average(proc: str | os.PathLike[str] = "/proc") -> float | None:
    """The 1-minute load average, or None when /proc/loadavg cannot be read."""
    text = _read(Path(proc) / "loadavg")
    try:
        return float(text.split()[0]) if text else None
    except (ValueError, IndexError):
        return None


def cpu_ticks(proc: str | os.PathLike[str] = "/proc") -> tuple[int, int] | None:
    """(total, steal) jiffies of the aggregate ``cpu`` line of /proc/stat, or None."""
    text = _read(Path(proc) / "stat")
    if not text:
        return None
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] == "cpu":
            try:
                values = [int(v) for v in parts[1:]]
            except ValueError:
                return None
            # user nice system idle iowait irq softirq steal [guest guest_nice: inside user]
            steal = values[7] if len(values) > 7 else 0
            return sum(values[:8]), steal
    return None


@dataclass(frozen=True)
class MachineLoad:
    """What the machine was doing during a timing, and whether that makes the timing unsure."""

    cpus: int
    load_avg_1m: float | None  # the higher of the readings at start and end
    steal_pct: float | None  # share of all CPU time stolen during the window
    busy: str | None  # why the machine counts as busy, or None
    own_threads: int = 0  # threads of the timed work itself (part of the load average)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge(cpus: int, load: float | None, steal_pct: float | None, own: int = 0) -> str | None:
    """The reason a timing under these conditions is unsure, or None (``own``: the timing's own
    threads, which the load average counts too)."""
    reasons = []
    if load is not None and load - own > BUSY_OTHERS_PER_CPU * cpus:
        mine = f", {own} of it the timing's own threads" if own else ""
        reasons.append(f"load average {load:.2f} on {cpus} CPUs{mine}")
    if steal_pct is not None and steal_pct > BUSY_STEAL_PCT:
        reasons.append(f"{steal_pct:.1f}% steal time")
    return "busy machine: " + ", ".join(reasons) if reasons else None


class LoadWindow:
    """Read load and steal at ``start()`` and ``stop()``; ``stop()`` returns a ``MachineLoad``."""

    def __init__(
        self, proc: str | os.PathLike[str] = "/proc", cpus: int | None = None, own_threads: int = 0
    ) -> None:
        self.proc = proc
        self.cpus = cpus or os.cpu_count() or 1
        self.own = own_threads
        self._load0: float | None = None
        self._ticks0: tuple[int, int] | None = None

    def start(self) -> LoadWindow:
        self._load0, self._ticks0 = load_average(self.proc), cpu_ticks(self.proc)
        return self

    def stop(self) -> MachineLoad:
        load1, ticks1 = load_average(self.proc), cpu_ticks(self.proc)
        loads = [x for x in (self._load0, load1) if x is not None]
        load = max(loads) if loads else None
        steal = None
        if self._ticks0 is not None and ticks1 is not None and ticks1[0] > self._ticks0[0]:
            steal = 100.0 * (ticks1[1] - self._ticks0[1]) / (ticks1[0] - self._ticks0[0])
        busy = judge(self.cpus, load, steal, self.own)
        return MachineLoad(self.cpus, load, steal, busy, self.own)
