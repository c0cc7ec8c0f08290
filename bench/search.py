"""Search latency at 10,000 and 100,000 chunks beside its floor, BM25 alone and Chroma.

    .venv/bin/python bench/search.py [--sizes 10000 100000] [--repeat 5] [--workdir DIR]

Stores are synthetic but made from our corpus: each synthetic chunk joins sentences of two
corpus chunks and its vector is the normalised mix of their real embeddings plus noise (so
100,000 chunks need no hours of encoding). Queries are the labelled search set.

Every pipeline runs on the same queries, interleaved query by query (the order rotates), after
one warm-up pass that is not counted, so machine noise lands on all of them alike:

- the floor: query encode + FAISS exact top-10, nothing else;
- our ``Searcher.search`` (encode, index search, BM25, fusion, result assembly) with the exact
  index, the FAISS HNSW index and Chroma's HNSW index plugged in as the vector index — the
  same pipeline, the same k (``CANDIDATES`` chunks from the vector index), the same vectors;
  hybrid and dense only (``use_keyword=False``), and keyword only;
- the index search alone, given the query vector, for each vector index;
- the store revision check a search makes when its check interval has run out.

Printed: p50/p99 of each, p50 ratios to the floor and FAISS HNSW against Chroma (also as the
median of per-query paired ratios, which is steadier on a shared machine), recall@10 of each
approximate index against exact search, an efSearch sweep of both HNSW indexes (index alone,
k=10), and one query's parts on one thread against two.
Chroma gets its default ``hnsw:search_ef`` (100) in the pipelines and the sweep shows it tuned.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import gc
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.evaluation import load_eval_set
from service import models
from service.config import Config
from service.db import bump_revision, session_scope
from service.embedding import Embedder
from service.hindsight import Hindsight
from service.index import FaissIndex, SearchIndex, _embeddings
from service.search import CANDIDATES, Searcher, encode_query

PER_DOC = 10  # synthetic chunks per synthetic document
CHROMA_DEFAULT_EF = 100  # chromadb's own default hnsw ef_search


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values) * 1000, q))


def run_interleaved(
    pipelines: dict[str, Callable[[int], Any]], n_queries: int, repeat: int
) -> dict[str, list[float]]:
    """Seconds per call of each pipeline; each query runs every pipeline before the next query,
    in an order that rotates, after one uncounted warm-up pass."""
    names = list(pipelines)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeat + 1):
        for qi in range(n_queries):
            shift = (r * n_queries + qi) % len(names)
            for name in names[shift:] + names[:shift]:
                started = time.perf_counter()
                pipelines[name](qi)
                elapsed = time.perf_counter() - started
                if r:  # the first pass warms up
                    times[name].append(elapsed)
    return times


class FullCollections:
    """Counts the garbage collector's full (generation 2) passes and how long each took."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if info["generation"] == 2:
            if phase == "start":
                self._started = time.perf_counter()
            else:
                self.pauses.append(time.perf_counter() - self._started)

    def __enter__(self) -> FullCollections:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)


def paired_ratio(a: list[float], b: list[float]) -> float:
    """Median of per-call ratios a/b: both ran on the same query moments apart."""
    return float(np.median(np.array(a) / np.array(b)))


# -- the stores ---------------------------------------------------------------------------------


def base_corpus(workdir: Path) -> tuple[Embedder, list[str], np.ndarray]:
    """The bundled corpus, loaded once: its chunk texts and real embeddings."""
    base = Hindsight(Config.load({"data_dir": str(workdir / "base")}, environ={}))
    base.init()
    base.index.ensure_current()
    ids = sorted(base.index.chunks)
    texts = [base.index.chunks[i].text for i in ids]
    with session_scope(base.engine) as s:
        _, vectors = _embeddings(s, ids, 384)
    base.engine.dispose()
    return base.embedder, texts, vectors


