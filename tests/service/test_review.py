"""Change review: risks with precedents, incidents, runbooks, checklist and gaps."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from service.hindsight import Hindsight
from service.review import render_markdown, render_text
from service.search import QueryError
from tests.conftest import DATA, run_cli
from tests.corpus.test_corpus import GAP_IDS

PLANS = {p["id"]: p for p in yaml.safe_load((DATA / "review_plans.yaml").read_text())}
CAREFUL = PLANS["plan02"]["plan"]
RISKY = PLANS["plan01"]["plan"]


@pytest.fixture(scope="module")
def risky(corpus_app: Hindsight) -> dict:
    return corpus_app.review(RISKY).as_dict()


def test_daemonset_to_every_cluster_is_high_risk_with_openai_as_precedent(risky: dict) -> None:
    high = {r["mode"] for r in risky["risks"] if r["level"] == "high"}
    assert {"control-plane-overload", "global-blast-radius", "control-plane-lockout"} <= high
    assert "openai-2024-12-11" in [i["id"] for i in risky["incidents"][:3]]
    for risk in risky["risks"]:
        assert risk["reasons"] and 0 < risk["confidence"] <= 1
        assert risk["level"] in ("high", "medium", "low")
    overload = next(r for r in risky["risks"] if r["mode"] == "control-plane-overload")
    assert any("DaemonSet" in reason for reason in overload["reasons"])
    assert "openai-2024-12-11" in overload["incidents"]


def test_incident_snippets_are_passages_not_titles(risky: dict) -> None:
    for incident in risky["incidents"]:
        assert incident["snippet"] and incident["snippet"] != incident["title"]
        assert incident["why"]
    openai = next(i for i in risky["incidents"] if i["id"] == "openai-2024-12-11")
    assert "control-plane-overload" in openai["shared_modes"]


def test_runbooks_and_checklist_cover_break_glass_and_staged_rollout(risky: dict) -> None:
    runbook_ids = [r["id"] for r in risky["runbooks"]]
    assert "rb-staged-rollout-halt" in runbook_ids or "rb-daemonset-rollback" in runbook_ids
    gaps_closed = {item["gap"] for item in risky["checklist"]}
    assert {"break-glass-access", "staged-rollout"} <= gaps_closed
    texts = [item["item"] for item in risky["checklist"]]
    assert len(texts) == len(set(texts))  # deduplicated
    risk_modes = {r["mode"] for r in risky["risks"]}
    for item in risky["checklist"]:
        assert item["mode"] in risk_modes and item["source"].startswith("cl-")
    for runbook in risky["runbooks"]:
        assert runbook["modes"] and set(runbook["modes"]) <= risk_modes


def test_gaps_of_the_risky_plan(risky: dict) -> None:
    gaps = {g["id"]: g for g in risky["gaps"]}
    assert {"staged-rollout", "rollback-plan", "monitoring", "break-glass-access"} <= set(gaps)
    assert set(gaps) <= GAP_IDS
    assert all(g["message"].rstrip().endswith((".", "?")) for g in gaps.values())
    assert "?" in gaps["staged-rollout"]["message"]


def test_a_careful_plan_is_not_told_what_it_already_says(corpus_app: Hindsight) -> None:
    gaps = {g["id"] for g in corpus_app.review(CAREFUL).as_dict()["gaps"]}
    assert not gaps & {"staged-rollout", "rollback-plan", "monitoring"}
    # Saying "no canary" is not having one.
    denied = corpus_app.review(RISKY + " No canary this time; we will not roll back.").as_dict()
    assert {"staged-rollout", "rollback-plan"} <= {g["id"] for g in denied["gaps"]}


def test_a_safeguard_the_plan_sets_aside_is_a_gap_that_quotes_it(corpus_app: Hindsight) -> None:
    plan = "Release the invoice-export fix to production after lunch, skipping the canary stage."
    gaps = {g["id"]: g for g in corpus_app.review(plan).as_dict()["gaps"]}
    assert "staged-rollout" in gaps
    assert "leaves out “canary”" in gaps["staged-rollout"]["message"]


def test_a_gap_reviewers_asked_of_similar_plans_cites_them(
    corpus_app: Hindsight,
) -> None:
    """Turning off password logins locks people out when SSO fails; reviewers of similar
    labelled plans asked for a way in, and the gap cites them (whether or not a rule raised
    it too)."""
    plan = "Enable mandatory SSO for all employees at 9am Monday and disable password login."
    gaps = {g["id"]: g for g in corpus_app.review(plan).as_dict()["gaps"]}
    assert "break-glass-access" in gaps
    message = gaps["break-glass-access"]["message"]
    assert "Reviewers asked it of similar plans" in message
    assert re.search(r"\(p-[\w-]+\)\.$", message)


@pytest.mark.parametrize(
    ("plan", "message"),
    [("", "empty"), ("   \n", "empty"), ("roll out " * 12_500, "limit")],
)
def test_bad_plans_get_a_clear_error(corpus_app: Hindsight, plan: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        corpus_app.review(plan)


def test_renderers_show_the_same_review(risky: dict) -> None:
    text = render_text(risky)
    assert "RISKS" in text and "control-plane-overload" in text and "GAPS" in text
    md = render_markdown(risky, base_url="https://hindsight.example.com")
    assert md.startswith("### Hindsight change review")
    assert "<details>" in md and "</details>" in md
    assert "https://hindsight.example.com/documents/openai-2024-12-11" in md
    assert "`break-glass-access`" in md


def test_markdown_keeps_stored_text_inert() -> None:
    review = {
        "risks": [],
        "gaps": [],
        "runbooks": [],
        "checklist": [
            {
                "item": "<script>alert(1)</script> [x](javascript:alert(1))",
                "mode": "m",
                "source": "cl-x",
            }
        ],
        "incidents": [],
    }
    md = render_markdown(review)
    assert "<script>" not in md and "[x](javascript:" not in md
    assert "\\<script\\>" in md and "\\[x\\]" in md  # shown as text, not markup


def test_cli_review_formats_and_ci_gate(corpus_app: Hindsight, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {"HINDSIGHT_DATA_DIR": str(corpus_app.config.data_path)}
    as_json = run_cli(["review", "-", "--format", "json"], env, stdin=RISKY)
    assert as_json.returncode == 0, as_json.stderr
    answer = json.loads(as_json.stdout)
    expected = corpus_app.review(RISKY).as_dict()
    answer.pop("took_ms"), expected.pop("took_ms")
    assert answer == expected
    plan_file = tmp_path / "plan.md"
    plan_file.write_text(RISKY, encoding="utf-8")
    gate = run_cli(["review", str(plan_file), "--fail-on", "high"], env)
    assert gate.returncode == 3 and "RISKS" in gate.stdout
    assert "control-plane-overload" in gate.stderr
    calm = run_cli(
        ["review", "-", "--fail-on", "high", "--format", "markdown"],
        env,
        stdin="Fix a typo in the README of the internal documentation site.",
    )
    assert calm.returncode == 0 and calm.stdout.startswith("### Hindsight change review")
    assert run_cli(["review", "-"], env, stdin="").returncode == 2
