"""A fake RAPL package whose counter advances at a known power: ``python powercap_writer.py ROOT WATTS``.

Writes ``ROOT/intel-rapl:0/{name,energy_uj,max_energy_range_uj}`` (the layout RaplSensor reads), then
rewrites ``energy_uj`` every few milliseconds as ``WATTS x seconds since start`` (atomically: a
rename, so a reader never sees half a number) until killed. The hardware boundary of the
distributed tests: the meter reads it as it would read /sys/class/powercap.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def main(root: str, watts: float) -> None:
    zone = Path(root) / "intel-rapl:0"
    zone.mkdir(parents=True, exist_ok=True)
    (zone / "name").write_text("package-0\n")
    (zone / "max_energy_range_uj").write_text("262143328850\n")
    counter, scratch = zone / "energy_uj", zone / ".energy_uj.tmp"
    t0 = time.monotonic()
    scratch.write_text("1000000\n")
    os.replace(scratch, counter)
    (Path(root) / "ready").write_text("1\n")
    while True:
        uj = 1_000_000 + round(watts * (time.monotonic() - t0) * 1e6)
        scratch.write_text(f"{uj}\n")
        os.replace(scratch, counter)
        time.sleep(0.002)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
