"""CIFAR-10: found on disk (never downloaded unless asked) and loaded as uint8 tensors.

CIFAR-10 is found, in this order, in ``data_dir`` (when given, only there), ``$GREENAI_DATA_DIR``, then
the user cache folder (``$XDG_CACHE_HOME/greenai/data`` or ``~/.cache/greenai/data``). In each folder
the npz pair, the ``cifar-10-batches-py/`` folder and the official tarball are accepted. Nothing is ever
downloaded unless ``download=True``.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from greenai.errors import DataError
from greenai.ml.data import cifar_files
from greenai.ml.data.dataset import Dataset

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
# Per-channel statistics of the CIFAR-10 training images (0..1 scale), as published.
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
NPZ_NAMES = ("cifar10_train.npz", "cifar10_test.npz")


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
    """CIFAR-10 in memory: uint8 (N, 3, 32, 32) images, its published channel statistics."""
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
        augment=("crop", "flip"),
        spec="cifar10",
    )
