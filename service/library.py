"""The one write path: documents, sections, chunks with embeddings and tags, one transaction each."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import numpy as np
from sqlalchemy import delete, or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from ingest.chunking import ChunkDraft, chunk_document
from ingest.document import Document as Parsed
from ingest.document import Section as ParsedSection
from ingest.sources import Failure, Item, Skipped
from service import models
from service.db import bump_revision, session_scope
from service.embedding import Embedder, to_bytes

FRONT_MATTER = "front matter"  # evidence note on human tags that came from the source itself


@dataclass
class TagResult:
    mode_id: str
    confidence: float
    evidence: list[dict[str, Any]] = field(default_factory=list)


class Tagger(Protocol):
    """What the library needs of a tagger (service.tagging.Tagger is the real one)."""

    def tag_for_store(
        self, doc: Parsed, chunks: list[ChunkDraft], profile: np.ndarray | None
    ) -> list[TagResult]:
        """``profile``: the chunks' layer profiles (Embedder.encode_layers), or None for the
        tagger to embed them itself."""
        ...


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: list[Failure] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": [{"source": f.source, "error": f.error} for f in self.failed],
            "skipped": [{"source": s.source, "reason": s.reason} for s in self.skipped],
            "ids": self.ids,
        }


@dataclass
class _Pending:
    doc: Parsed
    doc_id: str | None  # existing id when this replaces a stored document
    chunks: list[ChunkDraft]


class Library:
    """Adds, replaces and deletes documents. Every door (CLI, API, corpus loading, import)
    stores through here, so a document always lands whole or not at all."""

    def __init__(
        self,
        engine: Engine,
        embedder: Embedder,
        *,
        chunk_tokens: int = 230,
        tagger: Tagger | None = None,
        batch_chunks: int = 512,
    ) -> None:
        self.engine = engine
        self.embedder = embedder
        self.chunk_tokens = chunk_tokens
        self.tagger = tagger
        self.batch_chunks = batch_chunks

    # -- ingest ---------------------------------------------------------------------------

    def ingest(
        self, items: Iterable[Item], progress: Callable[[str], None] | None = None
    ) -> IngestReport:
        """Store each parsed document; unchanged ones are skipped without embedding.

        Chunks of several documents are embedded together (the model is the slow part), then
        each document is written in its own transaction.
        """
        report = IngestReport()
        pending: list[_Pending] = []
        pending_chunks = 0
        for item in items:
            if isinstance(item, Failure):
                report.failed.append(item)
            elif isinstance(item, Skipped):
                report.skipped.append(item)
            else:
                if any(
                    p.doc.content_hash == item.content_hash or p.doc.source == item.source
                    for p in pending
                ):
                    # A twin is waiting to be written: write it first so this one can see it.
                    self._flush(pending, report, progress)
                    pending, pending_chunks = [], 0
                state, doc_id = self._classify(item)
                if state == "unchanged":
                    report.unchanged += 1
                    report.ids.append(doc_id or "")
                    if progress:
                        progress(item.source)
                    continue
                chunks = self.chunk(item)
                pending.append(_Pending(item, doc_id, chunks))
                pending_chunks += len(chunks)
                if pending_chunks >= self.batch_chunks:
                    self._flush(pending, report, progress)
                    pending, pending_chunks = [], 0
        self._flush(pending, report, progress)
        return report

    def chunk(self, doc: Parsed) -> list[ChunkDraft]:
        return chunk_document(
            doc, max_tokens=self.chunk_tokens, token_counts=self.embedder.token_counts
        )

    def _classify(self, doc: Parsed) -> tuple[str, str | None]:
        """("new", None), ("changed", id) or ("unchanged", id) for a parsed document."""
        with Session(self.engine) as session:
            row = session.execute(
                select(col(models.Document.id), col(models.Document.content_hash)).where(
                    col(models.Document.source) == doc.source
                )
            ).first()
            if row is None and doc.slug:
                row = session.execute(
                    select(col(models.Document.id), col(models.Document.content_hash)).where(
                        col(models.Document.id) == doc.slug
                    )
                ).first()
            if row is None:
                # The same content from another source is a duplicate, not a new document.
                dup = session.execute(
                    select(col(models.Document.id)).where(
                        col(models.Document.content_hash) == doc.content_hash
                    )
                ).first()
                return ("unchanged", dup[0]) if dup else ("new", None)
            return ("unchanged" if row[1] == doc.content_hash else "changed", row[0])

    def _flush(
        self,
        pending: list[_Pending],
        report: IngestReport,
        progress: Callable[[str], None] | None,
    ) -> None:
        if not pending:
            return
        texts = [c.embed_text(p.doc.title) for p in pending for c in p.chunks]
        profile = None
        if self.tagger is not None:  # one forward pass feeds both the store and the tagger
            vectors, profile = self.embedder.encode_layers(texts)
        else:
            vectors = self.embedder.encode(texts)
        offset = 0
        for item in pending:
            count = len(item.chunks)
            try:
                doc_id, created = self.store(
                    item.doc,
                    item.chunks,
                    vectors[offset : offset + count],
                    None if profile is None else profile[offset : offset + count],
                )
            except ValueError as exc:
                report.failed.append(Failure(item.doc.source, str(exc)))
            else:
                report.ids.append(doc_id)
                if created:
                    report.added += 1
                else:
                    report.updated += 1
            offset += count
            if progress:
                progress(item.doc.source)

    # -- the write path --------------------------------------------------------------------

    def store(
        self,
        doc: Parsed,
        chunks: list[ChunkDraft],
        vectors: np.ndarray,
        profile: np.ndarray | None = None,
    ) -> tuple[str, bool]:
        """Write one parsed document with its chunks, embeddings and tags in one transaction.

        Returns (id, created). Replacing keeps the id and every human tag; automatic tags,
        sections and chunks are replaced whole.
        """
        if len(chunks) != len(vectors):
            raise ValueError("internal: one embedding per chunk expected")
        auto_tags = self.tagger.tag_for_store(doc, chunks, profile) if self.tagger else []
        with session_scope(self.engine) as session:
            _check_modes(session, doc.modes)
            existing = self._find(session, doc)
            created = existing is None
            if existing is None:
                existing = models.Document(
                    id=self._new_id(session, doc),
                    kind=doc.kind,
                    title=doc.title,
                    source=doc.source,
                    format=doc.format,
                    content_hash=doc.content_hash,
                    body=doc.body,
                )
                session.add(existing)
            else:
                _clear_derived(session, existing.id)
                existing.updated_at = models.utcnow()
            row = existing
            row.kind, row.title, row.org, row.url, row.date = (
                doc.kind,
                doc.title,
                doc.org,
                doc.url,
                doc.date,
            )
            row.source, row.format, row.content_hash, row.body = (
                doc.source,
                doc.format,
                doc.content_hash,
                doc.body,
            )
            row.meta = doc.meta
            session.flush()
            _add_parts(session, row.id, doc, chunks, vectors, self.embedder.name)
            _apply_tags(session, row.id, doc.modes, auto_tags)
            bump_revision(session)
            doc_id = row.id
        return doc_id, created

    def delete(self, doc_id: str) -> bool:
        """Remove a document and everything derived from it; False when it was not stored."""
        with session_scope(self.engine) as session:
            row = session.get(models.Document, doc_id)
            if row is None:
                return False
            _delete_children(session, doc_id)
            session.delete(row)
            bump_revision(session)
        return True

    def set_modes(self, doc_id: str, mode_ids: list[str]) -> list[str]:
        """Set a document's modes by hand: exactly these, confirmed (``origin: human``); every
        other mode it carried is kept as a rejected human tag, so re-tagging and re-ingesting
        never bring it back. Evidence of a confirmed automatic tag is kept.

        Raises KeyError for an unknown document and ValueError for an unknown mode id.
        """
        wanted = list(dict.fromkeys(mode_ids))
        with session_scope(self.engine) as session:
            if session.get(models.Document, doc_id) is None:
                raise KeyError(doc_id)
            known = set(session.execute(select(col(models.Mode.id))).scalars())
            unknown = [m for m in wanted if m not in known]
            if unknown:
                raise ValueError(f"unknown mode id(s): {', '.join(unknown)}")
            tags = {t.mode_id: t for t in stored_tags(session, doc_id)}
            for mode_id in wanted:
                tag = tags.get(mode_id)
                if tag is None:
                    session.add(
                        models.Tag(
                            document_id=doc_id, mode_id=mode_id, confidence=1.0, origin="human"
                        )
                    )
                else:
                    tag.origin, tag.rejected, tag.confidence = "human", False, 1.0
                    tag.evidence = [e for e in tag.evidence if e.get("note") != FRONT_MATTER]
            for mode_id, tag in tags.items():
                if mode_id not in wanted:
                    tag.origin, tag.rejected = "human", True
                    tag.evidence = [e for e in tag.evidence if e.get("note") != FRONT_MATTER]
            bump_revision(session)
        return wanted

    def retag(
        self, ids: Iterable[str] | None = None, progress: Callable[[str], None] | None = None
    ) -> dict[str, int]:
        """Re-derive automatic tags of stored documents with the current tagger, from their
        stored sections and chunks (the tagger embeds the chunks again, as it reads more of the
        model than the stored vectors keep). Human tags are left as they are.
        Returns counts of documents changed and unchanged."""
        if self.tagger is None:
            raise RuntimeError("internal: no tagger configured")
        with Session(self.engine) as session:
            all_ids = list(session.execute(select(col(models.Document.id))).scalars())
        stored = set(all_ids)
        wanted = all_ids if ids is None else [i for i in ids if i in stored]
        counts = {"changed": 0, "unchanged": 0}
        for doc_id in wanted:
            with session_scope(self.engine) as session:
                doc, chunks = _stored_parts(session, doc_id)
                new = {t.mode_id: t for t in self.tagger.tag_for_store(doc, chunks, None)}
                tags = stored_tags(session, doc_id)
                old = {t.mode_id: round(t.confidence, 4) for t in tags if t.origin == "automatic"}
                human = {t.mode_id for t in tags if t.origin != "automatic"}
                fresh = {m: round(t.confidence, 4) for m, t in new.items() if m not in human}
                if fresh == old:
                    counts["unchanged"] += 1
                else:
                    for tag in tags:
                        if tag.origin == "automatic":
                            session.delete(tag)
                    session.flush()
                    _apply_tags(session, doc_id, [], list(new.values()))
                    bump_revision(session)
                    counts["changed"] += 1
            if progress:
                progress(doc_id)
        return counts

    def write_record(self, record: dict[str, Any]) -> str:
        """Store an exported record as it is (ids, chunks, embeddings and tags kept): import."""
        doc = record["document"]
        with session_scope(self.engine) as session:
            existing = session.get(models.Document, doc["id"])
            if existing is not None:
                _delete_children(session, doc["id"])
                session.delete(existing)
                session.flush()
            session.add(models.Document.model_validate(doc))
            session.flush()
            for section in record["sections"]:
                session.add(models.Section.model_validate(section | {"document_id": doc["id"]}))
            for chunk in record["chunks"]:
                session.add(models.Chunk.model_validate(chunk | {"document_id": doc["id"]}))
            for tag in record["tags"]:
                session.add(models.Tag.model_validate(tag | {"document_id": doc["id"]}))
            bump_revision(session)
        return str(doc["id"])

    # -- helpers ---------------------------------------------------------------------------

    def _find(self, session: Session, doc: Parsed) -> models.Document | None:
        found = (
            session.execute(
                select(models.Document).where(
                    or_(
                        col(models.Document.source) == doc.source,
                        col(models.Document.id) == (doc.slug or ""),
                    )
                )
            )
            .scalars()
            .all()
        )
        by_source = [d for d in found if d.source == doc.source]
        return by_source[0] if by_source else (found[0] if found else None)

    def _new_id(self, session: Session, doc: Parsed) -> str:
        base = doc.slug or slugify(
            " ".join(p for p in (doc.org, doc.date.isoformat() if doc.date else None) if p)
            if doc.org and doc.date
            else doc.title
        )
        if doc.slug and not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,118}", doc.slug):
            raise ValueError(f"id {doc.slug!r}: use lowercase letters, digits, '.', '_' or '-'")
        candidate, n = base, 2
        while session.get(models.Document, candidate) is not None:
            candidate = f"{base[:110]}-{n}"
            n += 1
        return candidate


def slugify(text: str, limit: int = 80) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:limit].rstrip("-") or "document"


_Part = TypeVar("_Part", models.Section, models.Chunk)


def stored_in_order(session: Session, table: type[_Part], doc_id: str) -> list[_Part]:
    """A stored document's sections or chunks, in their order."""
    return list(
        session.execute(
            select(table).where(col(table.document_id) == doc_id).order_by(col(table.position))
        ).scalars()
    )


