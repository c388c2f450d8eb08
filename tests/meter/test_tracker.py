import subprocess
import sys
import time

import pytest
from meter_fakes import FakeRapl

import greenai
from greenai.carbon import CarbonConfig
from greenai.errors import UsageError
from greenai.meter import Tracker, track

CARBON = CarbonConfig.resolve(intensity_g_per_kwh=360.0, pue=1.5, env={})  # 0.36 kg/kWh


def _co2(joules):
    return joules / 3.6e6 * 1.5 * 0.36


class Recorder:
    def __init__(self):
        self.events = []

    def on_start(self, run_id, name, start_time):
        self.events.append(("start", run_id, name))

    def on_sample(self, sample):
        self.events.append(("sample", sample))

    def on_phase(self, phase):
        self.events.append(("phase", phase))

    def on_stop(self, measurement):
        self.events.append(("stop", measurement))


@pytest.fixture
def rapl(tmp_path):
    return FakeRapl(tmp_path / "powercap")


def test_phases_nest_and_each_gets_its_own_energy(rapl):
    rec = Recorder()
    t = Tracker(
        "run", run_id="r1", carbon=CARBON, interval_s=None, sinks=[rec], sensors=rapl.sensors()
    )
    t.start()
    rapl.add(cpu_j=10)  # before any phase
    with t.phase("train"):
        rapl.add(cpu_j=100, ram_j=5)
        with t.phase("epoch"):
            rapl.add(cpu_j=40, ram_j=2)
        rapl.add(cpu_j=1)
    with t.phase("eval"):
        rapl.add(cpu_j=3)
    m = t.stop()
    epoch, train, ev = m.phases
    assert (epoch.path, train.path, ev.path) == ("train/epoch", "train", "eval")
    assert epoch.energy_j == pytest.approx({"cpu": 40, "gpu": 0, "ram": 2})
    assert train.energy_j == pytest.approx({"cpu": 141, "gpu": 0, "ram": 7})
    assert ev.energy_j == pytest.approx({"cpu": 3, "gpu": 0, "ram": 0})
    assert m.energy_j == pytest.approx({"cpu": 154, "gpu": 0, "ram": 7})
    assert m.co2_kg == pytest.approx(_co2(161))
    assert epoch.co2_kg == pytest.approx(_co2(42))
    assert m.energy_kwh == pytest.approx(161 / 3.6e6 * 1.5)
    assert m.methods["cpu"].source == "RAPL powercap" and m.methods["gpu"].kind == "none"
    kinds = [e[0] for e in rec.events]
    assert kinds == ["start", "phase", "phase", "phase", "stop"]
    assert rec.events[-1][1] is m


def test_live_snapshot_and_energy_during_the_run(rapl):
    t = Tracker("live", carbon=CARBON, interval_s=None, sensors=rapl.sensors()).start()
    rapl.add(cpu_j=7)
    assert t.energy.energy_j["cpu"] == pytest.approx(7)
    rapl.add(cpu_j=3)
    live = t.snapshot()
    assert live.energy_j["cpu"] == pytest.approx(10) and live.duration_s >= 0
    assert t.stop().energy_j["cpu"] == pytest.approx(10)
    assert t.stop() is t.snapshot()  # stopping twice is harmless, the record is final


def test_samples_carry_interval_power_and_cumulative_energy(rapl):
    now = [0.0]
    t = Tracker(
        "s", carbon=CARBON, interval_s=None, sensors=rapl.sensors(), monotonic=lambda: now[0]
    ).start()
    with t.phase("work"):
        now[0] = 2.0
        rapl.add(cpu_j=50)
        first = t.sample()
        now[0] = 3.0
        rapl.add(cpu_j=30, ram_j=1)
        second = t.sample()
    assert first.phase == "work" and first.elapsed_s == 2.0
    assert first.power_w["cpu"] == pytest.approx(25.0)
    assert second.power_w == pytest.approx({"cpu": 30.0, "gpu": 0.0, "ram": 1.0})
    assert second.energy_j == pytest.approx({"cpu": 80, "gpu": 0, "ram": 1})
    assert second.co2_kg == pytest.approx(_co2(81))
    assert t.stop().phases[0].duration_s == 3.0


def test_sampling_thread_delivers_samples_while_running(rapl):
    rec = Recorder()
    t = Tracker("thread", carbon=CARBON, interval_s=0.02, sinks=[rec], sensors=rapl.sensors())
    t.start()
    deadline = time.monotonic() + 10
    while sum(e[0] == "sample" for e in rec.events) < 3 and time.monotonic() < deadline:
        rapl.add(cpu_j=1)
        time.sleep(0.01)
    t.stop()
    samples = [e[1] for e in rec.events if e[0] == "sample"]
    assert len(samples) >= 3
    cpu = [s.energy_j["cpu"] for s in samples]
    assert cpu == sorted(cpu)  # cumulative


def test_stop_takes_an_edge_sample_so_the_series_ends_with_the_final_figures(rapl):
    rec = Recorder()
    t = Tracker("edge", carbon=CARBON, interval_s=3600.0, sinks=[rec], sensors=rapl.sensors())
    t.start()
    rapl.add(cpu_j=7, ram_j=2)  # far shorter than one interval: the thread never samples
    m = t.stop()
    (edge,) = [e[1] for e in rec.events if e[0] == "sample"]
    assert edge.energy_j == m.energy_j == pytest.approx({"cpu": 7, "gpu": 0, "ram": 2})
    assert edge.elapsed_s == m.duration_s > 0
    assert edge.power_w["cpu"] == pytest.approx(7 / m.duration_s)


