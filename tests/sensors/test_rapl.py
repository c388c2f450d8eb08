from pathlib import Path

import pytest
from sensor_fakes import rapl_zone, set_energy, two_socket_tree

from greenai.sensors import RamEstimate, RaplSensor, SensorUnavailable, default_sensors
from greenai.sensors.rapl import powercap_root


def test_sums_every_package_and_dram_zone_across_sockets(tmp_path):
    zones = two_socket_tree(tmp_path)
    sensor = RaplSensor(tmp_path)
    assert sensor.components == ("cpu", "ram")
    assert sensor.read_j() == {"cpu": 0.0, "ram": 0.0}
    set_energy(zones["pkg0"], 1_000_000 + 3_000_000)  # +3 J
    set_energy(zones["pkg1"], 1_000_000 + 1_500_000)  # +1.5 J
    set_energy(zones["dram1"], 2_000_000 + 250_000)  # +0.25 J
    set_energy(zones["psys"], 99_000_000)  # platform zone: not added
    set_energy(zones["mmio"], 99_000_000)  # duplicate view: not added
    assert sensor.read_j() == pytest.approx({"cpu": 4.5, "ram": 0.25})
    labels = sensor.methods()
    assert labels["cpu"].kind == "measured"
    assert "intel-rapl:0 (package-0)" in labels["cpu"].detail
    assert "intel-rapl:1 (package-1)" in labels["cpu"].detail
    assert "intel-rapl:1:1 (dram)" in labels["ram"].detail
    assert "psys" not in labels["cpu"].detail


def test_counter_wrap_around_uses_max_energy_range(tmp_path):
    zone = rapl_zone(tmp_path, "intel-rapl:0", "package-0", 900_000, max_uj=1_000_000)
    sensor = RaplSensor(tmp_path)
    set_energy(zone, 100_000)  # wrapped: 100_000 to the top, then 100_000 more
    assert sensor.read_j()["cpu"] == pytest.approx(0.2)
    set_energy(zone, 400_000)
    assert sensor.read_j()["cpu"] == pytest.approx(0.5)  # cumulative, never decreasing


def test_amd_package_without_dram_reports_cpu_only(tmp_path):
    rapl_zone(tmp_path, "intel-rapl:0", "package-0", 5)
    sensor = RaplSensor(tmp_path)
    assert sensor.components == ("cpu",)
    assert set(sensor.methods()) == {"cpu"}


def test_root_comes_from_argument_then_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GREENAI_POWERCAP_ROOT", str(tmp_path / "env"))
    assert powercap_root() == tmp_path / "env"
    assert powercap_root(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("GREENAI_POWERCAP_ROOT")
    assert powercap_root() == Path("/sys/class/powercap")


def test_env_root_is_used_by_default_sensors(tmp_path, monkeypatch):
    rapl_zone(tmp_path, "intel-rapl:0", "package-0", 5)
    monkeypatch.setenv("GREENAI_POWERCAP_ROOT", str(tmp_path))
    sensors = default_sensors(nvidia_driver=tmp_path / "no-driver")
    kinds = {c: m for s in sensors for c, m in s.methods().items()}
    assert kinds["cpu"].source == "RAPL powercap"
    assert kinds["ram"].kind == "estimated"  # no dram zone: RAM falls back to the estimate
    assert any(isinstance(s, RamEstimate) for s in sensors)


def test_missing_root_or_no_package_zone_is_unavailable(tmp_path):
    with pytest.raises(SensorUnavailable, match="no powercap folder"):
        RaplSensor(tmp_path / "absent")
    (tmp_path / "intel-rapl-mmio:0").mkdir()
    with pytest.raises(SensorUnavailable, match="no RAPL package zone"):
        RaplSensor(tmp_path)


def test_unreadable_energy_file_is_unavailable_without_a_permission_fix(tmp_path):
    zone = rapl_zone(tmp_path, "intel-rapl:0", "package-0", 5)
    (zone / "energy_uj").unlink()
    (zone / "energy_uj").mkdir()  # reading a folder fails like a broken sysfs file
    with pytest.raises(SensorUnavailable, match="cannot be read") as info:
        RaplSensor(tmp_path)
    assert info.value.fix == ""


def _deny_energy(path, *args, **kwargs):
    """What the kernel does for a non-root user since 2020 (CVE-2020-8694): energy_uj is 0400."""
    if Path(path).name == "energy_uj":
        raise PermissionError(13, "Permission denied", str(path))
    return open(path, *args, **kwargs)


def test_permission_denied_warns_once_with_the_fix_and_falls_back(tmp_path):
    rapl_zone(tmp_path, "intel-rapl:0", "package-0", 5)
    with pytest.raises(SensorUnavailable) as info:
        RaplSensor(tmp_path, opener=_deny_energy)
    assert "permission denied" in info.value.reason
    assert "chmod -R a+r /sys/class/powercap" in info.value.fix

    said: list[str] = []
    sensors = default_sensors(
        powercap_root=tmp_path, warn=said.append, opener=_deny_energy, nvidia_driver=None
    )
    assert len(said) == 1 and "chmod" in said[0] and "udev" in said[0]
    methods = {c: m for s in sensors for c, m in s.methods().items()}
    assert methods["cpu"].kind == "estimated"
    assert methods["ram"].kind == "estimated"
