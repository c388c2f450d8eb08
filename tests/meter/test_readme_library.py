"""The README's "Library API" example runs as written."""

import ast
import csv
import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def _library_example() -> str:
    text = README.read_text(encoding="utf-8").split("#### Library API", 1)[1]
    match = re.search(r"```python\n(.*?)```", text, flags=re.S)
    assert match, "no python block under 'Library API'"
    return match.group(1)


def test_library_api_example_runs(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENAI_")}
    env["GREENAI_POWERCAP_ROOT"] = str(tmp_path / "no-powercap")  # the estimate, on any machine
    proc = subprocess.run(
        [sys.executable, "-c", _library_example()],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 4
    assert float(lines[0]) > 0  # live kWh inside the nested phase
    assert "New Zealand" in lines[1]
    assert set(ast.literal_eval(lines[2])) == {"cpu", "gpu", "ram"}  # the printed dict
    assert lines[3].startswith("estimated: CPU load")  # the load model (sensors/cpu_load.py)
    with open(tmp_path / "logs" / "emissions.csv", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["run_name"] == "train" and row["row_kind"] == "total"
    with open(tmp_path / "logs" / "emissions_samples.csv", newline="") as handle:
        phases = [r["phase"] for r in csv.DictReader(handle) if r["row_kind"] == "phase"]
    assert phases == ["data", "train/epoch_1", "train"]
