"""The service object every door shares: settings, store, model and library, built lazily."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy.engine import Engine

from ingest.fetch import FetchLimits
from ingest.sources import read_sources
from service import db, plan_model
from service.config import Config
from service.embedding import Embedder
from service.index import SearchIndex
from service.library import IngestReport, Library
from service.review import Review, Reviewer
from service.search import Filters, QueryError, Searcher, SearchResult
from service.tagging import TagError, Tagger, TagReport
from service.taxonomy import load_taxonomy, store_taxonomy

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
CORPUS_KINDS = (("postmortems", "postmortem"), ("runbooks", "runbook"), ("checklists", "checklist"))


class Hindsight:
    """Holds one configuration and builds the engine, model and library on first use, so a
    command that needs none of them (``--help``, ``db upgrade``) never loads the model."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = config if config is not None else Config.load()

    @cached_property
    def engine(self) -> Engine:
        return db.make_engine(self.config.database_url)

    @cached_property
    def embedder(self) -> Embedder:
        return Embedder(self.config.model_path, batch_size=self.config["embed_batch_size"])

    @cached_property
    def library(self) -> Library:
        return Library(
            self.engine,
            self.embedder,
            chunk_tokens=self.config["chunk_tokens"],
            tagger=self.tagger,
        )

    @cached_property
    def tagger(self) -> Tagger:
        # The bundled taxonomy (what `init` stores), so tagging text needs no database.
        modes = load_taxonomy(CORPUS / "taxonomy.yaml")
        return Tagger(self.embedder, modes, cache_dir=self.config.cache_path)

    def tag(self, text: str) -> TagReport:
        """Failure modes of a text with evidence; nothing is stored. Bad input: QueryError."""
        try:
            return self.tagger.tag_text(text)
        except TagError as exc:
            raise QueryError(str(exc)) from None

    def set_modes(self, doc_id: str, modes: list[str]) -> list[str]:
        """Human-confirmed modes of a stored document (KeyError: no such document,
        ValueError: unknown mode)."""
        return self.library.set_modes(doc_id, modes)

    @cached_property
    def reviewer(self) -> Reviewer:
        plans = plan_model.load_or_train(self.tagger, self.config.cache_path)
        return Reviewer(self.engine, self.searcher, self.tagger, plans)

    def review(self, plan: str, k: int = 5) -> Review:
        """Change review of a plan. Bad input (empty, too long): QueryError."""
        return self.reviewer.review(plan, k=k)

    def retag(self, progress: Callable[[str], None] | None = None) -> dict[str, int]:
        counts = self.library.retag(progress=progress)
        if counts["changed"]:
            self.index.ensure_current()
        return counts

    @cached_property
    def index(self) -> SearchIndex:
        return SearchIndex(
            self.engine,
            self.config.data_path / "index",
            model=self.embedder.name,
            kind=self.config["index_kind"],
            check_interval=self.config["index_check_interval"],
        )

    @cached_property
    def searcher(self) -> Searcher:
        return Searcher(self.index, self.embedder)

    def search(self, query: str, *, k: int = 10, filters: Filters | None = None) -> SearchResult:
        return self.searcher.search(query, k=k, filters=filters)

    @property
    def fetch_limits(self) -> FetchLimits:
        return FetchLimits(
            timeout=self.config["fetch_timeout"],
            max_bytes=self.config["max_document_bytes"],
            max_redirects=self.config["max_redirects"],
            allow_private=self.config["allow_private_urls"],
        )

    def upgrade(self) -> None:
        self.config.data_path.mkdir(parents=True, exist_ok=True)
        db.upgrade(self.config.database_url)

    def init(
        self, *, bare: bool = False, progress: Callable[[str], None] | None = None
    ) -> IngestReport:
        """Migrate, load the taxonomy and (unless ``bare``) the bundled corpus. Idempotent."""
        self.upgrade()
        store_taxonomy(self.engine, load_taxonomy(CORPUS / "taxonomy.yaml"))
        report = IngestReport()
        if bare:
            return report
        for folder, kind in CORPUS_KINDS:
            part = self.ingest([str(CORPUS / folder)], kind=kind, progress=progress)
            report.added += part.added
            report.updated += part.updated
            report.unchanged += part.unchanged
            report.failed += part.failed
            report.skipped += part.skipped
            report.ids += part.ids
        self.index.ensure_current()
        return report

    def ingest(
        self,
        sources: list[str],
        *,
        kind: str | None = None,
        link_list: bool = False,
        stdin: BinaryIO | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> IngestReport:
        items = read_sources(
            sources, limits=self.fetch_limits, kind=kind, link_list=link_list, stdin=stdin
        )
        report = self.library.ingest(items, progress=progress)
        if report.added or report.updated:
            self.index.ensure_current()  # saved now, so the next search starts warm
        return report

    def document(self, doc_id: str) -> dict[str, Any] | None:
        from service.documents import get_document

        return get_document(self.engine, doc_id)
