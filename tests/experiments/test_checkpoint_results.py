"""Checkpoints (weights_only) and result JSON files."""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch

from greenai.carbon import CarbonConfig
from greenai.errors import DataError
from greenai.meter.types import CarbonIntensity, Sample
from greenai.ml.models import create_model
from greenai.ml.training import checkpoint
from greenai.results import resultfile as results


def _state(model):
    return {
        "epoch": 3,
        "config": {"model": "seed_cnn", "width": 0.5},
        "model_state": model.state_dict(),
    }


def test_checkpoint_round_trip_rebuilds_the_model(tmp_path):
    model = create_model("seed_cnn", width=0.5)
    path = tmp_path / "models" / "r.pt"
    checkpoint.save_checkpoint(path, _state(model))
    rebuilt, ck = checkpoint.model_from_checkpoint(path)
    assert ck["epoch"] == 3
    for a, b in zip(model.state_dict().values(), rebuilt.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert set(checkpoint.load_state_dict(path)) == set(model.state_dict())
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_weights_file_is_a_bare_state_dict(tmp_path):
    model = create_model("seed_cnn")
    size = checkpoint.save_weights(tmp_path / "w.pt", model)
    assert size == checkpoint.state_dict_bytes(model) == (tmp_path / "w.pt").stat().st_size
    assert set(checkpoint.load_state_dict(tmp_path / "w.pt")) == set(model.state_dict())


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize(
    "content, match",
    [
        (b"not a checkpoint at all", "not a readable checkpoint"),
        (None, "refused"),  # a malicious pickle inside a torch zip file
        ({"format": "something-else"}, "not a greenai checkpoint"),
        ({"format": "greenai-checkpoint", "version": 99}, "newer"),
    ],
    ids=["garbage", "malicious", "foreign-dict", "newer"],
)
def test_bad_checkpoints_are_one_line_data_errors(tmp_path, content, match):
    path = tmp_path / "bad.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is None:
        torch.save({"format": "greenai-checkpoint", "evil": _Evil()}, path)
    else:
        torch.save(content, path)
    with pytest.raises(DataError, match=match) as err:
        checkpoint.load_checkpoint(path)
    assert "\n" not in str(err.value)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_plain_pickle_file_is_refused(tmp_path):
    path = tmp_path / "p.pt"
    path.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(DataError):
        checkpoint.load_checkpoint(path)


def _result(run_id="r1", version=1):
    step = {"duration_s": 1.0, "energy_kwh": 0.5, "co2_kg": 0.25}
    return {
        "schema_version": version, "run_id": run_id, "variant": "baseline", "dataset": "cifar10",
        "metrics": {"test_accuracy_pct": 80.0},
        "energy": {"step": step, "lifecycle": results.lifecycle(step, None)},
    }  # fmt: skip


def test_write_and_load_result(tmp_path):
    path = results.write_result(tmp_path, "baseline", "r1", _result())
    assert path == tmp_path / "results" / "cifar10_baseline_r1.json"
    assert results.load_result(path) == _result()


def test_newer_schema_is_refused_in_one_line(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(_result(version=2)))
    with pytest.raises(DataError, match="schema_version 2 is newer"):
        results.load_result(path)
    path.write_text("{truncated")
    with pytest.raises(DataError, match="not a readable result JSON"):
        results.load_result(path)


def test_lifecycle_adds_ancestors_recursively():
    base = _result("base")
    step = {"energy_kwh": 0.1, "co2_kg": 0.05}
    life = results.lifecycle(step, base)
    assert life["energy_kwh"] == pytest.approx(0.6) and life["co2_kg"] == pytest.approx(0.3)
    child = {**_result("child"), "energy": {"step": step, "lifecycle": life}}
    grand = results.lifecycle({"energy_kwh": 1.0, "co2_kg": 1.0}, child)
    assert grand["energy_kwh"] == pytest.approx(1.6)
    assert [a["run_id"] for a in grand["ancestors"]] == ["child", "base"]


def test_sum_pieces_adds_energies_and_merges_phases():
    def piece(e, phases):
        return {
            "duration_s": 2.0, "energy_j": {"cpu": e * 3.6e6, "gpu": 0.0, "ram": 0.0},
            "energy_kwh": e, "co2_kg": e / 2, "methods": {"cpu": "estimated: x"},
            "phases": [{"path": p, "duration_s": 1.0, "energy_kwh": e, "co2_kg": e / 2} for p in phases],
        }  # fmt: skip

    step = results.sum_pieces(
        [piece(1.0, ["data", "train"]), piece(2.0, ["train", "eval"])], pue=1.0
    )
    assert step["energy_kwh"] == 3.0 and step["co2_kg"] == 1.5
    assert [p["energy_kwh"] for p in step["pieces"]] == [1.0, 2.0]
    assert step["by_component_kwh"]["cpu"] == pytest.approx(3.0)
    assert [(p["path"], p["energy_kwh"]) for p in step["phases"]] == [
        ("data", 1.0), ("train", 3.0), ("eval", 2.0),
    ]  # fmt: skip


def _sample(started_at: float, elapsed_s: float, cpu: float, ram: float = 0.0) -> Sample:
    energy = {"cpu": cpu, "gpu": 0.0, "ram": ram}
    return Sample("r", started_at + elapsed_s, elapsed_s, "train", {}, energy, 0.0)


def _piece(started_at: float, duration_s: float, cpu: float, ram: float = 0.0) -> dict:
    return {
        "started_at": started_at, "duration_s": duration_s,
        "energy_j": {"cpu": cpu, "gpu": 0.0, "ram": ram}, "energy_kwh": (cpu + ram) / 3.6e6,
        "co2_kg": 0.0, "methods": {"cpu": "estimated: tdp"}, "phases": [],
    }  # fmt: skip


def test_lost_piece_adds_each_interrupted_process_once_over_several_resumes():
    carbon = CarbonConfig(CarbonIntensity(100.0, "test"), pue=1.5)
    a_start, b_start = 1_700_000_000.25, 1_700_000_100.5
    # process A: checkpointed at 10 s (100 J cpu, 10 J ram), sampled on to 14 s, then killed
    samples = [_sample(a_start, t, 10.0 * t, t) for t in (5.0, 10.0, 12.0)]
    samples.append(_sample(a_start, 14.0, 150.0, 9.0))  # ram reads lower: clipped at 0
    ckpt_a = [_piece(a_start - 3, 3.0, 30.0), _piece(a_start, 10.0, 100.0, 10.0)]

    lost_a = results.lost_piece(ckpt_a, samples, carbon)
    assert lost_a is not None and "started_at" not in lost_a
    assert lost_a["energy_j"] == {"cpu": 50.0, "gpu": 0.0, "ram": 0.0}
    assert lost_a["duration_s"] == pytest.approx(4.0)
    assert lost_a["energy_kwh"] == pytest.approx(50.0 / 3.6e6 * 1.5)
    assert lost_a["co2_kg"] == pytest.approx(carbon.co2_kg(50.0))
    assert lost_a["methods"] == {"cpu": "estimated: tdp"}
    assert [p["path"] for p in lost_a["phases"]] == [results.LOST_PHASE]

    # resume 1 (process B) checkpoints at 8 s with A's lost piece among its pieces, runs on to
    # 9 s and is killed too; resume 2 adds B's loss only, not A's again
    ckpt_b = [*ckpt_a, lost_a, _piece(b_start - 2, 2.0, 20.0), _piece(b_start, 8.0, 80.0)]
    samples += [
        _sample(b_start, 4.0, 40.0),
        _sample(b_start, 8.0, 80.0),
        _sample(b_start, 9.0, 95.0),
    ]
    lost_b = results.lost_piece(ckpt_b, samples, carbon)
    assert lost_b is not None and lost_b["energy_j"]["cpu"] == pytest.approx(15.0)
    assert lost_b["duration_s"] == pytest.approx(1.0)
    step = results.sum_pieces([*ckpt_b, lost_b], pue=1.5)
    assert step["by_component_kwh"]["cpu"] == pytest.approx(
        (30 + 100 + 50 + 20 + 80 + 15) / 3.6e6 * 1.5
    )  # each joule once: A's checkpointed and lost, B's checkpointed and lost
    assert step["energy_kwh"] == pytest.approx(sum(p["energy_kwh"] for p in [*ckpt_b, lost_b]))


def test_lost_piece_is_none_when_nothing_was_lost_or_the_checkpoint_is_old():
    carbon = CarbonConfig(CarbonIntensity(100.0, "test"))
    start = 1_700_000_000.0
    samples = [_sample(start, 5.0, 50.0), _sample(start, 10.0, 100.0)]
    ckpt = [_piece(start, 10.0, 100.0)]
    assert results.lost_piece(ckpt, samples, carbon) is None  # killed right at its checkpoint
    old = [{k: v for k, v in p.items() if k != "started_at"} for p in ckpt]
    assert results.lost_piece(old, [*samples, _sample(start, 12.0, 130.0)], carbon) is None
    assert results.lost_piece(ckpt, [_sample(start + 50, 12.0, 130.0)], carbon) is None
    assert results.lost_piece([], samples, carbon) is None


def test_efficiency_is_accuracy_per_kg():
    eff = results.efficiency(80.0, 0.5, 2.0)
    assert eff == {"acc_per_kg_co2_step": 160.0, "acc_per_kg_co2_lifecycle": 40.0}
    assert results.efficiency(80.0, 0.0, 0.0)["acc_per_kg_co2_step"] is None
