"""``greenai estimate``: a few profiled batches, a prediction with its interval, nothing written."""

from __future__ import annotations

import re

import pytest

from greenai.cli.main import main


@pytest.mark.slow
def test_estimate_prints_a_prediction_with_an_interval_and_writes_nothing(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GREENAI_STORE", raising=False)
    code = main([
        "estimate", "--recipe", "seed", "--dataset", "synthetic", "--limit-train", "128",
        "--limit-test", "32", "--epochs", "3", "--batch-size", "16", "--warmup-batches", "1",
        "--profile-groups", "3", "--group-batches", "1", "--intensity", "200",
    ])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "estimate from 4 profiled batches of 24" in out
    low, point, high = None, None, None
    m = re.search(r"energy\s+(\S+) kWh \[(\S+), (\S+)\]", out)
    point, low, high = (float(g) for g in m.groups())
    assert 0 <= low <= point <= high and point > 0  # low is clipped at 0 when the interval is wide
    m = re.search(r"CO2\s+(\S+) kg", out)
    assert float(m.group(1)) == pytest.approx(point * 0.2, rel=1e-3)  # 200 g/kWh
    assert "nothing was written" in out
    assert list(tmp_path.iterdir()) == []


def test_estimate_needs_two_groups(capsys):
    assert main(["estimate", "--profile-groups", "1"]) == 2
    assert "--profile-groups must be >= 2" in capsys.readouterr().err
