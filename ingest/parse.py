"""Bytes of any supported format into a Document: decoding, format, metadata, sections."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import PurePath
from typing import Any
from urllib.parse import urlparse

from ingest.document import KINDS, Document, IngestError, Section
from ingest.html import html_to_markdown
from ingest.markdown import parse_markdown, split_front_matter
from ingest.sections import classify_heading
from ingest.text import parse_text

FORMATS_BY_EXTENSION = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".txt": "text",
}
FORMATS = ("markdown", "html", "text")

_MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
_ISO_DATE = re.compile(r"\b(19[89]\d|20\d\d)-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])\b")
_LONG_DATE = re.compile(
    r"\b(" + "|".join(m[:3] for m in _MONTHS) + r")[a-z]*\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+"
    r"(19[89]\d|20\d\d)\b",
    re.I,
)


def decode(data: bytes) -> str:
    """Strict UTF-8 (a BOM is allowed); binary, empty and undecodable input are errors."""
    if b"\x00" in data[:8192]:
        raise IngestError("binary file (contains NUL bytes); only text formats are ingested")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(f"invalid UTF-8 at byte {exc.start}") from exc
    if not text.strip():
        raise IngestError("empty document")
    return text


def sniff_format(text: str) -> str:
    head = text.lstrip()[:2000].lower()
    if head.startswith(("<!doctype html", "<html")) or re.search(r"<(body|article|p|div)\b", head):
        return "html"
    if head.startswith("---") or re.search(r"^#{1,6}\s|\]\(https?://|^[-*]\s", head, re.M):
        return "markdown"
    return "text"


def parse_document(
    data: bytes,
    *,
    source: str,
    fmt: str | None = None,
    kind: str | None = None,
    url: str | None = None,
) -> Document:
    """Parse one source. ``fmt`` None means detect; ``kind`` None means front matter or infer."""
    text = decode(data)
    fmt = fmt or sniff_format(text)
    if fmt not in FORMATS:
        raise IngestError(f"unsupported format {fmt!r} (expected one of {', '.join(FORMATS)})")
    front: dict[str, Any] = {}
    page_meta: dict[str, Any] = {}
    if fmt == "html":
        text, page_meta = html_to_markdown(text, url)
    elif fmt == "markdown":
        front, text = split_front_matter(text)
    kind = kind or _front_str(front, "kind") or None
    if kind is not None and kind not in KINDS:
        raise IngestError(f"unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
    if fmt == "text":
        heading_title, sections = parse_text(text, kind or "postmortem")
    else:
        heading_title, sections = parse_markdown(text, kind or "postmortem")
    if not any(s.text.strip() or s.items for s in sections):
        raise IngestError("no text content after parsing")
    if kind is None:
        kind = infer_kind(sections)
        if kind == "runbook":
            for section in sections:
                section.kind = classify_heading(section.heading, kind)
    doc_url = _front_str(front, "url") or url or page_meta.get("url")
    if doc_url is not None:
        _check_url_field(doc_url)
    title = (
        _front_str(front, "title")
        or heading_title
        or page_meta.get("title")
        or _first_sentence(sections)
        or PurePath(source).stem
    )
    meta = {
        k: v
        for k, v in front.items()
        if k not in {"id", "title", "org", "date", "url", "kind", "modes"}
    }
    return Document(
        title=_clip(title, 300),
        body=text.strip(),
        source=source,
        kind=kind,
        format=fmt,
        org=_front_str(front, "org") or page_meta.get("sitename") or _org_from_url(doc_url),
        url=doc_url,
        date=_front_date(front) or _parse_date(page_meta.get("date")) or find_date(text),
        slug=_front_str(front, "id"),
        sections=sections,
        meta=_jsonable(meta),
        modes=_front_modes(front),
    )


def infer_kind(sections: list[Section]) -> str:
    kinds = {s.heading.strip().lower() for s in sections}
    if {"meaning", "diagnosis"} & kinds or any(
        s.kind in ("meaning", "diagnosis") for s in sections
    ):
        return "runbook"
    if any(s.kind == "items" for s in sections):
        return "checklist"
    return "postmortem"


def find_date(text: str) -> date | None:
    """The first calendar date written in the opening of the text, if any."""
    head = text[:3000]
    candidates: list[tuple[int, date]] = []
    iso = _ISO_DATE.search(head)
    if iso:
        found = _safe_date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
        if found:
            candidates.append((iso.start(), found))
    long = _LONG_DATE.search(head)
    if long:
        month = [m[:3] for m in _MONTHS].index(long.group(1).lower()[:3]) + 1
        found = _safe_date(int(long.group(3)), month, int(long.group(2)))
        if found:
            candidates.append((long.start(), found))
    return min(candidates)[1] if candidates else None


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _front_str(front: dict[str, Any], key: str) -> str | None:
    value = front.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, (dict, list)):
        raise IngestError(
            f"front matter: {key} must be a single value, not a {type(value).__name__}"
        )
    return str(value).strip()


def _front_date(front: dict[str, Any]) -> date | None:
    value = front.get("date")
    if value is None or value == "":
        return None
    parsed = _parse_date(value)
    if parsed is None:
        raise IngestError(f"front matter: date {value!r} is not a date (use YYYY-MM-DD)")
    return parsed


def _parse_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            return find_date(value)
    return None


def _front_modes(front: dict[str, Any]) -> list[str]:
    value = front.get("modes")
    if value is None:
        return []
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",")]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise IngestError("front matter: modes must be a list of mode ids")
    return [v.strip() for v in value if v.strip()]


def _check_url_field(value: str) -> None:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise IngestError(f"front matter: url {value!r} is not an http(s) URL")


def _org_from_url(url: str | None) -> str | None:
    if not url:
        return None
    host = (urlparse(url).hostname or "").lower()
    labels = [p for p in host.split(".") if p not in ("www", "status", "blog", "engineering")]
    if len(labels) >= 2:
        return labels[-2].capitalize()
    return None


def _first_sentence(sections: list[Section]) -> str | None:
    for section in sections:
        line = section.text.strip().split("\n", 1)[0]
        if line:
            return re.split(r"(?<=[.!?])\s", line, maxsplit=1)[0]
    return None


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
