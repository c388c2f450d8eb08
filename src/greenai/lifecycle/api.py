"""The lifecycle as a Python API: your model and your data, every step measured and recorded.

```python
import greenai.lifecycle as lc

data = lc.dataset("npz:my_data.npz")                         # or a Dataset, or four tensors
base = lc.baseline("my_models.py:make_net", data, epochs=5)   # greenai trains it, metered
# ... or train it in your own loop under greenai.track and register it:
#     with greenai.track("my training") as t: train(net)
#     base = lc.register(net, data, measurement=t.measurement)
pruned = lc.prune(base, sparsity=0.3)                        # each step: a run with lineage
int8 = lc.quantize(base, method="ptq")
print(pruned.lifecycle_energy_kwh, pruned.break_even)        # includes the parent's training
lc.report([base, pruned, int8], out_dir="report")
```
Every call records a run in the run store (``store=``, else ``$GREENAI_STORE``, else
``<out_dir>/greenai.db``) and writes its result JSON, model file and logs under ``out_dir``, exactly
as the commands do; ``greenai runs``, ``report`` and ``dashboard`` show them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenai.lifecycle.run import RunEnv

DEFAULT_OUT = "."  # as the commands: results/, models/, logs/ and greenai.db here


@dataclass(frozen=True)
class StepResult:
    """One recorded run: its figures, where its files are, and the model (for the next step)."""

    run_id: str
    variant: str
    accuracy_pct: float | None
    energy_kwh: float  # this step's own energy (grid, PUE included)
    co2_kg: float
    lifecycle_energy_kwh: float  # this step plus every ancestor's
    lifecycle_co2_kg: float
    parent_energy_known: bool
    model_path: Path | None
    out_dir: Path
    break_even: dict[str, Any] | None
    result: dict[str, Any] = field(repr=False)  # the whole result JSON

    @classmethod
    def of(cls, result: dict[str, Any], out_dir: Path) -> StepResult:
        energy, metrics = result["energy"], result.get("metrics") or {}
        artifact = (result.get("artifacts") or {}).get("model")
        return cls(
            run_id=result["run_id"], variant=result["variant"],
            accuracy_pct=metrics.get("test_accuracy_pct"),
            energy_kwh=energy["step"]["energy_kwh"], co2_kg=energy["step"]["co2_kg"],
            lifecycle_energy_kwh=energy["lifecycle"]["energy_kwh"],
            lifecycle_co2_kg=energy["lifecycle"]["co2_kg"],
            parent_energy_known=energy["lifecycle"].get("parent_energy_known", True),
            model_path=out_dir / artifact if artifact else None, out_dir=out_dir,
            break_even=result.get("break_even"), result=result,
        )  # fmt: skip


def dataset(source: Any, *, image_size: int | None = None, data_dir: str | None = None) -> Any:
    """A ``greenai.ml.data.Dataset`` from a spec string (``cifar10``, ``imagefolder:PATH``,
    ``npz:PATH``, ``MODULE:NAME``), a Dataset, (x_train, y_train, x_test, y_test) arrays, or a
    (train, test) pair of torch Datasets."""
    from greenai.ml.data import Dataset, from_returned, load_dataset

    if isinstance(source, Dataset):
        return source
    if isinstance(source, (str, Path)):
        return load_dataset(str(source), data_dir, image_size=image_size)
    return from_returned(source, "the data given to greenai.lifecycle")


def _env(out_dir: str | Path, store: Any, group: str | None, carbon: Any = None) -> RunEnv:
    from greenai.storage import RunStore, open_store

    out = Path(out_dir)
    opened = store if isinstance(store, RunStore) else open_store(store, default_dir=out)
    return RunEnv(out_dir=out, store=opened, carbon=carbon, group=group)


def _data_spec(data: Any, parent: Any, limit_train: int | None, limit_test: int | None) -> Any:
    from greenai.lifecycle.variant_data import DataSpec

    if data is None:
        if not parent.dataset:
            from greenai.errors import UsageError

            raise UsageError(f"{parent.source}: no dataset recorded; pass data=")
        return DataSpec(parent.dataset, limit_train=limit_train, limit_test=limit_test)
    ds = dataset(data)
    return DataSpec(ds.spec, limit_train=limit_train, limit_test=limit_test, source=ds)


def _parent(parent: Any, env: RunEnv) -> Any:
    from greenai.lifecycle.parents import resolve_parent

    ref = parent.run_id if isinstance(parent, StepResult) else str(parent)
    return resolve_parent(ref, env.out_dir, env.store)


def _reference(model: Any) -> str:
    from greenai.ml.models import reference_of

    return reference_of(model)


def baseline(
    model: Any,
    data: Any,
    *,
    recipe: str | None = "seed",
    out_dir: str | Path = DEFAULT_OUT,
    store: Any = None,
    group: str | None = None,
    progress: bool = False,
    carbon: Any = None,
    **settings: Any,
) -> StepResult:
    """Train ``model`` (a built-in name, a ``MODULE:NAME``/``file.py:NAME`` reference, or a factory
    function / nn.Module class taking ``num_classes`` and ``input_shape``) on ``data`` with greenai's
    training loop, metered. ``settings``: ``TrainConfig`` fields over the ``recipe``'s."""
    import dataclasses

    from greenai.lifecycle.steps.baseline import train_run
    from greenai.ml.training.config import TrainConfig
    from greenai.ml.training.recipes import RECIPES

    ds = dataset(data)
    base = RECIPES[recipe] if recipe else TrainConfig()
    cfg = dataclasses.replace(base, model=_reference(model), dataset=ds.spec or ds.name, **settings)
    env = _env(out_dir, store, group, carbon)
    result = train_run(
        cfg, out_dir=env.out_dir, store=env.store, carbon=env.carbon, group=group,
        progress=progress, dataset=ds,
    )  # fmt: skip
    return StepResult.of(result, env.out_dir)


