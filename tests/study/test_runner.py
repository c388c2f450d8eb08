"""The study's orchestration: order, reuse by configuration hash, resume, failures reported.

The step functions here are the study's collaborators (the trainer, pruner, ...) replaced by small
functions that write a real result JSON in the documented schema, so that what is tested is the
runner's decisions and the state it keeps, not the training.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from greenai.errors import DataError, UsageError
from greenai.study.pipeline import run_and_report
from greenai.study.plan import VARIANTS, StudyConfig, plan
from greenai.study.runner import StepContext, run_study
from greenai.study.state import state_path


def _result(ctx: StepContext) -> dict[str, Any]:
    from greenai.results.resultfile import write_result

    parent = ctx.parent_result
    step_co2 = 0.004 if ctx.step.variant == "baseline" else 0.0005
    life = step_co2 + (parent["energy"]["lifecycle"]["co2_kg"] if parent else 0.0)
    result = {
        "schema_version": 1,
        "run_id": ctx.run_id,
        "parent_run_id": parent["run_id"] if parent else None,
        "variant": ctx.step.variant,
        "group": ctx.group,
        "dataset": "synthetic",
        "model": "seed_cnn",
        "device": ctx.step.device,
        "metrics": {"test_accuracy_pct": 50.0, "file_size_bytes": 1000, "file_size_mib": 0.001},
        "inference": None,
        "energy": {
            "step": {"energy_kwh": step_co2 * 2, "co2_kg": step_co2, "methods": {}},
            "lifecycle": {"energy_kwh": life * 2, "co2_kg": life, "ancestors": []},
        },
        "carbon": {"intensity_g_per_kwh": 500.0, "pue": 1.0},
        "break_even": None,
    }
    write_result(ctx.out_dir, ctx.step.variant, ctx.run_id, result)
    return result


class Steps(dict):
    """variant -> step function; records each call, fails the variants in ``fail``."""

    def __init__(self, fail: dict[str, BaseException] | None = None) -> None:
        self.calls: list[tuple[str, str, bool]] = []
        self.fail = fail or {}
        super().__init__({v: self._step for v in VARIANTS})

    def _step(self, ctx: StepContext) -> dict[str, Any]:
        self.calls.append((ctx.step.key, ctx.run_id, ctx.resume))
        if ctx.step.variant in self.fail:
            raise self.fail[ctx.step.variant]
        return _result(ctx)


_ids = iter(f"20261125-050000-{i:06x}" for i in range(10**6))


def _cfg(**kw: Any) -> StudyConfig:
    base = {
        "name": "t",
        "train": {"epochs": 1, "dataset": "synthetic"},
        "variant_settings": {"sparsity": 0.3, "finetune_epochs": 1, "calib_batches": 2},
    }
    return StudyConfig(**{**base, **kw})


def _run(tmp_path: Path, steps: Steps, **kw: Any):
    return run_study(_cfg(**kw), tmp_path, steps, new_run_id=lambda: next(_ids), log=lambda m: None)


def test_runs_every_step_in_order_then_reuses_them(tmp_path: Path):
    steps = Steps()
    out = _run(tmp_path, steps)
    assert [c[0] for c in steps.calls] == [f"cpu/{v}" for v in VARIANTS]
    assert all(r.status == "done" for r in out.records)
    children = [r for k, r in out.results.items() if k != "cpu/baseline"]
    assert {r["parent_run_id"] for r in children} == {out.results["cpu/baseline"]["run_id"]}

    again = Steps()
    out2 = _run(tmp_path, again)
    assert again.calls == []
    assert all(r.reused for r in out2.records)
    assert {k: r["run_id"] for k, r in out2.results.items()} == {
        k: r["run_id"] for k, r in out.results.items()
    }


def test_changed_setting_reruns_only_the_steps_it_touches(tmp_path: Path):
    _run(tmp_path, Steps())
    steps = Steps()
    settings = {"sparsity": 0.5, "finetune_epochs": 1, "calib_batches": 2}
    _run(tmp_path, steps, variant_settings=settings)
    assert [c[0] for c in steps.calls] == ["cpu/pruned_unstructured", "cpu/pruned_structured"]

    steps = Steps()
    _run(tmp_path, steps, variant_settings=settings, train={"epochs": 2, "dataset": "synthetic"})
    assert len(steps.calls) == len(VARIANTS)  # a new baseline: every child is new too


def test_failed_step_is_recorded_and_the_study_goes_on(tmp_path: Path):
    steps = Steps(fail={"quantized_qat": RuntimeError("QAT diverged\nsecond line")})
    out = _run(tmp_path, steps)
    status = {r.key: (r.status, r.error) for r in out.records}
    assert status["cpu/quantized_qat"] == ("failed", "RuntimeError: QAT diverged")
    assert status["cpu/distilled"][0] == "done"  # after the failure
    err = tmp_path / "logs" / "study_t_cpu_quantized_qat.err"
    assert "Traceback" in err.read_text(encoding="utf-8")

    retry = Steps()
    _run(tmp_path, retry)
    assert [c[0] for c in retry.calls] == ["cpu/quantized_qat"]  # only the failed one again


def test_failed_baseline_skips_its_children_with_a_reason(tmp_path: Path):
    out = _run(tmp_path, Steps(fail={"baseline": ValueError("no data")}))
    by_key = {r.key: r for r in out.records}
    assert by_key["cpu/baseline"].status == "failed"
    assert by_key["cpu/pruned_structured"].status == "skipped"
    assert by_key["cpu/pruned_structured"].error == "not run: its parent cpu/baseline failed"


def test_interrupted_step_resumes_with_its_run_id(tmp_path: Path):
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, Steps(fail={"pruned_structured": KeyboardInterrupt()}))
    state = json.loads(state_path(tmp_path, "t").read_text(encoding="utf-8"))
    rec = state["steps"]["cpu/pruned_structured"]
    assert rec["status"] == "interrupted"
    steps = Steps()
    _run(tmp_path, steps)
    assert steps.calls[0] == ("cpu/pruned_structured", rec["run_id"], True)
    assert [c[0] for c in steps.calls[1:]] == [
        "cpu/quantized_ptq",
        "cpu/quantized_qat",
        "cpu/distilled",
    ]


def test_missing_result_file_means_the_step_runs_again(tmp_path: Path):
    out = _run(tmp_path, Steps())
    ptq = out.results["cpu/quantized_ptq"]
    (tmp_path / "results" / f"synthetic_quantized_ptq_{ptq['run_id']}.json").unlink()
    steps = Steps()
    _run(tmp_path, steps)
    assert [c[0] for c in steps.calls] == ["cpu/quantized_ptq"]


def test_variant_subset_brings_its_parent_and_both_devices(tmp_path: Path):
    keys = [s.key for s in plan(_cfg(variants=("quantized_ptq",), devices=("cpu", "gpu")))]
    assert keys == ["cpu/baseline", "cpu/quantized_ptq", "gpu/baseline", "gpu/quantized_ptq"]


def test_bad_config_and_corrupt_state_are_one_line_errors(tmp_path: Path):
    with pytest.raises(UsageError, match="unknown variant 'pruned'"):
        plan(_cfg(variants=("pruned",)))
    path = state_path(tmp_path, "t")
    path.parent.mkdir(parents=True)
    path.write_text("{half", encoding="utf-8")
    with pytest.raises(DataError, match="unreadable study state"):
        _run(tmp_path, Steps())


def test_report_covers_every_step_including_failures(tmp_path: Path):
    steps = Steps(fail={"distilled": RuntimeError("teacher mismatch")})
    cfg = _cfg()
    _, files = run_and_report(cfg, tmp_path, steps, log=lambda m: None, inferences=1000)
    md = files.markdown.read_text(encoding="utf-8")
    for name in (
        "Baseline",
        "Pruned (unstructured)",
        "Pruned (structured)",
        "Quantized (PTQ INT8)",
    ):
        assert f"| {name} | CPU | 50.00% |" in md
    assert "| Distilled | CPU | FAILED | RuntimeError: teacher mismatch |" in md
    assert files.markdown == tmp_path / "results" / "study_report.md"
    assert "Variant settings: calib_batches 2, finetune_epochs 1, sparsity 0.3." in md
    assert (tmp_path / "results" / "report.html").is_file()


def test_moving_the_data_does_not_rerun_anything(tmp_path: Path):
    _run(tmp_path, Steps(), train={"epochs": 1, "dataset": "synthetic", "data_dir": "/a"})
    steps = Steps()
    _run(tmp_path, steps, train={"epochs": 1, "dataset": "synthetic", "data_dir": "/b"})
    assert steps.calls == []
