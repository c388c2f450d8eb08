"""Will the model fit? Its parameter count, taken without allocating it, against available memory.

A width such as ``--width 1e7`` or ``--width 300`` either fails inside the allocator (a raw
RuntimeError) or, worse, allocates, starts a run and is killed by the kernel's OOM killer halfway
with its run left "running". ``check_fits_memory`` builds the model on torch's ``meta`` device
(shapes only, no storage), so the refusal comes before anything is created or written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from greenai.errors import UsageError

# Training holds, per parameter, at least: fp32 weights (4 bytes), gradients (4) and optimizer
# state (SGD momentum 4, Adam 8): 16 bytes is the floor of the working set, before activations.
TRAINING_BYTES_PER_PARAM = 16
MEMINFO = Path("/proc/meminfo")
_GIB = 1024**3


def parameter_count(
    name: str, num_classes: int = 10, input_shape: tuple[int, int, int] = (3, 32, 32), **kw: Any
) -> int | None:
    """The model's parameter count, built on the ``meta`` device; None when it cannot be built
    there (e.g. a user's factory that does real work, or sizes too large to represent)."""
    import torch

    from greenai.ml.models import _call, _factory, _input_shape

    label = f"model {name!r}"
    factory = _factory(name, label, load_plugin=True)  # an unknown name: its own one line
    shape = _input_shape(input_shape, label)
    try:
        with torch.device("meta"):
            model = _call(factory, label, {"num_classes": num_classes, "input_shape": shape}, kw)
        if not isinstance(model, torch.nn.Module):
            return None  # not a model: create_model says so in its own line
        return sum(p.numel() for p in model.parameters())
    except (UsageError, RuntimeError, ValueError, TypeError, OverflowError) as exc:
        if "overflow" in str(exc).lower():  # a tensor of more than 2**63 bytes
            raise UsageError(
                f"{label} ({', '.join(f'{k}={v}' for k, v in kw.items())}): a layer would "
                "exceed 2**63 bytes; choose a smaller size"
            ) from None
        return None


def available_memory_bytes(meminfo: Path = MEMINFO) -> int | None:
    """``MemAvailable`` from ``/proc/meminfo`` (Linux), else psutil's figure, else None."""
    try:
        for line in meminfo.read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # the file says kB (KiB)
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil
    except ImportError:
        return None
    return int(psutil.virtual_memory().available)


def check_fits_memory(
    name: str,
    model_kwargs: dict[str, Any] | None = None,
    *,
    num_classes: int = 10,
    input_shape: tuple[int, int, int] = (3, 32, 32),
    meminfo: Path = MEMINFO,
) -> None:
    """Raise ``UsageError`` (one line) when training ``name`` cannot fit in available memory.

    The need is estimated as parameters × ``TRAINING_BYTES_PER_PARAM`` (a floor: activations come
    on top); an unknown count or an unreadable memory figure skips the check.
    """
    kw = dict(model_kwargs or {})
    count = parameter_count(name, num_classes, input_shape, **kw)
    available = available_memory_bytes(meminfo)
    if count is None or available is None:
        return
    need = count * TRAINING_BYTES_PER_PARAM
    if need > available:
        width = kw.get("width", 1.0)
        where = f"model {name!r}" + (f" at width {width:g}" if width != 1.0 else "")
        raise UsageError(
            f"{where} has {count:,} parameters: training needs at least {need / _GIB:,.1f} GiB "
            f"({TRAINING_BYTES_PER_PARAM} bytes a parameter for weights, gradients and optimizer "
            f"state) but {available / _GIB:,.1f} GiB of memory is available"
        )