def register(
    model: Any,
    data: Any,
    *,
    measurement: Any = None,
    model_ref: str | None = None,
    model_kwargs: dict[str, Any] | None = None,
    out_dir: str | Path = DEFAULT_OUT,
    store: Any = None,
    group: str | None = None,
    carbon: Any = None,
) -> StepResult:
    """Record a model trained in your own loop as a lineage root that later steps derive from.

    ``measurement``: what ``greenai.track`` measured of its training. When that run is in the
    store, it becomes this run's parent (its energy counted once, by lineage); a measurement not
    recorded is counted as part of this run; none at all: the training energy is unknown and said
    so, never counted as zero. ``model_ref``: how to rebuild the model elsewhere (default: its
    class's file and name, called with ``model_kwargs``)."""
    from greenai.lifecycle.steps.register import register as register_step

    ds = dataset(data)
    env = _env(out_dir, store, group, carbon)
    result = register_step(
        model, env, ds, measurement=measurement, model_ref=model_ref or _reference(model),
        model_kwargs=model_kwargs or {},
    )  # fmt: skip
    return StepResult.of(result, env.out_dir)


def _derived(step: str, parent: Any, data: Any, options: dict[str, Any]) -> StepResult:
    import importlib

    out_dir = options.pop("out_dir", None)
    if out_dir is None:
        out_dir = parent.out_dir if isinstance(parent, StepResult) else DEFAULT_OUT
    env = _env(out_dir, options.pop("store", None), options.pop("group", None),
               options.pop("carbon", None))  # fmt: skip
    p = _parent(parent, env)
    spec = _data_spec(data, p, options.pop("limit_train", None), options.pop("limit_test", None))
    fn = getattr(importlib.import_module(f"greenai.lifecycle.steps.{step}"), step)
    return StepResult.of(fn(p, env, spec, **options), env.out_dir)


def prune(parent: Any, data: Any = None, **options: Any) -> StepResult:
    """Prune ``parent`` (a StepResult, run id or greenai model file); see ``steps.prune.prune``."""
    return _derived("prune", parent, data, options)


def quantize(parent: Any, data: Any = None, **options: Any) -> StepResult:
    """INT8-quantize ``parent``; see ``steps.quantize.quantize``."""
    return _derived("quantize", parent, data, options)


def distill(teacher: Any, data: Any = None, **options: Any) -> StepResult:
    """Distil ``teacher`` into ``student=`` (a name, reference or nn.Module)."""
    return _derived("distill", teacher, data, options)


def export(parent: Any, data: Any = None, **options: Any) -> StepResult:
    """Export ``parent`` to ONNX (``int8=True``: ONNX Runtime static INT8)."""
    return _derived("export", parent, data, options)


def report(
    runs: list[StepResult] | None = None,
    *,
    out_dir: str | Path = "greenai-report",
    store: Any = None,
    results_dir: str | Path | None = None,
    inferences: float | None = None,
) -> Any:
    """Write the report (tables, charts, report.html) for ``runs`` (default: every run in the
    store); returns its ``ReportFiles``."""
    from greenai.reports.build import write_report
    from greenai.reports.sources import from_store

    source = results_dir or (runs[0].out_dir if runs else DEFAULT_OUT)
    env = _env(source, store, None)
    ids = [r.run_id for r in runs] if runs else None
    inputs = from_store(env.store, run_ids=ids or ())
    return write_report(
        inputs, Path(out_dir), inferences=int(inferences) if inferences else None,
        source=f"run store {env.store.url}",
    )  # fmt: skip
