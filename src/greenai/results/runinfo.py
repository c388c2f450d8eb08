"""Software versions and the git commit, recorded with every result."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path
from typing import Any


def git_commit(start: Path | None = None) -> str | None:
    """The commit (HEAD) of the checkout holding greenai's source, or None outside git.

    Uncommitted changes are not detected: the figure names the commit, not the exact tree."""
    folder = start or Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None


def software() -> dict[str, Any]:
    import numpy
    import torch

    from greenai import __version__

    return {
        "greenai": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "git_commit": git_commit(),
    }
