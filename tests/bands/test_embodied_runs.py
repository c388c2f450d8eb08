"""Embodied carbon beside the operational CO2 of ``greenai.track`` and ``greenai measure`` runs,
and its overrides as flags on every command with the carbon options (flag > variable > default).

The only fake is the hardware: a powercap tree under tmp_path (``greenai.track``), or none at all
(``greenai measure``, estimated)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import greenai
from greenai.carbon import CarbonConfig
from greenai.carbon.embodied import HOURS_PER_YEAR, embodied_step
from greenai.cli.main import main
from greenai.results.resultfile import load_result, write_result
from greenai.storage import open_store

sys.path.insert(0, str(Path(__file__).parents[1] / "integrations"))
from energy_fakes import FakeRapl  # the shared fake powercap tree

ENV_NAMES = ("GREENAI_EMBODIED_KG", "GREENAI_EMBODIED_LIFE_YEARS", "GREENAI_EMBODIED_SHARE",
             "GREENAI_EMBODIED_FROM_FLAGS")  # fmt: skip
CARBON_COMMANDS = ("baseline", "prune", "quantize", "distill", "export", "study", "search",
                   "estimate", "measure")  # fmt: skip


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No override from the outside; whatever a command sets is undone after the test."""
    for name in (*ENV_NAMES, "GREENAI_STORE"):
        monkeypatch.delenv(name, raising=False)


def _m(kg: float, life_years: float, share: float, duration_s: float) -> float:
    """SCI's M = TE x TR / EL x RS, by hand."""
    return kg * duration_s / 3600.0 / (life_years * HOURS_PER_YEAR) * share


def test_a_tracked_run_records_its_embodied_carbon_beside_the_co2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rapl = FakeRapl(tmp_path / "powercap")
    carbon = CarbonConfig.resolve(intensity_g_per_kwh=360.0, env={})
    monkeypatch.setenv("GREENAI_EMBODIED_KG", "876")
    monkeypatch.setenv("GREENAI_EMBODIED_LIFE_YEARS", "1")
    monkeypatch.setenv("GREENAI_EMBODIED_SHARE", "0.5")
    with greenai.track("fit", carbon=carbon, interval_s=0.02, sensors=rapl.sensors()) as t:
        rapl.add(cpu_j=36.0)
    with open_store(str(tmp_path / "greenai.db"), create=False) as store:
        result = store.get_run(t.run_id).result
    step, emb = result["energy"]["step"], result["embodied"]
    assert emb["step"]["duration_s"] == step["duration_s"] > 0
    # 876 kg over 1 year of 8,760 h, half the machine: 0.05 kg per hour of the run
    assert emb["step"]["co2_kg"] == pytest.approx(0.05 * step["duration_s"] / 3600.0)
    assert emb["step"]["co2_kg_low"] == emb["step"]["co2_kg_high"] == emb["step"]["co2_kg"]
    assert emb["step"]["user_given"] == {
        "total_kg": "GREENAI_EMBODIED_KG", "life_years": "GREENAI_EMBODIED_LIFE_YEARS",
        "share": "GREENAI_EMBODIED_SHARE",
    }  # fmt: skip
    assert emb["lifecycle"]["co2_kg"] == emb["step"]["co2_kg"]  # no parent
    # beside, never in: the operational CO2 is the energy's alone (36 J x 360 g/kWh)
    assert step["co2_kg"] == pytest.approx(36.0 / 3.6e6 * 0.36)
    assert load_result(write_result(tmp_path / "out", "tracked", t.run_id, result))["embodied"]


def test_a_tracked_run_without_overrides_uses_the_table(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rapl = FakeRapl(tmp_path / "powercap")
    with greenai.track("fit", store=None, interval_s=0.02, sensors=rapl.sensors()) as t:
        rapl.add(cpu_j=1.0)
    from greenai.lifecycle.tracked_result import build_result

    result = build_result(t.measurement, group=None, model=None, dataset=None, device="cpu",
                          emissions_csv=None)  # fmt: skip
    emb = result["embodied"]["step"]
    assert emb["total_kg"] == 900.0 and emb["user_given"] == {}  # one server, BoaviztAPI
    assert emb["co2_kg"] == pytest.approx(_m(900.0, 4.0, emb["share"], emb["duration_s"]))


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    env.update({"GREENAI_POWERCAP_ROOT": str(tmp_path / "no-powercap"), "OMP_NUM_THREADS": "1"})
    for key in ("GREENAI_COUNTRY", "GREENAI_PUE", "GREENAI_INTENSITY", "GREENAI_STORE"):
        env.pop(key, None)
    return {**env, **extra}


def _greenai(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "greenai", *args], capture_output=True,
                          text=True, env=_env(tmp_path, **env), timeout=300)  # fmt: skip


