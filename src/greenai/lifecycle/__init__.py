"""The lifecycle: every step (train, register, prune, quantize, distill, export) as a metered,
recorded run with lineage, on one skeleton (``run.py``), registered by name (``registry.py``).

The Python API (``api.py``) is re-exported here lazily, so ``import greenai.lifecycle`` imports no
torch until a step runs::

    import greenai.lifecycle as lc
    base = lc.baseline("my_models.py:make_net", "npz:data.npz", epochs=5)
    pruned = lc.prune(base, sparsity=0.3)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "StepResult",
    "baseline",
    "dataset",
    "distill",
    "export",
    "prune",
    "quantize",
    "register",
    "report",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from greenai.lifecycle import api

        return getattr(api, name)
    raise AttributeError(f"module 'greenai.lifecycle' has no attribute {name!r}")
