"""Hybrid search: dense and keyword candidates fused per document, with filters and facets."""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.embedding import Embedder
from service.index import DocInfo, SearchIndex

MAX_QUERY_CHARS = 2000
MAX_K = 100
RRF_K = 60
CANDIDATES = 200  # chunks taken from each retriever before fusion


class QueryError(ValueError):
    """The query cannot be answered as given; the message says why, in one line."""


@dataclass(frozen=True)
class Filters:
    modes: tuple[str, ...] = ()
    org: str | None = None
    kind: str | None = None
    since: int | None = None
    until: int | None = None

    def admits(self, doc: DocInfo) -> bool:
        if self.kind and doc.kind != self.kind:
            return False
        if self.org and (doc.org or "").casefold() != self.org.casefold():
            return False
        if self.since is not None and (doc.year is None or doc.year < self.since):
            return False
        if self.until is not None and (doc.year is None or doc.year > self.until):
            return False
        have = {m for m, _ in doc.modes}
        return all(m in have for m in self.modes)

    @property
    def active(self) -> bool:
        return bool(
            self.modes or self.org or self.kind or self.since is not None or self.until is not None
        )


@dataclass
class Weights:
    """Fusion weights, tuned on tests/data/search_eval.yaml (see bench/search.py)."""

    dense: float = 1.0
    keyword: float = 1.0
    chunk_decay: float = 0.3  # weight of a document's second-best chunk in its score


@dataclass
class SearchResult:
    query: str
    results: list[dict[str, Any]]
    facets: dict[str, dict[str, int]]
    took_ms: float
    hint: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "query": self.query,
            "results": self.results,
            "facets": self.facets,
            "took_ms": self.took_ms,
        }
        if self.hint:
            out["hint"] = self.hint
        return out


def clean_query(query: str) -> str:
    text = " ".join((query or "").split())
    if not text:
        raise QueryError("the query is empty; type a few words about the incident")
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(
            f"the query is {len(text)} characters; the limit is {MAX_QUERY_CHARS} "
            "(to check a long text against past incidents, use review)"
        )
    if not re.search(r"\w", text):
        raise QueryError("the query has no letters or digits to search for")
    return text


def encode_query(embedder: Embedder, text: str) -> np.ndarray:
    """The query's vector (one text: the embedder encodes it on one thread)."""
    return embedder.encode([text])[0]


