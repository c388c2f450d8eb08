"""The search space, declared in one place (``DEFAULT_SPACE``) and narrowed from flags or a file.

A dimension is a float range (optionally log-scaled), an integer range, or a list of choices. Narrowing
replaces a dimension's range or choices with the user's, after checking them: a range whose low end
is above its high end, an empty list of choices, a value outside a dimension's hard limits or an
unknown dimension name is a ``UsageError`` (one line, exit 2), raised before anything is written.

Compression dimensions (``sparsity``, ``quantization``) are applied by the trial after training, as
child runs of the trained model (``greenai.search.objective``): unstructured magnitude pruning at the
sampled sparsity (0: none), then static INT8 post-training quantization when quantization is "on".

Config file (TOML or JSON), one screen long::

    [space]                 # or a JSON object {"space": {...}}; the table name is optional
    lr = [1e-4, 1e-2]       # range: [low, high]; a single number fixes it
    epochs = [1, 3]
    batch_size = [64, 128]  # choices: the allowed values
    precision = ["fp32"]
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from greenai.errors import UsageError

Value = bool | int | float | str


@dataclass(frozen=True)
class FloatRange:
    """A real-valued range [low, high]; ``limits`` are the hard bounds any narrowing must respect."""

    name: str
    low: float
    high: float
    log: bool = False
    limits: tuple[float, float] = (-math.inf, math.inf)
    help: str = ""


@dataclass(frozen=True)
class IntRange:
    name: str
    low: int
    high: int
    limits: tuple[int, int] = (1, 10**6)
    help: str = ""


@dataclass(frozen=True)
class Choice:
    """A categorical dimension. ``allowed`` (when set) is the closed set narrowing may pick from;
    otherwise any value of ``kind`` within ``limits`` is accepted."""

    name: str
    choices: tuple[Value, ...]
    kind: type = str
    allowed: tuple[Value, ...] | None = None
    limits: tuple[float, float] = (-math.inf, math.inf)
    help: str = ""


Dimension = FloatRange | IntRange | Choice

# Compression dimensions and their "no compression" value (a trial at these values is only trained).
COMPRESSION_OFF: dict[str, Value] = {"sparsity": 0.0, "quantization": "off"}

# The default search space. Ranges are wide enough to contain the study's hand-tuned baseline
# (Adam, lr 1e-3, batch 64, fp32) and the cheap corners an energy-aware search should find.
DEFAULT_DIMENSIONS: tuple[Dimension, ...] = (
    # up to 3e-3: in a 30-trial search here (Adam, seed_cnn) every trial with lr >= 4.5e-3 stayed at
    # chance (11 of 30), so the old upper bound of 3e-2 wasted a third of the trials
    FloatRange("lr", 1e-4, 3e-3, log=True, limits=(1e-7, 10.0), help="learning rate (log scale)"),
    Choice("batch_size", (32, 64, 128, 256), kind=int, limits=(1, 65536), help="batch size"),
    IntRange("epochs", 1, 5, limits=(1, 1000), help="training epochs"),
    Choice("width", (0.5, 1.0, 2.0), kind=float, limits=(0.0625, 16.0), help="model width factor"),
    Choice("precision", ("fp32", "bf16"), allowed=("fp32", "bf16"), help="training precision"),
    Choice(
        "sparsity",
        (0.0, 0.5, 0.8),
        kind=float,
        limits=(0.0, 0.99),
        help="fraction of conv weights pruned (unstructured magnitude; 0: no pruning)",
    ),
    Choice("quantization", ("off", "on"), allowed=("off", "on"), help="static INT8 PTQ"),
)


@dataclass(frozen=True)
class SearchSpace:
    """The dimensions a trial samples."""

    dimensions: tuple[Dimension, ...]

    def names(self) -> list[str]:
        return [d.name for d in self.dimensions]

    def __getitem__(self, name: str) -> Dimension:
        for dim in self.dimensions:
            if dim.name == name:
                return dim
        raise KeyError(name)

    def suggest(self, trial: Any) -> dict[str, Value]:
        """Sample one configuration with an Optuna trial (single-value dimensions are fixed)."""
        params: dict[str, Value] = {}
        for dim in self.dimensions:
            if isinstance(dim, FloatRange):
                params[dim.name] = trial.suggest_float(dim.name, dim.low, dim.high, log=dim.log)
            elif isinstance(dim, IntRange):
                params[dim.name] = trial.suggest_int(dim.name, dim.low, dim.high)
            else:
                params[dim.name] = trial.suggest_categorical(dim.name, list(dim.choices))
        return params

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description (kept in the study so a resumed search can check it matches)."""
        out: dict[str, Any] = {}
        for dim in self.dimensions:
            if isinstance(dim, FloatRange):
                out[dim.name] = {"low": dim.low, "high": dim.high, "log": dim.log}
            elif isinstance(dim, IntRange):
                out[dim.name] = {"low": dim.low, "high": dim.high}
            else:
                out[dim.name] = {"choices": list(dim.choices)}
        return out

    def describe(self) -> str:
        parts = []
        for name, spec in self.to_dict().items():
            if "choices" in spec:
                parts.append(f"{name} in {spec['choices']}")
            else:
                log = " (log)" if spec.get("log") else ""
                parts.append(f"{name} in [{spec['low']:g}, {spec['high']:g}]{log}")
        return "; ".join(parts)


