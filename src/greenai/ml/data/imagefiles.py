"""Image files decoded with Pillow in DataLoader worker processes, and ``ImageFiles``: a lazy uint8
(N, C, H, W) view over files, for folders too large to hold decoded in memory.

One colour rule for every file, so a folder decodes to one channel count:

- grayscale: modes 1, L, LA, I, I;16*, F, and palette images whose palette colours are all gray;
  everything else (RGB, RGBA, CMYK, YCbCr, coloured palettes…) is colour;
- a grayscale folder decodes to L (1 channel), a colour one to RGB (3 channels); 16-bit and float
  modes go through Pillow's own conversion to L;
- transparency (an alpha band, or a palette's or colour key's ``transparency``) is composited onto
  black, so what was invisible stays dark instead of showing whatever colour the file kept under it.

Workers report a broken file as a message (not an exception, which the DataLoader would wrap in a
multi-line traceback); the main process raises it as one ``DataError`` line naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from greenai.errors import DataError
from greenai.sensors.machine_load import available_cpus

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
BATCH_SIZE = 64
# Fewer images than this decode in this process: starting workers would cost more than they save.
MIN_PARALLEL = 2 * BATCH_SIZE


def default_workers() -> int:
    """min(4, CPUs this process may use): the decoding worker processes."""
    return min(4, available_cpus())


def is_grayscale(img: Image.Image) -> bool:
    """Whether ``img`` holds gray levels only, judged from its header (mode and palette)."""
    if img.mode in GRAY_MODES:
        return True
    if img.mode in ("P", "PA"):
        palette = img.getpalette()
        if palette:
            rgb = np.asarray(palette, dtype=np.int32).reshape(-1, 3)
            return bool((rgb == rgb[:, :1]).all())
    return False


def to_mode(img: Image.Image, mode: str) -> Image.Image:
    """``img`` as ``mode`` ("L" or "RGB"), transparency composited onto black."""
    has_alpha = img.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in img.info
    if not has_alpha:
        return img if img.mode == mode else img.convert(mode)
    rgba = img.convert("RGBA")
    out = Image.new(mode, img.size)  # black
    out.paste(rgba.convert(mode), mask=rgba.getchannel("A"))
    return out


def resize_crop(img: Image.Image, size: int) -> Image.Image:
    """Shorter side resized to ``size`` (bilinear, antialiased), then the centre size x size."""
    w, h = img.size
    if (w, h) == (size, size):
        return img
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    img = img.resize((nw, nh), Image.Resampling.BILINEAR)
    left, top = round((nw - size) / 2), round((nh - size) / 2)
    return img.crop((left, top, left + size, top + size))


def failure(path: str, exc: BaseException) -> str:
    """The one-line message for a file Pillow cannot read."""
    detail = str(exc).splitlines()[0] if str(exc) else ""
    why = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return f"{path}: unreadable or corrupt image ({why})"


class _Files(torch.utils.data.Dataset):
    """Image paths, stored as one bytes array (no per-path Python objects for forked workers to
    copy as they touch reference counts)."""

    def __init__(self, root: str, files: np.ndarray) -> None:
        self.root, self.files = root, files

    def __len__(self) -> int:
        return len(self.files)

    def path(self, i: int) -> str:
        return os.path.join(self.root, os.fsdecode(self.files[i]))


class Probe(_Files):
    """Item i: (grayscale, width, height, error message or "") from the file's header only."""

    def __getitem__(self, i: int) -> tuple[bool, int, int, str]:
        path = self.path(i)
        try:
            with Image.open(path) as img:
                return is_grayscale(img), img.size[0], img.size[1], ""
        except Exception as exc:  # any Pillow failure is a bad file, reported by name
            return False, 0, 0, failure(path, exc)


class Decode(_Files):
    """Item i: (uint8 (C, H, W) tensor or None, error message or "")."""

    def __init__(
        self, root: str, files: np.ndarray, shape: tuple[int, int, int], resize: int | None
    ) -> None:
        super().__init__(root, files)
        self.shape, self.resize = shape, resize

    def __getitem__(self, i: int) -> tuple[torch.Tensor | None, str]:
        path = self.path(i)
        c, h, w = self.shape
        try:
            with Image.open(path) as img:
                img = to_mode(img, "L" if c == 1 else "RGB")
                if self.resize is not None:
                    img = resize_crop(img, self.resize)
                pixels = np.asarray(img, dtype=np.uint8)
        except Exception as exc:  # any Pillow failure is a bad file, reported by name
            return None, failure(path, exc)
        if pixels.shape[:2] != (h, w):
            found = f"{pixels.shape[1]}x{pixels.shape[0]}"
            return None, f"{path}: a {found} image where {w}x{h} was expected (changed since read?)"
        chw = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
        return writable_tensor(chw), ""


