"""The indexes are derived: saved and loaded whole, rebuilt without the model, kept fresh."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from service.config import Config
from service.embedding import Embedder
from service.hindsight import Hindsight
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


def test_another_process_write_is_seen_before_the_next_answer(
    tmp_path: Path, embedder: Embedder
) -> None:
    writer = make_app(tmp_path, embedder)
    writer.init(bare=True)
    writer.ingest([str(SAMPLES / "queue-outage.md")])
    reader = Hindsight(Config.load({"data_dir": str(writer.config.data_path)}, environ={}))
    reader.__dict__["embedder"] = embedder
    assert reader.search("certificate expired login").results[0]["id"] != "acme-2022-11-03"
    revision = reader.index.revision
    writer.library.ingest(
        __import__("ingest.sources", fromlist=["read_sources"]).read_sources(
            [str(SAMPLES / "login-outage.html")], limits=writer.fetch_limits
        )
    )
    top = reader.search("certificate expired login").results[0]
    assert top["id"] == "acme-2022-11-03"
    assert reader.index.revision > revision
    writer.library.delete("acme-2022-11-03")
    assert all(
        h["id"] != "acme-2022-11-03" for h in reader.search("certificate expired login").results
    )
