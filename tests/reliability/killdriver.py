"""The kill-point driver (issue #19): kill each step at every write boundary, check, rerun, check.

Run as ``python killdriver.py OUT_DIR``; prints one JSON line: the kill points tried and, for each
inconsistency found, what disagreed. Every step runs in a forked child that SIGKILLs itself at the
boundary named by ``$GREENAI_TEST_KILL_AT`` (``greenai.killpoints``); this parent never runs torch
itself (so forking is safe) and pays the import once instead of once per kill. After each kill the
parent does what the next greenai command in the folder does first (open the store, which marks dead
runs interrupted, and ``reconcile``) and checks that the store, the result JSON files and the
report's two sources agree and that every lineage sum holds; then it reruns the same step (a
baseline: ``--resume`` of the killed run) and checks again.
"""

from __future__ import annotations

import json
import math
import os
import sys
import traceback
from pathlib import Path
from typing import Any

VARIANT_POINTS = ("row-open", "body-done", "store-done", "json-tmp", "json-written")
BASELINE_POINTS = ("row-open", "checkpoint-saved", *VARIANT_POINTS[1:])
COMMITTED = ("store-done", "json-tmp", "json-written")  # killed after the run was stored "done"
NOTHING_TO_RESUME = 3


def in_child(fn: Any, kill_at: str | None = None) -> int:
    """Run ``fn()`` in a forked child -> its exit code, or -9 when it was SIGKILLed."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            if kill_at:
                os.environ["GREENAI_TEST_KILL_AT"] = kill_at
            fn()
        except BaseException as exc:
            code = NOTHING_TO_RESUME if "nothing to resume" in str(exc) else 1
            if code == 1:
                traceback.print_exc()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def store(out: Path) -> Any:
    from greenai.storage import open_store

    return open_store(None, default_dir=out)


def carbon() -> Any:
    from greenai.carbon import CarbonConfig

    return CarbonConfig.resolve(country=None, pue=None, intensity_g_per_kwh=None)


def baseline(out: Path, run_id: str | None = None) -> None:
    from greenai.lifecycle.steps.baseline import train_run
    from greenai.ml.training.config import TrainConfig

    cfg = TrainConfig(dataset="synthetic", epochs=2, limit_train=32, limit_test=32, batch_size=32,
                      device="cpu", width=0.125)  # fmt: skip
    with store(out) as s:
        train_run(cfg, out_dir=out, store=s, carbon=carbon(), run_id=run_id,
                  resume=run_id is not None, progress=False, inference_images=32)  # fmt: skip


def prune(parent_id: str, out: Path) -> None:
    """``greenai prune --from PARENT`` (INT8 steps are left out: torch.compile makes them slow)."""
    from greenai.lifecycle.parents import resolve_parent
    from greenai.lifecycle.run import RunEnv
    from greenai.lifecycle.steps.prune import prune
    from greenai.lifecycle.variant_data import DataSpec

    data = DataSpec("synthetic", limit_train=32, limit_test=32)
    with store(out) as s:
        parent = resolve_parent(parent_id, out, s)
        prune(parent, RunEnv(out, s, carbon()), data, sparsity=0.3, finetune_epochs=1,
              batch_size=32)  # fmt: skip


def warm_imports() -> None:
    """Import (never run) what the children use, once: each fork then starts at the step."""
    import torch._dynamo  # noqa: F401  (torch.optim imports it on first use)

    import greenai.lifecycle.reconcile
    import greenai.lifecycle.steps.baseline
    import greenai.lifecycle.steps.prune
    import greenai.lifecycle.training_session
    import greenai.lifecycle.variant_run
    import greenai.ml.compression.distill
    import greenai.reports.sources  # noqa: F401


def newest(out: Path, variant: str) -> Any:
    with store(out) as s:
        runs = s.list_runs(variant=variant)
    return runs[-1] if runs else None


def order(out: Path, variant: str, point: str) -> list[str]:
    """The order of writes, seen right after the kill: the store's "done" first, then the JSON."""
    with store(out) as s:  # (opening marks the killed run "interrupted")
        rec = s.list_runs(variant=variant)[-1]
    has_json = bool(list((out / "results").glob(f"*_{rec.run_id}.json")))
    want = ("done", point == "json-written") if point in COMMITTED else ("interrupted", False)
    if (rec.status, has_json) != want:
        return [f"after the kill: store {rec.status}, JSON {has_json}; expected {want}"]
    if point == "json-tmp" and not list((out / "results").glob(f".*{rec.run_id}*.tmp")):
        return ["killed while writing its JSON, but no .tmp was left to clean"]
    return []


