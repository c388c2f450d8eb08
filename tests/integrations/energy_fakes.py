"""The hardware boundary for the trainer-callback tests: a fake powercap tree the test moves."""

from __future__ import annotations

import os
from pathlib import Path

from greenai.sensors import NullSensor, RaplSensor


class FakeRapl:
    """One package zone under ``root``; ``add(cpu_j)`` moves its counter as the CPU would."""

    def __init__(self, root: Path) -> None:
        self.zone = root / "intel-rapl:0"
        self.zone.mkdir(parents=True)
        (self.zone / "name").write_text("package-0\n")
        (self.zone / "max_energy_range_uj").write_text("262143328850\n")
        (self.zone / "energy_uj").write_text("1000\n")
        self.root = root

    def add(self, cpu_j: float) -> None:
        now = int((self.zone / "energy_uj").read_text())
        (self.zone / "energy_uj.tmp").write_text(f"{now + round(cpu_j * 1e6)}\n")
        os.replace(self.zone / "energy_uj.tmp", self.zone / "energy_uj")

    def sensors(self) -> list:
        return [
            RaplSensor(self.root),
            NullSensor(("gpu",), "no GPU in this test"),
            NullSensor(("ram",), "no dram zone in this test"),
        ]