def test_sampling_interval_flag_then_environment_then_one_second(monkeypatch):
    from greenai.meter.interval import sampling_interval

    monkeypatch.delenv("GREENAI_INTERVAL", raising=False)
    assert sampling_interval() == 1.0
    monkeypatch.setenv("GREENAI_INTERVAL", "0.25")
    assert sampling_interval() == 0.25
    assert sampling_interval("2") == 2.0
    monkeypatch.setenv("GREENAI_INTERVAL", "fast")
    with pytest.raises(UsageError, match="GREENAI_INTERVAL"):
        sampling_interval()
    monkeypatch.setenv("GREENAI_INTERVAL", "-1")
    with pytest.raises(UsageError, match="GREENAI_INTERVAL"):
        sampling_interval()


def test_track_as_context_manager_and_decorator(rapl):
    with track("ctx", carbon=CARBON, interval_s=None, sensors=rapl.sensors()) as t:
        rapl.add(cpu_j=2)
    assert t.stop().energy_j["cpu"] == pytest.approx(2)

    @track("deco", carbon=CARBON, interval_s=None, sensors=rapl.sensors())
    def work(x):
        rapl.add(cpu_j=x)
        return x * 2

    assert work(5) == 10
    assert work.last_measurement.name == "deco"
    assert work.last_measurement.energy_j["cpu"] == pytest.approx(5)
    # greenai.track is the store-recording wrapper of this meter's track (tests/lifecycle)
    from greenai.lifecycle.recorded import track as recorded_track

    assert greenai.track is recorded_track and greenai.Tracker is Tracker


def test_failing_sink_is_reported_once_and_dropped(rapl, capsys):
    class Broken(Recorder):
        def on_phase(self, phase):
            raise OSError("disk full")

    broken, good = Broken(), Recorder()
    t = Tracker("x", carbon=CARBON, interval_s=None, sinks=[broken, good], sensors=rapl.sensors())
    t.start()
    with t.phase("a"):
        pass
    with t.phase("b"):
        pass
    t.stop()
    err = capsys.readouterr().err
    assert err.count("sink Broken failed") == 1 and "disk full" in err
    assert [e[0] for e in good.events] == ["start", "phase", "phase", "stop"]
    assert [e[0] for e in broken.events] == ["start"]


@pytest.mark.parametrize("bad", [0, -1, "x", float("nan")])
def test_bad_interval_is_a_usage_error(bad):
    with pytest.raises(UsageError, match="interval"):
        Tracker("x", carbon=CARBON, interval_s=bad)


def test_misuse_is_refused(rapl):
    t = Tracker("x", carbon=CARBON, interval_s=None, sensors=rapl.sensors())
    with pytest.raises(RuntimeError), t.phase("early"):
        pass
    t.start()
    with pytest.raises(RuntimeError):
        t.start()
    with pytest.raises(UsageError), t.phase("a/b"):
        pass
    t.stop()


def test_default_sensors_here_fall_back_to_the_labelled_estimate(tmp_path, monkeypatch):
    monkeypatch.setenv("GREENAI_POWERCAP_ROOT", str(tmp_path / "no-powercap"))
    with track("est", country="NZL", interval_s=None) as t:
        sum(i * i for i in range(200_000))
    m = t.stop()
    assert m.methods["cpu"].kind == "estimated" and "CPU seconds" in m.methods["cpu"].detail
    assert m.methods["ram"].kind == "estimated" and "0.375 W/GB" in m.methods["ram"].detail
    assert m.energy_j["cpu"] > 0
    assert m.intensity.country_iso3 == "NZL"


def test_import_greenai_touches_no_hardware_and_loads_no_sensor():
    code = (
        "import sys, greenai, greenai.meter, greenai.carbon, greenai.cli.measure\n"
        "bad = [m for m in ('torch', 'pynvml', 'greenai.sensors', 'sqlalchemy') if m in sys.modules]\n"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_sensor_failing_mid_run_is_reported_once_and_frozen(rapl, capsys):
    t = Tracker("x", carbon=CARBON, interval_s=None, sensors=rapl.sensors()).start()
    rapl.add(cpu_j=4)
    t.sample()
    (rapl.pkg / "energy_uj").unlink()
    (rapl.pkg / "energy_uj").mkdir()  # the counter becomes unreadable
    t.sample()
    m = t.stop()
    assert m.energy_j["cpu"] == pytest.approx(4)
    assert capsys.readouterr().err.count("frozen at the last reading") == 1


def test_cuda_work_is_waited_for_at_window_edges_only(rapl, monkeypatch):
    import types

    calls = []
    cuda = types.SimpleNamespace(is_initialized=lambda: True, synchronize=lambda: calls.append(1))
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    t = Tracker("gpu", carbon=CARBON, interval_s=None, sensors=rapl.sensors()).start()
    with t.phase("train"):
        t.sample()
    t.stop()
    assert len(calls) == 4  # start, phase begin, phase end, stop; not the sample
