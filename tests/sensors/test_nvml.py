import sys
import textwrap

import pytest

from greenai.sensors import NvmlSensor, SensorUnavailable, default_sensors
from greenai.sensors.nvml import visible_gpu_indices

FAKE_PYNVML = textwrap.dedent(
    '''
    """A stand-in for nvidia-ml-py's pynvml: devices are set by the test through DEVICES."""
    NVML_ERROR_NOT_SUPPORTED = 3

    class NVMLError(Exception):
        def __init__(self, value):
            self.value = value
            super().__init__({3: "Not Supported", 9: "Driver Not Loaded"}.get(value, str(value)))

    DEVICES = []  # dicts: name, uuid, energy_mj (None: no counter), power_mw
    FAIL_INIT = False
    calls = {"init": 0, "shutdown": 0}

    def nvmlInit():
        if FAIL_INIT:
            raise NVMLError(9)
        calls["init"] += 1

    def nvmlShutdown():
        calls["shutdown"] += 1

    def nvmlDeviceGetCount():
        return len(DEVICES)

    def nvmlDeviceGetHandleByIndex(i):
        return DEVICES[i]

    def nvmlDeviceGetName(h):
        return h["name"].encode()

    def nvmlDeviceGetUUID(h):
        return h["uuid"]

    def nvmlDeviceGetTotalEnergyConsumption(h):
        if h["energy_mj"] is None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return h["energy_mj"]

    def nvmlDeviceGetPowerUsage(h):
        return h["power_mw"]
    '''
)


@pytest.fixture
def nvml(tmp_path, monkeypatch):
    (tmp_path / "pynvml.py").write_text(FAKE_PYNVML)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "pynvml", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    import pynvml

    assert pynvml.__file__ == str(tmp_path / "pynvml.py")
    yield pynvml
    sys.modules.pop("pynvml", None)


def _gpu(i, energy_mj=None, power_mw=0):
    return {
        "name": f"Fake A{i}",
        "uuid": f"GPU-{i}{i}{i}-abcd",
        "energy_mj": energy_mj,
        "power_mw": power_mw,
    }


def test_total_energy_counter_in_millijoules(nvml):
    nvml.DEVICES[:] = [_gpu(0, energy_mj=10_000), _gpu(1, energy_mj=50_000)]
    sensor = NvmlSensor(env={})
    assert sensor.read_j() == {"gpu": 0.0}
    nvml.DEVICES[0]["energy_mj"] += 2_500  # 2.5 J
    nvml.DEVICES[1]["energy_mj"] += 500  # 0.5 J
    assert sensor.read_j()["gpu"] == pytest.approx(3.0)
    method = sensor.methods()["gpu"]
    assert method.kind == "measured" and method.source == "NVML"
    assert "GPU 0 Fake A0: total-energy counter" in method.detail
    sensor.close()
    sensor.close()
    assert nvml.calls["shutdown"] == 1


def test_power_integrated_with_trapezoid_where_no_counter(nvml):
    nvml.DEVICES[:] = [_gpu(0, energy_mj=None, power_mw=100_000)]
    now = [0.0]
    sensor = NvmlSensor(env={}, clock=lambda: now[0])
    now[0] = 2.0
    assert sensor.read_j()["gpu"] == pytest.approx(200.0)  # 100 W for 2 s
    nvml.DEVICES[0]["power_mw"] = 200_000
    now[0] = 3.0
    assert sensor.read_j()["gpu"] == pytest.approx(350.0)  # + (100+200)/2 W for 1 s
    assert "power readings integrated" in sensor.methods()["gpu"].detail


def test_only_gpus_in_cuda_visible_devices_are_read(nvml):
    nvml.DEVICES[:] = [_gpu(0, energy_mj=0), _gpu(1, energy_mj=0), _gpu(2, energy_mj=0)]
    sensor = NvmlSensor(env={"CUDA_VISIBLE_DEVICES": "2,GPU-111"})
    for d in nvml.DEVICES:
        d["energy_mj"] = 1_000
    nvml.DEVICES[0]["energy_mj"] = 1_000_000  # not visible: must not count
    assert sensor.read_j()["gpu"] == pytest.approx(2.0)
    assert sensor.gpu_names() == ["Fake A2", "Fake A1"]


def test_no_visible_gpu_or_failed_init_is_unavailable(nvml):
    nvml.DEVICES[:] = [_gpu(0, energy_mj=0)]
    with pytest.raises(SensorUnavailable, match="no NVIDIA GPU visible"):
        NvmlSensor(env={"CUDA_VISIBLE_DEVICES": ""})
    nvml.FAIL_INIT = True
    with pytest.raises(SensorUnavailable, match="nvmlInit failed: Driver Not Loaded"):
        NvmlSensor(env={})


def test_default_sensors_use_nvml_when_present_and_a_null_gpu_otherwise(nvml, tmp_path):
    nvml.DEVICES[:] = [_gpu(0, energy_mj=0)]
    sensors = default_sensors(powercap_root=tmp_path / "none", nvidia_driver=None, env={})
    methods = {c: m for s in sensors for c, m in s.methods().items()}
    assert methods["gpu"].source == "NVML"
    for s in sensors:
        s.close()
    sensors = default_sensors(powercap_root=tmp_path / "none", nvidia_driver=tmp_path / "absent")
    gpu = next(s for s in sensors if "gpu" in s.components)
    assert gpu.read_j() == {"gpu": 0.0}
    assert gpu.methods()["gpu"].kind == "none"
    assert "no NVIDIA driver" in gpu.methods()["gpu"].detail


def test_visible_indices_follow_cuda_rules():
    uuids = ["GPU-aaa", "GPU-abb", "GPU-ccc"]
    assert visible_gpu_indices(3, uuids, {}) == [0, 1, 2]
    assert visible_gpu_indices(3, uuids, {"CUDA_VISIBLE_DEVICES": "1,0"}) == [1, 0]
    assert visible_gpu_indices(3, uuids, {"CUDA_VISIBLE_DEVICES": "GPU-c"}) == [2]
    # CUDA stops at the first entry naming no device (an ambiguous prefix or a bad index)
    assert visible_gpu_indices(3, uuids, {"CUDA_VISIBLE_DEVICES": "2,GPU-a,0"}) == [2]
    assert visible_gpu_indices(3, uuids, {"CUDA_VISIBLE_DEVICES": "0,7,1"}) == [0]
    assert visible_gpu_indices(3, uuids, {"CUDA_VISIBLE_DEVICES": "-1"}) == []
