"""Reading stored documents: one document in full, and lossless JSONL export and import."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from typing import IO, Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from service import models
from service.library import Library, stored_in_order, stored_tags

_DATETIMES = ("created_at", "updated_at")


def get_document(engine: Engine, doc_id: str) -> dict[str, Any] | None:
    """The document's metadata, sections and failure modes with their evidence."""
    with Session(engine) as session:
        doc = session.get(models.Document, doc_id)
        if doc is None:
            return None
        sections = stored_in_order(session, models.Section, doc_id)
        tags = stored_tags(session, doc_id)
        modes = {m.id: m for m in session.execute(select(models.Mode)).scalars()}
        chunk_count = len(
            session.execute(
                select(col(models.Chunk.id)).where(col(models.Chunk.document_id) == doc_id)
            ).all()
        )
    order = {"human": 0, "automatic": 1}
    return {
        "id": doc.id,
        "kind": doc.kind,
        "title": doc.title,
        "org": doc.org,
        "url": doc.url,
        "date": doc.date.isoformat() if doc.date else None,
        "source": doc.source,
        "format": doc.format,
        "meta": doc.meta,
        "created_at": doc.created_at.isoformat(),
        "updated_at": doc.updated_at.isoformat(),
        "chunks": chunk_count,
        "sections": [
            {"kind": s.kind, "heading": s.heading, "text": s.text, "items": s.items}
            for s in sections
        ],
        "modes": [
            {
                "id": t.mode_id,
                "name": modes[t.mode_id].name if t.mode_id in modes else t.mode_id,
                "axis": modes[t.mode_id].axis if t.mode_id in modes else None,
                "confidence": t.confidence,
                "origin": t.origin,
                "evidence": t.evidence,
            }
            for t in sorted(tags, key=lambda t: (order.get(t.origin, 2), -t.confidence, t.mode_id))
            if not t.rejected
        ],
        "rejected_modes": sorted(t.mode_id for t in tags if t.rejected),
    }


def _row(obj: models.SQLModel) -> dict[str, Any]:
    out = obj.model_dump()
    for key, value in out.items():
        if isinstance(value, (dt.date, dt.datetime)):
            out[key] = value.isoformat()
        elif isinstance(value, bytes):
            out[key] = base64.b64encode(value).decode()
    return out


def export_records(engine: Engine) -> Iterator[dict[str, Any]]:
    """Every mode, then every document with its sections, chunks (embeddings) and tags."""
    with Session(engine) as session:
        for mode in session.execute(select(models.Mode).order_by(col(models.Mode.id))).scalars():
            yield {"type": "mode", "mode": _row(mode)}
        ids = session.execute(
            select(col(models.Document.id)).order_by(col(models.Document.id))
        ).scalars()
        for doc_id in list(ids):
            record: dict[str, Any] = {"type": "document"}
            record["document"] = _row(session.get_one(models.Document, doc_id))
            for key, table, order in (
                ("sections", models.Section, col(models.Section.position)),
                ("chunks", models.Chunk, col(models.Chunk.position)),
                ("tags", models.Tag, col(models.Tag.mode_id)),
            ):
                rows = session.execute(
                    select(table).where(table.document_id == doc_id).order_by(order)
                ).scalars()
                record[key] = [
                    {k: v for k, v in _row(r).items() if k not in ("id", "document_id")}
                    for r in rows
                ]
            yield record


def write_export(engine: Engine, handle: IO[str]) -> int:
    count = 0
    for record in export_records(engine):
        handle.write(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n")
        count += record["type"] == "document"
    return count


def read_import(library: Library, handle: IO[str]) -> int:
    """Load an export through the write path; each document is its own transaction."""
    from service.taxonomy import Mode, store_taxonomy

    modes: list[Mode] = []
    count = 0
    for n, line in enumerate(handle, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            kind = record["type"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"line {n}: not an export record ({exc})") from exc
        if kind == "mode":
            m = record["mode"]
            data = dict(m.get("data") or {})
            modes.append(
                Mode(
                    id=m["id"],
                    axis=m["axis"],
                    name=m["name"],
                    definition=m["definition"],
                    signals=tuple(data.pop("signals", [])),
                    counter_signals=tuple(data.pop("counter_signals", [])),
                    examples=tuple(data.pop("examples", [])),
                    retired=bool(m.get("retired")),
                    extra=data,
                )
            )
            continue
        if modes:
            store_taxonomy(library.engine, modes)
            modes = []
        try:
            library.write_record(_decode(record))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"line {n}: malformed document record ({exc})") from exc
        count += 1
    if modes:
        store_taxonomy(library.engine, modes)
    return count


def _decode(record: dict[str, Any]) -> dict[str, Any]:
    doc = dict(record["document"])
    if doc.get("date"):
        doc["date"] = dt.date.fromisoformat(doc["date"])
    for key in _DATETIMES:
        doc[key] = dt.datetime.fromisoformat(doc[key])
    chunks = [c | {"embedding": base64.b64decode(c["embedding"])} for c in record["chunks"]]
    tags = [t | {"updated_at": dt.datetime.fromisoformat(t["updated_at"])} for t in record["tags"]]
    return {"document": doc, "sections": record["sections"], "chunks": chunks, "tags": tags}
