"""Search latency at 10,000 and 100,000 chunks beside its floor, BM25 alone and Chroma.

    .venv/bin/python bench/search.py [--sizes 10000 100000]

Stores are synthetic but made from our corpus: each synthetic chunk joins sentences of two
corpus chunks and its vector is the normalised mix of their real embeddings plus noise (so
100,000 chunks need no hours of encoding). Queries are the labelled search set. Printed, in
one run: hybrid search p50/p99 with the exact and the HNSW index; the floor (query encode +
FAISS exact top-k alone); BM25 alone; Chroma (HNSW, same vectors) with query encode; recall@10
of each approximate index against exact; and the ratios.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.evaluation import load_eval_set
from service import models
from service.config import Config
from service.db import bump_revision, session_scope
from service.hindsight import Hindsight
from service.index import FaissIndex, SearchIndex
from service.search import Searcher


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values) * 1000, q))


def timed(fn, queries, repeat=3):  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        for q in queries:
            started = time.perf_counter()
            fn(q)
            times.append(time.perf_counter() - started)
    return times


def build_store(
    app: Hindsight, base_texts: list[str], base_vecs: np.ndarray, n: int, rng: np.random.Generator
) -> None:
    dim = base_vecs.shape[1]
    with session_scope(app.engine) as session:
        per_doc = 10
        for d in range(n // per_doc):
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
                        document_id=f"syn-{i // per_doc}",
                        section_position=0,
                        position=i % per_doc,
                        heading="Root cause",
                        text=text,
                        embedding=vec.tobytes(),
                        model="all-MiniLM-L6-v2",
                    )
                )
            session.add_all(rows)
            session.flush()
        bump_revision(session)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    queries = [q["query"] for q in load_eval_set()]
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp:
        base = Hindsight(Config.load({"data_dir": f"{tmp}/base"}, environ={}))
        base.init()
        embedder = base.embedder
        base.index.ensure_current()
        ids = sorted(base.index.chunks)
        base_texts = [base.index.chunks[i].text for i in ids]
        from sqlmodel import Session

        from service.index import _embeddings

        with Session(base.engine) as s:
            _, base_vecs = _embeddings(s, ids, 384)
        qvecs = embedder.encode(queries)
        for n in args.sizes:
            app = Hindsight(Config.load({"data_dir": f"{tmp}/n{n}"}, environ={}))
            app.__dict__["embedder"] = embedder
            app.init(bare=True)
            build_store(app, base_texts, base_vecs, n, rng)
            results: dict[str, list[float]] = {}
            recalls: dict[str, float] = {}
            for kind in ("exact", "hnsw"):
                index = SearchIndex(
                    app.engine, Path(tmp) / f"idx-{n}-{kind}", model=embedder.name, kind=kind
                )
                started = time.perf_counter()
                index.ensure_current()
                build_s = time.perf_counter() - started
                searcher = Searcher(index, embedder)
                searcher.search(queries[0])
                results[f"hybrid ({kind})"] = timed(lambda q, s=searcher: s.search(q), queries)
                results[f"dense only ({kind})"] = timed(
                    lambda q, s=searcher: s.search(q, use_keyword=False), queries
                )
                if kind == "exact":
                    exact_index = index
                    results["keyword only (bm25s)"] = timed(
                        lambda q, s=searcher: s.search(q, use_dense=False), queries
                    )
                    results["floor: encode + FAISS exact"] = timed(
                        lambda q, ix=index: ix.vectors.search(embedder.encode([q])[0], 10), queries
                    )
                else:
                    recalls["FAISS HNSW"] = _recall(index.vectors, exact_index.vectors, qvecs)
                print(f"[{n} chunks] {kind} index built in {build_s:.1f}s", flush=True)
            chroma_times, chroma_recall = _chroma(exact_index, qvecs, queries, embedder, tmp)
            results["Chroma HNSW (encode + query)"] = chroma_times
            recalls["Chroma HNSW"] = chroma_recall
            floor = pct(results["floor: encode + FAISS exact"], 50)
            print(f"\n== {n:,} chunks, {len(queries)} queries x3 ==")
            print(f"{'pipeline':36} {'p50 ms':>8} {'p99 ms':>8} {'p50/floor':>10}")
            for name, times in results.items():
                print(
                    f"{name:36} {pct(times, 50):8.2f} {pct(times, 99):8.2f} "
                    f"{pct(times, 50) / floor:10.2f}"
                )
            for name, value in recalls.items():
                print(f"recall@10 vs exact, {name}: {value:.3f}")
            print(
                f"target exact: hybrid p50 / floor = "
                f"{pct(results['hybrid (exact)'], 50) / floor:.2f} (<= 1.5)"
            )
            print(
                f"target approximate: dense (hnsw) p50 / Chroma p50 = "
                f"{pct(results['dense only (hnsw)'], 50) / pct(chroma_times, 50):.2f} (<= 1.0)"
                f", hybrid (hnsw) / Chroma = "
                f"{pct(results['hybrid (hnsw)'], 50) / pct(chroma_times, 50):.2f}\n",
                flush=True,
            )
            app.engine.dispose()


def _recall(approx: FaissIndex, exact: FaissIndex, qvecs: np.ndarray) -> float:
    hits = 0
    for q in qvecs:
        truth = set(exact.search(q, 10)[0].tolist())
        hits += len(truth & set(approx.search(q, 10)[0].tolist()))
    return hits / (10 * len(qvecs))


def _chroma(exact: SearchIndex, qvecs, queries, embedder, tmp):  # type: ignore[no-untyped-def]
    import chromadb

    client = chromadb.PersistentClient(path=f"{tmp}/chroma-{len(exact.chunks)}")
    col = client.create_collection("bench", configuration={"hnsw": {"space": "ip"}})
    ids = sorted(exact.chunks)
    from sqlmodel import Session

    from service.index import _embeddings

    with Session(exact.engine) as s:
        chunk_ids, vectors = _embeddings(s, ids, 384)
    for start in range(0, len(chunk_ids), 5000):
        col.add(
            ids=[str(i) for i in chunk_ids[start : start + 5000]],
            embeddings=vectors[start : start + 5000],
        )
    hits = 0
    for q in qvecs:
        truth = set(exact.vectors.search(q, 10)[0].tolist())
        got = col.query(query_embeddings=[q], n_results=10)["ids"][0]
        hits += len(truth & {int(i) for i in got})
    times = timed(
        lambda q: col.query(query_embeddings=[embedder.encode([q])[0]], n_results=10), queries
    )
    return times, hits / (10 * len(qvecs))


if __name__ == "__main__":
    main()
