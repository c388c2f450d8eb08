"""The training flags (``--recipe`` and what it presets) and the ``TrainConfig`` they give.

Flags default to None so that ``train_config_kwargs`` can tell which ones the user gave; the rest
come from the recipe. No torch import until a config is built.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from greenai.cli.argtypes import (
    epoch_size,
    fraction,
    nonneg_float,
    nonneg_int,
    percent,
    positive_float,
    positive_int,
    unit_fraction,
)
from greenai.cli.common import add_data_args, add_device_args

# mirror greenai.ml.training.recipes.RECIPES and config.SCHEDULES (the parser imports no torch)
RECIPES = ("seed", "green", "green_long", "green_long_sgd")
SCHEDULES = ("constant", "onecycle", "cosine", "linear")
# TrainConfig fields the training flags set; flags left out (None) take the --recipe's value. Flags
# added later (--augment-pad, --augment-reflect, --alternate-flip, --whiten-bias-fraction,
# --airbench-tricks, --ema) are not listed: like the recipes' flagless fields they enter the settings
# only where they differ from TrainConfig's defaults, so the study's configuration hashes stay
# what they were
TRAIN_FLAGS = (
    "model", "dataset", "data_dir", "download", "device", "epochs", "batch_size", "lr", "seed",
    "precision", "optimizer", "weight_decay", "schedule", "label_smoothing", "channels_last",
    "augment", "holdout_fraction", "target_accuracy", "limit_train", "limit_test", "width",
    "compile", "threads",
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
        help=f"training preset (default {recipe}): green = the RECOMMENDED fast recipe "
        "(airbench_small: airbench's net at widths 16/96/96, bf16, channels-last, airbench94_muon's "
        "Muon optimizer with a cosine decay, batch 256, 1 epoch, airbench tricks; see "
        "recipes.py); green_long = airbench94_muon: airbench's full net, Muon, batch 1024, 10 "
        "epochs (~94%% test with TTA); green_long_sgd = the same net with airbench94's SGD, 8 "
        "epochs; seed = the study's recipe (seed_cnn, Adam 0.001, batch 64, "
        "20 epochs, fp32)",
    )  # fmt: skip
    parser.set_defaults(default_recipe=recipe)
    g.add_argument(
        "--model",
        default=None,
        help="a built-in model (green: airbench_small, seed: seed_cnn), MODULE:NAME, path/to/file.py:NAME "
        "(a factory(num_classes, input_shape) or nn.Module class) or a greenai.models plugin",
    )
    g.add_argument("--width", type=positive_float, default=None, help="channel-width multiplier")
    g.add_argument("--epochs", type=positive_int, default=None, help="green: 1, seed: 20")
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
        "--optimizer",
        choices=("adam", "adamw", "sgd", "muon"),
        default=None,
        help="green: muon, seed: adam",
    )
    g.add_argument(
        "--weight-decay", "--weight_decay", dest="weight_decay", type=nonneg_float, default=None
    )
    g.add_argument(
        "--schedule", choices=SCHEDULES, default=None,
        help="green: cosine, seed: constant",
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
        "(green: 0.15, green_long: 0.375, green_long_sgd: 0.3, otherwise 1)",
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
        help="batch-norm biases at 64x the LR (SGD only), Lookahead/EMA weights where --ema is "
        "on, flip test-time augmentation (green recipes: on; seed: off)",
    )  # fmt: skip
    g.add_argument(
        "--ema", dest="ema", action=argparse.BooleanOptionalAction, default=None,
        help="with the airbench tricks: average the weights (Lookahead-EMA) and train on from the "
        "average (green_long_sgd: on; green, green_long: off, as airbench94_muon)",
    )  # fmt: skip
    g.add_argument("--compile", action="store_true", default=None, help="torch.compile the model")
    add_device_args(parser)
    add_data_args(parser)


def train_config_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The TrainConfig fields present in ``args`` (from add_training_args), with ``--recipe`` applied.

    Flags left at None take the recipe's value, and are filled in on ``args`` too, so that later
    reads (``args.epochs``) see what the run uses. Recipe fields without a flag (momentum, ...) are
    included only where they differ from TrainConfig's defaults: ``--recipe seed`` gives exactly the
    settings (and the study's configuration hashes) it gave before recipes existed.
    """
    kwargs = {n: getattr(args, n) for n in TRAIN_FLAGS if hasattr(args, n)}
    given_width = kwargs.get("width")
    if getattr(args, "epoch_sizes", None) is not None:  # 'off' (0): no resizing
        args.epoch_sizes = tuple(v for v in args.epoch_sizes if v)
    name = getattr(args, "recipe", None)
    if name is None:
        name = getattr(args, "default_recipe", None)
        if name is None:
            return _width_for_user_net(kwargs, given_width)
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
    return _width_for_user_net(kwargs, given_width)


def _width_for_user_net(kwargs: dict[str, Any], given_width: float | None) -> dict[str, Any]:
    """An explicit ``--width`` for a user's net goes to its factory as ``width=`` (a factory
    without that parameter is refused, one line); a recipe's width fits only the built-in nets."""
    from greenai.ml.models import is_builtin

    model = kwargs.get("model")
    if given_width is not None and model is not None and not is_builtin(model):
        kwargs["model_kwargs"] = {**(kwargs.get("model_kwargs") or {}), "width": given_width}
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
