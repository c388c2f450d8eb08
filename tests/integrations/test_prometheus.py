"""The Prometheus scrape endpoint, scraped over loopback while a run goes on."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

pytest.importorskip("prometheus_client")

from energy_fakes import FakeRapl
from prometheus_client.parser import text_string_to_metric_families

from greenai.errors import UsageError
from greenai.integrations.prometheus import PrometheusSink, check_port
from greenai.integrations.training_energy import TrainingEnergy

FAMILIES = {"greenai_energy_joules", "greenai_power_watts", "greenai_co2_kg"}


def scrape(port: int) -> dict[str, list]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {f.name: f.samples for f in text_string_to_metric_families(text) if f.samples}


def scrape_until(port: int, ready, deadline_s: float = 20.0) -> dict[str, list]:
    end = time.monotonic() + deadline_s
    while True:
        try:
            families = scrape(port)
            if ready(families):
                return families
        except OSError:
            pass  # not serving yet
        if time.monotonic() > end:
            raise AssertionError(f"no ready scrape on port {port}")
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_callback_run_serves_the_three_families_while_it_goes_on(tmp_path):
    rapl = FakeRapl(tmp_path / "powercap")
    energy = TrainingEnergy(
        "scraped", prometheus_port=0, store=None, sensors=rapl.sensors(), interval_s=0.05
    )
    energy.start()
    port = energy._prometheus.port
    energy.begin_phase("epoch_1")
    rapl.add(5.0)
    families = scrape_until(
        port, lambda f: sum(s.value for s in f.get("greenai_energy_joules", [])) >= 5.0
    )
    assert set(families) >= FAMILIES
    cpu = [s for s in families["greenai_energy_joules"] if s.labels["component"] == "cpu"]
    assert sum(s.value for s in cpu) == pytest.approx(5.0)
    assert cpu[-1].name == "greenai_energy_joules_total"
    assert cpu[-1].labels == {
        "run": energy.run_id, "phase": "epoch_1", "component": "cpu", "method": "measured",
    }  # fmt: skip
    gpu = [s for s in families["greenai_power_watts"] if s.labels["component"] == "gpu"]
    assert gpu and gpu[0].labels["method"] == "estimated"  # no GPU: nothing measured it
    assert families["greenai_co2_kg"][0].labels.keys() == {"run", "phase", "method"}
    energy.stop()
    with pytest.raises(OSError):
        scrape(port)  # the endpoint goes with the run


def test_measure_serves_while_the_command_runs(tmp_path):
    port = free_port()
    env = {**os.environ, "GREENAI_STORE": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "greenai.cli.main", "measure", "--prometheus-port", str(port),
         "--interval", "0.1", "--out", str(tmp_path), "--no-store", "--",
         sys.executable, "-c", "import time; time.sleep(4)"],
        env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        families = scrape_until(port, lambda f: set(f) >= FAMILIES)
    finally:
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    runs = {s.labels["run"] for s in families["greenai_energy_joules"]}
    assert len(runs) == 1 and runs != {""}
    assert {s.labels["component"] for s in families["greenai_power_watts"]} >= {"cpu", "ram"}


@pytest.mark.parametrize("bad", ["http", "-1", "70000", "1.5"])
def test_a_bad_port_is_one_line(bad):
    with pytest.raises(UsageError, match="--prometheus-port"):
        check_port(bad)


def test_a_port_in_use_is_one_line():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        with pytest.raises(UsageError, match="cannot serve Prometheus metrics"):
            PrometheusSink(sock.getsockname()[1])
