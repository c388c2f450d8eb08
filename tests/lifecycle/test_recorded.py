"""``greenai.track`` records each use as a run in the run store (``greenai.lifecycle.recorded``).

The only fake is the hardware: a powercap tree under tmp_path whose counters the test moves."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import greenai
from greenai.carbon import CarbonConfig
from greenai.cli.main import main
from greenai.errors import UsageError
from greenai.results.resultfile import REQUIRED_KEYS, load_result, write_result
from greenai.storage import open_store

sys.path.insert(0, str(Path(__file__).parents[1] / "integrations"))
from energy_fakes import FakeRapl  # the shared fake powercap tree

CARBON = CarbonConfig.resolve(intensity_g_per_kwh=360.0, pue=1.5, env={})


def meter_kwargs(rapl: FakeRapl) -> dict:
    """The meter's arguments for a fast run on the fake tree's sensors."""
    return {"carbon": CARBON, "interval_s": 0.02, "sensors": rapl.sensors()}


@pytest.fixture
def rapl(tmp_path: Path) -> FakeRapl:
    return FakeRapl(tmp_path / "powercap")


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current folder and no $GREENAI_STORE: the default store is ./greenai.db here."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.delenv("GREENAI_STORE", raising=False)
    return folder


def _runs(path: Path) -> list:
    with open_store(str(path), create=False) as store:
        return store.list_runs()


def test_default_store_in_cwd_records_one_done_run_with_its_samples(cwd, rapl, tmp_path):
    track = greenai.track("fit", model="m1", dataset="d1", group="g1", **meter_kwargs(rapl))
    with track as t, t.phase("work"):
        rapl.add(cpu_j=36.0)
    m = t.measurement
    assert m is not None and m.run_id == t.run_id
    assert m.energy_kwh == pytest.approx(36.0 / 3.6e6 * 1.5)
    assert t.store_url.endswith(str(cwd / "greenai.db"))

    (run,) = _runs(cwd / "greenai.db")
    assert (run.run_id, run.name, run.status, run.variant) == (m.run_id, "fit", "done", "tracked")
    assert (run.model, run.dataset, run.group, run.device) == ("m1", "d1", "g1", "cpu")
    assert run.energy_kwh == pytest.approx(m.energy_kwh)
    with open_store(str(cwd / "greenai.db"), create=False) as store:
        assert store.samples(run.run_id)
        assert [p.path for p in store.phases(run.run_id)] == ["work"]
    result = run.result
    assert set(REQUIRED_KEYS) <= set(result)
    assert result["energy"]["step"]["energy_kwh"] == pytest.approx(m.energy_kwh)
    assert result["energy"]["lifecycle"]["energy_kwh"] == pytest.approx(m.energy_kwh)
    assert result["energy"]["step"]["phases"][0]["path"] == "work"
    assert result["carbon"]["pue"] == 1.5 and result["metrics"] == {}
    assert result["parent_run_id"] is None and result["software"]["greenai"]
    # schema-valid: the result-file loader accepts it as written
    loaded = load_result(write_result(tmp_path / "out", "tracked", run.run_id, result))
    assert loaded["run_id"] == m.run_id


def test_store_comes_from_the_argument_then_greenai_store(cwd, rapl, tmp_path, monkeypatch):
    env_db = tmp_path / "env" / "runs.db"
    env_db.parent.mkdir()  # a store folder must exist (it is not created outside --out)
    monkeypatch.setenv("GREENAI_STORE", str(env_db))
    with greenai.track("from-env", **meter_kwargs(rapl)) as t:
        rapl.add(cpu_j=1.0)
    explicit = tmp_path / "explicit.db"
    with greenai.track("from-arg", store=explicit, **meter_kwargs(rapl)):
        rapl.add(cpu_j=1.0)
    assert [r.run_id for r in _runs(env_db)] == [t.run_id]
    assert [r.name for r in _runs(explicit)] == ["from-arg"]
    assert not (cwd / "greenai.db").exists()


def test_store_none_is_the_pure_meter_and_writes_nothing(cwd, rapl):
    with greenai.track("quiet", store=None, **meter_kwargs(rapl)) as t:
        rapl.add(cpu_j=3.6)
    assert t.measurement.energy_j["cpu"] == pytest.approx(3.6)
    assert t.store_url is None
    assert list(cwd.iterdir()) == []


def test_an_exception_marks_the_run_failed_and_propagates(cwd, rapl):
    with pytest.raises(ValueError, match="boom"), greenai.track("bad", **meter_kwargs(rapl)) as t:
        rapl.add(cpu_j=2.0)
        raise ValueError("boom\nsecond line")
    (run,) = _runs(cwd / "greenai.db")
    assert (run.status, run.error, run.result) == ("failed", "ValueError: boom", None)
    assert run.energy_kwh == pytest.approx(2.0 / 3.6e6 * 1.5)  # the meter's totals are kept
    assert t.measurement.run_id == run.run_id


def test_keyboard_interrupt_marks_the_run_interrupted(cwd, rapl):
    with pytest.raises(KeyboardInterrupt), greenai.track("stop", **meter_kwargs(rapl)):
        raise KeyboardInterrupt
    (run,) = _runs(cwd / "greenai.db")
    assert (run.status, run.error) == ("interrupted", "KeyboardInterrupt")


def test_decorator_records_one_run_per_call(cwd, rapl):
    @greenai.track("score", group="bench", **meter_kwargs(rapl))
    def score(joules: float) -> float:
        rapl.add(cpu_j=joules)
        if joules < 0:
            raise RuntimeError("negative")
        return joules * 2

    assert score(1.0) == 2.0
    first = score.last_measurement
    assert score(2.0) == 4.0
    second = score.last_measurement
    with pytest.raises(RuntimeError):
        score(-1.0)
    assert first.run_id != second.run_id
    assert second.energy_j["cpu"] == pytest.approx(2.0)
    runs = {r.run_id: r for r in _runs(cwd / "greenai.db")}
    assert len(runs) == 3 and {r.name for r in runs.values()} == {"score"}
    assert runs[first.run_id].status == runs[second.run_id].status == "done"
    assert runs[score.last_measurement.run_id].status == "failed"
    assert {r.group for r in runs.values()} == {"bench"}


@pytest.mark.parametrize("store", ["http://[::1", "nosuch://x"])
def test_an_unopenable_store_is_one_line_before_anything_runs(cwd, rapl, store):
    ran = []
    with pytest.raises(UsageError) as info, greenai.track("x", store=store, **meter_kwargs(rapl)):
        ran.append(1)

    @greenai.track("y", store=store, **meter_kwargs(rapl))
    def work() -> None:
        ran.append(2)

    with pytest.raises(UsageError):
        work()
    assert ran == [] and "\n" not in str(info.value)
    assert list(cwd.iterdir()) == []


def test_bad_meter_arguments_fail_before_the_store_is_created(cwd):
    with pytest.raises(UsageError, match="interval"), greenai.track("x", interval_s=-1):
        pass
    assert list(cwd.iterdir()) == []


def test_runs_report_and_dashboard_list_a_tracked_run(cwd, rapl, capsys):
    with greenai.track("lib", **meter_kwargs(rapl)) as t, t.phase("work"):
        rapl.add(cpu_j=7.2)
    url = f"sqlite:///{cwd / 'greenai.db'}"
    capsys.readouterr()

    assert main(["runs", "--store", url]) == 0
    listing = capsys.readouterr().out
    assert t.run_id in listing and "tracked" in listing
    assert main(["runs", "show", t.run_id, "--store", url]) == 0
    assert "work" in capsys.readouterr().out

    out = cwd / "rep"
    assert main(["report", "--store", url, "--out", str(out)]) == 0
    assert "| tracked | CPU | n/a |" in (out / "study_report.md").read_text(encoding="utf-8")
    assert (out / "report.html").is_file()

    pytest.importorskip("flask")
    from greenai.dashboard import create_app

    with open_store(url, create=False) as store:
        client = create_app(store).test_client()
        assert t.run_id in client.get("/").get_data(as_text=True)
        assert client.get(f"/runs/{t.run_id}").status_code == 200
        assert client.get(f"/api/runs/{t.run_id}").get_json()["run_id"] == t.run_id
        assert client.get(f"/api/runs/{t.run_id}/live").status_code == 200
