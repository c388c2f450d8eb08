"""``imagefolder:PATH``: the ImageNet layout, ``PATH/train/<class>/<images>`` and ``PATH/val/``
(or, when there is no ``val/``, ``PATH/test/``) with the same class folders: test classes must be a
subset of train's.

Classes are the sorted train folder names; images are the .jpg/.jpeg/.png/.bmp/.webp files under a
class folder (subfolders included, hidden files skipped). The channel count and the image size come
from the files (see ``imagefiles`` for the colour rule); ``image_size`` resizes the shorter side and
centre-crops to a square. Folders that fit in ``memory_limit_bytes`` once decoded are decoded once,
in parallel, into uint8 tensors; larger ones become ``ImageFiles`` views decoded batch by batch.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from greenai.errors import DataError, UsageError
from greenai.ml.data import imagefiles
from greenai.ml.data.dataset import Dataset, channel_stats, slugify
from greenai.ml.data.imagefiles import EXTENSIONS, ImageFiles

DEFAULT_MEMORY_MB = 2048
MEMORY_ENV = "GREENAI_DATA_MEMORY_MB"


def memory_limit(memory_limit_bytes: int | None = None) -> int:
    """Bytes of decoded images held in memory before streaming: the argument, else
    ``$GREENAI_DATA_MEMORY_MB`` (MiB), else 2048 MiB."""
    if memory_limit_bytes is not None:
        return memory_limit_bytes
    raw = os.environ.get(MEMORY_ENV, "").strip()
    if not raw:
        return DEFAULT_MEMORY_MB * 2**20
    try:
        mb = float(raw)
    except ValueError:
        mb = -1.0
    if not mb >= 0:
        raise UsageError(f"{MEMORY_ENV}={raw!r}: expected a number of megabytes (MiB)")
    return int(mb * 2**20)


def check_layout(root: Path) -> tuple[Path, Path]:
    """(train folder, test folder) of an imagefolder, from directory entries only."""
    if not root.is_dir():
        raise DataError(f"{root}: no such folder")
    train = root / "train"
    if not train.is_dir():
        raise DataError(f"{root}: no train/ folder (expected {root}/train/<class>/<images>)")
    for name in ("val", "test"):
        if (root / name).is_dir():
            return train, root / name
    raise DataError(f"{root}: no val/ or test/ folder next to train/")


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images(folder: Path) -> list[str]:
    """Image files under ``folder`` (recursively, sorted, hidden ones skipped)."""
    found = []
    for parent, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [
            os.path.join(parent, n)
            for n in sorted(names)
            if not n.startswith(".") and n.lower().endswith(EXTENSIONS)
        ]
    return found


def scan(root: Path) -> tuple[tuple[str, ...], dict[str, tuple[list[str], list[int]]]]:
    """(classes, {"train"/"test": (files relative to root, labels)}), checking the layout."""
    train, test = check_layout(root)
    class_dirs = _class_dirs(train)
    if not class_dirs:
        raise DataError(f"{train}: no class folders (expected {train}/<class>/<images>)")
    if len(class_dirs) == 1:
        raise DataError(f"{train}: only one class folder ({class_dirs[0].name}); need at least two")
    classes = tuple(p.name for p in class_dirs)
    label = {name: i for i, name in enumerate(classes)}
    parts = {}
    for split, folder in (("train", train), ("test", test)):
        dirs = class_dirs if folder == train else _class_dirs(folder)
        if not dirs:
            raise DataError(f"{folder}: no class folders (expected {folder}/<class>/<images>)")
        files: list[str] = []
        labels: list[int] = []
        for d in dirs:
            if d.name not in label:
                raise DataError(f"{d}: class {d.name!r} is not among train/'s classes")
            found = _images(d)
            if not found:
                raise DataError(f"{d}: a class folder with no images ({', '.join(EXTENSIONS)})")
            files += [os.path.relpath(f, root) for f in found]
            labels += [label[d.name]] * len(found)
        parts[split] = (files, labels)
    return classes, parts


def probe(root: Path, files: list[str], workers: int | None) -> tuple[int, list[tuple[int, int]]]:
    """(channels, the distinct (width, height) sizes) from the file headers, in parallel."""
    data = imagefiles.Probe(str(root), np.array([os.fsencode(f) for f in files]))
    if workers is None:
        workers = imagefiles.default_workers() if len(files) >= imagefiles.MIN_PARALLEL else 0
    step = imagefiles.BATCH_SIZE
    batches = (list(range(s, min(s + step, len(files)))) for s in range(0, len(files), step))
    gray = colour = 0
    sizes: dict[tuple[int, int], None] = {}
    for batch in imagefiles.run(data, batches, list, workers):
        for is_gray, w, h, error in batch:
            if error:
                raise DataError(error)
            gray, colour = gray + is_gray, colour + (not is_gray)
            sizes[(w, h)] = None
    if gray and colour:
        raise DataError(
            f"{root}: mixed channel counts ({gray} grayscale, {colour} colour images); "
            "convert them to one mode"
        )
    return (1 if gray else 3), list(sizes)


def load_imagefolder(
    path: str | os.PathLike[str],
    image_size: int | None = None,
    memory_limit_bytes: int | None = None,
    workers: int | None = None,
) -> Dataset:
    """Load ``path`` (the ImageNet layout) as a Dataset: tensors, or views when too big.

    ``image_size``: None keeps the images' own size (they must all share it); an int resizes the
    shorter side to it and centre-crops a square. ``workers``: decoding processes (None: min(4,
    CPUs), none for tiny folders).
    """
    if image_size is not None and image_size < 1:
        raise UsageError(f"--image-size must be a positive number of pixels, not {image_size}")
    root = Path(os.path.abspath(Path(path).expanduser()))
    classes, parts = scan(root)
    files = parts["train"][0] + parts["test"][0]
    channels, sizes = probe(root, files, workers)
    if image_size is not None:
        h = w = image_size
    elif len(sizes) == 1:
        ((w, h),) = sizes
    else:
        (w1, h1), (w2, h2) = sizes[:2]
        raise DataError(
            f"{root}: images of different sizes ({w1}x{h1} and {w2}x{h2}); "
            "pass --image-size N to resize them to N x N"
        )
    shape = (channels, h, w)
    views = {
        split: ImageFiles(str(root), parts[split][0], shape, resize=image_size, workers=workers)
        for split in parts
    }
    streamed = len(files) * channels * h * w > memory_limit(memory_limit_bytes)
    x = {split: v if streamed else v.load() for split, v in views.items()}
    mean, std = channel_stats(x["train"])
    n_train, n_test = len(parts["train"][0]), len(parts["test"][0])
    how = "streamed from disk" if streamed else "decoded into memory"
    return Dataset(
        name=f"imagefolder-{slugify(root.name)}",
        x_train=x["train"],
        y_train=torch.tensor(parts["train"][1], dtype=torch.int64),
        x_test=x["test"],
        y_test=torch.tensor(parts["test"][1], dtype=torch.int64),
        classes=classes,
        mean=mean,
        std=std,
        source=f"imagefolder: {root} ({n_train} train, {n_test} test images, {how})",
        augment=("crop", "flip"),
        spec=f"imagefolder:{root}",
    )
