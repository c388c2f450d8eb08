"""Every variant of ``greenai study`` through the real commands, on a tiny synthetic set: each step's
flags reach its command, every result is recorded with its lineage, and the report lists them all."""

from __future__ import annotations

import json
from pathlib import Path

from greenai.cli.main import main
from greenai.storage import open_store

VARIANTS = (
    "baseline", "pruned_unstructured", "pruned_structured", "quantized_ptq", "quantized_qat",
    "distilled",
)  # fmt: skip


def test_every_variant_runs_through_its_command_with_lineage(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.delenv("GREENAI_STORE", raising=False)
    out = tmp_path / "study"
    code = main([
        "study", "--dataset", "synthetic", "--epochs", "1", "--limit-train", "128",
        "--limit-test", "64", "--batch-size", "32", "--device", "cpu", "--no-progress",
        "--sparsity", "0.5", "--calib-batches", "2", "--distill-epochs", "1", "--name", "tiny",
        "--inference-images", "256", "--out", str(out),
    ])  # fmt: skip
    assert code == 0, capsys.readouterr().err[-2000:]

    by_variant = {}
    for path in (out / "results").glob("synthetic_*.json"):
        result = json.loads(path.read_text(encoding="utf-8"))
        assert result["variant"] not in by_variant
        by_variant[result["variant"]] = result
    assert sorted(by_variant) == sorted(VARIANTS)

    base = by_variant["baseline"]
    assert {v: r["inference"]["energy_images"] for v, r in by_variant.items()} == dict.fromkeys(
        VARIANTS, 256
    )  # --inference-images reached every step (default 2048)
    for variant in VARIANTS[1:]:
        r = by_variant[variant]
        assert r["parent_run_id"] == base["run_id"], variant
        assert r["group"] == "tiny" and r["device"] == "cpu"
        ancestors = r["energy"]["lifecycle"]["ancestors"]
        assert [a["run_id"] for a in ancestors] == [base["run_id"]], variant
        assert r["energy"]["lifecycle"]["energy_kwh"] >= r["energy"]["step"]["energy_kwh"]
        inference = r["inference"]  # every variant measured the same way, on the CPU
        assert inference["device"] == "cpu" and inference["threads"] >= 1
        assert inference["latency_ms_b1"] > 0 and inference["throughput_img_s_b256"] > 0
        assert inference["energy_j_per_1000_images"] > 0
        assert inference["energy_method"].startswith("cpu: ")
        assert r["break_even"]["vs_run_id"] == base["run_id"]

    # the study's settings reached each command
    assert by_variant["pruned_unstructured"]["hyperparameters"]["sparsity"] == 0.5
    achieved = by_variant["pruned_unstructured"]["compression"]["sparsity_achieved"]
    assert achieved and all(0.49 <= f <= 1.0 for f in achieved.values())
    assert by_variant["quantized_ptq"]["hyperparameters"]["calib_batches"] == 2
    assert by_variant["quantized_ptq"]["precision"] == "int8"
    assert by_variant["distilled"]["hyperparameters"]["epochs"] == 1
    size = {v: r["metrics"]["file_size_bytes"] for v, r in by_variant.items()}
    assert size["quantized_ptq"] < size["baseline"] and size["quantized_qat"] < size["baseline"]
    assert size["pruned_structured"] < size["baseline"]
    assert size["pruned_unstructured"] <= size["baseline"]  # the study's file grew; ours never

    with open_store(None, default_dir=out) as store:
        rows = {r.run_id: r for r in store.list_runs(group="tiny")}
    assert {r.status for r in rows.values()} == {"done"}
    assert {rows[r["run_id"]].variant for r in by_variant.values()} == set(VARIANTS)

    md = (out / "results" / "study_report.md").read_text(encoding="utf-8")
    labels = (
        "Baseline",
        "Pruned (unstructured)",
        "Pruned (structured)",
        "Quantized (PTQ INT8)",
        "Quantized (QAT INT8)",
        "Distilled",
    )
    for label in labels:
        assert f"| {label} | CPU |" in md, label
