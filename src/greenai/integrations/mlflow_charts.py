"""A run's own charts for MLflow: power per component over time and accuracy/loss per epoch,
drawn by ``greenai.reports`` and logged as ``greenai/charts/*.png``.

Charts are an extra: without matplotlib (``greenai[report]``), or when drawing fails, none are
logged, and the reason goes to the ``greenai.integrations.mlflow`` logger and the run's
``greenai.charts`` tag; a chart never fails a finished run.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from greenai.errors import MissingExtraError
from greenai.integrations.mlflow_setup import CHART_DIR, CHARTS_TAG
from greenai.integrations.mlflow_values import MAX_PARAM_CHARS, _numeric

# The facade's name, so the messages keep their logger whichever module logs them.
_log = logging.getLogger("greenai.integrations.mlflow")


def log_run_charts(
    client: Any,
    mlflow_id: str,
    result: Mapping[str, Any],
    *,
    samples: Sequence[Any] = (),
    phases: Sequence[Any] = (),
    epochs: Sequence[Mapping[str, Any]] = (),
) -> list[str]:
    """Draw the run's charts (``run_charts``) and log each under ``greenai/charts/`` of MLflow run
    ``mlflow_id``; returns the artifact paths logged ([] when skipped, the reason tagged)."""
    try:
        charts = run_charts(result, samples=samples, phases=phases, epochs=epochs)
    except (MissingExtraError, ImportError) as error:
        if not isinstance(error, MissingExtraError):  # e.g. matplotlib.ticker, imported first
            error = MissingExtraError("matplotlib", "report")
        _log.info("MLflow: no charts for run %s: %s", result.get("run_id"), error)
        client.set_tag(mlflow_id, CHARTS_TAG, f"skipped: {error}"[:MAX_PARAM_CHARS])
        return []
    except Exception as error:  # a chart must never fail a finished run
        _log.warning(
            "MLflow: drawing the charts of run %s failed", result.get("run_id"), exc_info=True
        )
        reason = f"skipped: {type(error).__name__}: {error}"
        client.set_tag(mlflow_id, CHARTS_TAG, reason[:MAX_PARAM_CHARS])
        return []
    logged = []
    with tempfile.TemporaryDirectory(prefix="greenai-charts-") as folder:
        for name, png in charts.items():
            path = Path(folder) / f"{name}.png"
            path.write_bytes(png)
            client.log_artifact(mlflow_id, str(path), CHART_DIR)
            logged.append(f"{CHART_DIR}/{path.name}")
    return logged


def run_charts(
    result: Mapping[str, Any],
    *,
    samples: Sequence[Any] = (),
    phases: Sequence[Any] = (),
    epochs: Sequence[Mapping[str, Any]] = (),
) -> dict[str, bytes]:
    """One run's charts as PNG bytes, by ``greenai.reports``: ``"power"`` from the meter's
    ``Sample`` records and ``PhaseResult`` phases (``reports.sources.power_trace``), ``"epochs"``
    from per-epoch rows (``{"epoch": 1, "train_loss": 0.9, "eval_acc_pct": 61.0, ...}``; a run
    that only records a loss per epoch, e.g. ``finetune_loss``, gets that loss alone). A chart
    without enough data is left out. Raises ``MissingExtraError`` without matplotlib."""
    from greenai.reports import chartdata, charts
    from greenai.reports.inputs import EpochPoint, RunInput
    from greenai.reports.sources import power_trace

    points = tuple(
        EpochPoint(int(row["epoch"]), _numeric({k: v for k, v in row.items() if k != "epoch"}))
        for row in epochs
        if isinstance(row.get("epoch"), int) and not isinstance(row.get("epoch"), bool)
    )
    trace = power_trace(list(samples), list(phases))
    run = RunInput.from_result(result, epochs=points, power=trace)
    out: dict[str, bytes] = {}
    power = chartdata.power(run)
    if power is not None:
        out["power"] = charts.power_png(power)
    per_epoch = chartdata.epochs([run]) or _loss_only(run)
    if per_epoch is not None:
        out["epochs"] = charts.epochs_png(per_epoch)
    return out


def _loss_only(run: Any) -> Any:
    """``EpochData`` for epochs that carry a loss ``chartdata.epochs`` does not know (a pruned
    model's ``finetune_loss``, QAT's ``qat_loss``), without accuracy; None when there is none."""
    from greenai.reports.chartdata import EpochCurve, EpochData
    from greenai.reports.rows import variant_name

    keys = sorted({k for p in run.epochs for k in p.metrics if k.endswith("loss")})
    if not keys:
        return None
    pts = sorted(run.epochs, key=lambda p: p.epoch)
    curve = EpochCurve(
        variant_name(run.variant),
        tuple(p.epoch for p in pts),
        tuple(None for _ in pts),
        tuple(p.metrics.get(keys[0]) for p in pts),
    )
    return EpochData((curve,), "", keys[0])