def writable_tensor(a: np.ndarray) -> torch.Tensor:
    """A contiguous tensor of ``a``, copied when ``a`` is read-only (Pillow's arrays are)."""
    a = np.ascontiguousarray(a)
    return torch.from_numpy(a if a.flags.writeable else a.copy())


def _stack(items: list[tuple[torch.Tensor | None, str]]) -> torch.Tensor | str:
    errors = [error for _image, error in items if error]
    return errors[0] if errors else torch.stack([image for image, _ in items])  # type: ignore[misc]


def run(
    dataset: torch.utils.data.Dataset,
    batches: Iterable[list[int]],
    collate: Any,
    workers: int,
    pin_memory: bool = False,
) -> Iterator[Any]:
    """``collate([dataset[i] for i in batch])`` for each batch, in order, ``workers`` processes
    decoding ahead (at most two batches each: memory stays bounded). ``pin_memory``: batches in
    page-locked memory, for asynchronous copies to a CUDA device."""
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_sampler=batches,  # type: ignore[arg-type]
        collate_fn=collate,
        num_workers=workers,
        prefetch_factor=2 if workers else None,
        pin_memory=pin_memory,
    )
    yield from loader


class ImageFiles:
    """A lazy uint8 (N, C, H, W) view over image files: ``len()``, ``.shape``, ``view[index]``
    (a LongTensor or slice -> the decoded batch, on the CPU), ``subset(index)`` (another view,
    nothing decoded) and ``batches`` (many batches through one set of workers: an epoch)."""

    dtype = torch.uint8

    def __init__(
        self,
        root: str,
        files: Sequence[str] | np.ndarray,
        shape: tuple[int, int, int],
        *,
        resize: int | None = None,
        index: torch.Tensor | None = None,
        workers: int | None = None,
    ) -> None:
        """``files``: paths relative to ``root``; ``shape``: (C, H, W) every file decodes to
        (after ``resize``: shorter side to it, centre crop); ``workers``: None = automatic."""
        self.root = root
        self.files = (
            files if isinstance(files, np.ndarray) else np.array([os.fsencode(f) for f in files])
        )
        self.image_shape = shape
        self.resize = resize
        self.index = torch.arange(len(self.files)) if index is None else index
        self.workers = workers

    def __len__(self) -> int:
        return len(self.index)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self), *self.image_shape))

    def __repr__(self) -> str:
        c, h, w = self.image_shape
        return f"ImageFiles({len(self)} images, {c}x{h}x{w}, under {self.root})"

    def subset(self, index: torch.Tensor | slice) -> ImageFiles:
        """The images ``index`` of this view, as a view (nothing is decoded)."""
        key = index.cpu() if isinstance(index, torch.Tensor) else index
        return ImageFiles(
            self.root, self.files, self.image_shape, resize=self.resize,
            index=self.index[key], workers=self.workers,
        )  # fmt: skip

    def __getitem__(self, index: torch.Tensor | slice) -> torch.Tensor:
        """The images ``index`` decoded: a uint8 (B, C, H, W) CPU tensor."""
        chosen = self.index[index.cpu() if isinstance(index, torch.Tensor) else index]
        parts = [chosen[s : s + BATCH_SIZE] for s in range(0, len(chosen), BATCH_SIZE)]
        out = torch.empty((len(chosen), *self.image_shape), dtype=torch.uint8)
        start = 0
        for batch in self._decode(parts, len(chosen) >= MIN_PARALLEL):
            out[start : start + len(batch)] = batch
            start += len(batch)
        return out

    def batches(
        self, index_batches: Iterable[torch.Tensor], pin_memory: bool = False
    ) -> Iterator[torch.Tensor]:
        """Each index tensor's images decoded, in order, workers decoding a few batches ahead
        (``pin_memory``: for ``.to("cuda", non_blocking=True)``)."""
        base = (self.index[p.cpu()] for p in index_batches)
        return self._decode(base, len(self) >= MIN_PARALLEL, pin_memory)

    def load(self) -> torch.Tensor:
        """Every image of the view, decoded into one tensor."""
        return self[:]

    def _decode(
        self, parts: Iterable[torch.Tensor], parallel: bool, pin_memory: bool = False
    ) -> Iterator[torch.Tensor]:
        """Batches of files ``parts`` (indices into ``files``, not into this view), decoded."""
        workers = self.workers if self.workers is not None else default_workers() if parallel else 0
        dataset = Decode(self.root, self.files, self.image_shape, self.resize)
        lists = (p.tolist() for p in parts)
        for batch in run(dataset, lists, _stack, workers, pin_memory and torch.cuda.is_available()):
            if isinstance(batch, str):
                raise DataError(batch)
            yield batch
