"""``greenai dashboard``: serve the read-only web dashboard over the run store."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "dashboard",
        help="serve a read-only web page over the run store (live runs, studies, searches)",
        description="Serve a read-only web dashboard over the run store. Listens on 127.0.0.1 "
        "unless --host says otherwise.",
    )
    p.add_argument(
        "--store",
        metavar="URL",
        default=None,
        help="run store URL or SQLite file (default: $GREENAI_STORE, else ./greenai.db)",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; anything else is reachable by others)",
    )
    p.add_argument("--port", type=int, default=8050, help="port to listen on (default 8050)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: Flask and the store are not needed to build the CLI's help.
    from greenai.dashboard import create_app
    from greenai.dashboard.server import LOOPBACK_NAMES, is_loopback, serve
    from greenai.errors import UsageError
    from greenai.storage import open_store

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got {args.port}")
    # Read-only: no stale-run marking (that would write "interrupted" into the store).
    store = open_store(args.store, default_dir=".", create=False, mark_stale=False)
    try:
        trusted = list(LOOPBACK_NAMES) if is_loopback(args.host) else None
        app = create_app(store, trusted_hosts=trusted)
        serve(app, args.host, args.port)
    finally:
        store.close()
    return 0
