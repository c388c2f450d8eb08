"""Running an INT8 program fast: ``compile_for_cpu``, and the few programs this process compiled.

A study quantizes a model, compiles it to time it, saves it, and at the end times every finished
model again, together (``lifecycle.retime``), from its file: compiling that file a second time
cost ~11 s per INT8 variant (airbench at width 0.25 on a 2-core Xeon: 3.9 s to load, 7.4 s for the
first call). ``remember`` keeps a predictor under the SHA-256 of the file bytes that encode its
program; ``recall`` of those very bytes returns it, already compiled. Other bytes miss. Only the
last ``KEEP`` are kept (a search quantizes one model per trial).
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from collections import OrderedDict
from typing import Any

import torch
from torch import nn

_INDUCTOR_COPY_WARNING = r"To copy construct from a tensor, it is recommended"
RECOMPILE_LIMIT = 64  # compiled (module instance, input shape) pairs per forward code object
KEEP = 4  # compiled predictors remembered (each holds its program and inductor's kernels)

_recent: OrderedDict[str, Any] = OrderedDict()
_lock = threading.Lock()


def compile_for_cpu(module: nn.Module) -> Any:
    """``torch.compile`` with inductor and freezing (constant-folds weights, picks oneDNN kernels).

    Freezing is set through ``torch._inductor.config.patch`` around every call (compilation is
    lazy, per batch size): passed as ``options={"freezing": True}`` the INT8 weight prepacking
    fails under fake tensors (UnsupportedOperatorException: onednn.qconv_prepack). The recompile
    limit is raised the same way: instances of one class share their ``forward``'s code object,
    and past dynamo's default of 8 compiled (instance, shape) pairs it silently runs the rest
    eagerly (seen with a baseline and two pruned seed_cnn, each compiled in two layouts).
    """
    import torch._dynamo.config as dynamo_config
    import torch._inductor.config as inductor_config

    compiled = torch.compile(module, backend="inductor", dynamic=False)

    def call(x: torch.Tensor) -> torch.Tensor:
        with (
            inductor_config.patch(freezing=True),
            dynamo_config.patch(recompile_limit=RECOMPILE_LIMIT),
            torch.no_grad(),
            warnings.catch_warnings(),
        ):
            # inductor's own INT8 lowering (mkldnn_lowerings.py) copies a tensor the way it warns
            # users against: torch's noise, not the user's, printed on every INT8 compile
            warnings.filterwarnings("ignore", _INDUCTOR_COPY_WARNING, UserWarning)
            return compiled(x)

    return call


def _key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def remember(data: bytes, predict: Any) -> None:
    """Keep ``predict``, compiled from the program that the file bytes ``data`` encode."""
    key = _key(data)
    with _lock:
        _recent[key] = predict
        _recent.move_to_end(key)
        while len(_recent) > KEEP:
            _recent.popitem(last=False)


def recall(data: bytes) -> Any | None:
    """The predictor remembered for exactly these file bytes, or None."""
    key = _key(data)
    with _lock:
        if key in _recent:
            _recent.move_to_end(key)
        return _recent.get(key)
