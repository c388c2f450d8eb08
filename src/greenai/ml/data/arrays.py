"""Data sets given as arrays: ``npz:PATH`` files and the four arrays a ``MODULE:NAME`` may return.

Images become uint8 (N, C, H, W) tensors with C = 1 or 3:

- (N, H, W) is grayscale (1 channel);
- (N, A, B, D) is NHWC when its last axis is 1 or 3, else NCHW when axis 1 is; when both are
  (e.g. (N, 3, 32, 3)) it is read as NHWC;
- uint8 (and any integer type holding 0..255) is kept as is; floats are taken as 0..1 (values
  outside it are refused) and scaled to 0..255, rounded.

Labels are integers >= 0, one per image ((N,) or (N, 1)); the number of classes is the largest label
+ 1 over train and test, or the length of a ``classes`` array of names when the npz holds one.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from greenai.errors import DataError
from greenai.ml.data.dataset import Dataset, channel_stats, slugify
from greenai.ml.data.imagefiles import writable_tensor

ARRAY_NAMES = ("x_train", "y_train", "x_test", "y_test")


def images_to_tensor(x: Any, what: str, nchw: bool = False) -> torch.Tensor:
    """An image array (see the module docstring for the layouts; ``nchw``: known to be NCHW)
    -> uint8 (N, C, H, W)."""
    x = as_numpy(x, what)
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and not nchw and x.shape[3] in (1, 3):
        x = x.transpose(0, 3, 1, 2)
    elif not (x.ndim == 4 and x.shape[1] in (1, 3)):
        raise DataError(
            f"{what}: images of shape {tuple(x.shape)}; expected (N, H, W) or (N, H, W, C) / "
            "(N, C, H, W) with 1 or 3 channels"
        )
    return writable_tensor(to_uint8(x, what))


def to_uint8(x: np.ndarray, what: str) -> np.ndarray:
    """uint8 pixels from uint8 or 0..255 integers (kept) or 0..1 floats (scaled, rounded)."""
    if x.dtype == np.uint8:
        return x
    if x.dtype == np.bool_ or not (
        np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)
    ):
        raise DataError(
            f"{what}: images of type {x.dtype}; expected uint8 (0..255) or float (0..1)"
        )
    if np.issubdtype(x.dtype, np.floating):
        low, high = (float(np.min(x)), float(np.max(x))) if x.size else (0.0, 0.0)
        if not (low >= 0.0 and high <= 1.0):  # also catches NaN
            raise DataError(
                f"{what}: float images with values in [{low:g}, {high:g}]; expected 0..1"
            )
        return np.rint(x * 255.0).astype(np.uint8)
    if x.size and (int(np.min(x)) < 0 or int(np.max(x)) > 255):
        raise DataError(f"{what}: integer images outside 0..255 (type {x.dtype})")
    return x.astype(np.uint8)


def labels_to_tensor(y: Any, n: int, what: str) -> torch.Tensor:
    """Labels ((N,) or (N, 1) integers >= 0) -> int64 (N,)."""
    y = as_numpy(y, what)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{what}: labels of shape {tuple(y.shape)}; expected one per image (N,)")
    if y.dtype == np.bool_ or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{what}: labels of type {y.dtype}; expected integers")
    if len(y) != n:
        raise DataError(f"{what}: {len(y)} labels for {n} images")
    if y.size and int(y.min()) < 0:
        raise DataError(f"{what}: negative labels (smallest {int(y.min())}); expected 0..K-1")
    return torch.from_numpy(y.astype(np.int64))


def as_numpy(a: Any, what: str) -> np.ndarray:
    """A numpy array from a numpy array or a torch tensor (on any device)."""
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    if isinstance(a, np.ndarray):
        return a
    raise DataError(f"{what}: a {type(a).__name__}; expected a numpy array or a torch tensor")


def from_arrays(
    arrays: dict[str, Any],
    *,
    origin: str,
    name: str,
    spec: str,
    source: str,
    class_names: Any = None,
    nchw: bool = False,
) -> Dataset:
    """A Dataset from the four arrays; ``origin`` prefixes every error line (a path or a spec)."""
    x_train = images_to_tensor(arrays["x_train"], f"{origin}: x_train", nchw)
    x_test = images_to_tensor(arrays["x_test"], f"{origin}: x_test", nchw)
    if len(x_train) == 0:
        raise DataError(f"{origin}: x_train holds no images")
    if len(x_test) and x_test.shape[1:] != x_train.shape[1:]:
        shapes = f"{tuple(x_train.shape[1:])} and {tuple(x_test.shape[1:])}"
        raise DataError(f"{origin}: train and test images differ in shape (C, H, W): {shapes}")
    y_train = labels_to_tensor(arrays["y_train"], len(x_train), f"{origin}: y_train")
    y_test = labels_to_tensor(arrays["y_test"], len(x_test), f"{origin}: y_test")
    k = int(max(y_train.max(), y_test.max() if len(y_test) else 0)) + 1
    if class_names is not None:
        names = class_names_of(class_names, origin)
        if len(names) < k:
            raise DataError(f"{origin}: {len(names)} class names but labels go up to {k - 1}")
        classes = names
    else:
        classes = tuple(str(i) for i in range(k))
    if len(classes) < 2:
        raise DataError(f"{origin}: every label is 0; classification needs at least two classes")
    mean, std = channel_stats(x_train)
    return Dataset(
        name=name, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
        classes=classes, mean=mean, std=std, source=source, augment=(), spec=spec,
    )  # fmt: skip


def class_names_of(names: Any, origin: str) -> tuple[str, ...]:
    a = np.asarray(names)
    if a.ndim != 1 or a.dtype.kind not in "US":
        raise DataError(f"{origin}: 'classes' is not a 1-D array of strings")
    return tuple(v.decode() if isinstance(v, bytes) else str(v) for v in a.tolist())


def load_npz(path: str | os.PathLike[str]) -> Dataset:
    """``npz:PATH``: x_train, y_train, x_test, y_test (and optionally classes) from one .npz."""
    p = Path(os.path.abspath(Path(path).expanduser()))
    try:
        with np.load(p, allow_pickle=False) as npz:
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise DataError(f"{p}: a single .npy array, not an .npz archive")
            missing = [n for n in ARRAY_NAMES if n not in npz.files]
            if missing:
                raise DataError(f"{p}: missing array(s) {', '.join(missing)}")
            arrays = {n: npz[n] for n in ARRAY_NAMES}
            classes = npz["classes"] if "classes" in npz.files else None
    except FileNotFoundError:
        raise DataError(f"{p}: no such file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"{p}: corrupt or unreadable npz ({type(exc).__name__})") from None
    return from_arrays(
        arrays, origin=str(p), name=f"npz-{slugify(p.stem)}", spec=f"npz:{p}",
        source=f"npz: {p}", class_names=classes,
    )  # fmt: skip