class Searcher:
    def __init__(self, index: SearchIndex, embedder: Embedder, weights: Weights | None = None):
        self.index = index
        self.embedder = embedder
        self.weights = weights or Weights()

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        filters: Filters | None = None,
        use_dense: bool = True,
        use_keyword: bool = True,
    ) -> SearchResult:
        started = time.perf_counter()
        text = clean_query(query)
        if not 1 <= k <= MAX_K:
            raise QueryError(f"k must be between 1 and {MAX_K}")
        filters = filters or Filters()
        self.index.ensure_current()
        index = self.index
        if not index.chunks:
            return SearchResult(
                text,
                [],
                _facets([]),
                _ms(started),
                hint="the store is empty: run `hindsight init` to load the "
                "bundled corpus, or `hindsight ingest PATH`",
            )
        allowed_docs: set[str] | None = None  # None: every document
        allowed_chunks = None
        mask = None
        if filters.active:
            allowed_docs = {d for d, info in index.docs.items() if filters.admits(info)}
            allowed_chunks = np.array(
                [c for c, info in index.chunks.items() if info.doc_id in allowed_docs],
                dtype=np.int64,
            )
            mask = np.isin(index.keywords.ids, allowed_chunks)
        ranked: list[tuple[np.ndarray, float]] = []
        if use_dense:
            vector = encode_query(self.embedder, text)
            ids, _ = index.vectors.search(vector, CANDIDATES, allowed_chunks)
            ranked.append((ids, self.weights.dense))
        if use_keyword:
            ids, _ = index.keywords.search(text, CANDIDATES, mask)
            ranked.append((ids, self.weights.keyword))
        chunk_scores: dict[int, float] = {}
        for ids, weight in ranked:
            for rank, cid in enumerate(ids.tolist()):
                chunk_scores[cid] = chunk_scores.get(cid, 0.0) + weight / (RRF_K + rank + 1)
        per_doc: dict[str, list[tuple[float, int]]] = {}
        for cid, score in chunk_scores.items():
            doc_id = index.chunks[cid].doc_id
            if allowed_docs is None or doc_id in allowed_docs:
                per_doc.setdefault(doc_id, []).append((score, cid))
        scored = []
        for doc_id, items in per_doc.items():
            items.sort(reverse=True)
            score = items[0][0] + sum(s for s, _ in items[1:3]) * self.weights.chunk_decay
            scored.append((score, doc_id, items[0][1]))
        scored.sort(key=lambda t: (-t[0], t[1]))
        top = scored[0][0] if scored else 1.0
        terms = set(index.keywords.query_terms(text))  # stemmed, without stop words
        results = [
            _result(index.docs[doc_id], index.chunks[cid], score / top, terms)
            for score, doc_id, cid in scored[:k]
        ]
        facets = _facets([index.docs[d] for _, d, _ in scored])
        hint = None
        if not results:
            hint = (
                "nothing matched these filters; remove a filter or try other words"
                if filters.active
                else "nothing matched; try other words"
            )
        return SearchResult(text, results, facets, _ms(started), hint=hint)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _result(doc: DocInfo, chunk: Any, score: float, terms: set[str]) -> dict[str, Any]:
    snippet, highlights = make_snippet(chunk.text, terms)
    return {
        "id": doc.id,
        "kind": doc.kind,
        "title": doc.title,
        "org": doc.org,
        "url": doc.url,
        "date": doc.date,
        "score": round(float(score), 4),
        "snippet": snippet,
        "highlights": highlights,
        "section": chunk.heading,
        "modes": [{"id": m, "confidence": round(c, 3)} for m, c in doc.modes],
    }


def make_snippet(text: str, terms: set[str], width: int = 320) -> tuple[str, list[list[int]]]:
    """The passage around the densest run of query terms, with [start, end] term offsets."""
    # One pass of one pattern: a stem of four letters or more matches as a prefix.
    alternatives = sorted(
        (re.escape(t) + (r"\w*" if len(t) >= 4 else "") for t in terms), key=len, reverse=True
    )
    pattern = re.compile(r"\b(?:" + "|".join(alternatives) + r")\b", re.I) if terms else None
    matches = list(pattern.finditer(text)) if pattern else []

    start = 0
    if len(text) > width:
        best, best_pos = -1, 0
        positions = [m.start() for m in matches]
        for pos in positions:
            count = sum(1 for p in positions if pos <= p < pos + width)
            if count > best:
                best, best_pos = count, pos
        start = max(0, best_pos - width // 4)
        # start at a word boundary
        while start > 0 and text[start - 1].isalnum():
            start -= 1
    end = min(len(text), start + width)
    while end < len(text) and text[end - 1].isalnum() and end - start < width + 20:
        end += 1
    snippet = (
        ("…" if start > 0 else "") + text[start:end].strip() + ("…" if end < len(text) else "")
    )
    offset = (
        (1 if start > 0 else 0) - start - (len(text[start:end]) - len(text[start:end].lstrip()))
    )
    highlights = [
        [m.start() + offset, m.end() + offset]
        for m in matches
        if start <= m.start() and m.end() <= end
    ]
    return snippet, highlights


def _facets(docs: list[DocInfo]) -> dict[str, dict[str, int]]:
    modes: Counter[str] = Counter()
    orgs: Counter[str] = Counter()
    years: Counter[str] = Counter()
    for doc in docs:
        modes.update(m for m, _ in doc.modes)
        if doc.org:
            orgs[doc.org] += 1
        if doc.year:
            years[str(doc.year)] += 1
    return {
        "modes": dict(modes.most_common()),
        "orgs": dict(orgs.most_common()),
        "years": dict(sorted(years.items(), reverse=True)),
    }
