"""Browsing the store: the taxonomy with its incidents, runbooks, counts, similar documents."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import numpy as np
from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from service import models
from service.index import DOC_COLUMNS, SearchIndex
from service.taxonomy import stored_modes


def _doc(row: Any) -> dict[str, Any]:
    return {
        "id": row[0],
        "kind": row[1],
        "title": row[2],
        "org": row[3],
        "url": row[4],
        "date": row[5].isoformat() if row[5] else None,
    }


def _incident_counts(session: Session) -> Counter[str]:
    rows = session.execute(
        select(col(models.Tag.mode_id), func.count())
        .join(models.Document, col(models.Document.id) == col(models.Tag.document_id))
        .where(col(models.Tag.rejected).is_(False), col(models.Document.kind) == "postmortem")
        .group_by(col(models.Tag.mode_id))
    )
    return Counter({mode_id: int(n) for mode_id, n in rows})


def list_modes(engine: Engine) -> list[dict[str, Any]]:
    """Every mode of the taxonomy (retired ones last) with how many incidents carry it."""
    with Session(engine) as session:
        counts = _incident_counts(session)
    modes = stored_modes(engine)
    return [
        {
            "id": m.id,
            "axis": m.axis,
            "name": m.name,
            "definition": m.definition,
            "retired": m.retired,
            "incidents": counts.get(m.id, 0),
        }
        for m in sorted(modes, key=lambda m: m.retired)
    ]


def mode_detail(engine: Engine, mode_id: str) -> dict[str, Any] | None:
    """One mode with the postmortems, runbooks and checklists tagged with it; None if unknown."""
    mode = next((m for m in stored_modes(engine) if m.id == mode_id), None)
    if mode is None:
        return None
    linked: dict[str, list[dict[str, Any]]] = {"postmortem": [], "runbook": [], "checklist": []}
    with Session(engine) as session:
        rows = session.execute(
            sa_select(*DOC_COLUMNS, col(models.Tag.confidence), col(models.Tag.origin))
            .join(models.Tag, col(models.Tag.document_id) == col(models.Document.id))
            .where(col(models.Tag.mode_id) == mode_id, col(models.Tag.rejected).is_(False))
        )
        for row in rows:
            entry = _doc(row) | {"confidence": round(float(row[6]), 3), "origin": row[7]}
            linked.setdefault(entry["kind"], []).append(entry)
    for entries in linked.values():  # newest first, undated last
        entries.sort(key=lambda d: (d["date"] or "", d["id"]), reverse=True)
    return {
        "id": mode.id,
        "axis": mode.axis,
        "name": mode.name,
        "definition": mode.definition,
        "retired": mode.retired,
        "signals": list(mode.signals),
        "counter_signals": list(mode.counter_signals),
        "examples": list(mode.examples),
        "incidents": linked["postmortem"],
        "runbooks": linked["runbook"],
        "checklists": linked["checklist"],
    }


def list_documents(engine: Engine, kind: str) -> list[dict[str, Any]]:
    """Documents of one kind, by title, each with its mode ids."""
    with Session(engine) as session:
        docs = [
            _doc(row) | {"modes": []}
            for row in session.execute(
                sa_select(*DOC_COLUMNS)
                .where(col(models.Document.kind) == kind)
                .order_by(col(models.Document.title))
            )
        ]
        by_id = {d["id"]: d for d in docs}
        for doc_id, mode_id in session.execute(
            select(col(models.Tag.document_id), col(models.Tag.mode_id))
            .where(col(models.Tag.rejected).is_(False))
            .order_by(col(models.Tag.confidence).desc(), col(models.Tag.mode_id))
        ):
            if doc_id in by_id:
                by_id[doc_id]["modes"].append(mode_id)
    return docs


def stats(engine: Engine) -> dict[str, Any]:
    """Counts of documents by kind, and of postmortems by mode, year, organisation."""
    with Session(engine) as session:
        by_kind = {
            kind: int(n)
            for kind, n in session.execute(
                select(col(models.Document.kind), func.count()).group_by(col(models.Document.kind))
            )
        }
        chunks = int(session.execute(select(func.count()).select_from(models.Chunk)).scalar_one())
        incidents = session.execute(
            select(
                col(models.Document.id), col(models.Document.org), col(models.Document.date)
            ).where(col(models.Document.kind) == "postmortem")
        ).all()
        tags = session.execute(
            select(col(models.Tag.document_id), col(models.Tag.mode_id)).where(
                col(models.Tag.rejected).is_(False)
            )
        ).all()
    years: dict[str, str] = {}
    by_year: Counter[str] = Counter()
    by_org: Counter[str] = Counter()
    for doc_id, org, date in incidents:
        if date:
            years[doc_id] = str(date.year)
            by_year[str(date.year)] += 1
        if org:
            by_org[org] += 1
    by_mode: Counter[str] = Counter()
    by_mode_year: dict[str, Counter[str]] = defaultdict(Counter)
    postmortems = {row[0] for row in incidents}
    for doc_id, mode_id in tags:
        if doc_id in postmortems:
            by_mode[mode_id] += 1
            if doc_id in years:
                by_mode_year[mode_id][years[doc_id]] += 1
    return {
        "documents": sum(by_kind.values()),
        "chunks": chunks,
        "by_kind": dict(sorted(by_kind.items())),
        "by_mode": dict(by_mode.most_common()),
        "by_year": dict(sorted(by_year.items())),
        "by_org": dict(by_org.most_common()),
        "by_mode_year": {m: dict(sorted(c.items())) for m, c in sorted(by_mode_year.items())},
    }


def similar_documents(
    engine: Engine, index: SearchIndex, doc_id: str, *, k: int = 5
) -> list[dict[str, Any]]:
    """The stored postmortems closest in meaning to ``doc_id`` (its mean chunk embedding)."""
    with Session(engine) as session:
        blobs = session.execute(
            select(col(models.Chunk.embedding)).where(col(models.Chunk.document_id) == doc_id)
        ).scalars()
        vectors = [np.frombuffer(b, dtype=np.float32) for b in blobs]
    if not vectors:
        return []
    centre = np.mean(np.vstack(vectors), axis=0)
    norm = float(np.linalg.norm(centre))
    if norm == 0.0:
        return []
    index.ensure_current()
    allowed = np.array(
        [
            cid
            for cid, chunk in index.chunks.items()
            if chunk.doc_id != doc_id
            and chunk.doc_id in index.docs
            and index.docs[chunk.doc_id].kind == "postmortem"
        ],
        dtype=np.int64,
    )
    if not len(allowed):
        return []
    ids, scores = index.vectors.search((centre / norm).astype(np.float32), k * 8, allowed)
    best: dict[str, float] = {}
    for cid, score in zip(ids.tolist(), scores.tolist(), strict=True):
        owner = index.chunks[cid].doc_id
        best[owner] = max(best.get(owner, -1.0), float(score))
    ranked = sorted(best.items(), key=lambda item: (-item[1], item[0]))[:k]
    out = []
    for owner, score in ranked:
        info = index.docs[owner]
        out.append(
            {
                "id": info.id,
                "kind": info.kind,
                "title": info.title,
                "org": info.org,
                "url": info.url,
                "date": info.date,
                "score": round(score, 4),
            }
        )
    return out
