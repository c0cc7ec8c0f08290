"""The parsed form of any source: a document with metadata and canonical sections."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

KINDS = ("postmortem", "runbook", "checklist")


class IngestError(Exception):
    """A source could not be turned into a document; the message is one line for the user."""


@dataclass
class Section:
    kind: str  # canonical kind, see ingest.sections.SECTION_KINDS
    heading: str
    text: str
    items: list[Any] = field(default_factory=list)  # action items / checklist items


@dataclass
class Document:
    title: str
    body: str
    source: str  # canonical source: the URL, or the resolved path of a file
    kind: str = "postmortem"
    format: str = "markdown"
    org: str | None = None
    url: str | None = None
    date: date | None = None
    slug: str | None = None  # id requested by the source (front matter); else derived
    sections: list[Section] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)  # components, duration, alerts, ...
    modes: list[str] = field(default_factory=list)  # hand-labelled modes from the source

    @cached_property
    def content_hash(self) -> str:
        """Hash of everything parsed from the source, so any edit is noticed (computed once:
        a parsed document is not changed afterwards)."""
        payload = asdict(self)
        payload.pop("source")
        payload.pop("content_hash", None)
        payload["date"] = self.date.isoformat() if self.date else None
        blob = json.dumps(payload, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()
