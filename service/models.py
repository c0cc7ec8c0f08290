"""SQLModel tables: documents, sections, chunks, tags, modes, store metadata and API tokens."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Document(SQLModel, table=True):
    __tablename__ = "documents"

    id: str = Field(primary_key=True, max_length=120)
    kind: str = Field(index=True, max_length=20)  # postmortem | runbook | checklist
    title: str = Field(sa_column=Column(Text, nullable=False))
    org: str | None = Field(default=None, index=True, max_length=200)
    url: str | None = Field(default=None, sa_column=Column(Text))
    date: dt.date | None = Field(default=None, index=True)
    source: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    format: str = Field(max_length=20)
    content_hash: str = Field(max_length=64)
    body: str = Field(sa_column=Column(Text, nullable=False))
    meta: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow)
    updated_at: dt.datetime = Field(default_factory=utcnow)


class Section(SQLModel, table=True):
    __tablename__ = "sections"

    id: int | None = Field(default=None, primary_key=True)
    document_id: str = Field(
        sa_column=Column(ForeignKey("documents.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    position: int
    kind: str = Field(max_length=30)
    heading: str = Field(sa_column=Column(Text, nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))
    items: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class Chunk(SQLModel, table=True):
    __tablename__ = "chunks"

    id: int | None = Field(default=None, primary_key=True)
    document_id: str = Field(
        sa_column=Column(ForeignKey("documents.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    section_position: int
    position: int
    heading: str = Field(sa_column=Column(Text, nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))
    embedding: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # float32, normalised
    model: str = Field(max_length=200)


class Tag(SQLModel, table=True):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("document_id", "mode_id", name="uq_tags_document_mode"),)

    id: int | None = Field(default=None, primary_key=True)
    document_id: str = Field(
        sa_column=Column(ForeignKey("documents.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    mode_id: str = Field(index=True, max_length=60)
    confidence: float
    origin: str = Field(max_length=20)  # automatic | human
    # A human may also reject a mode: the tag stays as a record that it does not apply.
    rejected: bool = False
    evidence: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    updated_at: dt.datetime = Field(default_factory=utcnow)


class Mode(SQLModel, table=True):
    __tablename__ = "modes"

    id: str = Field(primary_key=True, max_length=60)
    axis: str = Field(max_length=20)
    name: str = Field(max_length=200)
    definition: str = Field(sa_column=Column(Text, nullable=False))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    retired: bool = False


class StoreMeta(SQLModel, table=True):
    """Key/value facts about the store; ``revision`` moves on every write."""

    __tablename__ = "store_meta"

    key: str = Field(primary_key=True, max_length=60)
    value: str = Field(sa_column=Column(Text, nullable=False))


class ApiToken(SQLModel, table=True):
    """A bearer token for the write endpoints; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: dt.datetime = Field(default_factory=utcnow)
    revoked_at: dt.datetime | None = None
