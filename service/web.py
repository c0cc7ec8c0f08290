"""The web pages: server-rendered, readable without JavaScript, calling the same functions as the API.

Stored text is only ever rendered as escaped text (Jinja autoescaping, never ``|safe``), and
links taken from documents are kept only when they are http(s), so nothing an ingested
document contains can run in the browser.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

from flask import Blueprint, Response, abort, current_app, render_template, request, url_for
from pydantic import ValidationError

from service import catalog
from service.api import hs
from service.metrics import metrics_of
from service.schemas import SearchQuery
from service.search import QueryError
from service.taxonomy import AXES

web = Blueprint("web", __name__)

SEARCH_PARAMS = ("q", "k", "mode", "org", "kind", "since", "until")


@web.app_template_filter("http_url")
def http_url(value: Any) -> str | None:
    """The URL when it is http(s) with a host, else None: no javascript:, data: or other."""
    if not isinstance(value, str):
        return None
    parsed = urlparse(value.strip())
    return value.strip() if parsed.scheme in ("http", "https") and parsed.netloc else None


def segments(text: str, spans: list[tuple[int, int]]) -> list[tuple[str, bool]]:
    """``text`` cut into (piece, highlighted) runs; overlapping or touching spans merge."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        start, end = max(start, 0), min(end, len(text))
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out: list[tuple[str, bool]] = []
    last = 0
    for start, end in merged:
        if start > last:
            out.append((text[last:start], False))
        out.append((text[start:end], True))
        last = end
    if last < len(text):
        out.append((text[last:], False))
    return out


def _mode_names() -> dict[str, str]:
    return {m["id"]: m["name"] for m in catalog.list_modes(hs().engine)}


# -- search --------------------------------------------------------------------------------


def _search_args() -> dict[str, Any]:
    args: dict[str, Any] = {}
    for name in SEARCH_PARAMS:
        values = [v.strip() for v in request.args.getlist(name) if v.strip()]
        if name == "mode":
            args[name] = list(dict.fromkeys(values))
        elif values:
            args[name] = values[0]
    return args


def search_url(current: dict[str, Any], **changes: Any) -> str:
    """The search page URL for ``current`` parameters with ``changes`` (None removes)."""
    params = {k: v for k, v in current.items() if v not in (None, "", [])}
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return url_for("web.search", **params)


@web.get("/")
def search() -> str:
    args = _search_args()
    context: dict[str, Any] = {"args": args, "result": None, "error": None}
    if args.get("q"):
        try:
            query = SearchQuery.model_validate(args)
            with metrics_of(current_app).timing("search"):
                result = hs().search(query.q, k=query.k, filters=query.filters()).as_dict()
            for hit in result["results"]:
                hit["segments"] = segments(hit["snippet"], [tuple(h) for h in hit["highlights"]])
            context["result"] = result
        except ValidationError as exc:
            context["error"] = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
        except QueryError as exc:
            context["error"] = str(exc)
    else:
        context["stats"] = catalog.stats(hs().engine)
    return render_template(
        "search.html", mode_names=_mode_names(), search_url=search_url, **context
    )


# -- documents -----------------------------------------------------------------------------


def _evidence_spans(doc: dict[str, Any]) -> dict[int, list[tuple[int, int]]]:
    """Where each mode's evidence sits in the sections: by offsets, else by finding its text."""
    spans: dict[int, list[tuple[int, int]]] = {}
    sections = doc["sections"]
    for mode in doc["modes"]:
        for ev in mode["evidence"]:
            text = ev.get("text") if isinstance(ev, dict) else None
            if not isinstance(text, str) or not text.strip():
                continue
            where = ev.get("section")
            start, end = ev.get("start"), ev.get("end")
            if (
                isinstance(where, int)
                and 0 <= where < len(sections)
                and isinstance(start, int)
                and isinstance(end, int)
                and sections[where]["text"][start:end] == text
            ):
                spans.setdefault(where, []).append((start, end))
                continue
            # Else find the words, whatever whitespace the section has between them.
            pattern = re.compile(r"\s+".join(re.escape(word) for word in text.split()))
            for n, section in enumerate(sections):
                found = pattern.search(section["text"])
                if found:
                    spans.setdefault(n, []).append(found.span())
                    break
    return spans


