"""The utilisation-aware CPU estimate on a fake /proc: the server curve and the tree's share."""

from __future__ import annotations

import pytest
from sensor_fakes import TICKS, proc_stat

from greenai.sensors import CpuLoadEstimate, CpuTimeEstimate, ProcessTree, default_sensors
from greenai.sensors.cpu_load import interpolate, read_proc_stat, tdp_curve
from greenai.sensors.cpu_model import CpuInfo, cpu_power


def _machine_stat(proc, busy_s: float, total_s: float, cpus: int = 4) -> None:
    busy, idle = int(busy_s * TICKS), int((total_s - busy_s) * TICKS)
    lines = [f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0"]
    lines += [f"cpu{i} 0 0 0 0 0 0 0 0 0 0" for i in range(cpus)]
    (proc / "stat").write_text("\n".join(lines) + "\nintr 0\n")


def test_server_curve_points_and_interpolation():
    points = ((0.0, 0.12), (0.1, 0.32), (0.5, 0.75), (1.0, 1.02))
    assert interpolate(points, 0.0) == 0.12 and interpolate(points, 1.0) == 1.02
    assert interpolate(points, 0.3) == pytest.approx(0.32 + (0.75 - 0.32) * 0.5)
    assert interpolate(points, 1.5) == 1.02  # held flat beyond the ends


def test_tree_share_of_the_curve_by_hand(tmp_path):
    proc = tmp_path / "proc"
    proc_stat(proc, 500, 1, utime=0, stime=0)
    _machine_stat(proc, busy_s=0.0, total_s=0.0)
    info = CpuInfo("Unknown CPU 9000", 4, 1, False)
    curve = tdp_curve(cpu_power(info), 4)  # default 4 W per CPU: a 16 W "TDP" for 4 CPUs
    assert [w for _, w in curve.points] == pytest.approx([1.92, 5.12, 12.0, 16.32])
    sensor = CpuLoadEstimate(ProcessTree(500, proc), curve)
    # 10 s of wall time on 4 CPUs (40 CPU-s): 20 busy, the tree's 5 of them -> u = 50 %
    proc_stat(proc, 500, 1, utime=int(5 * TICKS), stime=0)
    _machine_stat(proc, busy_s=20.0, total_s=40.0)
    joules = sensor.read_j()["cpu"]
    # machine 12 W x 10 s = 120 J; floor 1.92 W x 10 s = 19.2 J
    # tree: (120 - 19.2) x 5/20 busy + 19.2 x 5/40 capacity = 25.2 + 2.4 = 27.6 J
    assert sensor.machine_j == pytest.approx(120.0)
    assert joules == pytest.approx(27.6)
    # the flat model it replaces: 5 CPU-s x 4 W = 20 J
    flat = CpuTimeEstimate(ProcessTree(500, proc), cpu_power(info))
    assert flat.power.w_per_cpu * 5 == pytest.approx(20.0)
    method = sensor.methods()["cpu"]
    assert method.kind == "estimated" and "idle floor 1.92 W" in method.detail
    assert "server curve 0.12/0.32/0.75/1.02 x TDP" in method.detail


def test_a_window_shorter_than_a_tick_waits_and_no_proc_stat_means_the_tree_alone(tmp_path):
    proc = tmp_path / "proc"
    proc_stat(proc, 500, 1, utime=0, stime=0)
    _machine_stat(proc, 0.0, 0.0)
    curve = tdp_curve(cpu_power(CpuInfo("Unknown CPU 9000", 4, 1, False)), 4)
    sensor = CpuLoadEstimate(ProcessTree(500, proc), curve)
    assert sensor.read_j() == {"cpu": 0.0}  # no tick elapsed: nothing yet, nothing lost
    assert read_proc_stat(tmp_path / "absent") is None


def test_default_sensors_pick_the_load_model_without_rapl(tmp_path, monkeypatch):
    monkeypatch.setenv("GREENAI_CALIBRATION", str(tmp_path / "none.json"))
    sensors = default_sensors(powercap_root=tmp_path / "absent", nvidia_driver=None, env={
        "GREENAI_CALIBRATION": str(tmp_path / "none.json")})  # fmt: skip
    (cpu,) = [s for s in sensors if "cpu" in s.components]
    assert isinstance(cpu, CpuLoadEstimate)
    assert cpu.methods()["cpu"].source == "CPU load x server power curve (TDP)"
