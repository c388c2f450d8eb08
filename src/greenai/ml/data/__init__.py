"""Data sets held in memory as uint8 tensors, and batch-level augmentation on the training device.

CIFAR-10 is found, in this order, in ``data_dir`` (when given, only there), ``$GREENAI_DATA_DIR``, then
the user cache folder (``$XDG_CACHE_HOME/greenai/data`` or ``~/.cache/greenai/data``). In each folder
the npz pair, the ``cifar-10-batches-py/`` folder and the official tarball are accepted. Nothing is ever
downloaded unless ``download=True``.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from greenai.errors import DataError, UsageError
from greenai.ml.data import cifar_files

DATASETS = ("cifar10", "synthetic")
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
# Per-channel statistics of the CIFAR-10 training images (0..1 scale).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
SYNTHETIC_NOTE = "synthetic data: random images for smoke tests; its accuracy means nothing"
NPZ_NAMES = ("cifar10_train.npz", "cifar10_test.npz")


@dataclass(frozen=True)
class Dataset:
    """Images as uint8 (N, 3, H, W) tensors, labels as int64 (N,), on the CPU until moved."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[str, ...]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    source: str  # where the data came from
    note: str = ""  # a caveat to print and record (e.g. the synthetic warning)

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def cache_dir() -> Path:
    """The user cache folder for data sets (XDG when set)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "greenai" / "data"


def search_dirs(data_dir: str | os.PathLike[str] | None) -> list[Path]:
    """The folders looked in, in order."""
    if data_dir is not None:
        return [Path(data_dir).expanduser()]
    dirs = []
    if os.environ.get("GREENAI_DATA_DIR"):
        dirs.append(Path(os.environ["GREENAI_DATA_DIR"]).expanduser())
    dirs.append(cache_dir())
    return dirs


def _candidates(folder: Path) -> list[tuple[str, Path]]:
    """(kind, path) of every CIFAR-10 form found in ``folder``, best first."""
    found = []
    for base in (folder, folder / "cifar10"):
        if all((base / n).is_file() for n in NPZ_NAMES):
            found.append(("npz", base))
    for batches in (folder / cifar_files.BATCHES_DIR, folder):
        if (batches / cifar_files.TEST_BATCH).is_file():
            found.append(("batches", batches))
    if (folder / cifar_files.TARBALL_NAME).is_file():
        found.append(("tarball", folder / cifar_files.TARBALL_NAME))
    return found


def locate_cifar10(
    data_dir: str | os.PathLike[str] | None = None, download: bool = False
) -> tuple[str, Path]:
    """Find CIFAR-10 without reading it: (kind, path). Raises one DataError line when absent."""
    dirs = search_dirs(data_dir)
    for folder in dirs:
        found = _candidates(folder)
        if found:
            return found[0]
    if download:
        target = dirs[0] if data_dir is not None else cache_dir()
        return "batches", cifar_files.download_cifar10(target)
    looked = ", ".join(str(d) for d in dirs)
    raise DataError(
        f"CIFAR-10 not found (looked in {looked}); put cifar-10-python.tar.gz, its "
        f"cifar-10-batches-py/ folder or {NPZ_NAMES[0]}+{NPZ_NAMES[1]} there, pass --data-dir, "
        "set GREENAI_DATA_DIR, or add --download"
    )


def _load_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            x, y = npz["x"], npz["y"]
    except KeyError:
        raise DataError(f"{path}: an npz without the arrays 'x' and 'y'") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"{path}: corrupt or truncated npz ({type(exc).__name__})") from None
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (32, 32, 3):
        raise DataError(f"{path}: 'x' is not uint8 (N, 32, 32, 3)")
    if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{path}: 'y' does not hold one integer label per image")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise DataError(f"{path}: labels outside 0..9")
    return x, y.astype(np.int64)


def _read(kind: str, path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    if kind == "npz":
        return {"train": _load_npz(path / NPZ_NAMES[0]), "test": _load_npz(path / NPZ_NAMES[1])}
    if kind == "batches":
        return cifar_files.read_batches_dir(path)
    return cifar_files.read_tarball(path)


def _to_tensor(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2).contiguous()


def load_cifar10(data_dir: str | os.PathLike[str] | None = None, download: bool = False) -> Dataset:
    kind, path = locate_cifar10(data_dir, download)
    parts = _read(kind, path)
    (xtr, ytr), (xte, yte) = parts["train"], parts["test"]
    return Dataset(
        name="cifar10",
        x_train=_to_tensor(xtr),
        y_train=torch.from_numpy(ytr),
        x_test=_to_tensor(xte),
        y_test=torch.from_numpy(yte),
        classes=CIFAR10_CLASSES,
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
        source=f"{kind}: {path}",
    )


def synthetic(n_train: int = 1024, n_test: int = 256, seed: int = 0) -> Dataset:
    """Seeded random images whose class shifts the colour a little: learnable, but meaningless."""
    g = torch.Generator().manual_seed(seed)

    def make(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, 10, (n,), generator=g)
        tint = torch.linspace(-60, 60, 10)[y].view(n, 1, 1, 1) * torch.tensor([1, -1, 0.5]).view(
            1, 3, 1, 1
        )
        noise = torch.randint(0, 256, (n, 3, 32, 32), generator=g).float() * 0.5 + 64
        return (noise + tint).clamp(0, 255).to(torch.uint8), y

    xtr, ytr = make(n_train)
    xte, yte = make(n_test)
    return Dataset(
        name="synthetic",
        x_train=xtr,
        y_train=ytr,
        x_test=xte,
        y_test=yte,
        classes=tuple(f"class{i}" for i in range(10)),
        mean=(0.5, 0.5, 0.5),
        std=(0.25, 0.25, 0.25),
        source=f"synthetic (seed {seed})",
        note=SYNTHETIC_NOTE,
    )


def check_dataset_name(name: str) -> None:
    if name not in DATASETS:
        raise UsageError(f"unknown dataset {name!r}; available: {', '.join(DATASETS)}")


def load_dataset(
    name: str, data_dir: str | os.PathLike[str] | None = None, download: bool = False
) -> Dataset:
    """Load a data set by name into memory (uint8 tensors on the CPU)."""
    check_dataset_name(name)
    if name == "synthetic":
        return synthetic()
    return load_cifar10(data_dir, download)


@dataclass(frozen=True)
class Splits:
    """Train / held-out / test tensors (uint8 images), possibly on the training device."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_holdout: torch.Tensor
    y_holdout: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def make_splits(
    ds: Dataset,
    *,
    holdout_fraction: float = 0.0,
    limit_train: int | None = None,
    limit_test: int | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> Splits:
    """Hold out a seeded random part of the training images (for early stopping, never the test
    set), keep at most ``limit_train`` training and ``limit_test`` test images, move to ``device``."""
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(ds.y_train), generator=g)
    n_hold = round(len(order) * holdout_fraction)
    hold, train = order[:n_hold], order[n_hold:]
    if limit_train is not None:
        train = train[:limit_train]
    if len(train) == 0:
        raise UsageError("no training images left after the hold-out split and --limit-train")
    n_test = len(ds.y_test) if limit_test is None else min(limit_test, len(ds.y_test))
    train, _ = train.sort()
    hold, _ = hold.sort()

    def put(t: torch.Tensor) -> torch.Tensor:
        return t.to(device)

    return Splits(
        put(ds.x_train[train]),
        put(ds.y_train[train]),
        put(ds.x_train[hold]),
        put(ds.y_train[hold]),
        put(ds.x_test[:n_test]),
        put(ds.y_test[:n_test]),
    )


