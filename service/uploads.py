"""Documents sent to the API: parsed like files, fetched like URLs, stored through the Library."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from ingest.document import Document, IngestError
from ingest.parse import parse_document
from ingest.sources import Failure, Item, read_sources
from service.hindsight import Hindsight


class UploadError(ValueError):
    """The posted document cannot be stored; the message says why in one line."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Posted:
    """What a client sent: content (bytes) or only a URL to fetch, plus optional metadata."""

    data: bytes | None = None
    url: str | None = None
    format: str | None = None
    kind: str | None = None
    title: str | None = None
    org: str | None = None
    date: dt.date | None = None


@dataclass(frozen=True)
class Stored:
    id: str
    status: str  # added | updated | unchanged
    title: str
    kind: str


def store_posted(hs: Hindsight, posted: Posted) -> Stored:
    """Parse (or fetch) and store one document; the same content again is ``unchanged``.

    Posted content is identified by its URL when one is given (posting again replaces the
    document in place, like re-ingesting that URL), otherwise by a hash of its bytes.
    """
    items: list[Item]
    if posted.data is None:
        if not posted.url:
            raise UploadError("give either url (to fetch) or content")
        items = list(read_sources([posted.url], limits=hs.fetch_limits, kind=posted.kind))
    else:
        cap = hs.config["max_document_bytes"]
        if len(posted.data) > cap:
            raise UploadError(f"content is {len(posted.data)} bytes, over the cap of {cap}", 413)
        source = posted.url or "api:" + hashlib.sha256(posted.data).hexdigest()[:32]
        try:
            items = [
                parse_document(
                    posted.data, source=source, fmt=posted.format, kind=posted.kind, url=posted.url
                )
            ]
        except IngestError as exc:
            items = [Failure(source, str(exc))]
    for item in items:
        if isinstance(item, Document):
            _apply_overrides(item, posted)
    report = hs.library.ingest(items)
    if report.failed:
        raise UploadError(report.failed[0].error)
    if report.skipped or not report.ids:
        raise UploadError("nothing to store in this source")
    if report.added or report.updated:
        hs.index.ensure_current()
    status = "added" if report.added else "updated" if report.updated else "unchanged"
    doc = hs.document(report.ids[0])
    if doc is None:  # deleted by another writer in between
        raise UploadError("the document was removed while it was being stored", 409)
    return Stored(doc["id"], status, doc["title"], doc["kind"])


def _apply_overrides(doc: Document, posted: Posted) -> None:
    # Set before anything reads doc.content_hash, which covers these fields.
    if posted.title:
        doc.title = " ".join(posted.title.split())
    if posted.org:
        doc.org = posted.org.strip()
    if posted.date:
        doc.date = posted.date
