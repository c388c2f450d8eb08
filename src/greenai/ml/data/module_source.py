"""``MODULE:NAME``: a data set made by a Python function, ``NAME()`` in an importable ``MODULE``.

``NAME()`` returns one of:

- ``(x_train, y_train, x_test, y_test)``: numpy arrays or tensors, read like an npz (``arrays``);
- ``(train_dataset, test_dataset)``: ``torch.utils.data.Dataset`` objects whose items are
  ``(image, label)``, the image a (C, H, W) tensor, an (H, W, C) / (H, W) array or a PIL image
  (uint8, or float taken as 0..1); they are read once, through a DataLoader, into uint8 tensors;
- a ready ``greenai.ml.data.Dataset``, kept as it is but for its ``name`` and ``spec``.

Exceptions raised by ``NAME()`` itself reach the caller unchanged (with their traceback: the bug is
in that function); everything wrong with what it returns is one ``DataError`` line.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from greenai.errors import DataError, UsageError
from greenai.ml.data import imagefiles
from greenai.ml.data.arrays import ARRAY_NAMES, from_arrays, to_uint8
from greenai.ml.data.dataset import Dataset, slugify

_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
EXPECTED = (
    "expected (x_train, y_train, x_test, y_test) arrays, (train_dataset, test_dataset) "
    "torch Datasets, or a greenai.ml.data.Dataset"
)


def split_spec(spec: str) -> tuple[str, str]:
    """``MODULE:NAME`` -> (MODULE, NAME), both dotted Python names."""
    module, _, name = spec.partition(":")
    if not (_DOTTED.match(module) and _DOTTED.match(name)):
        raise UsageError(f"--dataset {spec}: expected MODULE:NAME, e.g. mypackage.data:load")
    return module, name


def resolve(spec: str) -> Callable[[], Any]:
    """Import MODULE and return its callable NAME; one UsageError line when that fails."""
    module_name, name = split_spec(spec)
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # an import runs arbitrary code: any failure means "cannot import"
        detail = (str(exc).splitlines() or [""])[0]
        why = f"{type(exc).__name__}: {detail}"
        raise UsageError(
            f"--dataset {spec}: cannot import module {module_name!r} ({why})"
        ) from None
    for part in name.split("."):
        if not hasattr(obj, part):
            raise UsageError(f"--dataset {spec}: module {module_name!r} has no {name!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise UsageError(f"--dataset {spec}: {module_name}.{name} is not callable")
    return obj


def describe(obj: Any) -> str:
    """What a function returned, in a few words."""
    if isinstance(obj, tuple | list):
        kinds = ", ".join(type(v).__name__ for v in obj[:6])
        return f"a {type(obj).__name__} of {len(obj)} ({kinds}{', …' if len(obj) > 6 else ''})"
    return f"a {type(obj).__name__}"


def load_module_dataset(spec: str) -> Dataset:
    """Call ``NAME()`` and turn what it returns into a Dataset named after NAME."""
    make = resolve(spec)
    func = split_spec(spec)[1]
    name = slugify(func.rsplit(".", 1)[-1])
    return from_returned(make(), spec, name=name, spec=spec, returned_by=f"{func}()")


def from_returned(
    out: Any,
    origin: str,
    *,
    name: str | None = None,
    spec: str | None = None,
    returned_by: str = "",
) -> Dataset:
    """A Dataset from a Dataset, four arrays or two torch Datasets (see the module docstring).

    ``origin`` starts every error line; ``name``/``spec`` replace a Dataset's own when given, and
    name data built from arrays (default "data", and no spec: nothing rebuilds it elsewhere).
    """
    if isinstance(out, Dataset):
        keep = {"name": name or out.name, "spec": out.spec if spec is None else spec}
        return _checked(dataclasses.replace(out, **keep), origin)
    made = {"name": name or "data", "spec": spec or "", "source": f"module: {origin}"}
    if isinstance(out, tuple | list) and len(out) == 4:
        arrays = dict(zip(ARRAY_NAMES, out, strict=True))
        return from_arrays(arrays, origin=origin, **made)
    if (
        isinstance(out, tuple | list)
        and len(out) == 2
        and all(isinstance(d, torch.utils.data.Dataset) for d in out)
    ):
        x_train, y_train = materialize(out[0], f"{origin}: train dataset")
        x_test, y_test = materialize(out[1], f"{origin}: test dataset")
        arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
        return from_arrays(arrays, origin=origin, nchw=True, **made)
    got = f"{returned_by} returned" if returned_by else "got"
    raise DataError(f"{origin}: {got} {describe(out)}; {EXPECTED}")


def _checked(ds: Dataset, origin: str) -> Dataset:
    """A Dataset built by someone else, checked for what the training code relies on."""
    x, c = ds.x_train, ds.x_train.shape[1] if len(ds.x_train.shape) == 4 else 0
    problems = [
        (len(x.shape) == 4 and x.dtype == torch.uint8, "x_train is not uint8 (N, C, H, W)"),
        (tuple(ds.x_test.shape[1:]) == tuple(x.shape[1:]), "x_test's image shape differs"),
        (len(ds.y_train) == len(x) and len(ds.y_test) == len(ds.x_test), "label counts differ"),
        (len(ds.mean) == c and len(ds.std) == c, f"mean/std do not have {c} channel values"),
        (len(ds.classes) >= 2, "fewer than two classes"),
    ]
    for ok, problem in problems:
        if not ok:
            raise DataError(f"{origin}: the Dataset given is unusable: {problem}")
    return ds


class _Items(torch.utils.data.Dataset):
    """Item i of a user's Dataset as (uint8 (C, H, W) tensor, label, "") or (None, 0, error)."""

    def __init__(self, ds: torch.utils.data.Dataset, what: str) -> None:
        self.ds, self.what = ds, what

    def __len__(self) -> int:
        return len(self.ds)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> tuple[torch.Tensor | None, int, str]:
        where = f"{self.what}[{i}]"
        try:
            item = self.ds[i]
            if not isinstance(item, tuple | list) or len(item) < 2:
                return None, 0, f"{where}: {describe(item)}; expected (image, label)"
            return image_chw(item[0], where), label_of(item[1], where), ""
        except DataError as exc:
            return None, 0, str(exc)
        except Exception as exc:  # the user's __getitem__ failed: say so in one line
            detail = (str(exc).splitlines() or [""])[0]
            return None, 0, f"{where}: raised {type(exc).__name__}: {detail}"


