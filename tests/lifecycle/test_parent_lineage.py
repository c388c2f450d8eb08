"""``--from RUN_ID`` and ``--from FILE`` give a step the same lineage: a greenai model file names
its run and carries its weights' hash, so its energy is counted exactly once, by lineage. A file
whose run is nowhere to be found, or whose weights were changed, starts a lineage whose parent
energy is unknown, and says so.

Real runs (seed_cnn at quarter width on 64 synthetic images); nothing of greenai is faked."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from greenai.cli.main import main

TINY_DATA = ["--limit-train", "64", "--limit-test", "64", "--no-progress"]


def _results(out: Path) -> dict[str, dict]:
    found = {}
    for path in (out / "results").glob("*.json"):
        r = json.loads(path.read_text(encoding="utf-8"))
        if "run_id" in r:
            found[r["run_id"]] = r
    return found


def step(argv: list[str], out: Path) -> dict:
    """Run one command writing under ``out``; returns the one result it added."""
    before = set(_results(out)) if (out / "results").is_dir() else set()
    code = main([*argv, "--out", str(out)])
    assert code == 0, f"{argv} exited {code}"
    added = {rid: r for rid, r in _results(out).items() if rid not in before}
    assert len(added) == 1, sorted(added)
    return next(iter(added.values()))


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict]]:
    """(out folder, result) of one tiny baseline, shared by this module's tests."""
    out = tmp_path_factory.mktemp("lineage")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("GREENAI_STORE", raising=False)
        result = step(
            ["baseline", "--recipe", "seed", "--model", "seed_cnn", "--width", "0.25",
             "--epochs", "1", "--dataset", "synthetic", "--device", "cpu", *TINY_DATA],
            out,
        )  # fmt: skip
        yield out, result


@pytest.fixture(autouse=True)
def _no_env_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GREENAI_STORE", raising=False)


def prune_from(source: str | Path, out: Path) -> dict:
    return step(
        ["prune", "--from", str(source), "--sparsity", "0.3", "--finetune-epochs", "1",
         *TINY_DATA],
        out,
    )  # fmt: skip


def ancestor_ids(result: dict) -> list[str]:
    return [a["run_id"] for a in result["energy"]["lifecycle"]["ancestors"]]


def expected_lifecycle(result: dict, parent: dict) -> tuple[float, float]:
    """Own step + the parent's whole lifecycle, from the two result JSONs."""
    own, life = result["energy"]["step"], parent["energy"]["lifecycle"]
    return own["energy_kwh"] + life["energy_kwh"], own["co2_kg"] + life["co2_kg"]


def assert_counts_parent(result: dict, parent: dict) -> None:
    life = result["energy"]["lifecycle"]
    kwh, co2 = expected_lifecycle(result, parent)
    assert life["energy_kwh"] == pytest.approx(kwh, rel=1e-9)
    assert life["co2_kg"] == pytest.approx(co2, rel=1e-9)
    assert life["energy_kwh"] > result["energy"]["step"]["energy_kwh"] > 0
    assert life.get("parent_energy_known", True) is True
    assert "note" not in life
    assert result["parent_run_id"] == parent["run_id"]


def assert_parent_unknown(result: dict, why: str) -> None:
    life, own = result["energy"]["lifecycle"], result["energy"]["step"]
    assert life["parent_energy_known"] is False
    assert life["note"].startswith("parent energy unknown: ")
    assert why in life["note"]
    assert life["ancestors"] == []
    assert life["energy_kwh"] == pytest.approx(own["energy_kwh"], rel=1e-9)  # this step only
    assert result["parent_run_id"] is None


def test_from_run_id_and_from_its_model_file_count_the_same_lifecycle(baseline):
    out, base = baseline
    rid = base["run_id"]
    by_id = prune_from(rid, out)
    by_file = prune_from(out / "models" / f"{rid}.pt", out)

    assert base["artifacts"]["model"] == f"models/{rid}.pt"
    assert ancestor_ids(by_id) == ancestor_ids(by_file) == [rid]
    assert_counts_parent(by_id, base)
    assert_counts_parent(by_file, base)
    ancestor = by_file["energy"]["lifecycle"]["ancestors"][0]
    assert ancestor["energy_kwh"] == base["energy"]["step"]["energy_kwh"]
    assert ancestor["variant"] == "baseline"
    assert by_file["break_even"]["vs_run_id"] == rid


def test_a_pruned_model_file_carries_two_generations_into_quantize(baseline):
    out, base = baseline
    pruned = prune_from(base["run_id"], out)
    pruned_file = out / pruned["artifacts"]["model"]
    assert pruned_file.is_file()

    q = step(
        ["quantize", "--from", str(pruned_file), "--method", "ptq", "--calib-batches", "1",
         *TINY_DATA],
        out,
    )  # fmt: skip
    assert ancestor_ids(q) == [pruned["run_id"], base["run_id"]]
    assert_counts_parent(q, pruned)
    total = q["energy"]["step"]["energy_kwh"] + pruned["energy"]["step"]["energy_kwh"]
    total += base["energy"]["step"]["energy_kwh"]
    assert q["energy"]["lifecycle"]["energy_kwh"] == pytest.approx(total, rel=1e-9)


def test_a_file_whose_run_is_nowhere_says_parent_energy_unknown(baseline, tmp_path):
    out, base = baseline
    rid = base["run_id"]
    foreign = tmp_path / "elsewhere" / "model.pt"
    foreign.parent.mkdir()
    shutil.copy(out / "models" / f"{rid}.pt", foreign)
    other_out = tmp_path / "other-out"

    r = prune_from(foreign, other_out)
    assert_parent_unknown(r, f"names run {rid}")
    assert r["break_even"] is None


def test_a_file_with_changed_weights_is_not_matched_to_its_run(baseline, tmp_path):
    out, base = baseline
    rid = base["run_id"]
    ck = torch.load(out / "models" / f"{rid}.pt", map_location="cpu", weights_only=True)
    assert ck["run_id"] == rid
    name = next(k for k, v in ck["model_state"].items() if v.is_floating_point() and v.ndim == 4)
    ck["model_state"][name] = ck["model_state"][name] + 0.01
    tampered = tmp_path / "tampered.pt"
    torch.save(ck, tampered)

    r = prune_from(tampered, out)  # the run is in this store: only the weights tell them apart
    assert_parent_unknown(r, "weights differ")
    assert rid in r["energy"]["lifecycle"]["note"]
