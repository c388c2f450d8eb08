"""Multi-objective pruning for the search: a trial is stopped after an epoch when another trial
of the same search had, at that same epoch, at least its accuracy for at most its energy (and was
strictly better on one). Optuna's own pruners do not work for multi-objective studies, so the
training loop calls back (``train_run(on_epoch=...)``) and this decides.

Each trial records ``epoch_<n>`` = [held-out or test accuracy %, cumulative energy kWh] in its
Optuna user attributes as it goes, so running trials prune against each other too (across worker
processes sharing the study's storage).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from greenai.lifecycle.budget import TrialDominated


def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether (accuracy, energy) ``a`` dominates ``b``: no worse on both, better on one."""
    return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])


def dominator(
    mine: tuple[float, float], others: Iterable[tuple[int, tuple[float, float]]]
) -> tuple[int, tuple[float, float]] | None:
    """The first (trial number, figures) among ``others`` that dominates ``mine``, or None."""
    return next(((n, o) for n, o in others if dominates(o, mine)), None)


def pruning_callback(trial: Any) -> Callable[[dict[str, Any]], None]:
    """``on_epoch`` for ``train_run``: record this epoch's figures and stop a dominated trial."""

    def on_epoch(row: dict[str, Any]) -> None:
        key = f"epoch_{row['epoch']}"
        mine = (float(row["eval_acc_pct"]), float(row["energy_kwh"]))
        trial.set_user_attr(key, list(mine))
        others = [
            (t.number, tuple(t.user_attrs[key]))
            for t in trial.study.get_trials(deepcopy=False)
            if t.number != trial.number and key in t.user_attrs
        ]
        found = dominator(mine, others)
        if found is not None:
            n, (acc, kwh) = found
            raise TrialDominated(
                f"pruned after epoch {row['epoch']}: trial #{n} had {acc:.2f}% for {kwh:.4g} kWh "
                f"there, this one {mine[0]:.2f}% for {mine[1]:.4g} kWh"
            )

    return on_epoch
