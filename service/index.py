"""Vector (FAISS) and keyword (BM25) indexes over chunks, derived from the store and rebuildable."""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from sqlalchemy import event
from sqlalchemy import select as sa_select  # sqlmodel's select types at most 4 columns
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, select

from service import models
from service.db import store_revision

log = logging.getLogger(__name__)
FORMAT_VERSION = 1


class VectorIndex(Protocol):
    """What search needs from a vector index; ids are chunk ids."""

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...
    def remove(self, ids: np.ndarray) -> None: ...
    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...
    def save(self, path: Path) -> None: ...
    def count(self) -> int: ...


class FaissIndex:
    """Inner product over normalised vectors: exact (flat), HNSW or IVF by ``kind``.

    HNSW cannot delete, so a removal there rebuilds the graph from the kept vectors; flat and
    IVF remove in place.
    """

    def __init__(
        self,
        dim: int,
        kind: str = "exact",
        *,
        hnsw_m: int = 32,
        ef_search: int = 256,  # recall@10 0.99 at 100k chunks in 0.5 ms (bench/search.py)
        nprobe: int = 32,
    ) -> None:
        if kind not in ("exact", "hnsw", "ivf"):
            raise ValueError(f"unknown index kind {kind!r} (expected exact, hnsw or ivf)")
        self.dim, self.kind = dim, kind
        self.hnsw_m, self.ef_search, self.nprobe = hnsw_m, ef_search, nprobe
        self._index: Any = self._empty()

    def _empty(self) -> Any:
        import faiss

        if self.kind == "hnsw":
            inner = faiss.IndexHNSWFlat(self.dim, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            # a denser graph than the default: recall at 100k chunks depends on it (bench/search.py)
            inner.hnsw.efConstruction = 100
            inner.hnsw.efSearch = self.ef_search
            return faiss.IndexIDMap2(inner)
        return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))

    def build(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        import faiss

        if self.kind == "ivf" and len(ids) >= 40 * 64:
            nlist = int(min(4096, max(64, np.sqrt(len(ids)) * 4)))
            quantizer = faiss.IndexFlatIP(self.dim)
            inner = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
            inner.train(vectors)
            inner.nprobe = self.nprobe
            self._index = faiss.IndexIDMap2(inner)
        else:
            self._index = self._empty()
        self.add(ids, vectors)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self._index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64)
            )

    def remove(self, ids: np.ndarray) -> None:
        import faiss

        if not len(ids):
            return
        if self.kind == "hnsw":
            keep_ids, keep_vecs = self._all()
            mask = ~np.isin(keep_ids, ids)
            self.build(keep_ids[mask], keep_vecs[mask])
            return
        self._index.remove_ids(faiss.IDSelectorBatch(np.asarray(ids, dtype=np.int64)))

    def _all(self) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        id_map = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        vectors = (
            np.vstack([self._index.reconstruct(int(i)) for i in id_map])
            if len(id_map)
            else np.zeros((0, self.dim), dtype=np.float32)
        )
        return id_map, vectors

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        k = min(k, self.count())
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        params = None
        if allowed is not None:
            selector = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
            inner = faiss.downcast_index(self._index.index)
            # faiss's stubs lack the selector parameters, hence the ignores
            if isinstance(inner, faiss.IndexHNSW):
                params = faiss.SearchParametersHNSW(sel=selector, efSearch=self.ef_search)  # type: ignore[attr-defined]
            elif isinstance(inner, faiss.IndexIVF):
                params = faiss.SearchParametersIVF(sel=selector, nprobe=self.nprobe)  # type: ignore[call-arg]
            else:
                params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
        # One query on one thread: FAISS would otherwise open an OpenMP team of every core for
        # it, whose idle member spins at the barrier; on 2 cores with other work running, an
        # HNSW query took 9 ms that way and 1.2 ms on one thread. The setting is per thread in
        # OpenMP, and restored so that a build on this thread still uses every core.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            scores, ids = self._index.search(q, k, params=params)
        finally:
            faiss.omp_set_num_threads(threads)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def count(self) -> int:
        return int(self._index.ntotal)

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self._index, str(path))

    def load(self, path: Path) -> None:
        import faiss

        self._index = faiss.read_index(str(path))
        inner = faiss.downcast_index(self._index.index)
        if isinstance(inner, faiss.IndexHNSW):  # the file keeps the efSearch it was built with
            inner.hnsw.efSearch = self.ef_search
        elif isinstance(inner, faiss.IndexIVF):
            inner.nprobe = self.nprobe


