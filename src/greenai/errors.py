"""Errors that reach the user as one line and an exit code, never a traceback."""

from __future__ import annotations


class GreenAIError(Exception):
    """Base of greenai's expected failures. ``exit_code`` is what the command exits with."""

    exit_code = 1


class UsageError(GreenAIError):
    """Bad input from the user: flags, files, ids. Exits 2, like argparse."""

    exit_code = 2


class DataError(UsageError):
    """A data set, checkpoint or result file that is missing, corrupt or unsafe."""


class MissingExtraError(UsageError):
    """An optional dependency is not installed; the message names the install command."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"this needs the optional package '{module}': pip install 'greenai[{extra}]'"
        )