def stored_tags(session: Session, doc_id: str) -> list[models.Tag]:
    """Every tag row of a stored document: automatic, human and rejected."""
    return list(
        session.execute(select(models.Tag).where(col(models.Tag.document_id) == doc_id)).scalars()
    )


def _stored_parts(session: Session, doc_id: str) -> tuple[Parsed, list[ChunkDraft]]:
    """A stored document back in parsed form, with its chunks."""
    row = session.get(models.Document, doc_id)
    if row is None:
        raise KeyError(doc_id)
    sections = stored_in_order(session, models.Section, doc_id)
    doc = Parsed(
        title=row.title,
        body=row.body,
        source=row.source,
        kind=row.kind,
        sections=[ParsedSection(s.kind, s.heading, s.text, list(s.items)) for s in sections],
    )
    chunks = [
        ChunkDraft(c.section_position, c.position, c.heading, c.text)
        for c in stored_in_order(session, models.Chunk, doc_id)
    ]
    return doc, chunks


def _delete_children(session: Session, doc_id: str) -> None:
    _delete_parts(session, doc_id)
    session.execute(delete(models.Tag).where(col(models.Tag.document_id) == doc_id))


def _delete_parts(session: Session, doc_id: str) -> None:
    session.execute(delete(models.Chunk).where(col(models.Chunk.document_id) == doc_id))
    session.execute(delete(models.Section).where(col(models.Section.document_id) == doc_id))


