"""The read-only web dashboard over the run store (``greenai dashboard``). Needs the ``dashboard`` extra.

Importing ``greenai.dashboard`` does not import Flask; ``create_app`` does.
"""

from __future__ import annotations

from typing import Any


def create_app(store: Any, trusted_hosts: Any = None) -> Any:
    """See ``greenai.dashboard.app.create_app``."""
    try:
        from greenai.dashboard.app import create_app as _create_app
    except ModuleNotFoundError as exc:
        if exc.name not in ("flask", "werkzeug", "jinja2"):
            raise
        from greenai.errors import MissingExtraError

        raise MissingExtraError("flask", "dashboard") from None

    return _create_app(store, trusted_hosts=trusted_hosts)
