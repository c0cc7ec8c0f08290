"""The REST API (JSON under /api/v1) and the operational routes: parse, call one function, answer.

Request and answer shapes are the pydantic models in ``service/schemas.py``; flask-openapi3
validates requests against them and builds /openapi.json from them. Every error is an RFC 9457
problem document.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TypeVar

from flask import Response, current_app, jsonify, request
from flask_openapi3 import APIBlueprint, Tag
from pydantic import ValidationError

from ingest.parse import FORMATS_BY_EXTENSION
from service import catalog, schemas
from service.hindsight import Hindsight
from service.metrics import metrics_of
from service.uploads import Posted, UploadError, store_posted

PROBLEM = "application/problem+json"
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
WRITE_ENDPOINTS: set[str] = set()  # endpoints that need a token even when reads are open

_F = TypeVar("_F", bound=Callable[..., Any])

_search_tag = Tag(name="search", description="Find incidents by meaning and keyword.")
_docs_tag = Tag(name="documents", description="Stored postmortems, runbooks and checklists.")
_modes_tag = Tag(name="taxonomy", description="Failure modes and what is known about them.")
_ops_tag = Tag(name="operations", description="Health, readiness and metrics.")

api = APIBlueprint(
    "api",
    __name__,
    url_prefix="/api/v1",
    abp_responses={
        401: schemas.problem_response("A token is needed (writes, or reads when closed)."),
        422: schemas.problem_response("The request is not valid; detail says what to fix."),
    },
)
ops = APIBlueprint("ops", __name__, abp_tags=[_ops_tag])


def hs() -> Hindsight:
    from service.app import hindsight_of

    return hindsight_of(current_app)


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """An RFC 9457 problem document with ``status``, ``title`` and ``detail``."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM
    response.headers.update(headers or {})
    return response


_LOCATIONS = {"Query": "query", "Path": "path", "In": "body", "Body": "body"}


def validation_problem(exc: ValidationError) -> Response:
    """flask-openapi3's validation error callback: a 422 problem naming each bad field."""
    model = exc.title
    where = next((loc for suffix, loc in _LOCATIONS.items() if model.endswith(suffix)), "body")
    errors = [
        {"loc": [where, *err["loc"]], "msg": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_input=False, include_context=False)
    ]
    if where == "body" and request.get_json(silent=True) is None:
        detail = "the body must be a JSON object sent with Content-Type: application/json"
    else:
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or where}: {e['msg']}" for e in errors
        )
        detail = f"invalid {where}: {detail}"
    return problem(422, detail, errors=errors)


def writes(func: _F) -> _F:
    """Mark a view as a write: it needs a bearer token whatever the read setting."""
    WRITE_ENDPOINTS.add(f"api.{func.__name__}")
    return func


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = jsonify(payload)
    response.status_code = status
    response.headers.update(headers or {})
    return response


# -- operations ----------------------------------------------------------------------------


@ops.get("/healthz", responses={200: schemas.Health})
def healthz() -> Response:
    """Liveness: the process answers (cheap; touches neither store nor model)."""
    return _json({"status": "ok"})


@ops.get(
    "/readyz",
    responses={200: schemas.Ready, 503: schemas.problem_response("Store or index not loaded.")},
)
def readyz() -> Response:
    """Readiness: the store answers and the search index is loaded and current."""
    service = hs()
    try:
        service.index.ensure_current()
    except Exception as exc:  # any failure here means: do not send traffic yet
        return problem(503, f"store or index not ready: {type(exc).__name__}: {exc}")
    meta = service.index.metadata()
    return _json(
        {
            "status": "ready",
            "revision": meta["revision"],
            "chunks": meta["chunks"],
            "documents": len(service.index.docs),
            "model_loaded": "embedder" in service.__dict__,
        }
    )


@ops.get(
    "/metrics",
    responses={
        200: {"description": "Prometheus text format", "content": {"text/plain": {"schema": {}}}}
    },
)
def metrics() -> Response:
    """Prometheus metrics: requests by route, latencies, search/review timings, store size."""
    body, content_type = metrics_of(current_app).exposition()
    return Response(body, content_type=content_type)


# -- search and documents ------------------------------------------------------------------


@api.get(
    "/search",
    tags=[_search_tag],
    responses={
        200: schemas.SearchOut,
        414: {"description": "The request line is over 8,190 bytes (gunicorn's limit)."},
    },
)
def search(query: schemas.SearchQuery) -> Response:
    """Hybrid search (meaning and keywords) with filters and facets; the CLI's `search --json`."""
    with metrics_of(current_app).timing("search"):
        result = hs().search(query.q, k=query.k, filters=query.filters())
    return _json(result.as_dict())


@api.get(
    "/documents/<doc_id>",
    tags=[_docs_tag],
    responses={200: schemas.DocumentOut, 404: schemas.problem_response("No such document.")},
)
def get_document(path: schemas.DocumentPath) -> Response:
    """One document: metadata, sections, failure modes with evidence, similar incidents."""
    service = hs()
    doc = service.document(path.doc_id)
    if doc is None:
        return problem(404, f"no document with id {path.doc_id!r}")
    doc["similar"] = catalog.similar_documents(service.engine, service.index, path.doc_id)
    return _json(doc)


def _document_body() -> dict[str, Any]:
    json_schema = schemas.DocumentIn.model_json_schema()
    form_schema = {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {"type": "string", "format": "binary"},
            **{
                name: json_schema["properties"][name]
                for name in ("url", "format", "kind", "title", "org", "date")
            },
        },
    }
    return {
        "required": True,
        "content": {
            "application/json": {"schema": json_schema},
            "multipart/form-data": {"schema": form_schema},
        },
    }


