"""A finished model's inference figures: on its own predictor alone, or on every deployment runtime
that can run it with the fastest chosen (``greenai.ml.runtimes``).

Which runtimes: ``--runtimes`` (``$GREENAI_RUNTIMES``; default "auto": the installed ones) and
``--runtime NAME`` (``$GREENAI_RUNTIME``) to pin one. The flags are handed to every step of a
process and its children through those variables, like ``--cpu-watts``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import torch

from greenai.ml.evaluation import INFERENCE_IMAGES
from greenai.sensors.machine_load import available_cpus

PIN_ENV = "GREENAI_RUNTIME"


def runtime_names() -> tuple[list[str], dict[str, str], str | None]:
    """(runtimes to try, {runtime: why not}, pinned runtime or None) from the environment."""
    from greenai.ml.runtimes.registry import resolve_runtimes

    pin = os.environ.get(PIN_ENV, "").strip().lower() or None
    names, skipped = resolve_runtimes()
    if pin is not None and pin not in names:
        extra, why = resolve_runtimes(pin)
        names, skipped = names + extra, {**skipped, **why}
    return names, skipped, pin


@contextlib.contextmanager
def job_threads() -> Iterator[None]:
    """On a rank of a torchrun job with several ranks on this node, the threads the job held here:
    this rank's times ``LOCAL_WORLD_SIZE`` (at most the CPUs it may use), restored after.

    The leader times inference once the other ranks are done. On torchrun's one thread per rank a
    DDP baseline was timed on 1 thread, while the variants a study derives from it in one process
    ran on all the cores: their speeds and break-even did not compare."""
    local = int(os.environ.get("LOCAL_WORLD_SIZE") or 1)
    before = torch.get_num_threads()
    if local > 1:
        torch.set_num_threads(min(before * local, available_cpus()))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def inference_figures(
    predict: Any,
    setting: str,
    sample: torch.Tensor,
    *,
    source: Any = None,
    x_test: Any = None,
    y_test: torch.Tensor | None = None,
    carbon: Any = None,
    run_id: str = "inference",
    repeats: int = 7,
    n_images: int = INFERENCE_IMAGES,
) -> dict[str, Any]:
    """The ``inference`` section of a result.

    ``source`` (a ``RuntimeSource``) None, or runtimes "pytorch": ``predict`` alone (latency,
    throughput, their spread, the machine's load, energy per 1,000 images). Else the variant on
    every runtime, each with its accuracy on (``x_test``, ``y_test``); the section's top-level
    figures are the chosen runtime's (named in ``runtime`` and ``setting``), the rest under
    ``runtimes``, and those that could not run it under ``runtimes_skipped``. On a torchrun
    rank: on the threads the job held on the node (``job_threads``)."""
    with job_threads():
        return _figures(predict, setting, sample, source, x_test, y_test, carbon, run_id, repeats,
                        n_images)  # fmt: skip


def _figures(
    predict: Any, setting: str, sample: torch.Tensor, source: Any, x_test: Any,
    y_test: torch.Tensor | None, carbon: Any, run_id: str, repeats: int, n_images: int,
) -> dict[str, Any]:  # fmt: skip
    from greenai.ml.evaluation import evaluate

    names, skipped, pin = runtime_names() if source is not None else ([], {}, None)
    if not names:
        speed = evaluate.checked_speed(predict, sample, repeats=repeats)
        energy = evaluate.inference_energy(
            predict, sample, carbon=carbon, n_images=n_images, run_id=f"{run_id}-inference"
        )
        return {**speed, **energy, "setting": setting}
    from greenai.ml.runtimes.base import Prepared
    from greenai.ml.runtimes.measure import ROUNDS, measure_runtimes, prepare_all

    own = Prepared(source.own, source.precision, predict, setting)
    ready, failed = prepare_all(source, own, sample, names)
    measured = measure_runtimes(
        ready, sample, x_test, y_test, carbon=carbon, run_id=f"{run_id}-inference", pin=pin,
        energy_images=n_images,
    )  # fmt: skip
    from greenai.ml.evaluation.evaluate import energy_doubt

    chosen = measured["runtimes"][measured["runtime"]]
    doubt = "; ".join(d for d in (chosen["timing_doubt"], measured["timing_doubt"]) if d)
    return {
        "device": "cpu",
        "threads": torch.get_num_threads(),
        **{k: v for k, v in chosen.items() if k not in ("label", "how", "timing_doubt")},
        "repeats": ROUNDS,
        "machine_load": measured["machine_load"],
        "timing_doubt": doubt or None,
        "energy_doubt": energy_doubt(chosen, measured["timing_doubt"]),
        "setting": f"{chosen['label']}: {chosen['how']}",
        "runtime": measured["runtime"],
        "runtime_choice": measured["runtime_choice"],
        "runtimes": measured["runtimes"],
        "runtimes_skipped": {**skipped, **failed},
    }
