"""The study's steps: each variant's registered step function (``greenai.lifecycle.registry``).

A step function takes the study's ``StepContext`` and returns the result dict, which the step has
already written as ``results/<dataset>_<variant>_<run_id>.json`` and recorded in the store. Every
step is a library call into ``greenai.lifecycle``: no command line is built or parsed.
"""

from __future__ import annotations

import functools
from typing import Any

from greenai.study.runner import StepFn


def default_steps(ddp: Any = None) -> dict[str, StepFn]:
    """Variant name -> step function, for every step the study can run. ``ddp``: a
    ``study.ddp.DdpLaunch``: the baseline and the fine-tuning steps run under DDP on that many ranks
    (``study/ddp.py``)."""
    from greenai.lifecycle import registry

    steps = {k.variant: k.run for k in registry.kinds() if k.run is not None}
    if ddp is not None:
        from greenai.study.ddp import DISTRIBUTED, run_ddp_step

        for variant in DISTRIBUTED:
            if variant in steps:
                steps[variant] = functools.partial(run_ddp_step, ddp)
    return steps
