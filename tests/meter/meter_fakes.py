"""A fake powercap tree whose counters the test sets: the meter's hardware boundary."""

from __future__ import annotations

import os
from pathlib import Path

from greenai.sensors import NullSensor, RaplSensor


class FakeRapl:
    """One package zone and its dram subzone under ``root``; ``add(cpu_j, ram_j)`` moves the counters."""

    def __init__(self, root: Path) -> None:
        self.pkg = root / "intel-rapl:0"
        self.dram = self.pkg / "intel-rapl:0:0"
        self.dram.mkdir(parents=True)
        for zone, name in ((self.pkg, "package-0"), (self.dram, "dram")):
            (zone / "name").write_text(name + "\n")
            (zone / "max_energy_range_uj").write_text("262143328850\n")
            (zone / "energy_uj").write_text("1000\n")
        self.root = root

    def add(self, cpu_j: float = 0.0, ram_j: float = 0.0) -> None:
        for zone, joules in ((self.pkg, cpu_j), (self.dram, ram_j)):
            now = int((zone / "energy_uj").read_text())
            # replaced atomically, as sysfs never shows a half-written counter to a reader
            tmp = zone / "energy_uj.tmp"
            tmp.write_text(f"{now + round(joules * 1e6)}\n")
            os.replace(tmp, zone / "energy_uj")

    def sensors(self) -> list:
        return [RaplSensor(self.root), NullSensor(("gpu",), "no GPU in this test")]
