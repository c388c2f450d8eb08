"""What a deployment runtime offers: an FP32 predictor, an INT8 predictor from its own
post-training quantizer, and (for some) a deployable file.

A predictor takes and returns torch tensors (float32 NCHW in, logits out), whatever the runtime
computes with, so accuracy and timing code is the same for all of them.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

Predict = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Prepared:
    """A variant made ready on one runtime."""

    runtime: str  # a backend's name, e.g. "openvino", or a named route, "openvino_qdq"
    precision: str  # "fp32" or "int8"
    predict: Predict
    how: str  # how it was converted/quantized, for the record
    prepare_s: float = 0.0  # seconds the conversion took (its energy is the step's, not measured)


class Backend:
    """One runtime. Subclasses set ``name``, ``label`` and ``modules`` (the packages it needs) and
    implement ``fp32`` and, where the runtime has a post-training quantizer, ``int8``."""

    name = ""
    label = ""
    modules: tuple[str, ...] = ()
    extra = ""  # the greenai extra that installs it

    def missing(self) -> str | None:
        """Why this runtime cannot run here (a package not installed), or None."""
        for module in self.modules:
            if importlib.util.find_spec(module) is None:
                return f"{module} is not installed (pip install 'greenai[{self.extra}]')"
        return None

    def require(self) -> None:
        """Import this runtime's packages now: one line naming the extra if one is missing (or
        fails to import), before anything is written."""
        import importlib

        from greenai.errors import MissingExtraError

        for module in self.modules:
            try:
                importlib.import_module(module)
            except ImportError:
                raise MissingExtraError(module, self.extra) from None

    def fp32(self, model: nn.Module, example: torch.Tensor, work: Path) -> Prepared:
        raise NotImplementedError

    def int8(
        self, model: nn.Module, example: torch.Tensor, calib: Sequence[torch.Tensor], work: Path
    ) -> list[Prepared]:
        """INT8 from this runtime's own post-training quantizer, calibrated on ``calib`` (one
        entry per quantization route); [] where the runtime has none."""
        return []


def threads() -> int:
    """The thread count every runtime is given: the one torch runs with, so comparisons are fair."""
    return torch.get_num_threads()


def as_torch(fn: Callable[[torch.Tensor], object]) -> Predict:
    """Wrap a runtime's numpy-returning call so it takes and returns torch tensors."""

    def predict(x: torch.Tensor) -> torch.Tensor:
        out = fn(x)
        return out if isinstance(out, torch.Tensor) else torch.from_numpy(out)

    return predict


class quiet_fds:  # a context manager, named like one
    """Silence stdout and stderr at the file-descriptor level (runtimes' C++ logging and progress
    bars that Python's redirects cannot catch); restored on exit, also on error."""

    def __enter__(self) -> quiet_fds:
        import os
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        self._saved = [os.dup(1), os.dup(2)]
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        os.close(null)
        return self

    def __exit__(self, *exc: object) -> None:
        import os
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        for fd, saved in zip((1, 2), self._saved, strict=True):
            os.dup2(saved, fd)
            os.close(saved)
