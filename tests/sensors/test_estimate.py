import subprocess
import sys

import pytest
from sensor_fakes import PAGE, TICKS, proc_stat

from greenai.sensors import CpuTimeEstimate, ProcessTree, RamEstimate
from greenai.sensors.cpu_model import (
    DEFAULT_W_PER_CPU,
    CpuInfo,
    cpu_power,
    match_tdp,
    read_cpuinfo,
    tdp_table,
)

TABLE = (
    ("AMD EPYC 7763", 280.0),
    ("AMD EPYC 7713", 225.0),
    ("Intel Xeon Platinum 8380", 270.0),
    ("Intel Xeon Platinum 8380H", 250.0),
    ("3280", 65.0),
)

CPUINFO = """processor\t: {i}
vendor_id\t: GenuineIntel
model name\t: {model}
physical id\t: {pkg}
siblings\t: {siblings}
cpu cores\t: {cores}
flags\t\t: fpu vme {extra}sse

"""


def _cpuinfo(tmp_path, model, logical=4, packages=1, virtual=False):
    per = logical // packages
    text = "".join(
        CPUINFO.format(
            i=i, model=model, pkg=i // per, siblings=per, cores=per // 2,
            extra="hypervisor " if virtual else "",
        )
        for i in range(logical)
    )  # fmt: skip
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    return path


def test_exact_partial_and_no_match():
    exact = match_tdp("Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz", TABLE)
    assert (exact.kind, exact.row, exact.tdp_w) == ("exact", "Intel Xeon Platinum 8380", 270.0)
    partial = match_tdp("AMD EPYC 7763 64-Core Processor (engineering sample)", TABLE)
    assert (partial.kind, partial.row) == ("partial", "AMD EPYC 7763")
    assert "partially" in partial.note
    none = match_tdp("AMD EPYC 9B14 96-Core Processor", TABLE)
    assert none.kind == "none" and none.tdp_w is None and "not found" in none.note


def test_family_name_without_model_number_is_not_pretended_to_match():
    result = match_tdp("AMD EPYC", TABLE)
    assert result.kind == "none" and result.row is None
    assert "names no model number" in result.note
    assert "2 table rows" in result.note and "225-280 W" in result.note


def test_the_shipped_table_loads_and_matches_real_names():
    assert len(tdp_table()) > 4800
    assert match_tdp("AMD EPYC 7763 64-Core Processor").tdp_w == 280.0


def test_read_cpuinfo_counts_packages_and_sees_a_hypervisor(tmp_path):
    info = read_cpuinfo(
        _cpuinfo(tmp_path, "Intel Xeon Platinum 8380", logical=8, packages=2, virtual=True)
    )
    assert info == CpuInfo("Intel Xeon Platinum 8380", 4, 2, True)


def test_watts_per_cpu_is_tdp_over_logical_cpus_per_package(tmp_path):
    info = read_cpuinfo(_cpuinfo(tmp_path, "Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz", 160, 2))
    power = cpu_power(info, TABLE)
    assert power.w_per_cpu == pytest.approx(270.0 / 80)  # 3.375 W
    assert "TDP 270 W / 80 logical CPUs per package" in power.detail


def test_virtual_machine_or_unknown_cpu_uses_the_documented_default(tmp_path):
    vm = read_cpuinfo(_cpuinfo(tmp_path, "AMD EPYC 7763 64-Core Processor", 2, virtual=True))
    power = cpu_power(vm, TABLE)
    assert power.w_per_cpu == DEFAULT_W_PER_CPU == 4.0
    assert "virtual machine" in power.detail and "TDP 280 W" in power.detail
    unknown = cpu_power(CpuInfo("AMD EPYC", 2, 1, True), TABLE)
    assert unknown.w_per_cpu == 4.0
    assert "names no model number" in unknown.detail and "default 4 W" in unknown.detail


def test_cpu_seconds_of_a_fake_process_tree(tmp_path):
    proc = tmp_path / "proc"
    proc_stat(
        proc, 100, 1, utime=200, stime=100, cutime=50, cstime=0, rss_pages=1000, children=(101,)
    )
    proc_stat(proc, 101, 100, utime=30, stime=20, rss_pages=500, children=(102,))
    proc_stat(proc, 102, 101, utime=0, stime=0, rss_pages=250)
    proc_stat(proc, 555, 1, utime=9999, stime=9999, rss_pages=9999)  # not in the tree
    tree = ProcessTree(100, proc)
    assert sorted(tree.descendants()) == [101, 102]
    cpu_s, rss_bytes = tree.read()
    assert cpu_s == pytest.approx((350 + 50) / TICKS)
    assert rss_bytes == 1750 * PAGE


def test_children_found_by_scanning_when_the_kernel_lacks_children_files(tmp_path):
    proc = tmp_path / "proc"
    proc_stat(proc, 100, 1, utime=1, stime=0, children=None)
    proc_stat(proc, 101, 100, utime=2, stime=0, children=None)
    proc_stat(proc, 102, 101, utime=3, stime=0, children=None)
    proc_stat(proc, 200, 1, utime=7, stime=0, children=None)
    tree = ProcessTree(100, proc)
    assert sorted(tree.descendants()) == [101, 102]
    assert tree.read()[0] == pytest.approx(6 / TICKS)


def test_cpu_estimate_arithmetic_and_monotonicity(tmp_path):
    proc = tmp_path / "proc"
    proc_stat(proc, 100, 1, utime=10, stime=0, children=(101,))
    proc_stat(proc, 101, 100, utime=0, stime=0)
    sensor = CpuTimeEstimate(ProcessTree(100, proc), cpu_power(CpuInfo("3280", 4, 1, False), TABLE))
    assert sensor.power.w_per_cpu == pytest.approx(65.0 / 4)
    proc_stat(proc, 101, 100, utime=3 * TICKS, stime=TICKS)  # child used 4 CPU seconds
    assert sensor.read_j()["cpu"] == pytest.approx(4 * 16.25)
    # the child exits before being waited for: its time must not vanish from the total
    (proc / "101" / "stat").unlink()
    assert sensor.read_j()["cpu"] == pytest.approx(65.0)
    label = sensor.methods()["cpu"]
    assert label.kind == "estimated" and "16.2 W per busy CPU" in label.detail


def test_ram_estimate_integrates_rss_with_the_trapezoid_rule(tmp_path):
    proc = tmp_path / "proc"
    gb_pages = int(1e9 // PAGE)
    proc_stat(proc, 100, 1, utime=0, stime=0, rss_pages=2 * gb_pages)
    now = [0.0]
    sensor = RamEstimate(ProcessTree(100, proc), clock=lambda: now[0])
    now[0] = 10.0
    proc_stat(proc, 100, 1, utime=0, stime=0, rss_pages=4 * gb_pages)
    expected = (2 + 4) / 2 * (gb_pages * PAGE / 1e9) * 0.375 * 10  # ≈ 11.25 J
    assert sensor.read_j()["ram"] == pytest.approx(expected, rel=1e-9)
    assert "0.375 W/GB" in sensor.methods()["ram"].detail


def test_a_real_child_tree_is_followed_and_its_exit_rusage_kept():
    busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"
    child = subprocess.Popen([sys.executable, "-c", busy])
    tree = ProcessTree.for_command()
    assert tree.read() == (0.0, 0)
    tree.attach(child.pid)
    import os

    _, _, usage = os.wait4(child.pid, 0)
    tree.set_final_cpu_s(usage.ru_utime + usage.ru_stime)
    assert tree.read()[0] >= 0.3
    assert tree.label == "the command's process tree"
