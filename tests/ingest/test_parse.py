"""Parsing Markdown, HTML and text into sections and metadata."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ingest.document import IngestError
from ingest.parse import decode, find_date, parse_document

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"


def test_markdown_sections_and_front_matter() -> None:
    path = SAMPLES / "queue-outage.md"
    doc = parse_document(path.read_bytes(), source=str(path), fmt="markdown")
    assert doc.title == "Message queue disk fills after retention change"
    assert doc.org == "Example Corp"
    assert doc.date == date(2023, 5, 14)
    assert doc.url == "https://status.example.com/incidents/queue-disk"
    assert doc.meta["components"] == ["kafka", "retention"]
    kinds = [s.kind for s in doc.sections]
    # Synonyms from real templates: "Executive summary", "Customer impact", "Contributing
    # factors", "How we found out", "Mitigation", "Lessons learned", "Corrective actions".
    assert kinds == [
        "summary",
        "impact",
        "timeline",
        "root_cause",
        "detection",
        "resolution",
        "lessons",
        "action_items",
    ]
    actions = next(s for s in doc.sections if s.kind == "action_items")
    assert [i["text"] for i in actions.items] == [
        "Add a time-to-full disk forecast alert for every broker.",
        "Require a storage estimate in reviews of retention changes.",
        "Cap topic retention by policy unless capacity is approved.",
    ]
    timeline = next(s for s in doc.sections if s.kind == "timeline")
    assert timeline.text.startswith("- 02:10 retention change")


def test_html_main_content_without_scripts() -> None:
    path = SAMPLES / "login-outage.html"
    doc = parse_document(path.read_bytes(), source=str(path), fmt="html")
    assert doc.title == "Login outage on November 3"
    assert doc.date == date(2022, 11, 3)
    assert doc.org == "Acme"
    assert [s.kind for s in doc.sections] == ["summary", "root_cause", "resolution", "action_items"]
    assert "alert(" not in doc.body and "tracking" not in doc.body
    assert "Home" not in doc.body  # navigation dropped
    assert len(doc.sections[-1].items) == 2


def test_plain_text_headings() -> None:
    path = SAMPLES / "cache-stampede.txt"
    doc = parse_document(path.read_bytes(), source=str(path), fmt="text")
    assert doc.title == "Cache cluster restart causes database overload"
    assert doc.date == date(2021, 9, 8)
    assert [s.kind for s in doc.sections] == [
        "summary",
        "impact",
        "root_cause",
        "resolution",
        "action_items",
    ]
    assert doc.sections[0].text.startswith("On 2021-09-08")
    assert len(doc.sections[-1].items) == 2


@pytest.mark.parametrize(
    ("heading", "kind"),
    [
        ("Root Causes", "root_cause"),
        ("5 Whys", "root_cause"),
        ("Leadup", "trigger"),
        ("What went well", "lessons"),
        ("Where we got lucky", "lessons"),
        ("Follow-up actions", "action_items"),
        ("Remediation", "action_items"),
        ("Recovery", "resolution"),
        ("2. Impact", "impact"),
        ("Timeline (all times UTC)", "timeline"),
        ("Appendix", "other"),
    ],
)
def test_heading_synonyms(heading: str, kind: str) -> None:
    from ingest.sections import classify_heading

    assert classify_heading(heading) == kind


def test_runbook_mitigation_is_its_own_kind() -> None:
    text = b"---\nkind: runbook\n---\n# R\n## Meaning\nx\n## Mitigation\n1. do y\n"
    doc = parse_document(text, source="r.md", fmt="markdown")
    assert [s.kind for s in doc.sections] == ["meaning", "mitigation"]


def test_kind_is_inferred_for_runbooks() -> None:
    doc = parse_document(b"# R\n## Meaning\nx\n## Diagnosis\ny\n## Mitigation\nz\n", source="r.md")
    assert doc.kind == "runbook"
    assert doc.sections[-1].kind == "mitigation"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty document"),
        (b"   \n\n", "empty document"),
        (b"abc\x00def", "binary file"),
        (b"caf\xe9 au lait", "invalid UTF-8 at byte 3"),
        (b"---\ntitle: [unclosed\n---\nbody", "malformed front matter"),
        (b"---\ndate: someday\n---\nbody text", "date 'someday' is not a date"),
        (b"---\nmodes: {a: 1}\n---\nbody text", "modes must be a list"),
        (b"---\nkind: essay\n---\nbody text", "unknown kind 'essay'"),
        (b"---\nurl: ftp://x\n---\nbody text", "is not an http(s) URL"),
    ],
)
def test_bad_input_is_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(IngestError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_document(data, source="x.md", fmt="markdown")


def test_decode_accepts_bom() -> None:
    assert decode("\ufeffhello".encode()) == "hello"


def test_find_date_forms() -> None:
    assert find_date("On March 14, 2023 at 19:00") == date(2023, 3, 14)
    assert find_date("published 2020-11-25, updated") == date(2020, 11, 25)
    assert find_date("no date 2023-13-45 here") is None


def test_content_hash_changes_with_any_edit() -> None:
    a = parse_document(b"# T\n\nSome text here.", source="a.md")
    b = parse_document(b"# T\n\nSome text here!", source="a.md")
    c = parse_document(b"# T\n\nSome text here.", source="elsewhere.md")
    assert a.content_hash != b.content_hash
    assert a.content_hash == c.content_hash  # the source is identity, not content