@api.post(
    "/documents",
    tags=[_docs_tag],
    security=BEARER,
    openapi_extensions={"requestBody": _document_body()},
    responses={
        200: schemas.DocumentStored,
        201: schemas.DocumentStored,
        409: schemas.problem_response("Removed by another writer while being stored."),
        413: schemas.problem_response("The body or the document is too large."),
        415: schemas.problem_response("Neither JSON nor a multipart file."),
    },
)
@writes
def create_document() -> Response:
    """Store a document: JSON with a URL to fetch or the content itself, or a multipart file.

    201 when it is new; 200 with the existing id when the same content (or URL) was stored.
    """
    try:
        posted = _posted()
        stored = store_posted(hs(), posted)
    except ValidationError as exc:
        return validation_problem(exc)
    except UploadError as exc:
        return problem(exc.status, str(exc))
    href = f"/api/v1/documents/{stored.id}"
    body = {
        "id": stored.id,
        "status": stored.status,
        "title": stored.title,
        "kind": stored.kind,
        "href": href,
    }
    if stored.status == "added":
        return _json(body, 201, {"Location": href})
    return _json(body)


def _posted() -> Posted:
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise UploadError("the multipart body needs a 'file' part")
        fields = {k: v for k, v in request.form.items() if v != ""}
        suffix = "." + upload.filename.rsplit(".", 1)[-1].lower() if upload.filename else ""
        if "format" not in fields and suffix in FORMATS_BY_EXTENSION:
            fields["format"] = FORMATS_BY_EXTENSION[suffix]
        meta: schemas.DocumentMeta = schemas.DocumentMeta.model_validate(fields)
        data = upload.read()
    elif request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise UploadError("the body must be a JSON object")
        meta = schemas.DocumentIn.model_validate(body)
        data = meta.content.encode("utf-8") if meta.content is not None else None
    else:
        raise UploadError(
            "send JSON (Content-Type: application/json) or a multipart/form-data file", 415
        )
    return Posted(
        data=data,
        url=meta.url,
        format=meta.format,
        kind=meta.kind,
        title=meta.title,
        org=meta.org,
        date=meta.date,
    )


@api.delete(
    "/documents/<doc_id>",
    tags=[_docs_tag],
    security=BEARER,
    responses={204: None, 404: schemas.problem_response("No such document.")},
)
@writes
def delete_document(path: schemas.DocumentPath) -> Response:
    """Delete a document with its sections, chunks and tags."""
    service = hs()
    if not service.library.delete(path.doc_id):
        return problem(404, f"no document with id {path.doc_id!r}")
    service.index.ensure_current()
    return Response(status=204)


@api.put(
    "/documents/<doc_id>/modes",
    tags=[_docs_tag],
    security=BEARER,
    responses={200: schemas.ModesSet, 404: schemas.problem_response("No such document.")},
)
@writes
def set_document_modes(path: schemas.DocumentPath, body: schemas.ModesBody) -> Response:
    """Confirm a document's failure modes by hand; they are kept over automatic tags."""
    service = hs()
    try:
        modes = service.set_modes(path.doc_id, list(body.modes))
    except KeyError:
        return problem(404, f"no document with id {path.doc_id!r}")
    except ValueError as exc:
        return problem(422, f"{exc} (see /api/v1/modes)")
    service.index.ensure_current()
    return _json({"id": path.doc_id, "modes": modes})


# -- tagging and review --------------------------------------------------------------------

_review_tag = Tag(name="review", description="Failure modes of a text; review of a change plan.")


@api.post("/tag", tags=[_review_tag], responses={200: schemas.TagOut})
def tag(body: schemas.TagBody) -> Response:
    """Failure modes of a text with the sentences behind them; nothing is stored."""
    return _json(hs().tag(body.text).as_dict())


@api.post("/review", tags=[_review_tag], responses={200: schemas.ReviewOut})
def review(body: schemas.ReviewBody) -> Response:
    """Review a change plan: risks with precedents, similar incidents, runbooks, a checklist
    and the safeguards it does not mention; the CLI's `review --format json`."""
    with metrics_of(current_app).timing("review"):
        result = hs().review(body.plan, k=body.k)
    return _json(result.as_dict())


# -- taxonomy and counts -------------------------------------------------------------------


@api.get("/modes", tags=[_modes_tag], responses={200: schemas.ModeList})
def modes() -> Response:
    """The failure-mode taxonomy, each mode with how many incidents carry it."""
    return _json({"modes": catalog.list_modes(hs().engine)})


@api.get(
    "/modes/<mode_id>",
    tags=[_modes_tag],
    responses={200: schemas.ModeDetail, 404: schemas.problem_response("No such mode.")},
)
def mode(path: schemas.ModePath) -> Response:
    """One failure mode with its incidents, runbooks and checklists."""
    detail = catalog.mode_detail(hs().engine, path.mode_id)
    if detail is None:
        return problem(404, f"no failure mode with id {path.mode_id!r} (see /api/v1/modes)")
    return _json(detail)


@api.get("/stats", tags=[_modes_tag], responses={200: schemas.StatsOut})
def stats() -> Response:
    """Counts of documents by kind, and of incidents by mode, year and organisation."""
    return _json(catalog.stats(hs().engine))
