"""``greenai study --nproc-per-node N``: the study's training and fine-tuning steps run under DDP.

The baseline and every step that fine-tunes (both prunings, distillation, QAT: ``DISTRIBUTED``) split
their work over ranks (``lifecycle.training_ddp``); post-training quantization, the exports, the
timing and the report run in the study's own single process. Such a step is replaced by
``run_ddp_step``: it starts torchrun (``lifecycle.ddp_launch``) with this module as every rank's
program, each rank runs the registered step on the same ``StepContext`` (handed over in a pickle
file), rank 0 writes the one result and store row, and the study reads that result back. A
cancelled launch stops the study as Ctrl-C would (``interrupted``).

DDP cannot continue a checkpoint yet, so an interrupted distributed baseline is trained again from
the start under a new run id (the interrupted run stays in the store with the energy it spent).
"""

from __future__ import annotations

import pickle
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from greenai.errors import GreenAIError

DISTRIBUTED = ("baseline", "pruned_unstructured", "pruned_structured", "distilled", "quantized_qat")


class DistributedStepFailed(GreenAIError):
    """A distributed step's ranks failed (their own line is printed above)."""


@dataclass(frozen=True)
class DdpLaunch:
    """torchrun's layout for the study's training and fine-tuning steps (one machine)."""

    nproc: int
    nnodes: int = 1
    node_rank: int | None = None
    endpoint: str | None = None

    def describe(self) -> str:
        return (
            f"study: the baseline trains under DDP on {self.nproc} rank(s) (torchrun), and so do "
            "the fine-tuning steps (pruning, distillation, QAT); post-training quantization, "
            "exports, timing and the report run in this single process"
        )


def run_ddp_step(launch: DdpLaunch, ctx: Any) -> dict[str, Any]:
    """The study's step ``ctx.step.variant``, run by ``launch.nproc`` ranks; the result rank 0 wrote."""
    from greenai.lifecycle.ddp_launch import run_under_torchrun, torchrun_prefix
    from greenai.lifecycle.training_ddp import JobCancelled
    from greenai.storage import new_run_id

    variant = ctx.step.variant
    run_id = ctx.run_id
    if ctx.resume and variant == "baseline":  # nothing to continue under DDP: train again
        run_id = new_run_id()
        print(
            f"study: {variant}: a distributed baseline cannot continue its checkpoint yet; "
            f"training it again as run {run_id}",
            file=sys.stderr,
        )
    spec = replace(ctx, run_id=run_id, resume=False, store=None, mlflow=None)
    if variant == "baseline":
        spec = replace(spec, parent_result=None)
    scratch = Path(tempfile.mkdtemp(prefix="greenai-study-ddp-"))
    try:
        path = scratch / "step.pickle"
        path.write_bytes(pickle.dumps(spec))
        prefix = torchrun_prefix(launch.nproc, launch.nnodes, launch.node_rank, launch.endpoint)
        code = run_under_torchrun([*prefix, "-m", "greenai.study.ddp", str(path)])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if code - 128 in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        raise JobCancelled(code - 128)
    if code != 0:
        raise DistributedStepFailed(f"the distributed {variant}'s ranks exited with code {code}")
    from greenai.results.resultfile import load_result

    found = sorted((Path(ctx.out_dir) / "results").glob(f"*_{variant}_{run_id}.json"))
    if not found:
        raise DistributedStepFailed(f"the distributed {variant} wrote no result for run {run_id}")
    return load_result(found[0])


def _rank_main(spec_path: str) -> int:
    """One rank: the registered step on the study's context, this rank's store opened."""
    from greenai.lifecycle.registry import kinds
    from greenai.storage import open_store

    ctx = pickle.loads(Path(spec_path).read_bytes())
    step = next(k.run for k in kinds() if k.variant == ctx.step.variant)
    try:
        with open_store(ctx.store_url, default_dir=ctx.out_dir) as store:
            step(replace(ctx, store=store))
    except GreenAIError as exc:
        print(f"greenai: error: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        return 128 + int(getattr(exc, "signum", signal.SIGINT))
    return 0


if __name__ == "__main__":
    sys.exit(_rank_main(sys.argv[1]))
