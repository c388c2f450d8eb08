"""Flags shared by the commands that train or measure (baseline, prune, quantize, study, search …).

Each ``add_*`` function adds one group of flags, with both ``--snake_case`` and ``--kebab-case``
spellings where the study used underscores. The ``*_type`` validators run inside argparse, so a bad
value is one line and exit 2 before anything else happens. No torch import here.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Any

# mirrors greenai.ml.training.recipes.RECIPES
RECIPES = ("seed", "green", "green_long", "green_muon")
# TrainConfig fields the training flags set; flags left out (None) take the --recipe's value. Flags
# added later (--augment-pad, --augment-reflect, --alternate-flip, --whiten-bias-fraction,
# --airbench-tricks) are not listed: like the recipes' flagless fields they enter the settings
# only where they differ from TrainConfig's defaults, so the study's configuration hashes stay
# what they were
TRAIN_FLAGS = (
    "model", "dataset", "data_dir", "download", "device", "epochs", "batch_size", "lr", "seed",
    "precision", "optimizer", "weight_decay", "schedule", "label_smoothing", "channels_last",
    "augment", "holdout_fraction", "target_accuracy", "limit_train", "limit_test", "width",
    "compile", "threads",
)  # fmt: skip


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def thread_count(text: str) -> int:
    """A positive thread count no larger than the CPUs available: torch segfaults or hangs on
    absurd counts (100000, 4096) instead of saying anything."""
    value = positive_int(text)
    cpus = available_cpus()
    if value > cpus:
        raise argparse.ArgumentTypeError(f"{value} threads: this process has only {cpus} CPUs")
    return value


def epoch_size(text: str) -> int:
    """A ``--epoch-sizes`` entry: pixels (>= 8), or ``off`` (0: no resizing)."""
    if text == "off":
        return 0
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected pixels (>= 8) or 'off', got {text!r}") from None
    if value < 8:
        raise argparse.ArgumentTypeError(f"expected pixels (>= 8) or 'off', got {text!r}")
    return value


def nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _float(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_float(text: str) -> float:
    value = _float(text, "a number > 0")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def nonneg_float(text: str) -> float:
    value = _float(text, "a number >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def fraction(text: str) -> float:
    """A number in [0, 1)."""
    value = _float(text, "a fraction in [0, 1)")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return value


def unit_fraction(text: str) -> float:
    """A number in [0, 1]."""
    value = _float(text, "a fraction in [0, 1]")
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1], got {text!r}")
    return value


def percent(text: str) -> float:
    """A number in (0, 100]."""
    value = _float(text, "a percentage in (0, 100]")
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"expected a percentage in (0, 100], got {text!r}")
    return value


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
        help="CPU threads for torch (default: the recipe's; green: 2, seed: torch's choice)",
    )  # fmt: skip


DEFAULT_RECIPE = "green"  # the recommended recipe for new training; `seed` reproduces the study
# flags whose study values make no sense on the green recipes' net and optimiser: given without
# --recipe, they get a note saying that `--recipe seed` is the study's training
STUDY_FLAGS = ("model", "epochs", "batch_size", "lr", "optimizer")


def add_training_args(parser: argparse.ArgumentParser, *, recipe: str = DEFAULT_RECIPE) -> None:
    """Model, optimisation and stopping flags. ``--recipe`` (default ``recipe``) gives every default;
    the flags default to None so that ``train_config_kwargs`` can tell which ones the user gave."""
    g = parser.add_argument_group(
        "training (defaults: the --recipe's; a flag given here overrides the recipe)"
    )
    g.add_argument(
        "--recipe", choices=RECIPES, default=None,
        help=f"training preset (default {recipe}): green = the RECOMMENDED fast recipe (airbench "
        "net at quarter width, bf16, channels-last, one-cycle SGD, batch 256, 3 epochs, "
        "alternating flips, airbench tricks; see recipes.py); green_long = green's net at full "
        "width for 8 epochs; green_muon = green_long trained with airbench94_muon's Muon "
        "optimizer (experimental); seed = the study's recipe (seed_cnn, Adam 0.001, batch 64, "
        "20 epochs, fp32)",
    )  # fmt: skip
    parser.set_defaults(default_recipe=recipe)
    g.add_argument(
        "--model",
        default=None,
        help="a built-in model (green: airbench, seed: seed_cnn), MODULE:NAME, path/to/file.py:NAME "
        "(a factory(num_classes, input_shape) or nn.Module class) or a greenai.models plugin",
    )
    g.add_argument("--width", type=positive_float, default=None, help="channel-width multiplier")
    g.add_argument("--epochs", type=positive_int, default=None, help="green: 3, seed: 20")
    g.add_argument(
        "--batch-size", "--batch_size", dest="batch_size", type=positive_int, default=None,
        help="green: 256, seed: 64",
    )  # fmt: skip
    g.add_argument(
        "--lr",
        type=positive_float,
        default=None,
        help="learning rate (green: see recipes.py, seed: 0.001)",
    )
    g.add_argument("--seed", type=nonneg_int, default=None, help="default 0")
    g.add_argument(
        "--optimizer", choices=("adam", "adamw", "sgd"), default=None, help="green: sgd, seed: adam"
    )
    g.add_argument(
        "--weight-decay", "--weight_decay", dest="weight_decay", type=nonneg_float, default=None
    )
    g.add_argument(
        "--schedule", choices=("constant", "onecycle", "cosine"), default=None,
        help="green: onecycle, seed: constant",
    )  # fmt: skip
    g.add_argument(
        "--label-smoothing", "--label_smoothing", dest="label_smoothing", type=fraction,
        default=None,
    )  # fmt: skip
    g.add_argument(
        "--channels-last", "--channels_last", dest="channels_last", action="store_true",
        default=None, help="channels-last memory format",
    )  # fmt: skip
    g.add_argument(
        "--no-augment", "--no_augment", dest="augment", action="store_false", default=None,
        help="no random crop / flip",
    )  # fmt: skip
    g.add_argument(
        "--augment-pad", "--augment_pad", dest="augment_pad", type=nonneg_int, default=None,
        help="random crop: largest shift in pixels, 0..8 (default 4)",
    )  # fmt: skip
    g.add_argument(
        "--augment-reflect", "--augment_reflect", dest="augment_reflect", action="store_true",
        default=None, help="random crop pads with the mirrored border, not zeros (airbench's)",
    )  # fmt: skip
    g.add_argument(
        "--alternate-flip", dest="alternate_flip", action=argparse.BooleanOptionalAction,
        default=None,
        help="mirror each image every other epoch instead of by chance (airbench's; "
        "green recipes: on)",
    )  # fmt: skip
    g.add_argument(
        "--whiten-bias-fraction", dest="whiten_bias_fraction", type=unit_fraction, default=None,
        help="airbench nets: part of the run the whitening conv's bias trains before it freezes "
        "(green: 0, green_long: 0.3, otherwise 1)",
    )  # fmt: skip
    g.add_argument(
        "--epoch-sizes", dest="epoch_sizes", nargs="+", type=epoch_size, default=None,
        metavar="PX", help="progressive resizing: epoch k's training images downscaled to the "
        "k-th size (shorter side; later epochs and every evaluation at the data's own); 'off': "
        "none (the default)",
    )  # fmt: skip
    g.add_argument(
        "--holdout-fraction", "--holdout_fraction", dest="holdout_fraction", type=fraction,
        default=None, help="part of the training images held out for early stopping",
    )  # fmt: skip
    g.add_argument(
        "--target-accuracy", "--target_accuracy", dest="target_accuracy", type=percent,
        default=None, help="stop once held-out accuracy (%%) reaches this",
    )  # fmt: skip
    g.add_argument(
        "--airbench-tricks", dest="airbench_tricks", action=argparse.BooleanOptionalAction,
        default=None,
        help="batch-norm biases at 64x the LR (SGD only), Lookahead/EMA weights, flip test-time "
        "augmentation (green recipes: on; seed: off)",
    )  # fmt: skip
    g.add_argument("--compile", action="store_true", default=None, help="torch.compile the model")
    add_device_args(parser)
    add_data_args(parser)


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


def train_config_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The TrainConfig fields present in ``args`` (from add_training_args), with ``--recipe`` applied.

    Flags left at None take the recipe's value, and are filled in on ``args`` too, so that later
    reads (``args.epochs``) see what the run uses. Recipe fields without a flag (momentum, ...) are
    included only where they differ from TrainConfig's defaults: ``--recipe seed`` gives exactly the
    settings (and the study's configuration hashes) it gave before recipes existed.
    """
    kwargs = {n: getattr(args, n) for n in TRAIN_FLAGS if hasattr(args, n)}
    if getattr(args, "epoch_sizes", None) is not None:  # 'off' (0): no resizing
        args.epoch_sizes = tuple(v for v in args.epoch_sizes if v)
    name = getattr(args, "recipe", None)
    if name is None:
        name = getattr(args, "default_recipe", None)
        if name is None:
            return kwargs
        args.recipe = name
        args.recipe_note = _study_flags_note(name, kwargs)
    from greenai.ml.training.config import TrainConfig
    from greenai.ml.training.recipes import RECIPES as PRESETS

    preset, plain = PRESETS[name].to_dict(), TrainConfig().to_dict()
    for n, value in kwargs.items():
        if value is None:
            kwargs[n] = preset[n]
            setattr(args, n, preset[n])
    for n, value in preset.items():
        if n in kwargs:
            continue
        given = getattr(args, n, None)  # e.g. --airbench-tricks / --no-airbench-tricks
        value = value if given is None else given
        if value != plain[n]:
            kwargs[n] = value
    return kwargs


