"""Batch-level image operations on the training device: normalisation and augmentation.

They work on whole (B, C, H, W) batches at once (airbench's way: no per-image Python), for any
channel count, on uint8 or float tensors, on whatever device the batch lives on.
"""

from __future__ import annotations

import torch


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
