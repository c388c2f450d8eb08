"""CPU time and resident memory of a process tree, read from /proc.

The tree is a root process (this one by default, or a command's pid) and its live descendants, found
through ``/proc/<pid>/task/<tid>/children`` (or a scan of ``/proc/*/stat`` where the kernel lacks that
file). CPU seconds of exited descendants are included once their parent has waited for them (the
kernel adds them to the parent's ``cutime``/``cstime``); the caller adds the root's own wait rusage
when it reaps it (``set_final_cpu_s``). CPU seconds never decrease between reads.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

_TICKS_S = os.sysconf("SC_CLK_TCK")
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


class ProcessTree:
    """The root ``pid`` (``None``: this process) and its descendants. ``proc`` is the /proc folder."""

    def __init__(self, pid: int | None = None, proc: str | os.PathLike[str] = "/proc") -> None:
        self.pid = pid
        self.proc = Path(proc)
        self._waiting = False
        self._command = False
        self._last_cpu_s = 0.0
        self._final_cpu_s: float | None = None
        self._scan_children = not (
            self.proc / str(pid or os.getpid()) / "task"
        ).is_dir() or not any(
            (t / "children").exists()
            for t in (self.proc / str(pid or os.getpid()) / "task").iterdir()
        )

    @classmethod
    def for_command(cls, proc: str | os.PathLike[str] = "/proc") -> ProcessTree:
        """A tree for a command not started yet: reads zero until ``attach(pid)``."""
        tree = cls(None, proc)
        tree._waiting = True
        tree._command = True
        return tree

    @property
    def label(self) -> str:
        """What this tree is, for method labels."""
        if self._waiting or (self.pid is not None and self._command):
            return "the command's process tree"
        if self.pid is None:
            return "this process and its children"
        return f"the process tree of pid {self.pid}"

    def attach(self, pid: int) -> None:
        """Follow ``pid`` (a command just started) from now on."""
        self.pid = pid
        self._waiting = False

    def _stat(self, pid: int) -> list[str] | None:
        """Fields of /proc/<pid>/stat after the command name (field 3 onwards), or None if gone."""
        try:
            text = (self.proc / str(pid) / "stat").read_text()
        except OSError:
            return None
        return text[text.rfind(")") + 2 :].split()

    def _children(self, pid: int) -> list[int]:
        if self._scan_children:
            return [p for p, ppid in self._all_ppids().items() if ppid == pid]
        out: list[int] = []
        try:
            tasks = list((self.proc / str(pid) / "task").iterdir())
        except OSError:
            return out
        for task in tasks:
            try:
                out.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                continue
        return out

    def _all_ppids(self) -> dict[int, int]:
        ppids = {}
        for entry in self.proc.iterdir():
            if entry.name.isdigit() and (fields := self._stat(int(entry.name))):
                ppids[int(entry.name)] = int(fields[1])
        return ppids

    def descendants(self) -> list[int]:
        root = self.pid or os.getpid()
        found, todo = [], [root]
        while todo:
            for child in self._children(todo.pop()):
                if child not in found:
                    found.append(child)
                    todo.append(child)
        return found

    def _tree_stats(self) -> tuple[float, int]:
        """(CPU seconds, RSS bytes) of the tree now, without the monotone guard."""
        cpu_ticks, rss_pages = 0, 0
        pids = self.descendants()
        if self.pid is None:
            me = resource.getrusage(resource.RUSAGE_SELF)
            kids = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu_s = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
            rss_pages += self._rss_pages(os.getpid())
        else:
            cpu_s = 0.0
            pids = [self.pid, *pids]
        for pid in pids:
            fields = self._stat(pid)
            if fields is None:
                continue
            # fields[11..14]: utime, stime, cutime, cstime (ticks); fields[21]: rss (pages)
            cpu_ticks += sum(int(f) for f in fields[11:15])
            rss_pages += int(fields[21])
        return cpu_s + cpu_ticks / _TICKS_S, rss_pages * _PAGE_BYTES

    def _rss_pages(self, pid: int) -> int:
        try:
            return int((self.proc / str(pid) / "statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            return 0

    def read(self) -> tuple[float, int]:
        """(cumulative CPU seconds, RSS bytes now) of the tree; CPU seconds never go down."""
        if self._waiting:
            return self._last_cpu_s, 0
        cpu_s, rss_bytes = self._tree_stats()
        if self._final_cpu_s is not None:
            cpu_s = max(cpu_s, self._final_cpu_s)
        self._last_cpu_s = max(self._last_cpu_s, cpu_s)
        return self._last_cpu_s, rss_bytes

    def set_final_cpu_s(self, cpu_s: float) -> None:
        """The root's CPU seconds from its wait rusage (its own and its waited descendants')."""
        self._final_cpu_s = cpu_s
