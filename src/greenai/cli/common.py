"""Flags shared by the commands that train or measure (baseline, prune, quantize, study, search …).

Each ``add_*`` function adds one group of flags, with both ``--snake_case`` and ``--kebab-case``
spellings where the study used underscores. The ``*_type`` validators run inside argparse, so a bad
value is one line and exit 2 before anything else happens. No torch import here.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from greenai.cli.argtypes import positive_int, thread_count


def add_data_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("data")
    g.add_argument(
        "--dataset", default="cifar10", metavar="SPEC",
        help="cifar10 (default), synthetic, imagefolder:PATH (PATH/train/<class>/*.png|jpg and "
        "PATH/val or PATH/test), npz:PATH (x_train, y_train, x_test, y_test) or MODULE:NAME (a "
        "callable returning those four arrays or two torch Datasets)",
    )  # fmt: skip
    g.add_argument(
        "--image-size", "--image_size", dest="image_size", type=positive_int, default=None,
        help="resize and centre-crop images to this square (default: the data's own size)",
    )  # fmt: skip
    g.add_argument(
        "--data-dir",
        "--data_dir",
        dest="data_dir",
        default=None,
        help="folder holding CIFAR-10 (tarball, cifar-10-batches-py/ or the npz pair); "
        "default: $GREENAI_DATA_DIR, then ~/.cache/greenai/data",
    )
    g.add_argument(
        "--download",
        action="store_true",
        help="fetch the official CIFAR-10 tarball (MD5-checked) when it is not found",
    )
    g.add_argument(
        "--limit-train", "--limit_train", dest="limit_train", type=positive_int, default=None,
        help="use at most N training images (smoke tests, short trials)",
    )  # fmt: skip
    g.add_argument(
        "--limit-test", "--limit_test", dest="limit_test", type=positive_int, default=None,
        help="evaluate on at most N test images",
    )  # fmt: skip


def add_device_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("device")
    g.add_argument(
        "--device", choices=("auto", "cpu", "gpu"), default="auto",
        help="auto (default): CUDA if present, else CPU; gpu without CUDA is an error",
    )  # fmt: skip
    g.add_argument(
        "--precision", choices=("fp32", "bf16", "fp16"), default=None,
        help="autocast precision (default: the recipe's; green: bf16, seed: fp32)",
    )  # fmt: skip
    g.add_argument(
        "--threads", type=thread_count, default=None,
        help="CPU threads for torch (default: torch's choice, its physical cores or OMP_NUM_THREADS)",
    )  # fmt: skip


def add_carbon_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("carbon")
    g.add_argument("--country", default=None, help="ISO3 country code for grid intensity")
    g.add_argument("--pue", default=None, help="data-centre PUE (>= 1.0; default 1.0)")
    g.add_argument(
        "--intensity", default=None, help="grid carbon intensity in gCO2e/kWh (beats --country)"
    )
    add_series_arg(g)
    g.add_argument(
        "--cpu-watts", "--cpu_watts", dest="cpu_watts", default=None, metavar="W",
        help="CPU power for the CPU-time estimate where RAPL cannot be read: watts per busy CPU "
        "(e.g. 6), or the package TDP with the suffix 'tdp' (e.g. 125tdp); recorded as "
        "user-given (default: $GREENAI_CPU_WATTS, then the TDP table)",
    )  # fmt: skip
    add_embodied_args(g)


def add_embodied_args(group: Any) -> None:
    """The embodied-carbon overrides (``greenai.carbon.embodied``): this machine's manufacturing
    CO2e, its life and the run's share of it; each recorded as user-given in the result."""
    group.add_argument(
        "--embodied-kg", "--embodied_kg", dest="embodied_kg", default=None, metavar="KG",
        help="this machine's manufacturing (embodied) CO2e in kg, taken as exact "
        "(default: $GREENAI_EMBODIED_KG, else BoaviztAPI's server or GPU figures)",
    )  # fmt: skip
    group.add_argument(
        "--lifetime-years", "--lifetime_years", dest="lifetime_years", default=None, metavar="Y",
        help="the hardware's life over which its embodied CO2e is spread, > 0 "
        "(default: $GREENAI_EMBODIED_LIFE_YEARS, else 4)",
    )  # fmt: skip
    group.add_argument(
        "--embodied-share", "--embodied_share", dest="embodied_share", default=None,
        metavar="F",
        help="the share of the machine the run reserved, 0 to 1 (default: "
        "$GREENAI_EMBODIED_SHARE, else 1, or visible CPUs / 96 on a virtual machine)",
    )  # fmt: skip


def apply_embodied(args: argparse.Namespace) -> None:
    """Check the embodied flags now (one line, exit 2) and hand them to every meter of this
    process and its children (the flags beat the environment)."""
    from greenai.carbon.embodied import apply_flags

    apply_flags({
        "--embodied-kg": getattr(args, "embodied_kg", None),
        "--lifetime-years": getattr(args, "lifetime_years", None),
        "--embodied-share": getattr(args, "embodied_share", None),
    })  # fmt: skip


