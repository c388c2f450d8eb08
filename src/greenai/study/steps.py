"""The study's steps: each variant's registered step function (``greenai.lifecycle.registry``).

A step function takes the study's ``StepContext`` and returns the result dict, which the step has
already written as ``results/<dataset>_<variant>_<run_id>.json`` and recorded in the store. Every
step is a library call into ``greenai.lifecycle``: no command line is built or parsed.
"""

from __future__ import annotations

from greenai.study.runner import StepFn


def default_steps() -> dict[str, StepFn]:
    """Variant name -> step function, for every step the study can run."""
    from greenai.lifecycle import registry

    return {k.variant: k.run for k in registry.kinds() if k.run is not None}
