"""Entry point of the ``greenai`` command.

Each module in this package that defines ``register(subparsers)`` adds one subcommand; its parser sets
``func`` to a callable taking the parsed namespace and returning the exit code. Command modules must be
cheap to import (no torch at module level): every invocation imports all of them to build the help.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence

from greenai import __version__
from greenai.errors import GreenAIError, MissingExtraError

_NOT_COMMANDS = {"main", "common"}

# Optional packages a command may import (top-level module name) -> the extra that installs each.
# A command that imports one missing ends in one line naming the install command, not a traceback.
OPTIONAL_MODULES = {
    "torch": "train",
    "torchao": "quant",
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "optuna": "search",
    "matplotlib": "report",
    "pynvml": "gpu",
    "psycopg": "postgres",
    "flask": "dashboard",
    "plotly": "dashboard",
    "mlflow": "mlflow",
}


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line (``greenai: error: ...``) and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="greenai", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"greenai {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    import greenai.cli as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name in _NOT_COMMANDS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"greenai.cli.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except GreenAIError as exc:
        print(f"greenai: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ModuleNotFoundError as exc:
        missing = missing_extra(exc)
        if missing is None:
            raise
        print(f"greenai: error: {missing}", file=sys.stderr)
        return missing.exit_code
    except BrokenPipeError:
        # e.g. `greenai runs --json | head`: the reader left; not an error of ours.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0
    except KeyboardInterrupt:
        print("greenai: interrupted", file=sys.stderr)
        return 130


def missing_extra(exc: ModuleNotFoundError) -> MissingExtraError | None:
    """The ``MissingExtraError`` for an optional package that failed to import, else None."""
    top = (exc.name or "").partition(".")[0]
    extra = OPTIONAL_MODULES.get(top)
    return None if extra is None else MissingExtraError(top, extra)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