def _study_flags_note(recipe: str, given: dict[str, Any]) -> str | None:
    """The note for the study's own flags given on a default recipe that is not `seed`."""
    if recipe == "seed":
        return None
    named = [f"--{n.replace('_', '-')}" for n in STUDY_FLAGS if given.get(n) is not None]
    if not named:
        return None
    return (
        f"greenai: note: {', '.join(named)} applied to the default recipe, {recipe}; "
        "add --recipe seed for the study's training (seed_cnn, Adam, fp32)"
    )


def print_recipe_note(args: argparse.Namespace) -> None:
    """Print the recipe note, if any, once the command's input has been checked (a bad-input error
    stays the one line on stderr)."""
    note = getattr(args, "recipe_note", None)
    if note:
        print(note, file=sys.stderr)


def train_config(args: argparse.Namespace, **overrides: Any) -> Any:
    """A validated ``TrainConfig`` from the parsed flags (imports torch)."""
    from greenai.ml.training.config import TrainConfig

    return TrainConfig(**{**train_config_kwargs(args), **overrides}).validate()


def carbon_config(args: argparse.Namespace) -> Any:
    """The run's carbon settings; also checks ``$GREENAI_INTERVAL`` before anything is written."""
    from greenai.carbon import CarbonConfig
    from greenai.cli._runtimes import apply_runtime_args
    from greenai.meter.tracker import sampling_interval

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
    import os

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


def add_wandb_arg(p: argparse._ActionsContainer) -> None:
    """``--wandb``, beside each command's ``--mlflow`` (on a parser or an argument group)."""
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
