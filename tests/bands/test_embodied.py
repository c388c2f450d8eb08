"""Embodied carbon by hand from the shipped table: a CPU-only run, a GPU server run, overrides."""

from __future__ import annotations

import sys

import pytest

from greenai.carbon.embodied import check_env, embodied_lifecycle, embodied_step, table
from greenai.errors import UsageError
from greenai.meter import Tracker
from greenai.sensors import NullSensor, NvmlSensor

LIFE_H = 4 * 8760  # the default life: 4 years = BoaviztAPI's 35,040 hours

FAKE_PYNVML = """
class NVMLError(Exception):
    pass

DEVICES = [{"name": "Fake H100", "uuid": "GPU-0"}, {"name": "Fake H100", "uuid": "GPU-1"}]

def nvmlInit(): pass
def nvmlShutdown(): pass
def nvmlDeviceGetCount(): return len(DEVICES)
def nvmlDeviceGetHandleByIndex(i): return DEVICES[i]
def nvmlDeviceGetName(h): return h["name"].encode()
def nvmlDeviceGetUUID(h): return h["uuid"]
def nvmlDeviceGetTotalEnergyConsumption(h): return 1000
def nvmlDeviceGetPowerUsage(h): return 300000
def nvmlDeviceGetMaxMigDeviceCount(h): raise NVMLError(3)
"""


def test_the_table_holds_boavizta_figures_with_their_band():
    t = table()
    assert (t["server"].kg, t["server"].low, t["server"].high) == (900.0, 459.9, 2087.0)
    assert (t["gpu"].kg, t["gpu_server_host"].kg) == (244.9, 1841.0)
    assert "BoaviztAPI 2.5.0" in t["server"].source


def test_cpu_only_run_on_a_physical_server_by_hand():
    e = embodied_step(7200.0, gpus=0, logical_cpus=8, virtual=False, env={})
    # 900 kg x 2 h / 35,040 h = 0.05137 kg; band 459.9 and 2087 kg likewise
    assert e["co2_kg"] == pytest.approx(900 * 2 / LIFE_H)
    assert (e["co2_kg_low"], e["co2_kg_high"]) == pytest.approx(
        (459.9 * 2 / LIFE_H, 2087 * 2 / LIFE_H)
    )
    assert (
        e["share"] == 1.0 and e["life_years"] == 4.0 and "SCI M = TE x TR / EL x RS" in e["method"]
    )


def test_cpu_only_run_on_a_virtual_machine_takes_its_share_of_the_server():
    e = embodied_step(3600.0, gpus=0, logical_cpus=2, virtual=True, env={})
    assert e["co2_kg"] == pytest.approx(900 / LIFE_H * 2 / 96)  # 2 of the server's 96 threads


def test_gpu_server_run_with_gpus_counted_through_a_fake_nvml(tmp_path, monkeypatch):
    (tmp_path / "pynvml.py").write_text(FAKE_PYNVML)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "pynvml", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    try:
        sensors = [NvmlSensor(env={}), NullSensor(("cpu", "ram"), "test")]
        tracker = Tracker("gpu", sensors=sensors, interval_s=None, intensity_g_per_kwh=100)
        tracker.start()
        gpus = tracker.hardware()["gpu_count"]
        tracker.stop()
    finally:
        sys.modules.pop("pynvml", None)
    assert gpus == 2
    e = embodied_step(3600.0, gpus=gpus, logical_cpus=64, virtual=False, env={})
    # per GPU: 244.9 kg + 1841 kg / 8 = 475.025 kg; 2 GPUs for 1 h of 35,040
    assert e["total_kg"] == pytest.approx(950.05)
    assert e["co2_kg"] == pytest.approx(950.05 / LIFE_H)
    assert e["co2_kg_low"] == pytest.approx(2 * (208.1 + 896 / 8) / LIFE_H)
    assert e["co2_kg_high"] == pytest.approx(2 * (575.1 + 4596 / 8) / LIFE_H)


def test_overrides_per_machine_and_their_bad_values():
    env = {"GREENAI_EMBODIED_KG": "1752", "GREENAI_EMBODIED_LIFE_YEARS": "2",
           "GREENAI_EMBODIED_SHARE": "0.5"}  # fmt: skip
    e = embodied_step(3600.0, gpus=1, logical_cpus=4, virtual=False, env=env)
    assert e["co2_kg"] == pytest.approx(1752 / (2 * 8760) * 0.5)  # 0.05 kg
    assert e["co2_kg_low"] == e["co2_kg_high"] == e["co2_kg"]  # the user's own figure, no band
    for name, bad in (("GREENAI_EMBODIED_SHARE", "1.5"), ("GREENAI_EMBODIED_LIFE_YEARS", "0"),
                      ("GREENAI_EMBODIED_KG", "lots")):  # fmt: skip
        with pytest.raises(UsageError, match=name):
            check_env({name: bad})


def test_lifecycle_adds_the_parents_embodied_beside_the_operational():
    own = {"co2_kg": 0.01, "co2_kg_low": 0.005, "co2_kg_high": 0.02}
    parent = {"embodied": {"lifecycle": {"co2_kg": 0.1, "co2_kg_low": 0.05, "co2_kg_high": 0.2}}}
    life = embodied_lifecycle(own, parent)
    assert (life["co2_kg"], life["co2_kg_low"], life["co2_kg_high"]) == pytest.approx(
        (0.11, 0.055, 0.22)
    )
    assert "note" in embodied_lifecycle(own, {"energy": {}})  # a parent from before embodied
