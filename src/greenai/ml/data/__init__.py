"""Data sets as uint8 image tensors (or lazy views over image files), and batch-level augmentation.

``load_dataset(spec)`` reads ``--dataset`` specs: ``cifar10``, ``synthetic``, ``imagefolder:PATH``,
``npz:PATH`` or ``MODULE:NAME``; classes, input shape and channel statistics come from the data.

Modules: ``dataset`` (the ``Dataset`` record, splits, statistics), ``sources`` (specs), one per
source (``cifar10``/``cifar_files``, ``synthetic``, ``imagefolder``/``imagefiles``, ``arrays``,
``module_source``), and ``augmentation`` (normalisation and augmentation on the training device).
"""

from __future__ import annotations

from greenai.ml.data import cifar_files
from greenai.ml.data.arrays import load_npz
from greenai.ml.data.augmentation import alternating_flips, augment, epoch_flips, normalize
from greenai.ml.data.cifar10 import (
    CIFAR10_CLASSES,
    CIFAR10_MEAN,
    CIFAR10_STD,
    NPZ_NAMES,
    cache_dir,
    load_cifar10,
    locate_cifar10,
    search_dirs,
)
from greenai.ml.data.dataset import Dataset, Images, Splits, channel_stats, make_splits, slugify
from greenai.ml.data.imagefiles import ImageFiles
from greenai.ml.data.imagefolder import load_imagefolder
from greenai.ml.data.module_source import from_returned, load_module_dataset
from greenai.ml.data.sources import (
    DATASETS,
    canonical_spec,
    check_dataset_name,
    check_dataset_spec,
    dataset_slug,
    load_dataset,
    parse_spec,
)
from greenai.ml.data.synthetic import SYNTHETIC_NOTE, synthetic

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "DATASETS",
    "NPZ_NAMES",
    "SYNTHETIC_NOTE",
    "Dataset",
    "ImageFiles",
    "Images",
    "Splits",
    "alternating_flips",
    "augment",
    "cache_dir",
    "canonical_spec",
    "channel_stats",
    "check_dataset_name",
    "check_dataset_spec",
    "cifar_files",
    "dataset_slug",
    "epoch_flips",
    "from_returned",
    "load_cifar10",
    "load_dataset",
    "load_imagefolder",
    "load_module_dataset",
    "load_npz",
    "locate_cifar10",
    "make_splits",
    "normalize",
    "parse_spec",
    "search_dirs",
    "slugify",
    "synthetic",
]
