"""Serving the dashboard: werkzeug's threaded WSGI server, loopback unless told otherwise."""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
from typing import Any, TextIO

from werkzeug.serving import BaseWSGIServer, get_sockaddr, make_server, select_address_family

from greenai.errors import UsageError

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) only reaches this machine."""
    if host.strip("[]").lower() in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(app: Any, host: str, port: int) -> BaseWSGIServer:
    """A threaded server for ``app`` listening on ``host:port`` (port 0: any free port).

    The socket is bound here, not by werkzeug, so that a busy port or a foreign address is one
    ``UsageError`` line (werkzeug would print and ``sys.exit``).
    """
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got {port}")
    family = select_address_family(host, port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(get_sockaddr(host, port, family))
        sock.listen(128)
        return make_server(host, port, app, threaded=True, fd=sock.fileno())
    except (OSError, UnicodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise UsageError(f"cannot listen on {host}:{port}: {reason}") from None
    finally:
        sock.close()  # the server holds its own duplicate of the descriptor


def url_of(server: BaseWSGIServer) -> str:
    host, port = server.server_address[:2]
    shown = f"[{host}]" if ":" in str(host) else host
    return f"http://{shown}:{port}/"


def start_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0) -> tuple[BaseWSGIServer, str]:
    """Serve ``app`` from a daemon thread; returns the server (call ``shutdown()``) and its URL."""
    server = bind(app, host, port)
    threading.Thread(target=server.serve_forever, name="greenai-dashboard", daemon=True).start()
    return server, url_of(server)


def serve(app: Any, host: str, port: int, out: TextIO = sys.stderr) -> None:
    """Serve until interrupted, warning first when the address is reachable from other machines."""
    if not is_loopback(host):
        print(
            f"greenai: warning: the dashboard listens on {host}, reachable from other machines; "
            "it has no login, so anyone who can reach it can read every run in the store",
            file=out,
        )
    server = bind(app, host, port)
    print(f"greenai dashboard: {url_of(server)} (Ctrl+C to stop)", file=out, flush=True)
    try:
        server.serve_forever()  # werkzeug returns from here on Ctrl+C
    finally:
        server.server_close()
    print("greenai dashboard: stopped", file=out)
