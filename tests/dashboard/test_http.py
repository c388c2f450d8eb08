"""The dashboard over real HTTP on 127.0.0.1: path traversal, plotly served locally, loopback."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import pytest
from dash_helpers import add_run


def raw_get(base: str, path: str) -> tuple[int, bytes]:
    """GET ``path`` exactly as written (no client-side normalisation of ``..``)."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


TRAVERSALS = [
    "/static/../../etc/passwd",
    "/static/../../../../../../etc/passwd",
    "/static/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/static/%252e%252e/%252e%252e/etc/passwd",
    "/static/..%5c..%5c..%5cetc%5cpasswd",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/../app.py",
    "/static/..%2fapp.py",
    "/static/%2e%2e/templates/base.html",
    "/assets/../../../etc/passwd",
    "/assets/plotly.min.js/../../../../etc/passwd",
    "/assets/%2e%2e%2fpackage_data%2fplotly.min.js",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_is_refused(live_server, path):
    status, body = raw_get(live_server, path)
    assert status in (400, 404), (path, status)
    assert b"root:" not in body and b"import " not in body and b"{% block" not in body


def test_own_assets_and_local_plotly_are_served(live_server):
    status, body = raw_get(live_server, "/static/dashboard.css")
    assert status == 200 and b".status-running" in body
    status, body = raw_get(live_server, "/assets/plotly.min.js")
    assert status == 200 and b"plotly.js" in body[:200] and len(body) > 1_000_000


def test_served_pages_reference_no_other_origin(live_server, store):
    add_run(store, "r1", group="g")
    for path in ("/", "/runs/r1", "/study?group=g"):
        status, body = raw_get(live_server, path)
        assert status == 200
        assert b"http://" not in body and b"https://" not in body and b"//cdn" not in body


def test_live_server_listens_on_loopback_only(live_server):
    assert urlsplit(live_server).hostname == "127.0.0.1"
