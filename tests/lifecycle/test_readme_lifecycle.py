"""The README's "Your model, your data" Python example runs as written, in an empty folder, offline,
and writes the files the README says it writes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from greenai.storage import open_store

README = Path(__file__).resolve().parents[2] / "README.md"
HEADING = "### Your model, your data"


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    assert HEADING in text, f"no {HEADING!r} section in the README"
    return text.split(HEADING, 1)[1].split("\n### ", 1)[0]


def _block(language: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", _section(), flags=re.S)
    assert len(blocks) == 1, f"expected one {language} block under {HEADING!r}"
    return blocks[0]


def test_the_section_shows_the_commands_on_the_same_files():
    bash = _block("bash")
    for command in ("greenai baseline", "greenai prune", "greenai quantize", "greenai study"):
        assert command in bash, command
    assert "--model mynet.py:Net" in bash and "--dataset npz:mydata.npz" in bash
    python = _block("python")
    for call in ("greenai.track(", "lc.register(", "lc.prune(", "lc.quantize(", "lc.report("):
        assert call in python, call


@pytest.mark.slow  # INT8 quantization compiles its model: ~25 s on a loaded 2-core machine
def test_the_python_example_runs_and_writes_what_the_readme_says(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENAI_")}
    env["GREENAI_POWERCAP_ROOT"] = str(tmp_path / "no-powercap")  # the estimate, on any machine
    # each variant on PyTorch only: every installed runtime added ~60 s here (they have their own
    # tests in tests/runtimes)
    env["GREENAI_RUNTIMES"] = "pytorch"
    proc = subprocess.run(
        [sys.executable, "-c", _block("python")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]

    printed = [line.split() for line in proc.stdout.splitlines()]
    assert [p[0] for p in printed] == ["registered", "pruned_unstructured", "quantized_ptq"]
    for variant, accuracy, kwh, known in printed:
        assert 0 <= float(accuracy) <= 100 and float(kwh) > 0, variant
        assert known == "True", variant

    written = (
        "mynet.py", "mydata.npz", "greenai-runs/greenai.db", "greenai-runs/logs/emissions.csv",
        "greenai-report/report.html", "greenai-report/study_report.md",
    )  # fmt: skip
    for name in written:
        assert (tmp_path / name).is_file(), name
    assert not (tmp_path / "greenai.db").exists()  # one store: the one the README names

    runs = tmp_path / "greenai-runs"
    results = {}
    for path in (runs / "results").glob("*.json"):
        r = json.loads(path.read_text(encoding="utf-8"))
        results[r["variant"]] = r
    assert sorted(results) == ["pruned_unstructured", "quantized_ptq", "registered"]
    for r in results.values():
        assert (runs / r["artifacts"]["model"]).is_file(), r["variant"]
    assert results["quantized_ptq"]["artifacts"]["model"].endswith(".int8.pt2z")

    with open_store(str(runs / "greenai.db")) as store:
        rows = {r.variant: r for r in store.list_runs()}
    assert sorted(rows) == ["pruned_unstructured", "quantized_ptq", "registered", "tracked"]
    assert {r.status for r in rows.values()} == {"done"}
    reg = results["registered"]
    assert reg["parent_run_id"] == rows["tracked"].run_id  # the tracked training is the parent
    tracked_kwh = rows["tracked"].result["energy"]["lifecycle"]["energy_kwh"]
    assert reg["energy"]["lifecycle"]["energy_kwh"] == pytest.approx(
        reg["energy"]["step"]["energy_kwh"] + tracked_kwh, rel=1e-9
    )
    for variant in ("pruned_unstructured", "quantized_ptq"):
        r = results[variant]
        assert r["parent_run_id"] == reg["run_id"], variant
        ancestors = [a["run_id"] for a in r["energy"]["lifecycle"]["ancestors"]]
        assert ancestors == [reg["run_id"], rows["tracked"].run_id], variant
