"""Atomic file writes: a kill at any moment leaves the old file or the new one, never a torn one.

The new content goes to a temporary file beside the target (``.<name>.<random>.tmp``), is fsynced and
renamed over the target. An exception removes the temporary file; a kill the process cannot catch
(SIGKILL, power loss) can leave at most one such file per interrupted write, beside an intact target.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "wb", *, durable: bool = True
) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``.

    On any exception the temporary file is removed and ``path`` is untouched. A SIGKILL leaves
    ``path`` whole (old or new) and at most this one ``.<name>.<random>.tmp`` file beside it.
    ``durable=False`` skips the fsyncs: still never torn after a kill, but a power cut may lose the
    write (for files rewritten often whose content is also kept elsewhere).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        # mkstemp creates 0600; give the file the permissions a plain open() would have.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if durable:
        _fsync_dir(target.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_save(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> None:
    """Atomically write whatever ``write(handle)`` writes (e.g. ``lambda f: torch.save(obj, f)``)."""
    with atomic_open(path, "wb") as handle:
        write(handle)


def check_out_dir(path: str | os.PathLike[str], flag: str = "--out") -> None:
    """Refuse an output folder that cannot be created or written, before anything is written.

    Probes with a temporary file (removed at once) in the folder, or in its nearest existing
    ancestor when it does not exist yet: permission bits alone say yes to root, even on /proc.
    """
    from greenai.errors import UsageError

    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{flag} {out} is not a folder")
    ancestor = out
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not _can_create_in(ancestor):
        if ancestor == out:
            raise UsageError(f"{flag} {out} is not writable")
        raise UsageError(f"{flag} {out} cannot be created: {ancestor} is not a writable folder")


def _can_create_in(directory: Path) -> bool:
    try:
        fd, probe = tempfile.mkstemp(prefix=".greenai-probe-", dir=directory)
    except OSError:
        return False
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return True


_PROC_STATUS = "/proc/self/status"


def _umask() -> int:
    """The process umask, read without changing it (Linux 4.7+: the ``Umask:`` line of /proc).

    Setting the umask to read it would let a file another thread creates meanwhile get mode 0666.
    """
    try:
        with open(_PROC_STATUS, encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return _umask_by_probe()


def _umask_by_probe() -> int:
    """Fallback without /proc: the mode the kernel gives a new file asked for with 0777."""
    with tempfile.TemporaryDirectory(prefix="greenai-umask-") as directory:
        probe = os.path.join(directory, "probe")
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o777))
        return 0o777 & ~stat.S_IMODE(os.stat(probe).st_mode)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
