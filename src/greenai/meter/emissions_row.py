"""One tracker run's single row in ``emissions.csv``, replaced in place as the run goes: the whole
file rewritten to a temporary file and renamed over it, under an exclusive ``flock`` on the sample
log, so readers and other writers never see a torn file and never lose each other's rows.

While no one else has replaced the file since our last write (same inode, size and mtime), an
update reuses the text around our row, with no reading or parsing.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from greenai.errors import UsageError
from greenai.fsutil import atomic_open
from greenai.meter.emissions_layout import _RUN_ID, _STARTED_AT, COLUMNS


def _stat_signature(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _signature(path: Path) -> tuple[int, int, int] | None:
    """Identifies one version of a file: every writer renames a new file (a new inode) over it."""
    try:
        return _stat_signature(os.stat(path))
    except FileNotFoundError:
        return None


@contextlib.contextmanager
def _locked(handle: IO[str]) -> Iterator[None]:
    """An exclusive ``flock`` on ``handle`` (the sample log) while emissions.csv is rewritten, so
    processes sharing the file never lose each other's rows. No-op where ``fcntl`` is missing."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class RunRow:
    """The row of run ``run_id`` started at ``started_at`` (set by the sink at ``on_start``) in
    emissions.csv at ``path``; ``put`` writes it, appending it the first time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.run_id = ""
        self.started_at = ""
        self._index: int | None = None  # our row's position among emissions.csv's data rows
        # (signature of emissions.csv as we last wrote it, text before our row, text after it):
        # while no one else has replaced the file, an update needs no reading or parsing
        self._around: tuple[Any, str, str] | None = None

    def put(self, row: list[Any], *, lock: IO[str], final: bool) -> None:
        """Put ``row`` in place of this run's row in emissions.csv (appending it the first time),
        holding the ``flock`` of ``lock`` (the open sample log); ``final`` fsyncs the file."""
        buf = io.StringIO()
        csv.writer(buf).writerow(row)
        line = buf.getvalue()
        with _locked(lock):
            cached = self._around
            if cached is None or _signature(self.path) != cached[0]:
                cached = self._split_around_our_row()
            _, before, after = cached
            self._around = (self._replace(before + line + after, fsync=final), before, after)

    def _split_around_our_row(self) -> tuple[Any, str, str]:
        """Read emissions.csv: (its signature, the text before our row, the text after it)."""
        rows: list[list[str]] = []
        if self.path.exists():
            with open(self.path, newline="", encoding="utf-8") as handle:
                reader = csv.reader(handle)
                header = next(reader, None)
                if header is not None and tuple(header) != COLUMNS:
                    raise UsageError(f"{self.path} was replaced by a file with another header")
                rows = [r for r in reader if r]  # a blank line is no row
        index = self._find(rows)
        if index is None:
            index = self._index = len(rows)
            rows.append([])

        def text(part: list[list[str]]) -> str:
            buf = io.StringIO()
            csv.writer(buf).writerows(part)
            return buf.getvalue()

        return None, text([list(COLUMNS), *rows[:index]]), text(rows[index + 1 :])

    def _find(self, rows: list[list[str]]) -> int | None:
        """Our row: at the position we wrote it (rows are only ever appended or replaced in place),
        checked by its run id and start; else the last row with both (the file was edited)."""

        def ours(r: list[str]) -> bool:
            return (
                len(r) == len(COLUMNS)
                and r[_RUN_ID] == self.run_id
                and r[_STARTED_AT] == self.started_at
            )

        if self._index is not None and self._index < len(rows) and ours(rows[self._index]):
            return self._index
        for i in range(len(rows) - 1, -1, -1):
            if ours(rows[i]):
                self._index = i
                return i
        return None

    def _replace(self, text: str, *, fsync: bool) -> tuple[int, int, int]:
        """Rewrite emissions.csv atomically (``fsutil.atomic_open``); returns the new file's
        signature. Only the final write is fsynced, so the total survives a power cut; the
        per-sample updates skip it (the sample log holds the same figures, flushed)."""
        with atomic_open(self.path, "wb", durable=fsync) as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            return _stat_signature(os.fstat(handle.fileno()))