def normalize(
    x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...], dtype: torch.dtype
) -> torch.Tensor:
    """uint8 (B, C, H, W) -> normalised float tensor of ``dtype`` on the same device."""
    m = torch.tensor(mean, device=x.device, dtype=torch.float32).view(1, -1, 1, 1) * 255
    s = torch.tensor(std, device=x.device, dtype=torch.float32).view(1, -1, 1, 1) * 255
    return ((x.float() - m) / s).to(dtype)


def augment(
    x: torch.Tensor,
    generator: torch.Generator,
    pad_px: int = 4,
    reflect: bool = False,
    flip: torch.Tensor | None = None,
) -> torch.Tensor:
    """Random crop after padding by ``pad_px`` and random horizontal flip, for a whole batch.

    Padding is zeros, or with ``reflect`` the image mirrored at its border (airbench's translate),
    which adds no black frame. ``flip``: which images to mirror (a (B,) bool tensor, e.g.
    ``alternating_flips``'s); None draws a coin per image. Works on uint8 or float (B, C, H, W)
    tensors on any device; ``generator`` must live on that device.
    """
    b, c, h, w = x.shape
    dy = torch.randint(0, 2 * pad_px + 1, (b,), device=x.device, generator=generator)
    dx = torch.randint(0, 2 * pad_px + 1, (b,), device=x.device, generator=generator)
    rows = dy[:, None] + torch.arange(h, device=x.device)  # indices into the padded image
    cols = dx[:, None] + torch.arange(w, device=x.device)
    if reflect:  # map padded indices back into the image, mirrored at the edges (no pad copy)
        source = x
        rows, cols = _reflect(rows - pad_px, h), _reflect(cols - pad_px, w)
    else:
        source = torch.nn.functional.pad(x, (pad_px, pad_px, pad_px, pad_px))
    # two gathers (rows, then columns) crop every image at its own offset in one pass each
    width = source.shape[3]
    cropped = source.gather(2, rows[:, None, :, None].expand(b, c, h, width))
    cropped = cropped.gather(3, cols[:, None, None, :].expand(b, c, h, w))
    if flip is None:
        flip = torch.rand(b, device=x.device, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], cropped.flip(3), cropped)


def alternating_flips(n: int, seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Per-image base flips for airbench's alternating flip: (n,) bools drawn from ``seed`` alone.

    Epoch e mirrors image i iff ``base[i] != (e % 2 == 0)`` (``epoch_flips``): each image is seen
    both ways every two epochs instead of by chance (airbench: fewer epochs to the same accuracy).
    Drawn on the CPU from its own generator, so a resumed run gets the same pattern on any device.
    """
    gen = torch.Generator().manual_seed(seed + 0x5EED)  # apart from the data order's generator
    return (torch.rand(n, generator=gen) < 0.5).to(device)


def epoch_flips(base: torch.Tensor, idx: torch.Tensor, epoch: int) -> torch.Tensor:
    """Which of the images ``idx`` to mirror in ``epoch`` (from 1), given ``alternating_flips``."""
    return base[idx] ^ (epoch % 2 == 0)


def _reflect(index: torch.Tensor, size: int) -> torch.Tensor:
    """Indices in [-size+1, 2*size-2] mirrored into [0, size) (F.pad's "reflect": edge not doubled)."""
    index = index.abs()
    return torch.where(index >= size, 2 * (size - 1) - index, index)
