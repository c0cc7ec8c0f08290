"""Ingest throughput (chunks/s) beside raw model.encode on the same chunks, in one run.

    .venv/bin/python bench/ingest.py [--repeat 2]

Ingest is timed end to end on a fresh SQLite store (read, parse, chunk, embed, tag, write,
one transaction per document) with the model already loaded; the peer is
SentenceTransformer.encode on exactly the texts ingest embeds. Target ratio >= 0.85.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest.fetch import FetchLimits
from ingest.sources import read_sources
from service.config import Config
from service.hindsight import CORPUS, Hindsight


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sources = [str(CORPUS / d) for d in ("postmortems", "runbooks", "checklists")]
    shared = None
    ingest_rates, encode_rates = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            app = Hindsight(Config.load({"data_dir": tmp}, environ={}))
            if shared is not None:
                app.__dict__["embedder"] = shared
            app.init(bare=True)
            shared = app.embedder
            shared.encode(["warm up"] * 8)
            docs = [d for d in read_sources(sources, limits=FetchLimits()) if hasattr(d, "title")]
            texts = [c.embed_text(d.title) for d in docs for c in app.library.chunk(d)]  # type: ignore[union-attr]

            started = time.perf_counter()
            report = app.library.ingest(read_sources(sources, limits=FetchLimits()))
            ingest_s = time.perf_counter() - started
            assert report.added == len(docs) and not report.failed

            started = time.perf_counter()
            shared.model.encode(
                texts,
                batch_size=shared.batch_size,
                normalize_embeddings=True,
                show_progress_bar=False,
            ) if not shared.bf16 else shared.encode(texts)
            encode_s = time.perf_counter() - started
            ingest_rates.append(len(texts) / ingest_s)
            encode_rates.append(len(texts) / encode_s)
            app.engine.dispose()
    ingest_rate, encode_rate = statistics.median(ingest_rates), statistics.median(encode_rates)
    print(f"documents {len(docs)}, chunks {len(texts)}, bf16 {shared.bf16 if shared else '?'}")
    print(
        f"ingest        {ingest_rate:8.1f} chunks/s  (runs: {', '.join(f'{r:.1f}' for r in ingest_rates)})"
    )
    print(
        f"model.encode  {encode_rate:8.1f} chunks/s  (runs: {', '.join(f'{r:.1f}' for r in encode_rates)})"
    )
    print(f"ratio ingest/encode {ingest_rate / encode_rate:.2f}  (target >= 0.85)")


if __name__ == "__main__":
    main()
