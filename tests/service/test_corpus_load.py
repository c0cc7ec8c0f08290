"""`hindsight init` loads the bundled corpus through the write path, idempotently."""

from __future__ import annotations

import frontmatter
from sqlmodel import Session

from service.db import store_revision
from service.hindsight import CORPUS, Hindsight


def test_init_twice_changes_nothing_and_labels_are_human_tags(corpus_app: Hindsight) -> None:
    with Session(corpus_app.engine) as s:
        before = store_revision(s)
    again = corpus_app.init()
    assert (again.added, again.updated, again.failed) == (0, 0, [])
    total = sum(
        len(list((CORPUS / d).glob("*.md"))) for d in ("postmortems", "runbooks", "checklists")
    )
    assert again.unchanged == total
    with Session(corpus_app.engine) as s:
        assert store_revision(s) == before
    doc = corpus_app.document("openai-2024-12-11")
    assert doc is not None and doc["kind"] == "postmortem"
    labelled = frontmatter.load(CORPUS / "postmortems" / "openai-2024-12-11.md")["modes"]
    assert {m["id"] for m in doc["modes"] if m["origin"] == "human"} == set(labelled)
    runbook = corpus_app.document("rb-k8s-break-glass-access")
    assert runbook is not None and runbook["kind"] == "runbook"
    assert [s["kind"] for s in runbook["sections"]] == [
        "meaning",
        "impact",
        "diagnosis",
        "mitigation",
        "verification",
        "escalation",
    ]
    checklist = corpus_app.document("cl-fleet-agent-daemonset-rollout")
    assert checklist is not None and checklist["kind"] == "checklist"
    items = checklist["sections"][-1]["items"]
    assert items and all(i["modes"] and i["why"] for i in items)
