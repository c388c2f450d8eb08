"""Flags shared by the commands that train or measure (baseline, prune, quantize, study, search …).

Each ``add_*`` function adds one group of flags, with both ``--snake_case`` and ``--kebab-case``
spellings where the study used underscores. The ``*_type`` validators run inside argparse, so a bad
value is one line and exit 2 before anything else happens. No torch import here.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

DATASETS = ("cifar10", "synthetic")  # mirrors greenai.experiments.data.DATASETS (torch-free here)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
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


def percent(text: str) -> float:
    """A number in (0, 100]."""
    value = _float(text, "a percentage in (0, 100]")
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"expected a percentage in (0, 100], got {text!r}")
    return value


def add_data_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("data")
    g.add_argument("--dataset", choices=DATASETS, default="cifar10", help="default: cifar10")
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
        "--precision", choices=("fp32", "bf16", "fp16"), default="fp32",
        help="autocast precision (default fp32)",
    )  # fmt: skip
    g.add_argument(
        "--threads", type=positive_int, default=None,
        help="CPU threads for torch (default: torch's choice, usually one per core)",
    )  # fmt: skip


def add_training_args(
    parser: argparse.ArgumentParser,
    *,
    epochs: int = 20,
    batch_size: int = 64,
    lr: float = 0.001,
    model: str = "seed_cnn",
) -> None:
    """Model, optimisation and stopping flags; defaults are the study's baseline."""
    g = parser.add_argument_group("training")
    g.add_argument("--model", default=model, help=f"registered model name (default {model})")
    g.add_argument("--width", type=positive_float, default=1.0, help="channel-width multiplier")
    g.add_argument("--epochs", type=positive_int, default=epochs, help=f"default {epochs}")
    g.add_argument(
        "--batch-size", "--batch_size", dest="batch_size", type=positive_int, default=batch_size,
        help=f"default {batch_size}",
    )  # fmt: skip
    g.add_argument("--lr", type=positive_float, default=lr, help=f"learning rate (default {lr})")
    g.add_argument("--seed", type=nonneg_int, default=0, help="default 0")
    g.add_argument("--optimizer", choices=("adam", "adamw", "sgd"), default="adam")
    g.add_argument(
        "--weight-decay", "--weight_decay", dest="weight_decay", type=nonneg_float, default=0.0
    )
    g.add_argument("--schedule", choices=("constant", "onecycle", "cosine"), default="constant")
    g.add_argument(
        "--label-smoothing", "--label_smoothing", dest="label_smoothing", type=fraction, default=0.0
    )
    g.add_argument(
        "--channels-last", "--channels_last", dest="channels_last", action="store_true",
        help="channels-last memory format",
    )  # fmt: skip
    g.add_argument(
        "--no-augment", "--no_augment", dest="augment", action="store_false",
        help="no random crop / flip",
    )  # fmt: skip
    g.add_argument(
        "--holdout-fraction", "--holdout_fraction", dest="holdout_fraction", type=fraction,
        default=0.0, help="part of the training images held out for early stopping",
    )  # fmt: skip
    g.add_argument(
        "--target-accuracy", "--target_accuracy", dest="target_accuracy", type=percent,
        default=None, help="stop once held-out accuracy (%%) reaches this",
    )  # fmt: skip
    g.add_argument("--compile", action="store_true", help="torch.compile the model")
    add_device_args(parser)
    add_data_args(parser)


def add_carbon_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("carbon")
    g.add_argument("--country", default=None, help="ISO3 country code for grid intensity")
    g.add_argument("--pue", default=None, help="data-centre PUE (>= 1.0; default 1.0)")
    g.add_argument(
        "--intensity", default=None, help="grid carbon intensity in gCO2e/kWh (beats --country)"
    )


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
    """The TrainConfig fields present in ``args`` (from add_training_args)."""
    names = (
        "model", "dataset", "data_dir", "download", "device", "epochs", "batch_size", "lr", "seed",
        "precision", "optimizer", "weight_decay", "schedule", "label_smoothing", "channels_last",
        "augment", "holdout_fraction", "target_accuracy", "limit_train", "limit_test", "width",
        "compile", "threads",
    )  # fmt: skip
    return {n: getattr(args, n) for n in names if hasattr(args, n)}


def train_config(args: argparse.Namespace, **overrides: Any) -> Any:
    """A validated ``TrainConfig`` from the parsed flags (imports torch)."""
    from greenai.experiments.train import TrainConfig

    return TrainConfig(**{**train_config_kwargs(args), **overrides}).validate()


def carbon_config(args: argparse.Namespace) -> Any:
    from greenai.carbon import CarbonConfig

    return CarbonConfig.resolve(
        country=args.country, pue=args.pue, intensity_g_per_kwh=args.intensity
    )


def open_output_store(args: argparse.Namespace) -> Any:
    from greenai.storage import open_store

    return open_store(args.store, default_dir=args.out)