def _clear_derived(session: Session, doc_id: str) -> None:
    _delete_parts(session, doc_id)
    # Automatic tags and labels that came from the source are re-derived; tags a person set
    # through the CLI or API stay.
    for tag in stored_tags(session, doc_id):
        if tag.origin == "automatic" or _from_front_matter(tag):
            session.delete(tag)
    session.flush()


def _check_modes(session: Session, mode_ids: list[str]) -> None:
    if not mode_ids:
        return
    known = set(session.execute(select(col(models.Mode.id))).scalars())
    unknown = [m for m in mode_ids if known and m not in known]
    if unknown:
        raise ValueError(f"unknown mode id(s) {', '.join(unknown)} (see `hindsight modes`)")


def _from_front_matter(tag: models.Tag) -> bool:
    return any(e.get("note") == FRONT_MATTER for e in tag.evidence if isinstance(e, dict))


def _add_parts(
    session: Session,
    doc_id: str,
    doc: Parsed,
    chunks: list[ChunkDraft],
    vectors: np.ndarray,
    model_name: str,
) -> None:
    for position, section in enumerate(doc.sections):
        session.add(
            models.Section(
                document_id=doc_id,
                position=position,
                kind=section.kind,
                heading=section.heading,
                text=section.text,
                items=section.items,
            )
        )
    for chunk, vector in zip(chunks, vectors, strict=True):
        session.add(
            models.Chunk(
                document_id=doc_id,
                section_position=chunk.section_index,
                position=chunk.position,
                heading=chunk.heading,
                text=chunk.text,
                embedding=to_bytes(vector),
                model=model_name,
            )
        )


def _apply_tags(
    session: Session, doc_id: str, labelled: list[str], automatic: list[TagResult]
) -> None:
    human = {t.mode_id for t in stored_tags(session, doc_id)}
    for mode_id in dict.fromkeys(labelled):
        if mode_id not in human:
            session.add(
                models.Tag(
                    document_id=doc_id,
                    mode_id=mode_id,
                    confidence=1.0,
                    origin="human",
                    evidence=[{"note": FRONT_MATTER}],
                )
            )
            human.add(mode_id)
    for tag in automatic:
        if tag.mode_id not in human:
            session.add(
                models.Tag(
                    document_id=doc_id,
                    mode_id=tag.mode_id,
                    confidence=round(float(tag.confidence), 4),
                    origin="automatic",
                    evidence=tag.evidence,
                )
            )
