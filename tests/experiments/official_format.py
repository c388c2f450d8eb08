"""Tiny CIFAR-10 files in the official format (``cifar-10-python.tar.gz``), written from scratch.

The official batches were pickled by Python 2 (protocol 2): strings are Python 2 ``str`` (written as
BINSTRING opcodes, which Python 3 reads with ``encoding="latin1"``) and the arrays refer to
``numpy.core.multiarray._reconstruct``. ``py2_pickle`` reproduces exactly that.
"""

from __future__ import annotations

import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np


class _Py2Pickler(pickle._Pickler):  # the pure-Python pickler, whose dispatch table we can extend
    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def py2_pickle(obj: object) -> bytes:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")


def batch_bytes(x_hwc: np.ndarray, y: np.ndarray, label: str = "batch") -> bytes:
    """One batch as the official pickle: data (N, 3072) channel-first rows, labels a list."""
    data = np.ascontiguousarray(x_hwc.transpose(0, 3, 1, 2).reshape(len(x_hwc), 3072))
    return py2_pickle(
        {
            b"batch_label": label.encode(),
            b"labels": [int(v) for v in y],
            b"data": data,
            b"filenames": [f"img_{i}.png".encode() for i in range(len(y))],
        }
    )


def tiny_arrays(n_per_batch: int = 4, seed: int = 0):
    """(train_x, train_y, test_x, test_y): 5 * n_per_batch training images and n_per_batch test ones."""
    rng = np.random.default_rng(seed)
    n_train = 5 * n_per_batch
    xtr = rng.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8)
    ytr = rng.integers(0, 10, n_train).astype(np.int64)
    xte = rng.integers(0, 256, (n_per_batch, 32, 32, 3), dtype=np.uint8)
    yte = rng.integers(0, 10, n_per_batch).astype(np.int64)
    return xtr, ytr, xte, yte


def write_batches_dir(folder: Path, arrays) -> Path:
    """Write ``folder/cifar-10-batches-py/`` with data_batch_1..5, test_batch and batches.meta."""
    xtr, ytr, xte, yte = arrays
    out = folder / "cifar-10-batches-py"
    out.mkdir(parents=True)
    for i, (xs, ys) in enumerate(zip(np.array_split(xtr, 5), np.array_split(ytr, 5), strict=True)):
        (out / f"data_batch_{i + 1}").write_bytes(batch_bytes(xs, ys, f"training batch {i + 1}"))
    (out / "test_batch").write_bytes(batch_bytes(xte, yte, "testing batch 1"))
    meta = {b"label_names": [b"airplane", b"automobile"], b"num_cases_per_batch": len(yte)}
    (out / "batches.meta").write_bytes(py2_pickle(meta))
    return out


def write_tarball(
    path: Path, batches_dir: Path, extra: list[tarfile.TarInfo] | None = None
) -> Path:
    """Pack ``batches_dir`` as the official tarball (members under ``cifar-10-batches-py/``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        tar.add(batches_dir, arcname="cifar-10-batches-py")
        for info in extra or []:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return path
