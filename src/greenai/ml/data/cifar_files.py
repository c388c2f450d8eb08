"""Reading CIFAR-10 from its official files without trusting them.

The official ``cifar-10-python.tar.gz`` holds ``cifar-10-batches-py/`` with Python pickles (``data_batch_1``
… ``data_batch_5``, ``test_batch``): dicts whose ``data`` is a uint8 numpy array (N, 3072), channel-first
rows, and whose ``labels`` is a list of ints. The pickles are read by an unpickler that can build only
numpy arrays and dtypes, and tarballs are read (or extracted) only when no member is a link, a device or
a path outside the archive's folder. Everything wrong with a file becomes one :class:`DataError` line.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
import urllib.request
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from greenai.errors import DataError

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
TARBALL_NAME = "cifar-10-python.tar.gz"
BATCHES_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"

# The only globals a CIFAR-10 batch pickle refers to (numpy moved `core` to `_core` in 2.0).
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


def _numpy_reconstruct() -> Any:
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    return _reconstruct


class _OtherFormat(pickle.UnpicklingError):
    """A harmless pickle in a format the official batches never use (e.g. re-saved by Python 3)."""


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, strings, numbers and numpy arrays; refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS and module.split(".")[0] == "numpy":
            # e.g. numpy._core.numeric._frombuffer: an array pickled with protocol 5
            raise _OtherFormat(
                f"not the official CIFAR-10 format (its numpy arrays are pickled as {module}."
                f"{name}): expected the Python 2 pickles (protocol 2) of cifar-10-python.tar.gz, "
                "a dict with 'data' (uint8 array) and 'labels'; re-extract the official tarball "
                "or re-save the batch with pickle protocol 2"
            )
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f"refers to {module}.{name}, which a CIFAR-10 batch never needs"
            )
        if name == "_reconstruct":
            return _numpy_reconstruct()
        return np.ndarray if name == "ndarray" else np.dtype


def restricted_loads(data: bytes, *, what: str) -> Any:
    """Unpickle ``data`` (Python 2 strings decoded as latin-1, as the official loaders do)."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except _OtherFormat as exc:
        raise DataError(f"{what}: {exc}") from None
    except pickle.UnpicklingError as exc:
        raise DataError(f"{what}: refused or corrupt pickle: {exc}") from None
    except (EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise DataError(f"{what}: corrupt or truncated pickle ({type(exc).__name__})") from None


def parse_batch(data: bytes, *, what: str) -> tuple[np.ndarray, np.ndarray]:
    """One batch pickle -> (x uint8 (N, 32, 32, 3), y int64 (N,))."""
    obj = restricted_loads(data, what=what)
    if not isinstance(obj, dict) or "data" not in obj or "labels" not in obj:
        raise DataError(f"{what}: not a CIFAR-10 batch (expected a dict with 'data' and 'labels')")
    x, labels = obj["data"], obj["labels"]
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        raise DataError(f"{what}: 'data' is not a uint8 array of shape (N, 3072)")
    y = np.asarray(labels)
    if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{what}: 'labels' does not hold one integer per image")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise DataError(f"{what}: labels outside 0..9")
    images = x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), y.astype(np.int64)


def _concat(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def read_batches_dir(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read ``cifar-10-batches-py/`` -> {"train": (x, y), "test": (x, y)}."""
    parts = {}
    for split, names in (("train", TRAIN_BATCHES), ("test", (TEST_BATCH,))):
        loaded = []
        for name in names:
            path = folder / name
            if not path.is_file():
                raise DataError(f"{folder}: missing {name}; not a complete {BATCHES_DIR} folder")
            loaded.append(parse_batch(path.read_bytes(), what=str(path)))
        parts[split] = _concat(loaded)
    return parts


def _check_member(member: tarfile.TarInfo, what: str) -> None:
    path = PurePosixPath(member.name)
    if member.issym() or member.islnk():
        raise DataError(f"{what}: refused: member {member.name!r} is a link")
    if not (member.isfile() or member.isdir()):
        raise DataError(f"{what}: refused: member {member.name!r} is not a plain file or folder")
    if path.is_absolute() or ".." in path.parts or "\\" in member.name:
        raise DataError(f"{what}: refused: member {member.name!r} points outside the archive")


def _open_tar(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: not a readable tarball ({exc})") from None


def _checked_members(tar: tarfile.TarFile, what: str) -> list[tarfile.TarInfo]:
    try:
        members = tar.getmembers()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{what}: corrupt or truncated tarball ({exc})") from None
    for member in members:
        _check_member(member, what)
    return members


def read_tarball(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read the batches straight from ``cifar-10-python.tar.gz`` (nothing is extracted)."""
    what = str(path)
    with _open_tar(path) as tar:
        members = {m.name: m for m in _checked_members(tar, what)}
        parts = {}
        for split, names in (("train", TRAIN_BATCHES), ("test", (TEST_BATCH,))):
            loaded = []
            for name in names:
                member = members.get(f"{BATCHES_DIR}/{name}")
                if member is None or not member.isfile():
                    raise DataError(f"{what}: missing {BATCHES_DIR}/{name}")
                try:
                    handle = tar.extractfile(member)
                    data = handle.read() if handle else b""
                except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
                    raise DataError(f"{what}: corrupt or truncated tarball ({exc})") from None
                loaded.append(parse_batch(data, what=f"{what}:{name}"))
            parts[split] = _concat(loaded)
    return parts


def safe_extract(path: Path, target: Path) -> None:
    """Extract a tarball into ``target`` after checking every member (no links, nothing outside)."""
    what = str(path)
    target = target.resolve()
    with _open_tar(path) as tar:
        members = _checked_members(tar, what)
        for member in members:
            dest = (target / member.name).resolve()
            if dest != target and target not in dest.parents:
                raise DataError(f"{what}: refused: member {member.name!r} points outside {target}")
        try:
            if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4: belt and braces
                tar.extractall(target, members=members, filter="data")
            else:  # pragma: no cover - every member was checked above
                tar.extractall(target, members=members)
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{what}: extraction failed ({exc})") from None


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_md5(path: Path, expected: str = CIFAR10_MD5) -> None:
    """Raise DataError unless ``path``'s MD5 is ``expected``."""
    actual = md5_of(path)
    if actual != expected:
        raise DataError(f"{path}: MD5 {actual} does not match the official {expected}")


def download_cifar10(cache_dir: Path, url: str = CIFAR10_URL, md5: str = CIFAR10_MD5) -> Path:
    """Fetch the official tarball into ``cache_dir`` (only ever called for ``--download``).

    The file is written to a temporary name, checked against the official MD5, then renamed, and
    extracted safely beside it. Returns the extracted ``cifar-10-batches-py`` folder.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    tarball = cache_dir / TARBALL_NAME
    if not tarball.is_file():
        partial = cache_dir / (TARBALL_NAME + ".part")
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
            verify_md5(partial, md5)
            os.replace(partial, tarball)
        except OSError as exc:
            raise DataError(f"download of {url} failed: {exc}") from None
        finally:
            if partial.exists():
                partial.unlink()
    verify_md5(tarball, md5)
    safe_extract(tarball, cache_dir)
    return cache_dir / BATCHES_DIR
