"""The model registry: ``@register_model("name")`` on a factory, ``create_model(name, ...)`` to build.

Every module in this package is imported on first use, so a new built-in model is one new file
with a decorated factory; nothing here needs editing. Models from outside the package
(``MODULE:NAME``, ``path/to/file.py:NAME``, plugins in the entry-point group ``greenai.models``)
and the factory contract they follow are described in ``refs.py``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from typing import Any

from greenai.errors import UsageError
from greenai.ml.models import refs

_REGISTRY: dict[str, Callable[..., Any]] = {}
_discovered = False
DEFAULT_INPUT_SHAPE = (3, 32, 32)  # CIFAR: (channels, height, width)


def register_model(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``factory(num_classes=10, input_shape=(3, 32, 32), **kw) -> nn.Module`` as ``name``."""

    def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY and _REGISTRY[name] is not factory:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = factory
        return factory

    return deco


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    _discovered = True


def available() -> list[str]:
    """Names of the built-in models and of installed plugins' models, sorted."""
    _discover()
    return sorted(set(_REGISTRY) | set(refs.plugins()))


def is_builtin(name: str) -> bool:
    """Whether ``name`` is a registered built-in net (not a plugin or a reference)."""
    _discover()
    return name in _REGISTRY


def model_reference(name: str) -> str:
    """The process-independent form of ``name`` to record: ``file.py:NAME`` with an absolute path.

    Built-in, plugin and ``MODULE:NAME`` names come back unchanged. Parses only; nothing is
    imported (``check_model_name`` validates)."""
    ref = refs.parse(name, f"model {name!r}")
    return name if ref is None else str(ref)


def check_model_name(name: str, flag: str = "--model") -> None:
    """Validate ``name`` without building: a known name, or a reference that imports to a callable."""
    _factory(name, f"{flag} {name!r}", load_plugin=False)


def create_model(
    name: str,
    num_classes: int = 10,
    input_shape: tuple[int, int, int] = DEFAULT_INPUT_SHAPE,
    **kw: Any,
) -> Any:
    """Build model ``name`` and check it with one forward pass; every failure is a UsageError.

    The check runs in eval mode under no_grad on zeros of shape ``(2, *input_shape)`` and needs
    ``(2, num_classes)`` logits; each submodule's train/eval mode is restored afterwards."""
    label = f"model {name!r}"
    factory = _factory(name, label, load_plugin=True)
    shape = _input_shape(input_shape, label)
    model = _call(factory, label, {"num_classes": num_classes, "input_shape": shape}, kw)
    check_forward(model, label, num_classes, shape)
    return model


def reference_of(model: Any) -> str:
    """The reference that rebuilds ``model`` (a name or reference string as given, a factory
    function, an nn.Module class, or an instance of one): ``file.py:Name`` for code in a file,
    ``MODULE:Name`` for an installed module, ``__main__:Name`` for code in the running script
    (rebuildable in this process only: importing the script again would run it)."""
    import inspect

    if isinstance(model, str):
        return model
    target = model if inspect.isfunction(model) or inspect.isclass(model) else type(model)
    if target.__module__ == "__main__":
        return f"__main__:{target.__qualname__}"
    try:
        return f"{inspect.getfile(target)}:{target.__qualname__}"
    except TypeError:
        return f"{target.__module__}:{target.__qualname__}"


def count_params(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


def _factory(name: str, label: str, load_plugin: bool) -> Any:
    ref = refs.parse(name, label)
    if ref is not None:
        return refs.resolve(ref, label)
    _discover()
    if name in _REGISTRY:
        return _REGISTRY[name]
    plugins = refs.plugins()
    if name in plugins:
        return refs.load_plugin(plugins[name], label) if load_plugin else None
    raise UsageError(
        f"unknown model {name!r}; available: {', '.join(available())}; or {refs.FORMS}"
    )


def _input_shape(shape: Any, label: str) -> tuple[int, int, int]:
    try:
        dims = tuple(shape)
        ok = len(dims) == 3 and all(isinstance(d, int) and d > 0 for d in dims)
    except TypeError:
        ok = False
    if not ok:
        raise UsageError(
            f"{label}: input_shape must be (channels, height, width) of positive integers, "
            f"got {shape!r}"
        )
    return dims  # type: ignore[return-value]


def _call(
    factory: Callable[..., Any], label: str, standard: dict[str, Any], kw: dict[str, Any]
) -> Any:
    """Call ``factory`` with the standard arguments its signature takes, plus the user's ``kw``."""
    try:
        sig: inspect.Signature | None = inspect.signature(factory)
    except (TypeError, ValueError):  # no signature to read (some builtins): pass everything
        sig = None
    checked = sig is not None and not any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    if checked:
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        named = {n for n, p in sig.parameters.items() if p.kind in kinds}
        standard = {k: v for k, v in standard.items() if k in named}
        try:
            sig.bind(**standard, **kw)
        except TypeError as exc:
            raise UsageError(f"{label}: bad arguments {sorted(kw)}: {exc}") from None
    try:
        return factory(**standard, **kw)
    except Exception as exc:
        if isinstance(exc, TypeError) and kw and not checked:  # a keyword passed on, refused inside
            raise UsageError(f"{label}: bad arguments {sorted(kw)}: {refs.one_line(exc)}") from None
        raise UsageError(f"{label}: the factory failed ({refs.one_line(exc)})") from None


def check_forward(
    model: Any, label: str, num_classes: int, input_shape: tuple[int, int, int]
) -> None:
    """One eval-mode forward on zeros of ``(2, *input_shape)``; any failure is one UsageError."""
    import torch

    if not isinstance(model, torch.nn.Module):
        raise UsageError(
            f"{label}: the factory returned {type(model).__name__}, not a torch.nn.Module"
        )
    device, dtype = torch.device("cpu"), torch.float32
    for t in (*model.parameters(), *model.buffers()):
        try:
            device = t.device
            dtype = t.dtype if t.is_floating_point() else dtype
        except Exception:  # an uninitialized (lazy) parameter: keep the defaults
            continue
        break
    modes = [(m, m.training) for m in model.modules()]
    batch = (2, *input_shape)
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(batch, device=device, dtype=dtype))
    except Exception as exc:
        raise UsageError(
            f"{label}: a forward pass on a {batch} batch failed ({refs.one_line(exc)})"
        ) from None
    finally:
        for m, mode in modes:
            m.training = mode
    if not isinstance(out, torch.Tensor):
        raise UsageError(f"{label}: the forward pass returned {type(out).__name__}, not a tensor")
    if tuple(out.shape) != (2, num_classes):
        raise UsageError(
            f"{label}: output shape {tuple(out.shape)} does not match {num_classes} classes"
        )
