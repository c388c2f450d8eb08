"""Fake hardware for tests: powercap trees and /proc trees written under a temporary folder."""

from __future__ import annotations

import os
from pathlib import Path


def rapl_zone(
    parent: Path, dirname: str, name: str, energy_uj: int, max_uj: int = 262_143_328_850
) -> Path:
    zone = parent / dirname
    zone.mkdir(parents=True)
    (zone / "name").write_text(name + "\n")
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return zone


def set_energy(zone: Path, energy_uj: int) -> None:
    (zone / "energy_uj").write_text(f"{energy_uj}\n")


def two_socket_tree(root: Path) -> dict[str, Path]:
    """Two packages, each with core and dram subzones, plus psys and an mmio duplicate."""
    zones = {}
    for n in (0, 1):
        pkg = rapl_zone(root, f"intel-rapl:{n}", f"package-{n}", 1_000_000)
        zones[f"pkg{n}"] = pkg
        rapl_zone(pkg, f"intel-rapl:{n}:0", "core", 500_000)
        zones[f"dram{n}"] = rapl_zone(pkg, f"intel-rapl:{n}:1", "dram", 2_000_000)
    zones["psys"] = rapl_zone(root, "intel-rapl:2", "psys", 9_000_000)
    zones["mmio"] = rapl_zone(root, "intel-rapl-mmio:0", "package-0", 7_000_000)
    return zones


TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def proc_stat(
    proc: Path,
    pid: int,
    ppid: int,
    utime: int,
    stime: int,
    cutime: int = 0,
    cstime: int = 0,
    rss_pages: int = 0,
    children: tuple[int, ...] | None = (),
) -> None:
    """Write /proc/<pid>/stat in the kernel's layout (command name with a space and a parenthesis)."""
    d = proc / str(pid)
    (d / "task" / str(pid)).mkdir(parents=True, exist_ok=True)
    fields = ["S", str(ppid)] + ["0"] * 9 + [str(utime), str(stime), str(cutime), str(cstime)]
    fields += ["20", "0", "1", "0", "100", "123456", str(rss_pages)] + ["0"] * 20
    (d / "stat").write_text(f"{pid} (my (odd) cmd) " + " ".join(fields) + "\n")
    (d / "statm").write_text(f"1000 {rss_pages} 0 0 0 0 0\n")
    if children is not None:
        (d / "task" / str(pid) / "children").write_text(" ".join(map(str, children)) + " ")
