"""Export then import into an empty store gives identical documents, chunks and tags."""

from __future__ import annotations

import io
from pathlib import Path

from service.documents import export_records, read_import, write_export
from service.hindsight import Hindsight
from tests.conftest import make_app

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"


def test_round_trip_is_lossless(app: Hindsight, tmp_path: Path) -> None:
    tagged = tmp_path / "tagged.md"
    tagged.write_text("---\nmodes: [expiry]\ncomponents: [tls]\n---\n# Cert\n\nIt expired.")
    app.ingest([str(SAMPLES), str(tagged)])
    buffer = io.StringIO()
    assert write_export(app.engine, buffer) == 4
    original = list(export_records(app.engine))

    empty = make_app(tmp_path / "other", app.embedder)
    before = empty.embedder
    assert read_import(empty.library, io.StringIO(buffer.getvalue())) == 4
    assert list(export_records(empty.engine)) == original
    assert empty.embedder is before  # nothing was re-embedded through a new model


def test_malformed_import_line_names_the_line(sqlite_app: Hindsight) -> None:
    import pytest

    with pytest.raises(ValueError, match="line 2: not an export record"):
        read_import(
            sqlite_app.library,
            io.StringIO(
                '{"type": "mode", "mode": {"id": "x", '
                '"axis": "trigger", "name": "X", '
                '"definition": "d"}}\nnot json\n'
            ),
        )
