"""A refusal that only a torchrun rank can make is still one line (issue #19): torchrun's own
traceback and "FAILED" box used to follow the rank's ``greenai: error:`` line."""

from __future__ import annotations

from pathlib import Path

import pytest
from proc_helpers import SMALL, start

pytestmark = pytest.mark.slow


def test_a_rank_refusal_is_one_line_with_its_exit_code(tmp_path: Path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "taken.pt").write_bytes(b"an earlier run's checkpoint")
    proc = start(["baseline", *SMALL, "--epochs", "1", "--limit-train", "64", "--limit-test", "32",
                  "--nproc-per-node", "1", "--run-id", "taken", "--out", str(tmp_path)],
                 cwd=tmp_path)  # fmt: skip
    _out, err = proc.communicate(timeout=300)
    lines = [line for line in err.splitlines() if line.strip() and "note:" not in line]
    assert proc.returncode == 2, err
    assert "Traceback" not in err and "FAILED" not in err, err
    assert len(lines) == 1 and "run taken already exists" in lines[0], err