def test_measure_records_embodied_and_its_flags_beat_the_environment(tmp_path):
    out = tmp_path / "out"
    proc = _greenai(tmp_path, "measure", "--out", str(out), "--embodied-kg", "1752",
                    "--lifetime-years", "2", "--", "sh", "-c", "sleep 0.3",
                    GREENAI_EMBODIED_KG="999", GREENAI_EMBODIED_SHARE="0.25")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "embodied (hardware manufacturing) CO2" in proc.stderr
    with open_store(None, default_dir=out, create=False) as store:
        (run,) = store.list_runs()
    emb = run.result["embodied"]["step"]
    assert run.result["variant"] == "measure" and emb["total_kg"] == 1752.0  # the flag, not 999
    assert emb["user_given"] == {"total_kg": "--embodied-kg", "life_years": "--lifetime-years",
                                 "share": "GREENAI_EMBODIED_SHARE"}  # fmt: skip
    assert "--embodied-kg" in emb["method"] and "--lifetime-years" in emb["method"]
    # 1752 kg over 2 years, a quarter of the machine: 0.025 kg per hour
    assert emb["co2_kg"] == pytest.approx(0.025 * emb["duration_s"] / 3600.0)
    assert emb["duration_s"] == pytest.approx(run.result["energy"]["step"]["duration_s"])
    assert run.co2_kg == pytest.approx(run.result["energy"]["step"]["co2_kg"])  # operational only


@pytest.mark.parametrize(
    ("flag", "bad", "rule"),
    [("--embodied-kg", "-1", "must be >= 0"), ("--embodied-kg", "lots", "must be a number"),
     ("--lifetime-years", "0", "must be > 0"), ("--embodied-share", "1.5", "must be >= 0 and <= 1")],
)  # fmt: skip
def test_a_bad_embodied_flag_is_one_line_exit_2_and_nothing_written(tmp_path, flag, bad, rule):
    out = tmp_path / "out"
    proc = _greenai(tmp_path, "measure", "--out", str(out), flag, bad, "--", "true")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"greenai: error: {flag} {rule}, got {bad!r}"]
    assert not out.exists()


@pytest.mark.parametrize("command", CARBON_COMMANDS)
def test_every_command_with_the_carbon_options_has_the_embodied_flags(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--embodied-kg", "--lifetime-years", "--embodied-share"):
        assert flag in text


@pytest.mark.parametrize("command", ["baseline", "study", "search", "estimate"])
def test_a_bad_flag_on_a_lifecycle_command_is_refused_before_anything_runs(
    command, tmp_path, capsys
):
    data = ["--dataset", "synthetic"] if command == "search" else []  # its data is checked first
    out = [] if command == "estimate" else ["--out", str(tmp_path / "out")]  # it writes nothing
    code = main([command, *data, *out, "--lifetime-years", "-2"])
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        "greenai: error: --lifetime-years must be > 0, got '-2'"
    )
    assert not (tmp_path / "out").exists()


def test_the_flags_reach_the_meters_through_the_variables_and_are_named(monkeypatch):
    from greenai.cli.common import apply_embodied

    monkeypatch.setenv("GREENAI_EMBODIED_KG", "10")  # a variable the flag beats
    monkeypatch.setenv("GREENAI_EMBODIED_LIFE_YEARS", "8")  # one it does not touch
    apply_embodied(type("Args", (), {"embodied_kg": "1200", "embodied_share": None})())
    assert os.environ["GREENAI_EMBODIED_KG"] == "1200"
    e = embodied_step(3600.0, gpus=0, logical_cpus=8, virtual=False)
    assert e["total_kg"] == 1200.0 and e["life_years"] == 8.0
    assert e["co2_kg"] == pytest.approx(_m(1200.0, 8.0, 1.0, 3600.0))
    assert e["user_given"] == {
        "total_kg": "--embodied-kg",
        "life_years": "GREENAI_EMBODIED_LIFE_YEARS",
    }


def test_a_lifecycle_command_records_its_flags_as_user_given(tmp_path):
    out = tmp_path / "out"
    small = ["--dataset", "synthetic", "--limit-train", "128", "--limit-test", "64",
             "--device", "cpu", "--epochs", "1", "--batch_size", "64", "--no-progress",
             "--inference-images", "64"]  # fmt: skip
    proc = _greenai(tmp_path, "baseline", "--recipe", "seed", *small, "--out", str(out),
                    "--run-id", "emb-1", "--embodied-kg", "1200", "--lifetime-years", "3",
                    GREENAI_EMBODIED_KG="5")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = load_result(out / "results" / "synthetic_baseline_emb-1.json")
    emb = result["embodied"]["step"]
    assert emb["total_kg"] == 1200.0 and emb["life_years"] == 3.0
    assert emb["user_given"] == {"total_kg": "--embodied-kg", "life_years": "--lifetime-years"}
    assert emb["co2_kg"] == pytest.approx(_m(1200.0, 3.0, 1.0, emb["duration_s"]))