def build_store(
    app: Hindsight, base_texts: list[str], base_vecs: np.ndarray, n: int, rng: np.random.Generator
) -> None:
    dim = base_vecs.shape[1]
    with session_scope(app.engine) as session:
        for d in range(n // PER_DOC):
            session.add(
                models.Document(
                    id=f"syn-{d}",
                    kind="postmortem",
                    title=f"Synthetic incident {d}",
                    org=f"Org{d % 97}",
                    date=dt.date(2010 + d % 15, 1 + d % 12, 1),
                    source=f"synthetic:{d}",
                    format="text",
                    content_hash=f"{d:064d}",
                    body="",
                )
            )
        session.flush()
        for start in range(0, n, 5000):
            rows = []
            for i in range(start, min(n, start + 5000)):
                a, b = rng.integers(0, len(base_texts), 2)
                vec = base_vecs[a] * 0.7 + base_vecs[b] * 0.3 + rng.normal(0, 0.02, dim)
                vec = (vec / np.linalg.norm(vec)).astype(np.float32)
                text = base_texts[a] + " " + base_texts[b].split(". ")[0]
                rows.append(
                    models.Chunk(
                        document_id=f"syn-{i // PER_DOC}",
                        section_position=0,
                        position=i % PER_DOC,
                        heading="Root cause",
                        text=text,
                        embedding=vec.tobytes(),
                        model="all-MiniLM-L6-v2",
                    )
                )
            session.add_all(rows)
            session.flush()
        bump_revision(session)


def synthetic_store(
    workdir: Path, n: int, embedder: Embedder, base_texts: list[str], base_vecs: np.ndarray
) -> Hindsight:
    """A store of ``n`` synthetic chunks, reused from ``workdir`` when a run already built it."""
    app = Hindsight(Config.load({"data_dir": str(workdir / f"n{n}")}, environ={}))
    app.__dict__["embedder"] = embedder
    ready = workdir / f"n{n}" / "ready"
    if not ready.exists():
        shutil.rmtree(workdir / f"n{n}", ignore_errors=True)
        app.init(bare=True)
        build_store(app, base_texts, base_vecs, n, np.random.default_rng(n))
        ready.write_text("built\n")
    return app


def search_index(app: Hindsight, workdir: Path, n: int, kind: str) -> tuple[SearchIndex, float]:
    """The index as the service builds it (or loads it, when a previous run saved it)."""
    index = SearchIndex(app.engine, workdir / f"idx-{n}-{kind}", model=app.embedder.name, kind=kind)
    started = time.perf_counter()
    index.ensure_current()
    return index, time.perf_counter() - started


# -- Chroma, plugged in as the vector index -----------------------------------------------------


class ChromaVectors:
    """Chroma's collection behind the ``VectorIndex`` search call: chunk ids and similarity."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.collection = self._open()

    def _open(self) -> Any:
        import chromadb

        return chromadb.PersistentClient(path=str(self.path)).get_collection("bench")

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        if allowed is not None:
            raise NotImplementedError("the benchmark does not filter")
        found = self.collection.query(query_embeddings=[query], n_results=k, include=["distances"])
        ids = np.array([int(i) for i in found["ids"][0]], dtype=np.int64)
        return ids, 1.0 - np.array(found["distances"][0], dtype=np.float32)  # ip: 1 - dot

    def count(self) -> int:
        return int(self.collection.count())

    @property
    def ef(self) -> int:
        return int(self.collection.configuration_json["hnsw"]["ef_search"])

    def set_ef(self, ef: int) -> None:
        """Chroma reads ``ef_search`` when it loads the index, and keeps a loaded index for the
        life of the process: change it, drop Chroma's cache and open the collection again."""
        from chromadb.api.client import SharedSystemClient

        self.collection.modify(configuration={"hnsw": {"ef_search": ef}})
        SharedSystemClient.clear_system_cache()
        self.collection = self._open()
        self.search(np.ones(384, dtype=np.float32) / np.sqrt(384), 1)  # load it now


def chroma_vectors(exact: SearchIndex, workdir: Path, n: int) -> tuple[ChromaVectors, float]:
    """Chroma (HNSW, inner product, its defaults otherwise) holding the store's own vectors."""
    import chromadb

    started = time.perf_counter()
    path = workdir / f"chroma-{n}"
    client = chromadb.PersistentClient(path=str(path))
    if "bench" in [c.name for c in client.list_collections()]:
        if client.get_collection("bench").count() == len(exact.chunks):
            chroma = ChromaVectors(path)
            if chroma.ef != CHROMA_DEFAULT_EF:  # a sweep was cut short
                chroma.set_ef(CHROMA_DEFAULT_EF)
            return chroma, time.perf_counter() - started
        client.delete_collection("bench")
    collection = client.create_collection("bench", configuration={"hnsw": {"space": "ip"}})
    with session_scope(exact.engine) as s:
        chunk_ids, vectors = _embeddings(s, sorted(exact.chunks), 384)
    for start in range(0, len(chunk_ids), 5000):
        collection.add(
            ids=[str(i) for i in chunk_ids[start : start + 5000]],
            embeddings=vectors[start : start + 5000],
        )
    return ChromaVectors(path), time.perf_counter() - started


def with_vectors(index: SearchIndex, vectors: Any) -> SearchIndex:
    """The same search index (chunks, documents, BM25, store checks) over other vectors."""
    other = copy.copy(index)
    other.vectors = vectors
    return other


def recall_at(approx: Any, exact: FaissIndex, qvecs: np.ndarray, k: int = 10) -> float:
    hits = 0
    for q in qvecs:
        truth = set(exact.search(q, k)[0].tolist())
        hits += len(truth & set(approx.search(q, k)[0].tolist()))
    return hits / (k * len(qvecs))


def hnsw_of(index: FaissIndex) -> Any:
    import faiss

    inner: Any = faiss.downcast_index(index._index.index)
    return inner.hnsw


# -- one size -----------------------------------------------------------------------------------


def bench_size(
    n: int,
    workdir: Path,
    embedder: Embedder,
    base_texts: list[str],
    base_vecs: np.ndarray,
    queries: list[str],
    qvecs: np.ndarray,
    repeat: int,
) -> None:
    app = synthetic_store(workdir, n, embedder, base_texts, base_vecs)
    exact, exact_s = search_index(app, workdir, n, "exact")
    hnsw, hnsw_s = search_index(app, workdir, n, "hnsw")
    chroma, chroma_s = chroma_vectors(exact, workdir, n)
    print(
        f"[{n:,} chunks] ready: exact index {exact_s:.1f}s, FAISS HNSW {hnsw_s:.1f}s, "
        f"Chroma {chroma_s:.1f}s (load or build)",
        flush=True,
    )
    on_chroma = with_vectors(exact, chroma)
    s_exact, s_hnsw, s_chroma = (Searcher(ix, embedder) for ix in (exact, hnsw, on_chroma))

    def encode(qi: int) -> np.ndarray:  # as the searcher encodes a query
        return encode_query(embedder, queries[qi])

    pipelines: dict[str, Callable[[int], Any]] = {
        "floor: encode + FAISS exact top-10": lambda qi: exact.vectors.search(encode(qi), 10),
        "hybrid, exact": lambda qi: s_exact.search(queries[qi]),
        "hybrid, FAISS HNSW": lambda qi: s_hnsw.search(queries[qi]),
        "hybrid, Chroma HNSW": lambda qi: s_chroma.search(queries[qi]),
        "dense only, exact": lambda qi: s_exact.search(queries[qi], use_keyword=False),
        "dense only, FAISS HNSW": lambda qi: s_hnsw.search(queries[qi], use_keyword=False),
        "dense only, Chroma HNSW": lambda qi: s_chroma.search(queries[qi], use_keyword=False),
        "keyword only (bm25s)": lambda qi: s_exact.search(queries[qi], use_dense=False),
        "query encode alone": encode,
        f"index alone, FAISS exact k={CANDIDATES}": lambda qi: exact.vectors.search(
            qvecs[qi], CANDIDATES
        ),
        f"index alone, FAISS HNSW k={CANDIDATES}": lambda qi: hnsw.vectors.search(
            qvecs[qi], CANDIDATES
        ),
        f"index alone, Chroma HNSW k={CANDIDATES}": lambda qi: chroma.search(qvecs[qi], CANDIDATES),
        "index alone, FAISS HNSW k=10": lambda qi: hnsw.vectors.search(qvecs[qi], 10),
        "index alone, Chroma HNSW k=10": lambda qi: chroma.search(qvecs[qi], 10),
        "store revision check, unthrottled": lambda qi: exact.ensure_current(force=True),
    }
    with FullCollections() as collections:
        times = run_interleaved(pipelines, len(queries), repeat)
    p50 = {name: pct(t, 50) for name, t in times.items()}
    floor = p50["floor: encode + FAISS exact top-10"]

    print(
        f"\n== {n:,} chunks, {len(queries)} queries x {repeat} (interleaved, warm-up excluded) =="
    )
    print(f"{'pipeline':42} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'p50/floor':>10}")
    for name, t in times.items():
        print(
            f"{name:42} {p50[name]:8.2f} {pct(t, 99):8.2f} {pct(t, 100):8.2f} "
            f"{p50[name] / floor:10.2f}"
        )

    print(
        f"full garbage collections while timing: {len(collections.pauses)}"
        + (f", longest {max(collections.pauses) * 1000:.0f} ms" if collections.pauses else "")
    )
    chroma_ef = chroma.ef
    faiss_ef = hnsw.vectors.ef_search
    print(
        f"\nrecall@10 vs exact: FAISS HNSW (M {hnsw.vectors.hnsw_m}, efSearch {faiss_ef}) "
        f"{recall_at(hnsw.vectors, exact.vectors, qvecs):.3f}; Chroma HNSW (M 16, "
        f"search_ef {chroma_ef}, its default) {recall_at(chroma, exact.vectors, qvecs):.3f}"
    )
    print(
        f"recall@{CANDIDATES} (what the pipeline asks for): FAISS HNSW "
        f"{recall_at(hnsw.vectors, exact.vectors, qvecs, CANDIDATES):.3f}; Chroma HNSW "
        f"{recall_at(chroma, exact.vectors, qvecs, CANDIDATES):.3f}"
    )

    def ratio(a: str, b: str) -> str:
        return f"p50 {p50[a] / p50[b]:.2f}, paired {paired_ratio(times[a], times[b]):.2f}"

    print(f"target exact: hybrid p50 / floor = {p50['hybrid, exact'] / floor:.2f} (<= 1.5)")
    print(
        "target approximate, FAISS HNSW / Chroma HNSW (<= 1.0): dense only "
        f"{ratio('dense only, FAISS HNSW', 'dense only, Chroma HNSW')}; hybrid "
        f"{ratio('hybrid, FAISS HNSW', 'hybrid, Chroma HNSW')}; index alone k={CANDIDATES} "
        f"{ratio(f'index alone, FAISS HNSW k={CANDIDATES}', f'index alone, Chroma HNSW k={CANDIDATES}')}"
    )

    ef_sweep(hnsw.vectors, chroma, exact.vectors, qvecs, faiss_ef, chroma_ef)
    threads_compared(embedder, queries, qvecs, exact.vectors, hnsw.vectors)
    app.engine.dispose()


def on_threads(n: int, fn: Callable[[], Any]) -> Any:
    """``fn()`` with ``n`` torch and FAISS (OpenMP) threads on this thread."""
    import faiss
    import torch

    torch_threads, faiss_threads = torch.get_num_threads(), faiss.omp_get_max_threads()
    torch.set_num_threads(n)
    faiss.omp_set_num_threads(n)
    try:
        return fn()
    finally:
        torch.set_num_threads(torch_threads)
        faiss.omp_set_num_threads(faiss_threads)


def threads_compared(
    embedder: Embedder,
    queries: list[str],
    qvecs: np.ndarray,
    exact: FaissIndex,
    hnsw: FaissIndex,
) -> None:
    """One query's parts on one thread (as the searcher runs them) and on two (the libraries'
    default here): on a shared 2-core machine the second thread's OpenMP barriers are what
    made the tail latency."""

    def encode(n: int, qi: int) -> Any:
        return on_threads(n, lambda: embedder.encode([queries[qi]]))

    def search(index: FaissIndex, n: int, qi: int) -> Any:
        return on_threads(n, lambda: index._index.search(qvecs[qi : qi + 1], CANDIDATES))

    parts: dict[str, Callable[[int], Any]] = {}
    for n in (1, 2):
        parts[f"query encode, {n} thread(s)"] = partial(encode, n)
        parts[f"index alone, FAISS exact k={CANDIDATES}, {n} thread(s)"] = partial(search, exact, n)
        parts[f"index alone, FAISS HNSW k={CANDIDATES}, {n} thread(s)"] = partial(search, hnsw, n)
    times = run_interleaved(parts, len(queries), 1)
    print("one thread against two, per query (interleaved, 1 pass):")
    print(f"{'part':48} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, t in times.items():
        print(f"{name:48} {pct(t, 50):8.2f} {pct(t, 99):8.2f} {pct(t, 100):8.2f}")
    print(flush=True)


def ef_sweep(
    faiss_hnsw: FaissIndex,
    chroma: ChromaVectors,
    exact: FaissIndex,
    qvecs: np.ndarray,
    faiss_ef: int,
    chroma_ef: int,
) -> None:
    """recall@10 and index-alone p50 (k=10) of both HNSW indexes over a range of efSearch."""
    print("\nefSearch sweep, index alone, k=10 (interleaved, 3 passes):")
    print(
        f"{'efSearch':>8} {'FAISS recall':>12} {'FAISS p50 ms':>12} {'Chroma recall':>13} "
        f"{'Chroma p50 ms':>13}"
    )
    graph = hnsw_of(faiss_hnsw)
    for ef in (16, 32, 64, 100, 160, 256, 400):
        graph.efSearch = ef
        faiss_hnsw.ef_search = ef
        chroma.set_ef(ef)
        times = run_interleaved(
            {
                "faiss": lambda qi: faiss_hnsw.search(qvecs[qi], 10),
                "chroma": lambda qi: chroma.search(qvecs[qi], 10),
            },
            len(qvecs),
            3,
        )
        print(
            f"{ef:8d} {recall_at(faiss_hnsw, exact, qvecs):12.3f} {pct(times['faiss'], 50):12.3f} "
            f"{recall_at(chroma, exact, qvecs):13.3f} {pct(times['chroma'], 50):13.3f}"
        )
    graph.efSearch = faiss_hnsw.ef_search = faiss_ef
    chroma.set_ef(chroma_ef)
    print(flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=5, help="counted passes over the queries")
    parser.add_argument(
        "--workdir", type=Path, help="keep the stores and indexes here and reuse them next run"
    )
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="hindsight-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        queries = [q["query"] for q in load_eval_set()]
        embedder, base_texts, base_vecs = base_corpus(workdir)
        qvecs = embedder.encode(queries)
        for n in args.sizes:
            bench_size(n, workdir, embedder, base_texts, base_vecs, queries, qvecs, args.repeat)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