class KeywordIndex:
    """BM25 over chunk text with English stemming; rebuilt whole on change (it is fast)."""

    def __init__(self) -> None:
        import Stemmer

        self._stemmer = Stemmer.Stemmer("english")
        self._retriever: Any = None
        self.ids = np.zeros(0, dtype=np.int64)

    def tokenize(self, texts: list[str]) -> Any:
        import bm25s

        return bm25s.tokenize(texts, stemmer=self._stemmer, show_progress=False)

    def build(self, ids: np.ndarray, texts: list[str]) -> None:
        import bm25s

        self.ids = np.asarray(ids, dtype=np.int64)
        if not texts:
            self._retriever = None
            return
        retriever = bm25s.BM25()
        retriever.index(self.tokenize(texts), show_progress=False)
        self._retriever = retriever

    def query_terms(self, query: str) -> list[str]:
        import bm25s

        tokens = bm25s.tokenize(
            [query], stemmer=self._stemmer, return_ids=False, show_progress=False
        )[0]
        vocab = self._retriever.vocab_dict if self._retriever is not None else {}
        return [t for t in tokens if t in vocab]

    def search(
        self, query: str, k: int, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        terms = self.query_terms(query)
        k = min(k, len(self.ids))
        if not terms or k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        rows, scores = self._retriever.retrieve(
            [terms],
            k=k,
            show_progress=False,
            n_threads=0,
            weight_mask=None if mask is None else mask.astype(np.float32),
        )
        rows, scores = rows[0], scores[0]
        keep = scores > 0
        return self.ids[rows[keep]], scores[keep]

    def save(self, path: Path) -> None:
        if self._retriever is not None:
            self._retriever.save(str(path), show_progress=False)
        np.save(path.with_suffix(".ids.npy"), self.ids)

    def load(self, path: Path) -> None:
        import bm25s

        self.ids = np.load(path.with_suffix(".ids.npy"))
        self._retriever = bm25s.BM25.load(str(path)) if path.exists() else None


# What a result says of its document, in this order: id, kind, title, org, url, date.
DOC_COLUMNS = (
    col(models.Document.id),
    col(models.Document.kind),
    col(models.Document.title),
    col(models.Document.org),
    col(models.Document.url),
    col(models.Document.date),
)


@dataclass
class DocInfo:
    id: str
    kind: str
    title: str
    org: str | None
    url: str | None
    date: str | None
    year: int | None
    modes: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class ChunkInfo:
    doc_id: str
    heading: str
    text: str


class SearchIndex:
    """Both indexes plus what results need about chunks and documents, kept current with the
    store: a query first checks the store revision and refreshes if another process wrote.

    The check is a database round trip, so a revision read is trusted for ``check_interval``
    seconds: another process's write shows within that window. A write committed through a
    session on this index's engine (the library, the taxonomy, imports) makes the next
    query check at once, so this process always answers from its own writes.
    """

    def __init__(
        self,
        engine: Engine,
        directory: Path,
        *,
        model: str,
        dim: int = 384,
        kind: str = "exact",
        check_interval: float = 0.25,
    ) -> None:
        self.engine = engine
        self.directory = directory
        self.model, self.dim, self.kind = model, dim, kind
        self.check_interval = check_interval
        self.revision = -1
        self.built_at = 0.0
        self.vectors = FaissIndex(dim, kind)
        self.keywords = KeywordIndex()
        self.chunks: dict[int, ChunkInfo] = {}
        self.docs: dict[str, DocInfo] = {}
        self._lock = threading.RLock()
        self._checked_at = -float("inf")  # time.monotonic() of the last revision read
        self._local_commits = 0  # commits through this engine's sessions, counted on commit
        self._commits_seen = 0  # ... of which the last revision read saw
        _INDEXES.add(self)

    # -- lifecycle ---------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "model": self.model,
            "dim": self.dim,
            "kind": self.kind,
            "revision": self.revision,
            "built_at": self.built_at,
            "chunks": len(self.chunks),
        }

    def ensure_current(self, *, force: bool = False) -> None:
        """Load from disk or rebuild on first use; refresh when the store has moved on.

        Reads the store revision unless one read less than ``check_interval`` seconds ago
        stands and nothing was committed here since (``force`` reads it regardless)."""
        now = time.monotonic()
        commits = self._local_commits
        if (
            not force
            and self.revision != -1
            and commits == self._commits_seen
            and now - self._checked_at < self.check_interval
        ):
            return
        # Taken before the read: a commit counted after this point is checked next time.
        with Session(self.engine) as session:
            revision = store_revision(session)
        if revision == self.revision:
            self._note_checked(now, commits)
            return
        with self._lock:
            if self.revision == revision:
                pass  # another thread brought it up while this one waited
            elif not (self.revision == -1 and self._load() and self.revision == revision):
                self.refresh(revision)
        self._note_checked(now, commits)

    def _note_checked(self, at: float, commits: int) -> None:
        self._checked_at = max(self._checked_at, at)
        self._commits_seen = max(self._commits_seen, commits)

    def _committed_here(self) -> None:
        self._local_commits += 1

    def _load(self) -> bool:
        meta_path = self.directory / "meta.json"
        if not meta_path.exists():
            return False
        try:
            meta = json.loads(meta_path.read_text())
            expected = {
                "format": FORMAT_VERSION,
                "model": self.model,
                "dim": self.dim,
                "kind": self.kind,
            }
            found = {k: meta.get(k) for k in expected}
            if found != expected:
                log.warning(
                    "index in %s was built with %s, need %s: rebuilding",
                    self.directory,
                    found,
                    expected,
                )
                return False
            self.vectors.load(self.directory / "vectors.faiss")
            self.keywords.load(self.directory / "keywords")
            self.chunks = {}
            indexed = self.keywords.ids.tolist()
            self._load_metadata(indexed)
            for cid in indexed:  # deleted from the store since: the refresh drops them
                self.chunks.setdefault(cid, ChunkInfo("", "", ""))
            if (
                set(self.chunks) != set(self.keywords.ids.tolist())
                or len(self.chunks) != self.vectors.count()
            ):
                log.warning("index in %s does not match its metadata: rebuilding", self.directory)
                return False
            self.revision, self.built_at = int(meta["revision"]), float(meta["built_at"])
            return True
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            log.warning("index in %s is unreadable (%s): rebuilding", self.directory, exc)
            return False

    def _load_metadata(self, ids: Iterable[int] | None = None) -> None:
        """Chunk texts and document facts from the store (never embeddings)."""
        with Session(self.engine) as session:
            stmt = select(
                col(models.Chunk.id),
                col(models.Chunk.document_id),
                col(models.Chunk.heading),
                col(models.Chunk.text),
            )
            if ids is None:
                self.chunks = {}
                batches = [stmt]
            else:
                wanted = list(ids)
                batches = [
                    stmt.where(col(models.Chunk.id).in_(wanted[i : i + 5000]))
                    for i in range(0, len(wanted), 5000)
                ]
            for batch in batches:
                for cid, doc_id, heading, text in session.execute(batch):
                    self.chunks[int(cid)] = ChunkInfo(doc_id, heading, text)
            self.docs = _load_docs(session)

    def refresh(self, revision: int | None = None) -> None:
        """Bring the indexes up to the store: add new chunks, drop removed ones."""
        with self._lock, Session(self.engine) as session:
            revision = store_revision(session) if revision is None else revision
            stored = set(session.execute(select(col(models.Chunk.id))).scalars())
            if self.revision == -1 or not self.chunks:
                self._build(session, sorted(stored))
            else:
                known = set(self.chunks)
                gone = np.array(sorted(known - stored), dtype=np.int64)
                new = sorted(stored - known)
                self.vectors.remove(gone)
                for cid in gone.tolist():
                    self.chunks.pop(cid, None)
                if new:
                    ids, vectors = _embeddings(session, new, self.dim)
                    self.vectors.add(ids, vectors)
                self._load_metadata(new)
                self._rebuild_keywords()
            self.revision = revision
            self.built_at = time.time()
            self.save()

    def rebuild(self) -> None:
        """Rebuild both indexes from the stored embeddings and text (no model needed)."""
        with self._lock:
            self.revision = -1
            self.chunks = {}
            self.refresh()

    def _build(self, session: Session, ids: list[int]) -> None:
        chunk_ids, vectors = _embeddings(session, ids, self.dim)
        self.vectors.build(chunk_ids, vectors)
        self._load_metadata()
        self._rebuild_keywords()

    def _rebuild_keywords(self) -> None:
        ids = np.array(sorted(self.chunks), dtype=np.int64)
        self.keywords.build(
            ids,
            [
                f"{self.chunks[i].heading} {self.docs[self.chunks[i].doc_id].title} "
                f"{self.chunks[i].text}"
                for i in ids.tolist()
            ],
        )

    def save(self) -> None:
        tmp = self.directory.with_name(self.directory.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self.vectors.save(tmp / "vectors.faiss")
        self.keywords.save(tmp / "keywords")
        (tmp / "meta.json").write_text(json.dumps(self.metadata(), indent=2))
        # Swap in the new files whole, so a reader never sees half an index.
        old = self.directory.with_name(self.directory.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if self.directory.exists():
            self.directory.rename(old)
        tmp.rename(self.directory)
        shutil.rmtree(old, ignore_errors=True)


# Every live SearchIndex, so that a commit through its engine can mark it for a check.
_INDEXES: weakref.WeakSet[SearchIndex] = weakref.WeakSet()


@event.listens_for(OrmSession, "after_commit")
def _after_commit(session: OrmSession) -> None:
    """Runs once the database has the commit, so the next revision read sees it."""
    bind = session.bind
    engine = getattr(bind, "engine", bind)  # a session bound to a connection has its engine
    for index in list(_INDEXES):
        if index.engine is engine:
            index._committed_here()


def _embeddings(session: Session, ids: list[int], dim: int) -> tuple[np.ndarray, np.ndarray]:
    out_ids: list[int] = []
    blobs: list[bytes] = []
    for start in range(0, len(ids), 5000):
        part = ids[start : start + 5000]
        for cid, blob in session.execute(
            select(col(models.Chunk.id), col(models.Chunk.embedding)).where(
                col(models.Chunk.id).in_(part)
            )
        ):
            out_ids.append(int(cid))
            blobs.append(blob)
    if not blobs:
        return np.zeros(0, dtype=np.int64), np.zeros((0, dim), dtype=np.float32)
    vectors = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dim)
    return np.array(out_ids, dtype=np.int64), vectors


def _load_docs(session: Session) -> dict[str, DocInfo]:
    docs: dict[str, DocInfo] = {}
    for d in session.execute(sa_select(*DOC_COLUMNS)):
        docs[d[0]] = DocInfo(
            d[0],
            d[1],
            d[2],
            d[3],
            d[4],
            d[5].isoformat() if d[5] else None,
            d[5].year if d[5] else None,
        )
    for doc_id, mode_id, confidence in session.execute(
        select(
            col(models.Tag.document_id), col(models.Tag.mode_id), col(models.Tag.confidence)
        ).where(col(models.Tag.rejected).is_(False))
    ):
        if doc_id in docs:
            docs[doc_id].modes.append((mode_id, float(confidence)))
    for info in docs.values():
        info.modes.sort(key=lambda m: (-m[1], m[0]))
    return docs
