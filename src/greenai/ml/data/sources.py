"""``--dataset SPEC``: which source a spec names, its file-name slug, a cheap check, and loading.

- ``cifar10``, ``synthetic``: the built-in data sets (``DATASETS``);
- ``imagefolder:PATH``: the ImageNet folder layout (``imagefolder``);
- ``npz:PATH``: one .npz with x_train, y_train, x_test, y_test (``arrays``);
- ``MODULE:NAME``: whatever ``NAME()`` in ``MODULE`` returns (``module_source``).
"""

from __future__ import annotations

import os
from pathlib import Path

from greenai.errors import DataError, UsageError
from greenai.ml.data import module_source
from greenai.ml.data.arrays import load_npz
from greenai.ml.data.cifar10 import load_cifar10, locate_cifar10
from greenai.ml.data.dataset import Dataset, slugify
from greenai.ml.data.imagefolder import check_layout, load_imagefolder
from greenai.ml.data.module_source import from_returned
from greenai.ml.data.synthetic import synthetic

DATASETS = ("cifar10", "synthetic")
SPEC_FORMS = "cifar10, synthetic, imagefolder:PATH, npz:PATH or MODULE:NAME"

__all__ = [
    "DATASETS", "canonical_spec", "check_dataset_name", "check_dataset_spec", "dataset_slug",
    "from_returned", "load_dataset", "parse_spec",
]  # fmt: skip


def parse_spec(spec: str) -> tuple[str, str]:
    """(kind, argument): ("cifar10"|"synthetic", ""), ("imagefolder"|"npz", absolute path) or
    ("module", "MODULE:NAME"). Unknown forms are one UsageError line."""
    if spec in DATASETS:
        return spec, ""
    for kind in ("imagefolder", "npz"):
        if spec.startswith(kind + ":"):
            path = spec[len(kind) + 1 :]
            if not path:
                raise UsageError(f"--dataset {spec}: no path after '{kind}:'")
            return kind, os.path.abspath(os.path.expanduser(path))
    if ":" in spec:
        module_source.split_spec(spec)  # a well-formed MODULE:NAME
        return "module", spec
    raise UsageError(f"unknown dataset {spec!r}; available: {SPEC_FORMS}")


def dataset_slug(spec: str) -> str:
    """The Dataset ``name`` that ``spec`` loads as (file-name-safe), without loading anything."""
    kind, arg = parse_spec(spec)
    if kind == "imagefolder":
        return f"imagefolder-{slugify(Path(arg).name)}"
    if kind == "npz":
        return f"npz-{slugify(Path(arg).stem)}"
    if kind == "module":
        return slugify(arg.partition(":")[2].rsplit(".", 1)[-1])
    return kind


def canonical_spec(spec: str) -> str:
    """``spec`` with its path made absolute: what rebuilds the same data in another process."""
    kind, arg = parse_spec(spec)
    return f"{kind}:{arg}" if kind in ("imagefolder", "npz") else spec


def _check_image_size(kind: str, image_size: int | None) -> None:
    if image_size is None:
        return
    if kind != "imagefolder":
        raise UsageError(f"--image-size applies to imagefolder: data sets only, not {kind}")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise UsageError(f"--image-size must be a positive number of pixels, not {image_size!r}")


def check_dataset_spec(
    spec: str,
    data_dir: str | os.PathLike[str] | None = None,
    image_size: int | None = None,
    *,
    download: bool = False,
) -> None:
    """Fail fast, before anything is written: the spec's form, CIFAR-10 located (unless it is to
    be downloaded), the imagefolder's train/ and val/ or test/ folders, the npz file, the module
    imported. Nothing is decoded."""
    kind, arg = parse_spec(spec)
    _check_image_size(kind, image_size)
    if kind == "cifar10" and not download:
        locate_cifar10(data_dir)
    elif kind == "imagefolder":
        check_layout(Path(arg))
    elif kind == "npz" and not Path(arg).is_file():
        raise DataError(f"{arg}: no such file (--dataset {spec})")
    elif kind == "module":
        module_source.resolve(arg)


def check_dataset_name(spec: str) -> None:
    """The older name check, kept for callers that know no data folder (a configuration's own
    validation): the spec's form only, touching no file. Prefer ``check_dataset_spec``."""
    parse_spec(spec)


def load_dataset(
    spec: str,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    image_size: int | None = None,
    *,
    memory_limit_bytes: int | None = None,
) -> Dataset:
    """Load the data set ``spec`` names (see the module docstring). ``data_dir``/``download``
    concern CIFAR-10 only; ``image_size``/``memory_limit_bytes`` imagefolders only."""
    kind, arg = parse_spec(spec)
    _check_image_size(kind, image_size)
    if kind == "synthetic":
        return synthetic()
    if kind == "cifar10":
        return load_cifar10(data_dir, download)
    if kind == "imagefolder":
        return load_imagefolder(arg, image_size, memory_limit_bytes)
    if kind == "npz":
        return load_npz(arg)
    return module_source.load_module_dataset(arg)
