"""The indexes are derived: saved and loaded whole, rebuilt without the model, kept fresh."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ingest.sources import read_sources
from service.config import Config
from service.embedding import Embedder
from service.hindsight import Hindsight
from service.index import FaissIndex
from tests.conftest import make_app

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
QUERIES = [
    "kafka disk filled after retention change",
    "certificate expired login",
    "cache restart overloaded database",
]


def _ranked(app: Hindsight) -> list[list[tuple[str, float]]]:
    return [[(h["id"], h["score"]) for h in app.search(q, k=3).results] for q in QUERIES]


def test_save_load_and_rebuild_without_the_model(tmp_path: Path, embedder: Embedder) -> None:
    app = make_app(tmp_path, embedder)
    app.init(bare=True)
    app.ingest([str(SAMPLES)])
    before = _ranked(app)
    index_dir = app.config.data_path / "index"
    assert (index_dir / "meta.json").exists() and (index_dir / "vectors.faiss").exists()

    again = Hindsight(app.config)  # a new process would start like this
    again.__dict__["embedder"] = embedder
    assert _ranked(again) == before
    assert again.index.revision == app.index.revision

    shutil.rmtree(index_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HINDSIGHT_")}
    env |= {
        "HINDSIGHT_DATA_DIR": str(app.config.data_path),
        # a model that does not exist: the rebuild must not need one
        "HINDSIGHT_MODEL": str(tmp_path / "no-model-here"),
    }
    exe = str(Path(sys.executable).parent / "hindsight")
    out = subprocess.run([exe, "index", "rebuild"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("indexed ")
    assert (index_dir / "meta.json").exists()
    fresh = Hindsight(app.config)
    fresh.__dict__["embedder"] = embedder
    assert _ranked(fresh) == before


def _reader(writer: Hindsight, embedder: Embedder, check_interval: float) -> Hindsight:
    """Another process on the same store (its own engine, so none of the writer's commits)."""
    reader = Hindsight(Config.load({"data_dir": str(writer.config.data_path)}, environ={}))
    reader.__dict__["embedder"] = embedder
    reader.index.check_interval = check_interval
    return reader


def _read_sources(app: Hindsight, path: Path) -> Any:
    return read_sources([str(path)], limits=app.fetch_limits)


def test_another_process_write_is_seen_before_the_next_answer(
    tmp_path: Path, embedder: Embedder
) -> None:
    writer = make_app(tmp_path, embedder)
    writer.init(bare=True)
    writer.ingest([str(SAMPLES / "queue-outage.md")])
    reader = _reader(writer, embedder, check_interval=0)  # check before every search
    assert reader.search("certificate expired login").results[0]["id"] != "acme-2022-11-03"
    revision = reader.index.revision
    writer.library.ingest(_read_sources(writer, SAMPLES / "login-outage.html"))
    top = reader.search("certificate expired login").results[0]
    assert top["id"] == "acme-2022-11-03"
    assert reader.index.revision > revision
    writer.library.delete("acme-2022-11-03")
    assert all(
        h["id"] != "acme-2022-11-03" for h in reader.search("certificate expired login").results
    )


def test_another_process_write_shows_once_the_check_interval_has_passed(
    tmp_path: Path, embedder: Embedder
) -> None:
    writer = make_app(tmp_path, embedder)
    writer.init(bare=True)
    writer.ingest([str(SAMPLES / "queue-outage.md")])
    reader = _reader(writer, embedder, check_interval=600)
    assert reader.search("certificate expired login").results[0]["id"] != "acme-2022-11-03"
    revision = reader.index.revision
    writer.library.ingest(_read_sources(writer, SAMPLES / "login-outage.html"))
    # Inside the window the reader answers from the revision it last read, without asking.
    stale = reader.search("certificate expired login").results
    assert reader.index.revision == revision
    assert stale[0]["id"] != "acme-2022-11-03"
    # Once the window since that read has passed, the next search reads it and refreshes.
    reader.index.check_interval = 0.2
    time.sleep(0.3)
    assert reader.search("certificate expired login").results[0]["id"] == "acme-2022-11-03"
    assert reader.index.revision > revision


def test_this_process_writes_show_at_once_whatever_the_check_interval(
    tmp_path: Path, embedder: Embedder
) -> None:
    app = make_app(tmp_path, embedder)
    app.init(bare=True)
    app.ingest([str(SAMPLES / "queue-outage.md")])
    app.index.check_interval = 600
    assert app.search("certificate expired login").results[0]["id"] != "acme-2022-11-03"
    # Through the library, not Hindsight.ingest (which refreshes the index itself).
    app.library.ingest(_read_sources(app, SAMPLES / "login-outage.html"))
    assert app.search("certificate expired login").results[0]["id"] == "acme-2022-11-03"
    app.library.delete("acme-2022-11-03")
    assert all(
        h["id"] != "acme-2022-11-03" for h in app.search("certificate expired login").results
    )


def test_a_search_leaves_the_faiss_thread_setting_as_it_was() -> None:
    import faiss
    import numpy as np

    index = FaissIndex(8, "hnsw")
    vectors = np.random.default_rng(1).normal(size=(50, 8)).astype(np.float32)
    index.build(np.arange(50), vectors)
    before = faiss.omp_get_max_threads()
    ids, _ = index.search(vectors[3], 5)  # runs on one thread
    assert len(ids) == 5
    assert faiss.omp_get_max_threads() == before


def test_a_loaded_hnsw_index_searches_with_the_configured_ef(tmp_path: Path) -> None:
    import faiss
    import numpy as np

    built = FaissIndex(8, "hnsw", ef_search=40)
    built.build(np.arange(20), np.random.default_rng(2).normal(size=(20, 8)).astype(np.float32))
    built.save(tmp_path / "v.faiss")
    loaded = FaissIndex(8, "hnsw", ef_search=99)
    loaded.load(tmp_path / "v.faiss")
    assert faiss.downcast_index(loaded._index.index).hnsw.efSearch == 99