def check(out: Path) -> list[str]:
    """What disagrees between the store, the JSON files and the report's sources (after what the
    next command does first: open the store and reconcile)."""
    from greenai.lifecycle.reconcile import reconcile
    from greenai.reports.sources import from_results_dir, from_store
    from greenai.results import lineage
    from greenai.results.resultfile import load_result

    bad = []
    with store(out) as s:
        reconcile(s, out)
        runs = {r.run_id: r for r in s.list_runs()}
        store_inputs = {r.run_id: r for r in from_store(s)}
    files = {p: load_result(p) for p in (out / "results").glob("*.json")}
    by_id = {res["run_id"]: res for res in files.values()}
    for rid, rec in runs.items():
        if rec.status == "running":
            bad.append(f"{rid}: still 'running' with its process gone")
        if rec.status == "done" and by_id.get(rid) != rec.result:
            bad.append(f"{rid}: done in the store, JSON {'differs' if rid in by_id else 'missing'}")
        if rec.status != "done" and rid in by_id:
            bad.append(f"{rid}: JSON written, store says {rec.status}")
    for rid in set(by_id) - set(runs):
        bad.append(f"{rid}: JSON without a store row")
    tmps = [p.name for d in ("results", "models") for p in (out / d).glob(".*.tmp")]
    bad += [f"left behind: {name}" for name in tmps]
    dir_inputs = {r.run_id: r for r in from_results_dir(out / "results")}
    for rid, run in store_inputs.items():
        other = dir_inputs.get(rid)
        if (run.status == "done") != (other is not None and other.status == "done"):
            bad.append(f"{rid}: the report from the store and from results/ disagree on its status")
        elif other is not None and run.result != other.result:
            bad.append(f"{rid}: the two reports' sources give different results")
    results = {rid: rec.result for rid, rec in runs.items() if rec.status == "done"}
    for rid, res in results.items():
        want = lineage.lifecycle(res, results.get)["energy_kwh"]
        if not math.isclose(want, res["energy"]["lifecycle"]["energy_kwh"], rel_tol=1e-9):
            bad.append(f"{rid}: lifecycle {res['energy']['lifecycle']['energy_kwh']} != {want}")
    return bad


def main(out: Path) -> dict[str, Any]:
    report: dict[str, Any] = {"tried": 0, "inconsistent": [], "reruns_failed": []}
    warm_imports()
    assert in_child(lambda: baseline(out)) == 0, "the reference baseline failed"
    base_id = newest(out, "baseline").run_id

    def kill(name: str, point: str, run: Any, rerun: Any) -> None:
        code = in_child(run, point)
        report["tried"] += 1
        found = [] if code == -9 else [f"not killed at {point} (exit {code})"]
        found += order(out, "baseline" if name == "baseline" else "pruned_unstructured", point)
        found += check(out)
        if point not in COMMITTED:
            code = in_child(rerun)
            if code != 0:
                report["reruns_failed"].append(f"{name}@{point}: exit {code}")
            found += check(out)
        report["inconsistent"] += [f"{name}@{point}: {line}" for line in found]

    for point in BASELINE_POINTS:
        kill("baseline", point, lambda: baseline(out),
             lambda: baseline(out, newest(out, "baseline").run_id))  # fmt: skip
    for point in VARIANT_POINTS:
        kill("prune", point, lambda: prune(base_id, out), lambda: prune(base_id, out))
    with store(out) as s:
        report["runs"] = {
            v: sorted(r.status for r in s.list_runs(variant=v))
            for v in ("baseline", "pruned_unstructured")
        }
    report["frozen"] = frozen(out)
    return report


def frozen(out: Path) -> dict[str, Any]:
    """A parent's figure is final once it is done, so its child's lifecycle never goes stale.

    Two ways a "done" baseline used to look unfinished: killed after its store commit (JSON not yet
    written), and the order before issue #19 (JSON written, the store row left "interrupted" with no
    result). In each a child is derived, then the baseline is resumed: the resume must find the run
    finished (exit NOTHING_TO_RESUME) and leave its energy as the child counted it."""
    import sqlalchemy as sa

    from greenai.storage import schema

    cases = {}
    for case, point in (("killed after the store commit", "store-done"),
                        ("JSON first, store interrupted", "json-written")):  # fmt: skip
        assert in_child(lambda: baseline(out), point) == -9
        parent = newest(out, "baseline")
        if case.startswith("JSON first"):
            with store(out) as s, s.engine.begin() as conn:
                r = schema.runs
                conn.execute(r.update().where(r.c.run_id == parent.run_id).values(
                    status="interrupted", result=None, energy_kwh=sa.null()))  # fmt: skip
        rid = parent.run_id
        assert in_child(lambda rid=rid: prune(rid, out)) == 0
        child = newest(out, "pruned_unstructured")
        resumed = in_child(lambda rid=rid: baseline(out, rid))
        with store(out) as s:
            final, child = s.get_run(parent.run_id), s.get_run(child.run_id)
        cases[case] = {
            "resume_exit": resumed,
            "parent_status": final.status,
            "parent_step_kwh": final.result["energy"]["step"]["energy_kwh"],
            "child_ancestor_kwh": child.result["energy"]["lifecycle"]["ancestors"][0]["energy_kwh"],
            "child_lifecycle_kwh": child.result["energy"]["lifecycle"]["energy_kwh"],
            "child_step_kwh": child.result["energy"]["step"]["energy_kwh"],
            "inconsistent": check(out),
        }
    return cases


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))), flush=True)
