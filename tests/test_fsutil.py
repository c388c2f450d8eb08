import os
import random
import re
import signal
import stat
import subprocess
import sys
import time

import pytest

from greenai import fsutil
from greenai.fsutil import atomic_open, atomic_write_bytes, atomic_write_text


def test_atomic_write_replaces_and_uses_umask_permissions(tmp_path):
    target = tmp_path / "r.json"
    target.write_text("old")
    old = os.umask(0o022)
    try:
        atomic_write_text(target, "new")
    finally:
        os.umask(old)
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_failed_write_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "r.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write(b"half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_umask_is_read_without_changing_it(monkeypatch):
    old = os.umask(0o027)
    try:

        def no_umask_calls(mask):  # setting the umask, even briefly, races other threads
            raise AssertionError(f"os.umask({mask:o}) called")

        with monkeypatch.context() as m:
            m.setattr(os, "umask", no_umask_calls)
            if os.path.exists("/proc/self/status"):
                assert fsutil._umask() == 0o027
            assert fsutil._umask_by_probe() == 0o027
    finally:
        assert os.umask(old) == 0o027


def test_umask_falls_back_without_proc(monkeypatch, tmp_path):
    old = os.umask(0o077)
    try:
        monkeypatch.setattr(fsutil, "_PROC_STATUS", str(tmp_path / "missing"))
        assert fsutil._umask() == 0o077
        garbage = tmp_path / "status"
        garbage.write_text("Name:\tpython\nUmask:\tnot-octal\n")
        monkeypatch.setattr(fsutil, "_PROC_STATUS", str(garbage))
        assert fsutil._umask() == 0o077
        atomic_write_text(tmp_path / "f", "x")
        assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o600
    finally:
        os.umask(old)


_WRITER = """
import sys
from pathlib import Path
from greenai.fsutil import atomic_write_bytes

target, *sources = sys.argv[1:]
versions = [Path(s).read_bytes() for s in sources]
i = 0
while True:
    atomic_write_bytes(target, versions[i % len(versions)])
    i += 1
    print(i, flush=True)
"""


def test_sigkill_at_any_moment_leaves_a_whole_version(tmp_path):
    """A child rewrites one file in a loop (3 MiB and 5 MiB versions, fsync each) and is SIGKILLed
    after a varying number of finished writes, i.e. in the middle of the next one. After every kill
    the file is byte for byte one version, and the only other files are the documented leftovers:
    at most one ``.<name>.*.tmp`` per kill."""
    rng = random.Random(9)
    versions = [rng.randbytes(3 << 20), rng.randbytes(5 << 20)]
    sources = []
    for n, data in enumerate(versions):
        src = tmp_path / f"v{n}.bin"
        src.write_bytes(data)
        sources.append(str(src))
    work = tmp_path / "work"
    work.mkdir()
    target = work / "r.bin"
    target.write_bytes(b"old")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    mid_write = 0
    temps: set[str] = set()
    for kills in range(1, 31):  # bounded: stop once enough kills landed mid-write
        if kills > 6 and mid_write >= 3:
            break
        child = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(target), *sources],
            stdout=subprocess.PIPE, env=env, text=True,
        )  # fmt: skip
        try:
            for _ in range(1 + kills % 3):  # kill after 1, 2 or 3 finished writes
                assert child.stdout.readline(), "writer died before finishing a write"
            # then at a random moment of the writes that follow: killed right after its line,
            # the writer is still between two writes (seen here: 0 of 30 kills landed mid-write)
            time.sleep(rng.uniform(0.0, 0.03))
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.kill()
            child.wait()
            child.stdout.close()
        assert child.returncode == -signal.SIGKILL

        data = target.read_bytes()
        assert data in versions, f"torn file after kill {kills}: {len(data)} bytes"
        now = {p.name for p in work.iterdir()} - {"r.bin"}
        assert all(re.fullmatch(r"\.r\.bin\..+\.tmp", name) for name in now), now
        assert len(now - temps) <= 1 and len(now) <= kills  # at most one leftover per kill
        mid_write += len(now - temps)
        temps = now
    assert mid_write >= 1, "no kill landed during a write"

    # A normal write afterwards still works and adds nothing.
    atomic_write_bytes(target, b"after")
    assert target.read_bytes() == b"after"
    assert {p.name for p in work.iterdir()} == temps | {"r.bin"}
