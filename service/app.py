"""The Flask application factory: settings, the shared service object, auth, errors, blueprints."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from flask import Flask, Response, g, jsonify, render_template, request
from flask_openapi3 import Info, OpenAPI
from werkzeug.exceptions import HTTPException

from service import tokens
from service.api import WRITE_ENDPOINTS, api, ops, problem, validation_problem
from service.config import Config
from service.hindsight import Hindsight
from service.metrics import Metrics
from service.schemas import Problem
from service.search import QueryError

log = logging.getLogger(__name__)

# Reachable without a token even when reads are closed: probes, the schema, static files, and
# the chat endpoints (they verify their own signatures).
OPEN_ENDPOINTS = {"ops.healthz", "ops.readyz", "openapi_json", "static", "web.static"}
OPEN_BLUEPRINTS = {"chatops", "openapi", "swagger"}
DOC_BLUEPRINTS = {"openapi", "swagger"}  # third-party pages with inline scripts
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _version() -> str:
    try:
        return version("hindsight-kb")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"


def create_app(config: Mapping[str, Any] | None = None, *, warm: bool = True) -> OpenAPI:
    """Build the app: defaults, then HINDSIGHT_* variables, then ``config``.

    With ``warm`` the schema is migrated and the model and indexes load now, so gunicorn
    (``preload_app``) shares them between workers instead of loading them once per worker.
    """
    settings = Config.load(config)
    hindsight = Hindsight(settings)
    app = OpenAPI(
        __name__,
        info=Info(
            title="Hindsight",
            version=_version(),
            description="Search past production incidents, tag text with failure modes and "
            "review change plans. Errors are RFC 9457 problem documents.",
        ),
        security_schemes={"bearer": {"type": "http", "scheme": "bearer"}},
        validation_error_status=422,
        validation_error_model=Problem,
        validation_error_callback=validation_problem,
        doc_prefix="/api/docs",
    )
    app.extensions["hindsight"] = hindsight
    app.config["MAX_CONTENT_LENGTH"] = settings["max_document_bytes"] + 64 * 1024
    app.json.sort_keys = False  # type: ignore[attr-defined]
    Metrics(hindsight.engine).init_app(app)

    from service.chatops import chatops
    from service.web import web

    app.register_api(ops)
    app.register_api(api)
    app.register_blueprint(web)
    app.register_blueprint(chatops)
    app.add_url_rule("/openapi.json", "openapi_json", lambda: jsonify(app.api_doc))
    app.before_request(_authorize)
    app.after_request(_security_headers)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(QueryError, _query_error)
    app.register_error_handler(Exception, _server_error)

    if warm:
        hindsight.upgrade()
        hindsight.index.ensure_current()
        # One review touches everything a request may need (model, tagger, index, checklist
        # items), so it is all loaded before the fork and shared by the workers.
        hindsight.review("Roll out a configuration change to every server at once.")
    if settings["api_token"]:
        tokens.seed_token(hindsight.engine, tokens.BOOTSTRAP_NAME, settings["api_token"])
    if warm:
        # Connections must not cross gunicorn's fork: each worker opens its own.
        hindsight.engine.dispose()
    return app


def hindsight_of(app: Flask) -> Hindsight:
    hindsight: Hindsight = app.extensions["hindsight"]
    return hindsight


# -- auth ----------------------------------------------------------------------------------


def _presented_token() -> str | None:
    auth = request.authorization
    if auth is None:
        return None
    if auth.type == "bearer":
        return auth.token or None
    if auth.type == "basic":  # a browser prompt: any user name, the token as password
        return auth.password or None
    return None


def _authorize() -> Response | None:
    from flask import current_app

    endpoint = request.endpoint
    if endpoint is None or request.method == "OPTIONS":
        return None  # a 404 or 405 follows
    settings = hindsight_of(current_app).config
    if endpoint not in WRITE_ENDPOINTS:
        if not settings["read_token_required"]:
            return None
        if endpoint in OPEN_ENDPOINTS or request.blueprint in OPEN_BLUEPRINTS:
            return None
    presented = _presented_token()
    if presented is None:
        return _unauthorized(
            "this needs a token: send Authorization: Bearer TOKEN "
            "(create one with `hindsight token create NAME`)",
            None,
        )
    name = tokens.verify_token(hindsight_of(current_app).engine, presented)
    if name is None:
        return _unauthorized("the token is not valid or has been revoked", "invalid_token")
    g.token_name = name
    return None


def _unauthorized(detail: str, error: str | None) -> Response:
    if _wants_html():
        response = _page_error(401, detail)
        response.headers["WWW-Authenticate"] = 'Basic realm="Hindsight", charset="UTF-8"'
        return response
    challenge = 'Bearer realm="Hindsight"' + (f', error="{error}"' if error else "")
    return problem(401, detail, headers={"WWW-Authenticate": challenge})


# -- errors and headers --------------------------------------------------------------------


def _wants_html() -> bool:
    if request.blueprint == "web":
        return True
    if request.path.startswith(("/api/", "/chatops/")) or request.blueprint is not None:
        return False
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


def _page_error(status: int, detail: str) -> Response:
    response = Response(render_template("error.html", status=status, detail=detail))
    response.status_code = status
    return response


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    detail = exc.description or exc.name
    if status == 413:
        detail = "the request body is larger than this service accepts"
    if _wants_html():
        return _page_error(status, detail)
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    return problem(status, detail, headers=headers)


def _query_error(exc: QueryError) -> Response:
    if _wants_html():
        return _page_error(422, str(exc))
    return problem(422, str(exc))


def _server_error(exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.path)
    detail = "the service failed to answer; the error is in its log"
    if _wants_html():
        return _page_error(500, detail)
    return problem(500, detail)


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html" and request.blueprint not in DOC_BLUEPRINTS:
        response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response
