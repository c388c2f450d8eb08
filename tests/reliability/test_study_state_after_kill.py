"""A study killed after a step's run finished (store "done", its JSON written) but before the
study's state file said so: the rerun reuses that run instead of resuming or redoing it (issue #19).

The step functions stand in for the trainer (they record a real run in a real store and write a
real result file); what is tested is the runner's decision from the store and the state file."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from greenai.results.resultfile import write_result
from greenai.storage import open_store
from greenai.study.plan import StudyConfig
from greenai.study.runner import StepContext, run_study
from greenai.study.state import RUNNING, load_state, save_state, state_path

CFG = StudyConfig(
    name="k", train={"epochs": 1, "dataset": "synthetic"}, variants=("baseline",),
    variant_settings={"sparsity": 0.3, "finetune_epochs": 1, "calib_batches": 2},
)  # fmt: skip


def _step(calls: list[str]) -> Any:
    def step(ctx: StepContext) -> dict[str, Any]:
        calls.append(ctx.run_id)
        ctx.store.create_run(ctx.run_id, variant="baseline", dataset="synthetic", group=ctx.group)
        step_e = {"energy_kwh": 0.002, "co2_kg": 0.001}
        result = {
            "schema_version": 1, "run_id": ctx.run_id, "parent_run_id": None,
            "variant": "baseline", "group": ctx.group, "dataset": "synthetic",
            "metrics": {"test_accuracy_pct": 50.0},
            "energy": {"step": step_e, "lifecycle": {**step_e, "ancestors": []}},
        }  # fmt: skip
        ctx.store.finish_run(ctx.run_id, status="done", result=result)
        write_result(ctx.out_dir, "baseline", ctx.run_id, result)
        return result

    return step


def test_a_step_that_finished_before_the_kill_is_reused(tmp_path: Path) -> None:
    ids = (f"20261201-1200{i:02d}-abcdef" for i in itertools.count())
    calls: list[str] = []
    with open_store(None, default_dir=tmp_path) as store:
        first = run_study(CFG, tmp_path, {"baseline": _step(calls)}, store=store,
                          new_run_id=lambda: next(ids), log=lambda m: None)  # fmt: skip
        run_id = first.records[0].run_id
        # the state as a kill between the run's finish and the state's rewrite leaves it
        path = state_path(tmp_path, "k")
        state = load_state(path)
        state["cpu/baseline"].status, state["cpu/baseline"].result_path = RUNNING, None
        save_state(path, "k", state)

        again = run_study(CFG, tmp_path, {"baseline": _step(calls)}, store=store,
                          new_run_id=lambda: next(ids), log=lambda m: None)  # fmt: skip
    assert calls == [run_id]  # not run again, nor resumed
    (rec,) = again.records
    assert rec.status == "done" and rec.reused and rec.run_id == run_id
    assert load_state(path)["cpu/baseline"].status == "done"
