"""The dashboard's Flask application: read-only pages and JSON over a run store.

Safety: only GET and HEAD are answered (anything else is 405, and no route writes); pages are
Jinja templates with autoescaping and the page scripts put store text into the page with
``textContent`` only; static files come from this package's ``static`` folder and plotly.min.js from
the installed plotly package, nothing else; a Content-Security-Policy allows scripts from this origin
only. ``trusted_hosts`` (set by the CLI when bound to loopback) refuses requests whose Host header
names another site, which stops DNS-rebinding pages from reading the store.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from flask import (
    Flask,
    Response,
    abort,
    jsonify,
    make_response,
    render_template,
    request,
    send_file,
)
from werkzeug.exceptions import MethodNotAllowed

from greenai import __version__
from greenai.dashboard import report_view, search_view, spent, studies, views
from greenai.errors import MissingExtraError
from greenai.search.study import OBJECTIVES

_HERE = Path(__file__).resolve().parent
READ_METHODS = ("GET", "HEAD")
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")

_CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",  # plotly sets inline styles on the elements it draws
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)


def plotly_js_path() -> Path:
    """plotly.min.js as shipped inside the installed ``plotly`` package (no CDN, no network)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError("plotly", "dashboard")
    for location in spec.submodule_search_locations:
        path = Path(location) / "package_data" / "plotly.min.js"
        if path.is_file():
            return path
    raise MissingExtraError("plotly", "dashboard")