def add_output_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("output")
    g.add_argument("--out", default=".", help="output folder (default: the current folder)")
    g.add_argument(
        "--store", default=None,
        help="run store URL or SQLite path (default: $GREENAI_STORE, then <out>/greenai.db)",
    )  # fmt: skip
    g.add_argument(
        "--no-progress", "--no_progress", dest="progress", action="store_false",
        help="no progress bars",
    )  # fmt: skip


def carbon_config(args: argparse.Namespace) -> Any:
    """The run's carbon settings; also checks ``$GREENAI_INTERVAL`` before anything is written."""
    from greenai.carbon import CarbonConfig
    from greenai.cli._runtimes import apply_runtime_args
    from greenai.meter.interval import sampling_interval

    sampling_interval()
    apply_cpu_watts(args)
    apply_embodied(args)
    apply_runtime_args(args)  # --runtimes/--runtime (cli/_runtimes.py)
    carbon = CarbonConfig.resolve(
        country=args.country,
        pue=args.pue,
        intensity_g_per_kwh=args.intensity,
        intensity_series=getattr(args, "intensity_series", None),
    )
    check_series_span(carbon, args)
    return carbon


def check_series_span(carbon: Any, args: argparse.Namespace) -> None:
    """Refuse (one line) a run whose whole expected span lies outside its intensity series: it
    starts now (or at ``--start-within``'s chosen time, checked again there) and lasts
    ``--expected-duration`` when given, else 0 s."""
    if carbon.series is not None:
        import time

        expected = getattr(args, "expected_duration", None) or 0.0
        carbon.series.check_span(time.time(), expected)


def add_series_arg(group: Any) -> None:
    """``--intensity-series FILE``: grid intensity over time (beats --intensity and --country)."""
    group.add_argument(
        "--intensity-series", "--intensity_series", dest="intensity_series", default=None,
        metavar="CSV",
        help="grid intensity over time: timestamp,g_co2e_per_kwh, or an Electricity Maps or "
        "WattTime CSV export as it is; CO2 is integrated step-wise over the run's own times "
        "(default: $GREENAI_INTENSITY_SERIES; beats --intensity and --country)",
    )  # fmt: skip


def apply_cpu_watts(args: argparse.Namespace) -> None:
    """Check ``--cpu-watts`` (else ``$GREENAI_CPU_WATTS``) now, and hand the flag to every meter
    of this process and its children through the variable (the flag beats the environment)."""

    from greenai.sensors.cpu_model import read_cpuinfo
    from greenai.sensors.estimate import CPU_WATTS_ENV, user_cpu_power

    given = getattr(args, "cpu_watts", None)
    if given is not None:
        user_cpu_power(given, read_cpuinfo(), origin="--cpu-watts")
        os.environ[CPU_WATTS_ENV] = given
    elif os.environ.get(CPU_WATTS_ENV, "").strip():
        user_cpu_power(os.environ[CPU_WATTS_ENV], read_cpuinfo())


def open_output_store(args: argparse.Namespace) -> Any:
    from greenai.storage import open_store

    return open_store(args.store, default_dir=args.out)


def add_tracking_args(p: argparse._ActionsContainer, layout: str | None = None) -> None:
    """``--mlflow`` and ``--wandb`` (on a parser or an argument group); ``layout``: how the
    command's runs are laid out in MLflow, when it logs more than one run."""
    where = "($MLFLOW_TRACKING_URI, else ./mlflow.db)"
    p.add_argument(
        "--mlflow", action="store_true",
        help=f"also log to MLflow {where}: {layout}" if layout
        else f"also log the run to MLflow {where}",
    )  # fmt: skip
    p.add_argument(
        "--wandb", action="store_true",
        help="also log to Weights & Biases, the same figures as --mlflow ($WANDB_PROJECT, else "
        "project 'greenai'; WANDB_MODE=offline keeps it on disk)",
    )  # fmt: skip


def add_budget_args(parser: argparse.ArgumentParser) -> None:
    """``--energy-budget`` and ``--co2-budget`` (text with a unit, parsed by ``budget_from_args``)."""
    g = parser.add_argument_group("budget (lifecycle/budget.py)")
    g.add_argument(
        "--energy-budget", "--energy_budget", dest="energy_budget", default=None, metavar="E",
        help="grid energy limit with its unit (J, kJ, Wh, kWh, MWh), e.g. 50Wh: training stops "
        "after the epoch whose predicted total passes it (status 'stopped: budget', resumable)",
    )  # fmt: skip
    g.add_argument(
        "--co2-budget", "--co2_budget", dest="co2_budget", default=None, metavar="M",
        help="CO2 limit with its unit (g, kg, t), e.g. 20g; as --energy-budget",
    )  # fmt: skip


def budget_from_args(args: argparse.Namespace) -> Any:
    """The ``Budget`` the flags give, or None; bad text is one UsageError line."""
    from greenai.lifecycle.budget import Budget

    return Budget.from_flags(
        getattr(args, "energy_budget", None), getattr(args, "co2_budget", None)
    )
