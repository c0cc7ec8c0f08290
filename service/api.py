"""The REST API (JSON under /api/v1): parse, call one service function, answer."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from service.search import MAX_K, Filters, QueryError

api = Blueprint("api", __name__)


def _hs() -> Any:
    from service.app import hindsight_of

    return hindsight_of(current_app)


def problem(status: int, title: str, detail: str) -> Any:
    """An RFC 9457 problem document."""
    response = jsonify({"type": "about:blank", "status": status, "title": title, "detail": detail})
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


@api.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Any:
    return problem(exc.code or 500, exc.name, exc.description or exc.name)


def _int_arg(name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise QueryError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise QueryError(f"{name} must be between {low} and {high}")
    return value


@api.get("/healthz")
def healthz() -> Any:
    return jsonify({"status": "ok"})


@api.get("/readyz")
def readyz() -> Any:
    hs = _hs()
    try:
        hs.index.ensure_current()
    except Exception as exc:  # the store or index is not usable: not ready
        return problem(503, "Service Unavailable", f"store or index not ready: {exc}")
    return jsonify({"status": "ready", "index": hs.index.metadata()})


@api.get("/api/v1/search")
def search() -> Any:
    try:
        k = _int_arg("k", 10, 1, MAX_K) or 10
        filters = Filters(
            modes=tuple(request.args.getlist("mode")),
            org=request.args.get("org") or None,
            kind=request.args.get("kind") or None,
            since=_int_arg("since", None, 1900, 2100),
            until=_int_arg("until", None, 1900, 2100),
        )
        result = _hs().search(request.args.get("q", ""), k=k, filters=filters)
    except QueryError as exc:
        return problem(422, "Unprocessable Content", str(exc))
    return jsonify(result.as_dict())


@api.get("/api/v1/documents/<doc_id>")
def document(doc_id: str) -> Any:
    doc = _hs().document(doc_id)
    if doc is None:
        return problem(404, "Not Found", f"no document with id {doc_id!r}")
    return jsonify(doc)
