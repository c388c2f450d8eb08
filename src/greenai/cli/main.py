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
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from greenai import __version__
from greenai.errors import GreenAIError, MissingExtraError

_NOT_COMMANDS = {"main", "common", "argtypes", "training_args"}  # helpers, not commands

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


# every character str.splitlines() breaks at, shown escaped ("\\n", "\\x0c", ...)
_LINE_BREAKS = {ord(c): repr(c)[1:-1] for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"}


def one_line(text: str) -> str:
    """``text`` as one line: a user's value may hold newlines, form feeds, ..."""
    return text.translate(_LINE_BREAKS)


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line (``greenai: error: ...``) and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {one_line(message)}\n")

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> Any:
        # argparse drops a '--' value (``--recipe=--``) and hands the action an empty list
        if action.option_strings and arg_strings and set(arg_strings) == {"--"}:
            self.error(f"argument {'/'.join(action.option_strings)}: expected a value, got '--'")
        return super()._get_values(action, arg_strings)


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C's KeyboardInterrupt so that every command's existing
    cleanup runs (status ``interrupted``, final samples and total row written); exit 128+signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# Signals treated like SIGINT. An ignored one (``nohup`` ignores SIGHUP) stays ignored.
GRACEFUL_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def graceful_signals() -> Iterator[list[int]]:
    """Within the block, SIGTERM and SIGHUP raise ``Interrupted`` in the main thread; the list
    yielded collects the signals received (a command may catch the interrupt itself, as the
    dashboard's server does, and still must exit 128+signal)."""
    received: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        received.append(signum)
        raise Interrupted(signum)

    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = {}
    for sig in GRACEFUL_SIGNALS:
        if signal.getsignal(sig) is not signal.SIG_IGN:
            previous[sig] = signal.signal(sig, handler)
    try:
        yield received
    finally:
        for sig, handler_before in previous.items():
            signal.signal(sig, handler_before)


def _interrupted(signum: int) -> int:
    print(f"greenai: interrupted ({signal.Signals(signum).name})", file=sys.stderr)
    return 128 + signum


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
    args._argv = list(sys.argv[1:] if argv is None else argv)  # to relaunch under torchrun
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with graceful_signals() as received:
            code = int(args.func(args) or 0)
        return _interrupted(received[0]) if received else code
    except GreenAIError as exc:
        print(f"greenai: error: {one_line(str(exc))}", file=sys.stderr)
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
    except KeyboardInterrupt as exc:
        return _interrupted(getattr(exc, "signum", signal.SIGINT))


def missing_extra(exc: ModuleNotFoundError) -> MissingExtraError | None:
    """The ``MissingExtraError`` for an optional package that failed to import, else None."""
    top = (exc.name or "").partition(".")[0]
    extra = OPTIONAL_MODULES.get(top)
    return None if extra is None else MissingExtraError(top, extra)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
