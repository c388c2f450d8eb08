"""Bookkeeping for a search trial whose worker died (Optuna's heartbeat-stale trials): close its
greenai run as failed with the energy its samples hold, and optionally queue its parameters again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from greenai.search.trial import failure_reason


def close_stale_run(
    store: Any, log: Callable[[str], None] = print, *, carbon: Any = None, retries: int = 0
) -> Callable[[Any, Any], None]:
    """An Optuna heartbeat-stale callback for a trial whose worker died (killed, machine lost).

    Optuna calls it once per stale trial, in the one worker that marked the trial FAIL. It closes
    the trial's greenai run as failed with the energy its samples hold (what the dead worker spent
    up to its last sample: recorded once, on that run, so the study's totals count it), and, with
    ``retries`` > 0, enqueues the same parameters again (Optuna's ``RetryFailedTrialCallback``) for
    the next worker to run. ``carbon``: the ``CarbonConfig`` that turns the samples into kWh/CO2."""

    def callback(study: Any, trial: Any) -> None:
        run_id = trial.user_attrs.get("run_id")
        try:
            if run_id and store.has_run(run_id):
                _close_lost_run(store, run_id, carbon)
        except Exception as exc:  # bookkeeping of a dead trial must not stop the search
            log(
                f"could not close run {run_id} of lost trial #{trial.number}: {failure_reason(exc)}"
            )
        if retries > 0:
            from optuna.storages import RetryFailedTrialCallback

            RetryFailedTrialCallback(max_retry=retries)(study, trial)
            log(f"trial #{trial.number} lost with its worker: its parameters are queued again")

    return callback


def _close_lost_run(store: Any, run_id: str, carbon: Any) -> None:
    """Close a dead worker's run as failed, with the energy its samples hold (when ``carbon``)."""
    if store.get_run(run_id).status not in ("running", "interrupted"):
        return
    spent: dict[str, float] = {}
    if carbon is not None:
        from greenai.results.resultfile import attempt_pieces

        pieces = attempt_pieces(store.samples(run_id), carbon)
        spent = {
            "energy_kwh": sum(p["energy_kwh"] for p in pieces),
            "co2_kg": sum(p["co2_kg"] for p in pieces),
        }
    store.finish_run(
        run_id, status="failed", **spent,
        error="search trial lost: its worker stopped sending heartbeats"
        + ("; energy counted up to its last sample" if spent else ""),
    )  # fmt: skip
