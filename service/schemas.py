"""Pydantic models of the REST API: what each route accepts and answers (they make /openapi.json).

Input models are strict and bounded; output models describe the objects the service functions
already return (``SearchResult.as_dict()``, ``get_document``, …), so the schema states the
contract rather than a second shape of it.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from service.review import MAX_K as MAX_REVIEW_K
from service.review import MAX_PLAN_CHARS
from service.search import MAX_K, MAX_QUERY_CHARS, Filters
from service.tagging import MAX_TAG_CHARS

Kind = Literal["postmortem", "runbook", "checklist"]
Format = Literal["markdown", "html", "text"]
ModeId = Annotated[str, StringConstraints(min_length=1, max_length=60)]
DocId = Annotated[str, StringConstraints(min_length=1, max_length=120)]
MAX_FILTER_MODES = 20
MAX_SET_MODES = 60


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


_SCHEMAS: dict[Any, dict[str, Any]] = {}


class _Query(BaseModel):
    """Query-string models: flask-openapi3 asks for their JSON schema on every request (about
    a millisecond each time); it never changes, so it is built once."""

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        key = (cls, args, tuple(sorted(kwargs.items())))
        if key not in _SCHEMAS:
            _SCHEMAS[key] = super().model_json_schema(*args, **kwargs)
        return copy.deepcopy(_SCHEMAS[key])


# -- problems ------------------------------------------------------------------------------


class Problem(BaseModel):
    """An RFC 9457 problem document (``application/problem+json``)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = Field(
        None, description="Each invalid field: where it is (loc) and what is wrong (msg)."
    )


def problem_response(description: str) -> dict[str, Any]:
    ref = {"$ref": "#/components/schemas/Problem"}
    return {"description": description, "content": {"application/problem+json": {"schema": ref}}}


# -- search --------------------------------------------------------------------------------


class SearchQuery(_Query):
    q: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="What to look for.")
    k: int = Field(10, ge=1, le=MAX_K, description="How many documents to return.")
    mode: list[ModeId] = Field(
        default_factory=list,
        max_length=MAX_FILTER_MODES,
        description="Only documents tagged with this failure mode (repeat: all must match).",
    )
    org: str | None = Field(None, max_length=200, description="Only this organisation.")
    kind: Kind | None = Field(None, description="Only this kind of document.")
    since: int | None = Field(None, ge=1900, le=2100, description="Only incidents from this year.")
    until: int | None = Field(None, ge=1900, le=2100, description="Only incidents up to this year.")

    def filters(self) -> Filters:
        return Filters(tuple(self.mode), self.org, self.kind, self.since, self.until)


class ModeScore(BaseModel):
    id: str
    confidence: float


class DocumentRef(BaseModel):
    """What every answer says of a document it names."""

    id: str
    kind: str
    title: str
    org: str | None
    url: str | None
    date: str | None


class SearchHit(DocumentRef):
    score: float
    snippet: str
    highlights: list[list[int]] = Field(description="[start, end] of query terms in the snippet")
    section: str
    modes: list[ModeScore]


class Facets(BaseModel):
    modes: dict[str, int]
    orgs: dict[str, int]
    years: dict[str, int]


class SearchOut(BaseModel):
    query: str
    results: list[SearchHit]
    facets: Facets
    took_ms: float
    hint: str | None = Field(None, description="Said when nothing matched or the store is empty.")


# -- documents -----------------------------------------------------------------------------


class DocumentPath(BaseModel):
    doc_id: DocId


class SectionOut(BaseModel):
    kind: str
    heading: str
    text: str
    items: list[Any]


class DocumentMode(BaseModel):
    id: str
    name: str
    axis: str | None
    confidence: float
    origin: str = Field(description="automatic, or human (set by a person or the source)")
    evidence: list[dict[str, Any]]


class SimilarDocument(DocumentRef):
    score: float


class DocumentOut(DocumentRef):
    source: str
    format: str
    meta: dict[str, Any]
    created_at: str
    updated_at: str
    chunks: int
    sections: list[SectionOut]
    modes: list[DocumentMode]
    rejected_modes: list[str]
    similar: list[SimilarDocument]


