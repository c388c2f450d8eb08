"""A fake machine for calibration tests: its /proc/stat and RAPL package counter follow a known curve.

Usage: ``python calib_writer.py ZONE_DIR STAT_FILE PID IDLE_W SLOPE_W``. The fake machine has
``CPUS`` CPUs and its busy time is the real CPU time of process ``PID``'s tree (the test and the
processes it starts), so the test's load ladder moves it however busy the real, shared machine is.
Every 10 ms it writes ``STAT_FILE`` (a /proc/stat with that busy time, and a last line
``fake_energy_uj N``: the counter in the same snapshot) and adds
``(IDLE_W + SLOPE_W * u) * wall`` joules to ``ZONE_DIR/energy_uj`` (both written atomically): the
counter is exactly ``IDLE_W * elapsed + SLOPE_W * busy_s / CPUS`` since start.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from greenai.sensors.proctree import ProcessTree

CPUS = 2
TICKS = os.sysconf("SC_CLK_TCK")


def write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main() -> None:
    zone, stat = Path(sys.argv[1]), Path(sys.argv[2])
    tree, idle_w, slope_w = ProcessTree(int(sys.argv[3])), float(sys.argv[4]), float(sys.argv[5])
    t0, busy0 = time.monotonic(), tree.read()[0]
    energy0 = int((zone / "energy_uj").read_text())
    while True:
        elapsed, busy = time.monotonic() - t0, tree.read()[0] - busy0
        busy = min(busy, elapsed * CPUS)
        busy_t, total_t = int(busy * TICKS), int(elapsed * CPUS * TICKS)
        lines = [f"cpu  {busy_t} 0 0 {total_t - busy_t} 0 0 0 0 0 0"]
        lines += [f"cpu{i} 0 0 0 0 0 0 0 0 0 0" for i in range(CPUS)]
        joules = idle_w * total_t / TICKS / CPUS + slope_w * busy_t / TICKS / CPUS
        energy_uj = energy0 + int(joules * 1e6)
        lines.append(f"fake_energy_uj {energy_uj}")  # the truth, in the same snapshot as the load
        write(zone / "energy_uj", f"{energy_uj}\n")
        write(stat, "\n".join(lines) + "\n")
        time.sleep(0.01)


if __name__ == "__main__":
    main()
