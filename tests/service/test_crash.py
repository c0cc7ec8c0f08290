"""A process killed mid-ingest leaves no half-stored document behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select
from sqlmodel import Session

from service import models
from service.config import Config
from service.db import make_engine
from service.hindsight import Hindsight


def _write_corpus(folder: Path, n: int) -> None:
    folder.mkdir()
    for i in range(n):
        paragraphs = "\n\n".join(
            f"Incident {i} paragraph {j}: the replica set for shard {i % 7} lagged while the "
            f"nightly batch {j} rewrote customer rows, and failover took {i + j} minutes."
            for j in range(12)
        )
        (folder / f"pm-{i:03d}.md").write_text(
            f"# Incident {i}\n\n## Summary\n\n{paragraphs}\n\n## Root cause\n\n{paragraphs}\n"
        )


def test_sigkill_mid_ingest_leaves_only_whole_documents(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HINDSIGHT_")}
    env["HINDSIGHT_DATA_DIR"] = str(data)
    exe = str(Path(sys.executable).parent / "hindsight")
    subprocess.run([exe, "init", "--bare"], env=env, check=True, capture_output=True)
    folder = tmp_path / "pms"
    _write_corpus(folder, 30)

    proc = subprocess.Popen(
        [exe, "ingest", str(folder)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    engine = make_engine(Config.load({"data_dir": str(data)}, environ={}).database_url)
    deadline = time.monotonic() + 240
    stored = 0
    while time.monotonic() < deadline and proc.poll() is None:
        with Session(engine) as s:
            stored = s.execute(select(func.count()).select_from(models.Document)).scalar_one()
        if stored >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "ingest finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    engine.dispose()

    app = Hindsight(Config.load({"data_dir": str(data)}, environ={}))
    with Session(app.engine) as s:
        docs = s.execute(select(models.Document)).scalars().all()
        assert 3 <= len(docs) < 30
        for doc in docs:
            chunks = (
                s.execute(
                    select(models.Chunk.text).where(models.Chunk.document_id == doc.id)  # type: ignore[arg-type]
                )
                .scalars()
                .all()
            )
            sections = s.execute(
                select(func.count())
                .select_from(models.Section)
                .where(models.Section.document_id == doc.id)  # type: ignore[arg-type]
            ).scalar_one()
            from ingest.parse import parse_document

            parsed = parse_document(Path(doc.source).read_bytes(), source=doc.source)
            assert sections == len(parsed.sections)
            assert len(chunks) == len(app.library.chunk(parsed))
        orphans = s.execute(
            select(func.count())
            .select_from(models.Chunk)
            .where(
                models.Chunk.document_id.not_in(select(models.Document.id))  # type: ignore[attr-defined]
            )
        ).scalar_one()
        assert orphans == 0
    # And the interrupted batch completes cleanly when run again.
    rerun = subprocess.run(
        [exe, "ingest", str(folder), "--json"], env=env, capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stderr
    shutil.rmtree(folder)