def create_app(store: Any, trusted_hosts: Sequence[str] | None = None) -> Flask:
    """A Flask app serving ``store`` (a ``greenai.storage`` store) read-only.

    ``trusted_hosts``: Host header names to accept (port ignored); None accepts any.
    """
    plotly_js = plotly_js_path()
    app = Flask(
        __name__,
        static_folder=str(_HERE / "static"),
        static_url_path="/static",
        template_folder=str(_HERE / "templates"),
    )
    app.config.update(
        TRUSTED_HOSTS=list(trusted_hosts) if trusted_hosts is not None else None,
        JSON_SORT_KEYS=False,
        MAX_CONTENT_LENGTH=0,  # no request bodies
    )
    app.url_map.merge_slashes = False  # "/static//etc/passwd" is a 404, not a redirect
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.jinja_env.globals["greenai_version"] = __version__
    app.jinja_env.filters["num"] = _format_number
    app.jinja_env.filters["sig"] = _format_significant
    app.jinja_env.filters["when"] = _format_time

    @app.before_request
    def _read_only() -> None:
        if request.method not in READ_METHODS:
            raise MethodNotAllowed(valid_methods=list(READ_METHODS))

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = _CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        if response.mimetype == "application/json" or response.mimetype == "text/html":
            response.headers["Cache-Control"] = "no-store"
        return response

    def get_run_or_404(run_id: str) -> Any:
        if not store.has_run(run_id):  # runs are never deleted: no race with get_run
            abort(404, description=f"no run {run_id!r} in the store")
        return store.get_run(run_id)

    def group_runs_or_404(group: str | None) -> list[Any]:
        if not group:
            abort(400, description="missing ?group=NAME")
        runs = store.list_runs(group=group)
        if not runs:
            abort(404, description=f"no runs in group {group!r}")
        return runs

    # -- pages ------------------------------------------------------------------------------
    @app.get("/")
    def index() -> str:
        runs = _newest_first(store.list_runs())
        # runs without final figures: their energy so far (or until they stopped), from samples
        last = spent.last_samples(store.engine, spent.unfinished_ids(runs))
        return render_template(
            "index.html",
            runs=[views.run_summary(r, last.get(r.run_id)) for r in runs],
            groups=views.group_summaries(runs, last),
        )

    @app.get("/runs/<run_id>")
    def run_page(run_id: str) -> str:
        run = get_run_or_404(run_id)
        return render_template("run.html", run=views.run_summary(run))

    def search_or_400(group: str | None) -> dict[str, Any]:
        """The search view of ``group`` under the study's objective (or ``?objective=``)."""
        runs = group_runs_or_404(group)
        chosen = request.args.get("objective") or None
        if chosen is not None and chosen not in OBJECTIVES:
            abort(400, description=f"objective must be one of {', '.join(OBJECTIVES)}")
        recorded = studies.recorded_objective(store.engine, str(group))
        if chosen is not None:
            source = "chosen on this page"
        elif recorded.objective is not None:
            chosen, source = (
                recorded.objective,
                f"the study's objective, recorded in {recorded.where}",
            )
        else:
            chosen = "energy"
            source = f"the study's objective is unknown here ({recorded.where}); showing energy"
        payload = search_view.search_payload(runs, chosen, source)
        payload["recorded_objective"] = recorded.objective
        return payload

    @app.get("/study")
    def study_page() -> str:
        group = request.args.get("group")
        runs = group_runs_or_404(group)
        is_search = any(r.variant == views.SEARCH_TRIAL for r in runs)
        return render_template(
            "study.html", group=group, report=report_view.study_report(runs), is_search=is_search
        )

    @app.get("/search")
    def search_page() -> str:
        group = request.args.get("group")
        return render_template(
            "search.html", group=group, payload=search_or_400(group), objectives=list(OBJECTIVES)
        )

    @app.get("/assets/plotly.min.js")
    def plotly_asset() -> Response:
        return send_file(plotly_js, mimetype="text/javascript", max_age=86400, conditional=True)

    # -- JSON -------------------------------------------------------------------------------
    @app.get("/api/runs")
    def api_runs() -> Response:
        runs = store.list_runs(
            group=request.args.get("group") or None, variant=request.args.get("variant") or None
        )
        return _json([views.run_summary(r) for r in _newest_first(runs)])

    @app.get("/api/runs/<run_id>")
    def api_run(run_id: str) -> Response:
        run = get_run_or_404(run_id)
        return _json({**views.run_summary(run), "config": run.config, "result": run.result})

    @app.get("/api/runs/<run_id>/live")
    def api_live(run_id: str) -> Response:
        run = get_run_or_404(run_id)
        return _json(views.live_payload(run, store.samples(run_id), store.epochs(run_id)))

    @app.get("/api/study")
    def api_study() -> Response:
        return _json(report_view.study_report(group_runs_or_404(request.args.get("group"))))

    @app.get("/api/search")
    def api_search() -> Response:
        return _json(search_or_400(request.args.get("group")))

    @app.errorhandler(400)
    @app.errorhandler(404)
    @app.errorhandler(405)
    def _error(exc: Any) -> Response:
        if request.path.startswith("/api/"):
            response = jsonify({"error": exc.description})
        else:
            page = render_template("error.html", code=exc.code, message=exc.description)
            response = make_response(page)
        response.status_code = exc.code
        for key, value in exc.get_headers():  # e.g. Allow on a 405
            if key.lower() != "content-type":
                response.headers[key] = value
        return response

    return app


def _newest_first(runs: Sequence[Any]) -> list[Any]:
    return sorted(runs, key=lambda r: (r.started_at, r.run_id), reverse=True)


def _json(data: Any) -> Response:
    """JSON with NaN and infinities turned into null (JSON has neither; browsers reject them)."""
    return jsonify(_finite(data))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _format_time(timestamp: float | None) -> str:
    """A Unix time as ``YYYY-MM-DD HH:MM:SS UTC`` (the store's times are UTC epoch seconds)."""
    if timestamp is None:
        return "—"
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _format_significant(value: Any, digits: int = 3) -> str:
    """A small figure (kWh, kg) for a table cell: ``—`` when unknown, else significant digits."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:.{digits}g}"


def _format_number(value: Any, digits: int = 3) -> str:
    """A figure for a table cell: ``—`` when unknown, else ``digits`` significant digits."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, int):
        return str(value)
    return (
        f"{value:.{digits}g}" if abs(value) < 1e-3 or abs(value) >= 1e6 else f"{value:.{digits}f}"
    )
