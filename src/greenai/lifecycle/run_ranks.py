"""A metered run inside a torchrun/SLURM job: which steps may run there, and the embodied carbon of
every machine the job ran on (``run.MeteredRun.execute``)."""

from __future__ import annotations

from typing import Any


def refuse_unshared_ranks(variant: str, gathered: bool) -> None:
    """Under torchrun/SLURM, only DDP training and fine-tuning split the work and gather one total
    (``gathered``: ``RunEnv.gather`` is set); any other step would run, and be recorded, once per
    rank: ``UsageError``."""
    if gathered:
        return
    from greenai.sensors.ranks import rank_info

    info = rank_info()
    if info.distributed:
        from greenai.errors import UsageError

        raise UsageError(
            f"the {variant} step does not run distributed (rank {info.rank} of "
            f"{info.world_size}): only training and fine-tuning do (baseline, prune, distill, "
            "quantize --method qat with --nproc-per-node N)"
        )


def embodied_over(section: Any, detail: dict[str, Any], parent: Any) -> dict[str, Any]:
    """The embodied section for every machine the distributed job ran on (``detail``: the result's
    ``distributed`` section; ``parent``: the parent's result)."""
    from greenai.carbon.embodied import for_machines

    return for_machines(section, len(detail.get("nodes") or ()) or 1, parent)
