import os
import stat

import pytest

from greenai.fsutil import atomic_open, atomic_write_text


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
