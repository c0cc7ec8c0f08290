"""Markdown link lists become one summary entry per linked incident."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.document import IngestError
from ingest.linklist import parse_link_list

DATA = Path(__file__).resolve().parent.parent / "data"


def test_one_entry_per_link_with_summary_and_org() -> None:
    docs = parse_link_list((DATA / "linklist.md").read_text(), source="list.md")
    assert [d.url for d in docs] == [
        "https://example.org/acme-2019-router",
        "https://example.org/globex-dns",
        "https://example.org/initech-launch",
        "https://example.org/umbrella-disk",
    ]  # the bare link with no summary is not an entry
    acme = docs[0]
    assert acme.org == "Acme Cloud"
    assert acme.title.startswith("Acme Cloud: A router configuration change")
    assert "drained traffic from every region" in acme.sections[0].text
    assert acme.meta["category"] == "Config errors"
    assert acme.meta["year"] == 2019
    assert docs[2].org == "Initech" and docs[2].meta["category"] == "Capacity"
    assert all(d.source == d.url for d in docs)


def test_a_list_without_links_is_an_error() -> None:
    with pytest.raises(IngestError, match="no linked entries"):
        parse_link_list("- just words\n- more words\n", source="x.md")
