"""Logging greenai runs to MLflow: parameters, per-epoch metrics, energy and CO2 per phase, the result
JSON and chosen files (charts, logs), one MLflow run per greenai run, nested under a study's or a
search's parent run.

```python
from greenai.integrations.mlflow import MlflowLogger
mlf = MlflowLogger.maybe_create(args.mlflow)   # enabled by the flag or by $MLFLOW_TRACKING_URI
with mlf.run(run_id, "baseline", params={"epochs": 20}, parent=study_run_id):  # end() for you
    result = train_run(cfg, ..., run_id=run_id, mlflow=mlf)  # log_params / log_metrics(step=)
    mlf.log_result(result, [chart_png, training_log_csv])
# or step by step:
mlf.start_run(run_id, name="baseline", params={"epochs": 20, "lr": 1e-3}, parent=study_run_id)
mlf.log_epoch(epoch, {"train_loss": 0.9, "test_acc": 61.2})
mlf.log_phase_energy(phase)                    # a meter PhaseResult, or a result JSON phase dict
mlf.log_result(result, [chart_png, training_log_csv])
mlf.log_charts(result, samples=tracker.samples, phases=measurement.phases, epochs=log_rows)
mlf.end("done")                                # or "failed" / "interrupted"
Tracker(..., sinks=[StoreSink(store), *mlf.sinks()])   # phases logged as the meter ends them
```
When disabled, ``maybe_create`` returns a ``NullMlflowLogger`` with the same methods doing nothing,
so callers never test for None. MLflow is imported only when enabled (the ``mlflow`` extra), with its
telemetry off unless the user opted in (``MLFLOW_DISABLE_TELEMETRY``, ``DO_NOT_TRACK``).
Failures of MLflow itself become ``MlflowError`` (one line, exit 1); bad arguments ``UsageError``.

The code lives in small modules beside this one, re-exported here (import from here):
``mlflow_setup`` (settings, tag names, the experiment, ``MlflowError``), ``mlflow_values`` (params,
metrics and tags from greenai's values), ``mlflow_writes`` (batched writes, files),
``mlflow_logger`` (``MlflowLogger``), ``mlflow_null`` (``NullMlflowLogger``), ``mlflow_nested``
(``NestedMlflowLogger``, ``MlflowPhaseSink``), ``mlflow_charts`` (a run's own charts).
"""

from __future__ import annotations

from greenai.integrations.mlflow_charts import _loss_only, run_charts
from greenai.integrations.mlflow_logger import MlflowLogger
from greenai.integrations.mlflow_nested import MlflowPhaseSink, NestedMlflowLogger
from greenai.integrations.mlflow_null import NullMlflowLogger
from greenai.integrations.mlflow_setup import (
    ARTIFACT_DIR,
    CHART_DIR,
    CHARTS_TAG,
    DEFAULT_EXPERIMENT,
    ENV_EXPERIMENT,
    ENV_TRACKING_URI,
    PARENT_TAG,
    RUN_ID_TAG,
    STATUSES,
    MlflowError,
    is_enabled,
    quiet_mlflow,
)
from greenai.integrations.mlflow_setup import artifact_location as _artifact_location
from greenai.integrations.mlflow_setup import translated as _translated
from greenai.integrations.mlflow_values import (
    _flatten,
    _metric_key,
    _numeric,
    flatten_params,
)

__all__ = [
    "ARTIFACT_DIR",
    "CHARTS_TAG",
    "CHART_DIR",
    "DEFAULT_EXPERIMENT",
    "ENV_EXPERIMENT",
    "ENV_TRACKING_URI",
    "PARENT_TAG",
    "RUN_ID_TAG",
    "STATUSES",
    "MlflowError",
    "MlflowLogger",
    "MlflowPhaseSink",
    "NestedMlflowLogger",
    "NullMlflowLogger",
    "_artifact_location",
    "_flatten",
    "_loss_only",
    "_metric_key",
    "_numeric",
    "_translated",
    "flatten_params",
    "is_enabled",
    "quiet_mlflow",
    "run_charts",
]
