import sys
import textwrap

import pytest

from greenai.sensors import NvmlSensor, SensorUnavailable, default_sensors
from greenai.sensors.nvml import VisibleGpu, visible_gpus

FAKE_PYNVML = textwrap.dedent(
    '''
    """A stand-in for nvidia-ml-py's pynvml: devices are set by the test through DEVICES."""
    NVML_ERROR_NOT_SUPPORTED = 3
    NVML_ERROR_NOT_FOUND = 6

    class NVMLError(Exception):
        def __init__(self, value):
            self.value = value
            super().__init__(
                {3: "Not Supported", 6: "Not Found", 9: "Driver Not Loaded"}.get(value, str(value))
            )

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

    def _physical(h):
        if h.get("mig"):  # as NVML: energy and power exist per physical GPU, not per MIG device
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return h

    def nvmlDeviceGetTotalEnergyConsumption(h):
        if _physical(h)["energy_mj"] is None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return h["energy_mj"]

    def nvmlDeviceGetPowerUsage(h):
        return _physical(h)["power_mw"]

    # MIG: a device's "migs" lists its MIG devices' UUIDs (absent: not in MIG mode / not capable)
    MAX_MIG_SLOTS = 7

    def nvmlDeviceGetMaxMigDeviceCount(h):
        if "migs" not in _physical(h):
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return MAX_MIG_SLOTS

    def nvmlDeviceGetMigDeviceHandleByIndex(h, index):
        migs = _physical(h).get("migs")
        if migs is None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        if not 0 <= index < MAX_MIG_SLOTS or index >= len(migs) or migs[index] is None:
            raise NVMLError(NVML_ERROR_NOT_FOUND)  # an empty slot
        return {"uuid": migs[index], "mig": True, "name": h["name"] + " MIG"}
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


def visible_gpu_indices(count, uuids, env, mig_uuids=None):
    """The physical GPUs' NVML indices (a GPU named through MIG instances: its parent)."""
    return [g.index for g in visible_gpus(count, uuids, env, mig_uuids)]


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


MIG_A = "MIG-5d1e0c2a-aaaa-5b1e-9f3c-000000000001"
MIG_B = "MIG-5d1e0c2a-bbbb-5b1e-9f3c-000000000002"
MIG_C = "MIG-7e2f1d3b-cccc-5c2f-8e4d-000000000003"


def test_visible_gpus_resolve_mig_uuids_to_their_physical_gpu():
    uuids = ["GPU-aaa", "GPU-bbb"]
    migs = {0: [], 1: [MIG_A, MIG_B, MIG_C]}  # GPU 1: three instances
    assert visible_gpus(2, uuids, {"CUDA_VISIBLE_DEVICES": MIG_B}, migs) == [
        VisibleGpu(1, (MIG_B,))
    ]
    # prefixes as for GPU UUIDs; two instances of one GPU: that GPU once, both named
    env = {"CUDA_VISIBLE_DEVICES": "MIG-5d1e0c2a-bbbb,MIG-7e2f"}
    assert visible_gpus(2, uuids, env, migs) == [VisibleGpu(1, (MIG_B, MIG_C))]
    # the whole GPU named as well: the whole GPU
    env = {"CUDA_VISIBLE_DEVICES": f"{MIG_A},GPU-bbb,0"}
    assert visible_gpus(2, uuids, env, migs) == [VisibleGpu(1), VisibleGpu(0)]
    # CUDA 11.0's MIG-GPU-<uuid>/<gi>/<ci> form names its parent directly
    env = {"CUDA_VISIBLE_DEVICES": "MIG-GPU-bbb/1/0"}
    assert visible_gpus(2, uuids, env, {}) == [VisibleGpu(1, ("MIG-GPU-bbb/1/0",))]
    # an ambiguous or unknown MIG entry names no device: CUDA (and this) stop there
    assert visible_gpu_indices(2, uuids, {"CUDA_VISIBLE_DEVICES": f"0,MIG-5d1e,{MIG_C}"}, migs) == [
        0
    ]
    assert visible_gpu_indices(2, uuids, {"CUDA_VISIBLE_DEVICES": MIG_A}, {}) == []
    assert visible_gpu_indices(2, uuids, {"CUDA_VISIBLE_DEVICES": "MIG-GPU-zzz/1/0"}, migs) == []


def test_a_mig_instance_in_cuda_visible_devices_reads_its_physical_gpu(nvml):
    """The MIG UUID is found through NVML's MIG API; the energy is the parent GPU's, said so."""
    nvml.DEVICES[:] = [
        _gpu(0, energy_mj=0),
        {**_gpu(1, energy_mj=0), "migs": [MIG_A, MIG_B]},
        {**_gpu(2, energy_mj=0), "migs": []},  # MIG mode, no instances
    ]
    sensor = NvmlSensor(env={"CUDA_VISIBLE_DEVICES": MIG_B})
    nvml.DEVICES[0]["energy_mj"] = 9_000_000  # not visible: must not count
    nvml.DEVICES[1]["energy_mj"] = 4_000  # the parent of MIG_B: 4 J
    assert sensor.read_j()["gpu"] == pytest.approx(4.0)
    assert sensor.gpu_names() == ["Fake A1"]
    method = sensor.methods()["gpu"]
    assert method.kind == "measured" and method.source == "NVML"
    assert "GPU 1 Fake A1: total-energy counter of the WHOLE physical GPU" in method.detail
    assert MIG_B in method.detail and "other instances' work is included" in method.detail
    sensor.close()


def test_a_whole_gpu_is_labelled_without_the_mig_caveat(nvml):
    nvml.DEVICES[:] = [{**_gpu(0, energy_mj=0), "migs": [MIG_A]}]
    sensor = NvmlSensor(env={"CUDA_VISIBLE_DEVICES": "0"})
    assert "MIG" not in sensor.methods()["gpu"].detail
    sensor.close()


def test_an_nvml_without_the_mig_api_sees_no_mig_device(nvml, monkeypatch):
    nvml.DEVICES[:] = [{**_gpu(0, energy_mj=0), "migs": [MIG_A]}]
    monkeypatch.delattr(nvml, "nvmlDeviceGetMaxMigDeviceCount")
    with pytest.raises(SensorUnavailable, match="no NVIDIA GPU visible"):
        NvmlSensor(env={"CUDA_VISIBLE_DEVICES": MIG_A})
    assert nvml.calls["shutdown"] == nvml.calls["init"]
