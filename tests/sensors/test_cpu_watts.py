"""``--cpu-watts`` / ``$GREENAI_CPU_WATTS``: a CPU power the user knows, labelled user-given."""

from __future__ import annotations

import pytest
from sensor_fakes import TICKS, proc_stat

from greenai.errors import UsageError
from greenai.sensors import ProcessTree, default_sensors
from greenai.sensors.cpu_model import CpuInfo
from greenai.sensors.estimate import CPU_WATTS_ENV, user_cpu_power

INFO = CpuInfo("Some CPU 1234", logical_per_package=16, packages=1, virtual=False)


@pytest.mark.parametrize(("text", "watts"), [("6", 6.0), ("6W", 6.0), (" 2.5 ", 2.5)])
def test_watts_per_busy_cpu(text, watts):
    power = user_cpu_power(text, INFO)
    assert power.w_per_cpu == pytest.approx(watts) and power.user_given
    assert power.detail.startswith(f"user-given ({CPU_WATTS_ENV}=")


def test_package_tdp_is_shared_by_the_packages_logical_cpus():
    power = user_cpu_power("120tdp", INFO, origin="--cpu-watts")
    assert power.w_per_cpu == pytest.approx(120 / 16)
    assert "--cpu-watts=120tdp" in power.detail and "package TDP 120 W / 16" in power.detail


@pytest.mark.parametrize("text", ["", "abc", "0", "-3", "5000", "nan", "12tdpx", "tdp"])
def test_bad_values_are_one_line_usage_errors_naming_the_origin(text):
    with pytest.raises(UsageError) as info:
        user_cpu_power(text, INFO, origin="--cpu-watts")
    assert "--cpu-watts" in str(info.value) and "\n" not in str(info.value)


def test_default_sensors_use_the_users_figure_and_say_so(tmp_path):
    proc = tmp_path / "proc"
    proc_stat(proc, 100, 1, utime=0, stime=0)
    tree = ProcessTree(100, proc)
    sensors = default_sensors(
        powercap_root=tmp_path / "no-rapl", env={CPU_WATTS_ENV: "7"}, tree=tree,
        nvidia_driver=None, cpuinfo=tmp_path / "none",
    )  # fmt: skip
    (cpu,) = [s for s in sensors if "cpu" in s.components]
    proc_stat(proc, 100, 1, utime=2 * TICKS, stime=0)  # 2 CPU seconds
    assert cpu.read_j()["cpu"] == pytest.approx(14.0)
    label = cpu.methods()["cpu"].label()
    assert "user-given" in label and "7 W per busy CPU" in label


def test_a_malformed_variable_is_refused_by_default_sensors(tmp_path):
    with pytest.raises(UsageError, match=CPU_WATTS_ENV):
        default_sensors(
            powercap_root=tmp_path / "no-rapl", env={CPU_WATTS_ENV: "lots"}, nvidia_driver=None
        )


def test_bad_flag_exits_2_with_one_line_before_writing(tmp_path, capsys, monkeypatch):
    from greenai.cli.main import main

    monkeypatch.setenv(CPU_WATTS_ENV, "")
    out = tmp_path / "out"
    code = main(["prune", "--from", "x", "--cpu-watts", "hot", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--cpu-watts" in err, err
    assert not out.exists()


def test_a_study_with_user_given_watts_hashes_differently_and_without_as_before(monkeypatch):
    import argparse

    from greenai.cli import study

    monkeypatch.delenv(CPU_WATTS_ENV, raising=False)
    parser = argparse.ArgumentParser()
    study.register(parser.add_subparsers())
    plain = study.build_config(parser.parse_args(["study", "--recipe", "seed"]))
    given = study.build_config(parser.parse_args(["study", "--recipe", "seed", "--cpu-watts", "7"]))
    assert "cpu_watts" not in plain.carbon and given.carbon["cpu_watts"] == "7"