def image_chw(image: Any, what: str) -> torch.Tensor:
    """One image (CHW/HW tensor, HWC/HW array, PIL image) -> uint8 (C, H, W) tensor."""
    from PIL import Image

    if isinstance(image, Image.Image):
        gray = imagefiles.is_grayscale(image)
        image = np.asarray(imagefiles.to_mode(image, "L" if gray else "RGB"))
    if isinstance(image, torch.Tensor):
        a = image.detach().cpu().numpy()
        a = a[None] if a.ndim == 2 else a
        ok = a.ndim == 3 and a.shape[0] in (1, 3)
    elif isinstance(image, np.ndarray):
        a = image[:, :, None] if image.ndim == 2 else image
        ok = a.ndim == 3 and a.shape[2] in (1, 3)
        a = a.transpose(2, 0, 1) if ok else a
    else:
        raise DataError(f"{what}: an image of type {type(image).__name__}; {EXPECTED}")
    if not ok:
        raise DataError(f"{what}: an image of shape {tuple(image.shape)}; expected 1 or 3 channels")
    return imagefiles.writable_tensor(to_uint8(a, what))


def label_of(label: Any, what: str) -> int:
    """An integer label from an int, a numpy integer or a one-element integer tensor."""
    if isinstance(label, torch.Tensor) and label.numel() == 1 and not label.is_floating_point():
        return int(label.item())
    if isinstance(label, int | np.integer) and not isinstance(label, bool):
        return int(label)
    raise DataError(f"{what}: a label of type {type(label).__name__}; expected an integer")


def _collate(items: list[tuple[Any, int, str]]) -> tuple[torch.Tensor, torch.Tensor] | str:
    """A batch of ``_Items`` -> (images, labels), or the first problem as a message."""
    errors = [error for _image, _label, error in items if error]
    if errors:
        return errors[0]
    images = [image for image, _label, _error in items]
    shapes = {tuple(image.shape) for image in images}
    if len(shapes) > 1:
        first, second = sorted(shapes)[:2]
        return f"images of different shapes (C, H, W): {first} and {second}"
    return torch.stack(images), torch.tensor([label for _image, label, _error in items])


def materialize(ds: torch.utils.data.Dataset, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (image, label) of ``ds`` read once, by parallel workers, into uint8/int64 tensors."""
    try:
        n = len(ds)  # type: ignore[arg-type]
    except TypeError:
        raise DataError(
            f"{what}: a {type(ds).__name__} without len(); expected a map-style Dataset"
        ) from None
    step = imagefiles.BATCH_SIZE
    workers = imagefiles.default_workers() if n >= imagefiles.MIN_PARALLEL else 0
    batches = (list(range(s, min(s + step, n))) for s in range(0, n, step))
    images, labels = [], []
    for batch in imagefiles.run(_Items(ds, what), batches, _collate, workers):
        if isinstance(batch, str):
            raise DataError(batch if batch.startswith(what) else f"{what}: {batch}")
        if images and batch[0].shape[1:] != images[0].shape[1:]:
            shapes = f"{tuple(images[0].shape[1:])} and {tuple(batch[0].shape[1:])}"
            raise DataError(f"{what}: images of different shapes (C, H, W): {shapes}")
        images.append(batch[0])
        labels.append(batch[1])
    if not images:
        return torch.empty((0, 1, 1, 1), dtype=torch.uint8), torch.empty(0, dtype=torch.int64)
    return torch.cat(images), torch.cat(labels)