def default_space() -> SearchSpace:
    """The declared space, every dimension as in ``DEFAULT_DIMENSIONS``."""
    return SearchSpace(DEFAULT_DIMENSIONS)


def _number(name: str, value: Any, kind: type) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UsageError(f"search space: {name} needs numbers, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise UsageError(f"search space: {name} needs numbers, got {value!r}") from None
    if not math.isfinite(number):
        raise UsageError(f"search space: {name} needs finite numbers, got {value!r}")
    if kind is int:
        if number != int(number):
            raise UsageError(f"search space: {name} needs whole numbers, got {value!r}")
        return int(number)
    return number


def _check_limits(name: str, values: Sequence[float], limits: tuple[float, float]) -> None:
    lo, hi = limits
    for v in values:
        if not lo <= v <= hi:
            raise UsageError(f"search space: {name}={v:g} is outside its limits [{lo:g}, {hi:g}]")


def _narrow_one(dim: Dimension, raw: Any) -> Dimension:
    values = list(raw) if isinstance(raw, (list, tuple)) else [raw]
    if not values:
        raise UsageError(f"empty search space: no values given for {dim.name}")
    if isinstance(dim, (FloatRange, IntRange)):
        kind = int if isinstance(dim, IntRange) else float
        if len(values) > 2:
            raise UsageError(
                f"search space: {dim.name} takes [low, high], got {len(values)} values"
            )
        nums = [_number(dim.name, v, kind) for v in values]
        low, high = nums[0], nums[-1]
        if low > high:
            raise UsageError(
                f"contradictory search space: {dim.name} range low {low:g} > high {high:g}"
            )
        _check_limits(dim.name, nums, dim.limits)
        if isinstance(dim, FloatRange) and dim.log and low <= 0:
            raise UsageError(f"search space: {dim.name} is log-scaled and needs low > 0")
        return replace(dim, low=low, high=high)
    if dim.allowed is not None:
        picked = [str(v).lower() if isinstance(v, (str, bool)) else v for v in values]
        picked = ["on" if v == "true" else "off" if v == "false" else v for v in picked]
        bad = [v for v in picked if v not in dim.allowed]
        if bad:
            raise UsageError(
                f"search space: {dim.name} cannot be {bad[0]!r} (choose from {list(dim.allowed)})"
            )
    else:
        picked = [_number(dim.name, v, dim.kind) for v in values]
        _check_limits(dim.name, picked, dim.limits)
    return replace(dim, choices=tuple(dict.fromkeys(picked)))


def narrow(space: SearchSpace, overrides: Mapping[str, Any]) -> SearchSpace:
    """Return ``space`` with each named dimension replaced by the user's range or choices."""
    known = space.names()
    dims = {d.name: d for d in space.dimensions}
    for name, raw in overrides.items():
        if name not in dims:
            raise UsageError(
                f"search space: unknown dimension {name!r} (known: {', '.join(known)})"
            )
        dims[name] = _narrow_one(dims[name], raw)
    return SearchSpace(tuple(dims[n] for n in known))


def load_space_file(path: str | Path) -> dict[str, Any]:
    """Read narrowing overrides from a TOML or JSON file (a ``space`` table, or top-level keys)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read search-space file {p}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"search-space file {p} is not UTF-8 text (byte {exc.start}): write it as TOML or JSON"
        ) from None
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                raise UsageError(f"{p}: TOML needs Python 3.11; write it as JSON") from None
            data = tomllib.loads(text)
    except (ValueError, TypeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"search-space file {p} is not valid: {first}") from None
    if not isinstance(data, dict):
        raise UsageError(f"search-space file {p} must hold a table of dimensions")
    table = data.get("space", data)
    if not isinstance(table, dict):
        raise UsageError(f"search-space file {p}: 'space' must be a table of dimensions")
    if not table:
        raise UsageError(f"empty search space: {p} names no dimensions")
    return dict(table)


def build_space(
    file: str | Path | None = None,
    flags: Mapping[str, Any] | None = None,
) -> SearchSpace:
    """Default space, narrowed by the file, then by flags (flags win)."""
    space = default_space()
    if file is not None:
        space = narrow(space, load_space_file(file))
    if flags:
        space = narrow(space, {k: v for k, v in flags.items() if v is not None})
    return space
