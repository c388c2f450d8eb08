"""The run store's contract, one suite run against every backend (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import os
import re
import threading
import time

import pytest

from greenai.errors import UsageError
from greenai.meter.types import CarbonIntensity, Measurement, Method, PhaseResult, Sample
from greenai.storage import RunStore, StoreSink, new_run_id


def _sample(run_id: str, k: int, phase: str | None = "train") -> Sample:
    return Sample(
        run_id,
        100.0 + k,
        float(k),
        phase,
        {"cpu": 5.0 + k, "ram": 1.0},
        {"cpu": 5.0 * (k + 1), "ram": 1.0 * (k + 1)},
        2e-6 * (k + 1),
    )


def _result(accuracy_pct: float, energy_kwh: float, co2_kg: float) -> dict:
    return {
        "schema_version": 1,
        "metrics": {"test_accuracy_pct": accuracy_pct},
        "energy": {"step": {"energy_kwh": energy_kwh, "co2_kg": co2_kg}},
    }


def test_create_run_records_a_running_run_owned_by_this_process(store: RunStore) -> None:
    before = time.time()
    run = store.create_run(
        "r1",
        name="baseline run",
        variant="baseline",
        model="seed_cnn",
        dataset="cifar10",
        device="cpu",
        config={"lr": 0.001, "epochs": 20},
        group="study-a",
    )
    assert (run.run_id, run.name, run.variant, run.model, run.dataset, run.device, run.group) == (
        "r1",
        "baseline run",
        "baseline",
        "seed_cnn",
        "cifar10",
        "cpu",
        "study-a",
    )
    assert run.status == "running"
    assert run.pid == os.getpid() and run.host == store.host
    assert before <= run.started_at <= run.heartbeat_at <= time.time()
    assert run.config == {"lr": 0.001, "epochs": 20}
    assert run.finished_at is None and run.result is None and run.parent_run_id is None
    assert store.get_run("r1") == run


def test_duplicate_run_id_is_refused_and_changes_nothing(store: RunStore) -> None:
    first = store.create_run("dup", variant="baseline", config={"a": 1})
    with pytest.raises(UsageError, match=r"dup.*already exists"):
        store.create_run("dup", variant="distilled", config={"a": 2})
    assert store.get_run("dup") == first


def test_unknown_run_id_names_the_id_and_the_store(store: RunStore) -> None:
    with pytest.raises(UsageError) as info:
        store.get_run("no-such-run")
    message = str(info.value)
    assert "no-such-run" in message and store.url in message and "\n" not in message
    for read in (store.samples, store.phases, store.epochs, store.lineage):
        with pytest.raises(UsageError, match="no-such-run"):
            read("no-such-run")


def test_bad_input_is_refused_before_anything_is_written(store: RunStore) -> None:
    with pytest.raises(UsageError, match="config"):
        store.create_run("bad", config={"model": object()})
    with pytest.raises(UsageError, match="run id"):
        store.create_run("", config={})
    with pytest.raises(UsageError, match="own parent"):
        store.create_run("loop", parent_run_id="loop")
    assert store.list_runs() == []
    store.create_run("ok")
    with pytest.raises(UsageError, match="epoch"):
        store.add_epoch("ok", -1, {"loss": 1.0})
    with pytest.raises(UsageError, match="no run 'ghost'"):
        store.add_epoch("ghost", 0, {"loss": 1.0})
    with pytest.raises(UsageError, match="no run 'ghost'"):
        store.add_sample(_sample("ghost", 0))
    with pytest.raises(UsageError, match="final status"):
        store.finish_run("ok", status="running")
    assert store.get_run("ok").status == "running"
    assert store.epochs("ok") == [] and store.samples("ok") == []


def test_list_runs_filters_by_group_variant_and_status(store: RunStore) -> None:
    store.create_run("a", variant="baseline", group="s1", started_at=1.0)
    store.create_run("b", variant="distilled", group="s1", started_at=2.0)
    store.create_run("c", variant="baseline", group="s2", started_at=3.0)
    store.finish_run("b", "failed", error="out of memory")
    ids = lambda runs: [r.run_id for r in runs]  # noqa: E731
    assert ids(store.list_runs()) == ["a", "b", "c"]
    assert ids(store.list_runs(group="s1")) == ["a", "b"]
    assert ids(store.list_runs(variant="baseline")) == ["a", "c"]
    assert ids(store.list_runs(group="s1", variant="baseline")) == ["a"]
    assert ids(store.list_runs(status="failed")) == ["b"]
    assert ids(store.list_runs(group="nope")) == []
    assert store.get_run("b").error == "out of memory"
    with pytest.raises(UsageError, match="unknown status"):
        store.list_runs(status="exploded")


def test_epochs_are_kept_in_order_and_a_repeated_epoch_replaces_the_old(store: RunStore) -> None:
    store.create_run("e")
    store.add_epoch("e", 1, {"train_loss": 0.9, "test_acc": 60.0})
    store.add_epoch("e", 0, {"train_loss": 1.5, "test_acc": 40.0})
    store.add_epoch("e", 1, {"train_loss": 0.8, "test_acc": 62.5})  # e.g. redone after a resume
    epochs = store.epochs("e")
    assert [(e.epoch, e.metrics) for e in epochs] == [
        (0, {"train_loss": 1.5, "test_acc": 40.0}),
        (1, {"train_loss": 0.8, "test_acc": 62.5}),
    ]


def test_non_finite_numbers_are_stored_as_null(store: RunStore) -> None:
    store.create_run("nan")
    store.add_epoch("nan", 0, {"train_loss": float("nan"), "grad": float("inf"), "ok": 1.5})
    assert store.epochs("nan")[0].metrics == {"train_loss": None, "grad": None, "ok": 1.5}


def test_store_sink_commits_samples_and_phases_as_they_come(store: RunStore) -> None:
    store.create_run("m")
    sink = StoreSink(store)
    sink.on_start("m", "m", 100.0)
    written = []
    for k in range(3):
        sample = _sample("m", k, phase="train/epoch" if k else None)
        sink.on_sample(sample)
        written.append(sample)
        assert store.samples("m") == written  # visible at once, before the run ends
    phase = PhaseResult(
        "m", "epoch", "train/epoch", 100.0, 2.5, {"cpu": 7.2e6, "ram": 3.6e5}, 0.001
    )
    sink.on_phase(phase)
    assert store.phases("m") == [phase]
    assert store.get_run("m").heartbeat_at >= store.get_run("m").started_at


def test_samples_bump_the_heartbeat(store: RunStore) -> None:
    created = store.create_run("hb", started_at=time.time() - 100)
    assert created.heartbeat_at > created.started_at + 50  # created now, whatever started_at says
    time.sleep(0.01)
    StoreSink(store).on_sample(_sample("hb", 0))
    assert store.get_run("hb").heartbeat_at > created.heartbeat_at


def test_store_sink_refuses_a_run_that_was_never_created(store: RunStore) -> None:
    with pytest.raises(UsageError, match="never-made"):
        StoreSink(store).on_start("never-made", "x", 0.0)


def test_on_stop_stores_the_meter_totals(store: RunStore) -> None:
    store.create_run("t")
    intensity = CarbonIntensity(100.0, "test grid")
    measurement = Measurement(
        run_id="t",
        name="t",
        start_time=100.0,
        duration_s=60.0,
        energy_j={"cpu": 3.6e6, "gpu": 0.0, "ram": 1.8e6},
        methods={
            "cpu": Method("estimated", "cpu-time x TDP"),
            "gpu": Method("measured", "NVML"),
            "ram": Method("estimated", "0.375 W/GB"),
        },
        intensity=intensity,
        pue=2.0,
        co2_kg=0.3,
    )
    StoreSink(store).on_stop(measurement)
    run = store.get_run("t")
    assert run.energy_kwh == pytest.approx(3.0)  # (1 + 0.5) kWh x PUE 2
    assert run.co2_kg == pytest.approx(0.3)
    assert run.duration_s == pytest.approx(60.0)
    assert run.measurement["methods"]["gpu"] == "measured: NVML"
    assert run.measurement["pue"] == 2.0
    assert run.status == "running"  # the caller, not the meter, ends the run


def test_finish_run_takes_the_summary_from_the_result(store: RunStore) -> None:
    store.create_run("f")
    result = _result(78.1, 0.01, 0.0047)
    run = store.finish_run("f", "done", result=result)
    assert run.status == "done" and run.finished_at is not None
    assert (run.accuracy, run.energy_kwh, run.co2_kg) == (78.1, 0.01, 0.0047)
    assert run.result == result


def test_finish_run_explicit_figures_win_and_meter_totals_are_kept(store: RunStore) -> None:
    store.create_run("g")
    store.record_measurement("g", {"x": 1}, energy_kwh=0.5, co2_kg=0.2, duration_s=3.0)
    run = store.finish_run(
        "g", "done", result={"metrics": {"test_accuracy_pct": 50.0}}, accuracy=51.0
    )
    assert (run.accuracy, run.energy_kwh, run.co2_kg) == (51.0, 0.5, 0.2)


def test_lineage_walks_the_ancestors_nearest_first(store: RunStore) -> None:
    store.create_run("base", variant="baseline")
    store.create_run("pruned", variant="pruned_unstructured", parent_run_id="base")
    store.create_run("quant", variant="quantized_ptq", parent_run_id="pruned")
    store.create_run("orphan", variant="distilled", parent_run_id="elsewhere")
    assert [r.run_id for r in store.lineage("quant")] == ["quant", "pruned", "base"]
    assert [r.run_id for r in store.lineage("base")] == ["base"]
    assert [r.run_id for r in store.lineage("orphan")] == ["orphan"]  # parent not in this store
    assert [r.run_id for r in store.children("base")] == ["pruned"]


def test_returned_records_are_snapshots(store: RunStore) -> None:
    run = store.create_run("snap", config={"lr": 0.1})
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.status = "done"  # type: ignore[misc]
    run.config["lr"] = 99.0
    assert store.get_run("snap").config == {"lr": 0.1}
    store.finish_run("snap", "done")
    assert run.status == "running"  # the old snapshot did not change


def test_runs_of_dead_processes_are_marked_interrupted_but_live_ones_are_not(
    store: RunStore,
) -> None:
    store.create_run("mine")  # this process: alive
    elsewhere = RunStore(store.engine, host="other-host", stale_after_s=60.0)
    elsewhere.create_run("remote")
    checker = RunStore(store.engine, stale_after_s=60.0)
    assert checker.mark_interrupted(now=time.time() + 30) == []
    assert checker.mark_interrupted(now=time.time() + 120) == ["remote"]
    remote = store.get_run("remote")
    assert remote.status == "interrupted" and "interrupted" in remote.error
    assert remote.finished_at == remote.heartbeat_at  # the last sign of life
    assert store.get_run("mine").status == "running"


def test_resume_run_makes_an_interrupted_run_running_again(store: RunStore) -> None:
    store.create_run("r")
    store.finish_run("r", "interrupted")
    run = store.resume_run("r")
    assert run.status == "running" and run.finished_at is None and run.pid == os.getpid()


def test_new_run_id_is_sortable_and_unique() -> None:
    ids = {new_run_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", i) for i in ids)


def test_threads_sharing_one_store_lose_nothing(store: RunStore) -> None:
    # The meter's sampling thread and the training loop write to the same store at once.
    store.create_run("threads")
    sink = StoreSink(store)
    errors: list[BaseException] = []

    def write(first: int) -> None:
        try:
            for k in range(first, first + 25):
                sink.on_sample(_sample("threads", k))
                store.add_epoch("threads", k, {"k": k})
        except BaseException as error:  # collected: a thread's exception would vanish
            errors.append(error)

    threads = [threading.Thread(target=write, args=(25 * t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [s.elapsed_s for s in store.samples("threads")] == [float(k) for k in range(100)]
    assert [e.epoch for e in store.epochs("threads")] == list(range(100))