@web.get("/documents/<doc_id>")
def document(doc_id: str) -> str:
    service = hs()
    doc = service.document(doc_id)
    if doc is None:
        abort(404, f"no document with id {doc_id!r}")
    spans = _evidence_spans(doc)
    for n, section in enumerate(doc["sections"]):
        section["segments"] = segments(section["text"], spans.get(n, []))
    similar = catalog.similar_documents(service.engine, service.index, doc_id)
    return render_template("document.html", doc=doc, similar=similar, mode_names=_mode_names())


# -- review --------------------------------------------------------------------------------


@web.route("/review", methods=["GET", "POST"])
def review() -> str:
    context: dict[str, Any] = {"plan": "", "review": None, "markdown": "", "error": None}
    if request.method == "POST":
        from service.review import render_markdown

        plan = request.form.get("plan", "")
        context["plan"] = plan
        service = hs()
        try:
            with metrics_of(current_app).timing("review"):
                result = service.review(plan, k=5)
        except QueryError as exc:
            context["error"] = str(exc)
        else:
            base = service.config["base_url"] or request.host_url
            context["review"] = result.as_dict()
            context["markdown"] = render_markdown(result, base_url=base.rstrip("/"))
            ids = {i for r in context["review"]["risks"] for i in r["incidents"]}
            context["titles"] = {i["id"]: i["title"] for i in context["review"]["incidents"]}
            for doc_id in ids - set(context["titles"]):
                doc = service.document(doc_id)
                context["titles"][doc_id] = doc["title"] if doc else doc_id
    return render_template("review.html", **context)


# -- taxonomy, runbooks, counts ------------------------------------------------------------


@web.get("/modes")
def modes() -> str:
    by_axis: dict[str, list[dict[str, Any]]] = {axis: [] for axis in AXES}
    for mode in catalog.list_modes(hs().engine):
        by_axis.setdefault(mode["axis"], []).append(mode)
    return render_template("modes.html", by_axis=by_axis)


@web.get("/modes/<mode_id>")
def mode(mode_id: str) -> str:
    detail = catalog.mode_detail(hs().engine, mode_id)
    if detail is None:
        abort(404, f"no failure mode with id {mode_id!r}")
    return render_template("mode.html", mode=detail)


@web.get("/runbooks")
def runbooks() -> str:
    engine = hs().engine
    return render_template(
        "runbooks.html",
        runbooks=catalog.list_documents(engine, "runbook"),
        checklists=catalog.list_documents(engine, "checklist"),
        mode_names=_mode_names(),
    )


def bars(counts: dict[str, int], *, width: int = 640, row: int = 22, label: int = 220) -> dict:
    """Geometry of a horizontal bar chart (inline SVG): one row per (label, count)."""
    top = max(counts.values(), default=0) or 1
    span = width - label - 50
    rows = [
        {"label": key, "value": value, "y": i * row, "w": max(1, round(value / top * span))}
        for i, (key, value) in enumerate(counts.items())
    ]
    return {"rows": rows, "width": width, "height": len(rows) * row, "label": label, "row": row}


def heat(by_mode_year: dict[str, dict[str, int]], names: dict[str, str]) -> dict:
    """Geometry of a mode × year grid: darker cells had more incidents."""
    years = sorted({y for counts in by_mode_year.values() for y in counts})
    modes = sorted(by_mode_year, key=lambda m: -sum(by_mode_year[m].values()))
    top = max((n for c in by_mode_year.values() for n in c.values()), default=0) or 1
    cells = [
        {
            "x": j,
            "y": i,
            "n": by_mode_year[m].get(y, 0),
            "level": 0 if not by_mode_year[m].get(y) else 1 + (4 * by_mode_year[m][y] - 1) // top,
            "title": f"{names.get(m, m)}, {y}: {by_mode_year[m].get(y, 0)}",
        }
        for i, m in enumerate(modes)
        for j, y in enumerate(years)
    ]
    return {"years": years, "modes": [(m, names.get(m, m)) for m in modes], "cells": cells}


@web.get("/stats")
def stats() -> str:
    counts = catalog.stats(hs().engine)
    names = _mode_names()
    by_mode = {names.get(m, m): n for m, n in counts["by_mode"].items()}
    return render_template(
        "stats.html",
        stats=counts,
        mode_chart=bars(by_mode),
        year_chart=bars(counts["by_year"], label=60),
        grid=heat(counts["by_mode_year"], names),
    )


@web.after_request
def _no_store_for_forms(response: Response) -> Response:
    if request.method == "POST":
        response.headers["Cache-Control"] = "no-store"
    return response
