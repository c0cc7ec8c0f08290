"""The one write path: upsert by source and content, whole documents, human tags kept."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import func, select
from sqlmodel import Session

from service import models
from service.db import store_revision
from service.hindsight import Hindsight

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"


def _counts(app: Hindsight) -> dict[str, int]:
    with Session(app.engine) as s:
        return {
            t.__tablename__: s.execute(select(func.count()).select_from(t)).scalar_one()  # type: ignore[attr-defined]
            for t in (models.Document, models.Section, models.Chunk, models.Tag)
        }


def test_ingest_reingest_and_edit(app: Hindsight, tmp_path: Path) -> None:
    folder = tmp_path / "pms"
    shutil.copytree(SAMPLES, folder)
    first = app.ingest([str(folder)])
    assert (first.added, first.updated, first.unchanged, first.failed) == (3, 0, 0, [])
    counts = _counts(app)
    assert counts["documents"] == 3 and counts["chunks"] >= 3

    again = app.ingest([str(folder)])
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
    assert _counts(app) == counts

    edited = folder / "queue-outage.md"
    edited.write_text(
        edited.read_text()
        .replace("## Timeline", "## Timeline\n\nAll times UTC.")
        .replace("- Cap topic retention by policy unless capacity is approved.\n", "")
    )
    third = app.ingest([str(folder)])
    assert (third.added, third.updated, third.unchanged) == (0, 1, 2)
    doc_id = next(i for i in third.ids if i.startswith("example-corp"))
    doc = app.document(doc_id)
    assert doc is not None
    assert len(doc["sections"][-1]["items"]) == 2
    # No leftover chunks: what is stored is exactly what the new text chunks into.
    with Session(app.engine) as s:
        stored = (
            s.execute(
                select(models.Chunk.text)
                .where(models.Chunk.document_id == doc_id)  # type: ignore[arg-type]
                .order_by(models.Chunk.position)  # type: ignore[arg-type]
            )
            .scalars()
            .all()
        )
    from ingest.parse import parse_document

    parsed = parse_document(edited.read_bytes(), source=str(edited), fmt="markdown")
    assert stored == [c.text for c in app.library.chunk(parsed)]
    assert "All times UTC." in " ".join(stored)


def test_same_content_elsewhere_is_not_duplicated(app: Hindsight, tmp_path: Path) -> None:
    a = tmp_path / "a.md"
    a.write_text("# Disk full\n\nThe log volume filled the disk.")
    b = tmp_path / "copy" / "a.md"
    b.parent.mkdir()
    b.write_text(a.read_text())
    report = app.ingest([str(a), str(b)])
    assert (report.added, report.unchanged) == (1, 1)
    assert report.ids[0] == report.ids[1]


def test_delete_removes_everything_and_moves_revision(app: Hindsight) -> None:
    report = app.ingest([str(SAMPLES / "cache-stampede.txt")])
    doc_id = report.ids[0]
    with Session(app.engine) as s:
        before = store_revision(s)
    assert app.library.delete(doc_id) is True
    assert app.library.delete(doc_id) is False
    assert _counts(app) == {"documents": 0, "sections": 0, "chunks": 0, "tags": 0}
    with Session(app.engine) as s:
        assert store_revision(s) == before + 1


def test_front_matter_modes_are_human_tags_and_unknown_ones_fail(
    app: Hindsight, tmp_path: Path
) -> None:
    good = tmp_path / "good.md"
    good.write_text("---\nmodes: [expiry, auth-failure]\n---\n# Cert\n\nThe certificate expired.")
    bad = tmp_path / "bad.md"
    bad.write_text("---\nmodes: [not-a-mode]\n---\n# X\n\nSomething broke.")
    report = app.ingest([str(good), str(bad)])
    assert report.added == 1
    assert [(f.source, f.error) for f in report.failed] == [
        (str(bad.resolve()), "unknown mode id(s) not-a-mode (see `hindsight modes`)")
    ]
    doc = app.document(report.ids[0])
    assert doc is not None
    human = {m["id"] for m in doc["modes"] if m["origin"] == "human"}
    assert human == {"expiry", "auth-failure"}
    # The tagger may add others, never a second tag for a mode the source labelled.
    assert len({m["id"] for m in doc["modes"]}) == len(doc["modes"])
    assert _counts(app)["documents"] == 1  # the failed one left nothing behind


def test_embeddings_are_stored_normalised(app: Hindsight) -> None:
    import numpy as np

    app.ingest([str(SAMPLES / "login-outage.html")])
    with Session(app.engine) as s:
        rows = s.execute(select(models.Chunk)).scalars().all()
    assert rows
    for row in rows:
        vector = np.frombuffer(row.embedding, dtype=np.float32)
        assert vector.shape == (384,)
        assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-3
        assert row.model == "all-MiniLM-L6-v2"
