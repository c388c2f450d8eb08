"""Training checkpoints: written atomically, read with ``torch.load(weights_only=True)``.

A checkpoint is a dict tagged ``format: "greenai-checkpoint"`` holding the model and optimizer state,
the epoch just finished, the training config, the energy spent so far (every earlier piece of a resumed
run plus the current one) and the RNG states, so that ``--resume`` continues where the run stopped.
"""

from __future__ import annotations

import io
import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from greenai.errors import DataError
from greenai.fsutil import atomic_save

FORMAT = "greenai-checkpoint"
VERSION = 1


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Atomically write ``state`` (plain containers and tensors only) as a tagged checkpoint."""
    obj = {"format": FORMAT, "version": VERSION, **state}
    atomic_save(path, lambda handle: torch.save(obj, handle))


def save_weights(path: str | os.PathLike[str], model: torch.nn.Module) -> int:
    """Atomically write the bare state_dict (what a user deploys); returns its size in bytes."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_save(path, lambda handle: torch.save(state, handle))
    return Path(path).stat().st_size


def state_dict_bytes(model: torch.nn.Module) -> int:
    """Size in bytes of the model's state_dict as ``torch.save`` writes it."""
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buf)
    return buf.getbuffer().nbytes


def load_torch_file(path: Path) -> Any:
    """``torch.load(weights_only=True)``; a refused (maybe malicious) or corrupt file: one DataError."""
    if not path.is_file():
        raise DataError(f"{path}: no such checkpoint")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if found:  # weights_only refused an object: maybe a malicious pickle
            raise DataError(
                f"{path}: refused: it refers to {found.group(1)}, which a checkpoint never holds"
            ) from None
        raise DataError(f"{path}: not a readable checkpoint (not a torch.save file)") from None
    except Exception as exc:
        # (IndexError, TypeError, struct.error, ...): all of them mean "not a torch.save file".
        raise DataError(f"{path}: not a readable checkpoint ({type(exc).__name__})") from None


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load and check a checkpoint; anything else (or a malicious pickle) raises one DataError line."""
    path = Path(path)
    obj = load_torch_file(path)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise DataError(f"{path}: not a greenai checkpoint")
    if not isinstance(obj.get("version"), int) or obj["version"] > VERSION:
        raise DataError(
            f"{path}: checkpoint version {obj.get('version')} is newer than this greenai reads ({VERSION})"
        )
    for key in ("model_state", "config", "epoch"):
        if key not in obj:
            raise DataError(f"{path}: checkpoint lacks {key!r}")
    return obj


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """A weights file (bare state_dict) or a checkpoint -> the model's state_dict."""
    path = Path(path)
    obj = load_torch_file(path)
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        return load_checkpoint(path)["model_state"]
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj
    raise DataError(f"{path}: neither a greenai checkpoint nor a state_dict")


def model_from_checkpoint(path: str | os.PathLike[str]) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the trained model from a checkpoint: (model in eval mode on the CPU, checkpoint)."""
    from greenai.ml.models import create_model

    ckpt = load_checkpoint(path)
    cfg = ckpt["config"]
    shape = tuple(ckpt.get("input_shape") or (3, 32, 32))
    model = create_model(
        cfg["model"],
        num_classes=ckpt.get("num_classes", 10),
        input_shape=shape,
        **model_kwargs(cfg),
    )
    try:
        model.load_state_dict(ckpt["model_state"])
    except RuntimeError as exc:
        raise DataError(
            f"{path}: weights do not fit model {cfg['model']!r}: {str(exc)[:200]}"
        ) from None
    return model.eval(), ckpt


def weights_sha256(model: torch.nn.Module) -> str:
    """SHA-256 of a model's weights (names, dtypes, shapes and values; not their memory layout):
    the same for a model, its checkpoint and its variant file, so a file can be matched to the run
    that recorded it."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        if t.is_floating_point():
            t = (
                t + 0.0
            )  # -0.0 (left by masking) and +0.0 are the same weight; IEEE: -0.0 + 0.0 = +0.0
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.flatten().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def model_kwargs(cfg: dict[str, Any]) -> dict[str, Any]:
    """The create_model keyword arguments recorded in a config dict: its ``model_kwargs``, plus
    its ``width`` multiplier for a built-in net (a user's net takes only its own arguments; the
    CLI puts an explicit ``--width`` among them)."""
    from greenai.ml.models import is_builtin

    kw = dict(cfg.get("model_kwargs") or {})
    if cfg.get("width", 1.0) != 1.0 and is_builtin(str(cfg.get("model", ""))):
        kw["width"] = cfg["width"]
    return kw