class DocumentMeta(_In):
    """What may be said about a posted document (the form fields of a multipart upload)."""

    url: str | None = Field(
        None,
        max_length=2000,
        pattern=r"^https?://",
        description="Fetched when no content is given; otherwise kept as the document's link.",
    )
    format: Format | None = Field(None, description="Format of content (default: detect).")
    kind: Kind | None = Field(None, description="Default: front matter, else inferred.")
    title: str | None = Field(None, min_length=1, max_length=300)
    org: str | None = Field(None, min_length=1, max_length=200)
    date: dt.date | None = None


class DocumentIn(DocumentMeta):
    """Either a URL to fetch, or the content itself with optional metadata."""

    content: str | None = Field(None, min_length=1, description="Markdown, HTML or plain text.")

    @model_validator(mode="after")
    def _url_or_content(self) -> DocumentIn:
        if self.url is None and self.content is None:
            raise ValueError("give either url (to fetch) or content")
        if self.content is None and self.format is not None:
            raise ValueError("format describes content; it cannot be set for a fetched url")
        return self


class DocumentStored(BaseModel):
    id: str
    status: Literal["added", "updated", "unchanged"]
    title: str
    kind: str
    href: str


class ModesBody(_In):
    modes: list[ModeId] = Field(
        max_length=MAX_SET_MODES,
        description="Every mode that applies; modes the document had and not listed here are "
        "recorded as rejected. An empty list rejects them all.",
    )


class ModesSet(BaseModel):
    id: str
    modes: list[str]


# -- tagging and review --------------------------------------------------------------------


class TagBody(_In):
    text: str = Field(min_length=1, max_length=MAX_TAG_CHARS, description="Any text to tag.")


class EvidenceOut(BaseModel):
    text: str
    start: int
    end: int
    section: int | None = None


class TaggedMode(BaseModel):
    id: str
    name: str
    axis: str
    confidence: float
    evidence: list[EvidenceOut]


class TagOut(BaseModel):
    modes: list[TaggedMode]


class ReviewBody(_In):
    plan: str = Field(
        min_length=1, max_length=MAX_PLAN_CHARS, description="The change plan, as plain text."
    )
    k: int = Field(5, ge=1, le=MAX_REVIEW_K, description="How many similar incidents to show.")


class RiskOut(BaseModel):
    mode: str
    name: str
    axis: str
    level: Literal["high", "medium", "low"]
    confidence: float
    reasons: list[str]
    incidents: list[str] = Field(description="Ids of the incidents that had this mode.")


class ReviewIncident(BaseModel):
    id: str
    title: str
    org: str | None
    url: str | None
    date: str | None = None
    score: float
    snippet: str
    shared_modes: list[str] = []
    why: str | None = None


class ReviewRunbook(BaseModel):
    id: str
    title: str
    url: str | None
    modes: list[str]


class ChecklistItem(BaseModel):
    item: str
    mode: str
    source: str
    gap: str | None = None
    why: str | None = None


class Gap(BaseModel):
    id: str
    message: str
    precedent: str | None = None
    risks: list[str] = []


class ReviewOut(BaseModel):
    risks: list[RiskOut]
    incidents: list[ReviewIncident]
    runbooks: list[ReviewRunbook]
    checklist: list[ChecklistItem]
    gaps: list[Gap]
    took_ms: float | None = None


# -- modes and stats -----------------------------------------------------------------------


class ModePath(BaseModel):
    mode_id: ModeId


class ModeSummary(BaseModel):
    id: str
    axis: str
    name: str
    definition: str
    retired: bool
    incidents: int = Field(description="How many stored postmortems carry this mode.")


class ModeList(BaseModel):
    modes: list[ModeSummary]


class LinkedDocument(DocumentRef):
    confidence: float
    origin: str


class ModeDetail(BaseModel):
    id: str
    axis: str
    name: str
    definition: str
    retired: bool
    signals: list[str]
    counter_signals: list[str]
    examples: list[str]
    incidents: list[LinkedDocument]
    runbooks: list[LinkedDocument]
    checklists: list[LinkedDocument]


class StatsOut(BaseModel):
    documents: int
    chunks: int
    by_kind: dict[str, int]
    by_mode: dict[str, int] = Field(description="Postmortems per failure mode.")
    by_year: dict[str, int] = Field(description="Postmortems per year of the incident.")
    by_org: dict[str, int] = Field(description="Postmortems per organisation.")
    by_mode_year: dict[str, dict[str, int]] = Field(description="Postmortems per mode and year.")


# -- health --------------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready"]
    revision: int
    chunks: int
    documents: int
    model_loaded: bool
