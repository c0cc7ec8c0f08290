"""What review learns from labelled plans: loading them, the model, and what it adds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from service import plan_model
from service.hindsight import Hindsight
from tests.conftest import DATA

BLIND = yaml.safe_load((DATA / "review_plans_blind4.yaml").read_text())


def _write(path: Path, plans: list[dict]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "plans.yaml").write_text(yaml.safe_dump(plans))
    return path


def test_bad_plan_files_are_refused_with_the_file_and_plan_named(tmp_path: Path) -> None:
    good = {"id": "a", "plan": "Rotate the key.", "expect_modes": ["expiry"]}
    assert plan_model.load_plans(_write(tmp_path / "ok", [good]), {"expiry"})[0].modes == (
        "expiry",
    )
    cases = {
        "unknown mode": [{**good, "expect_modes": ["not-a-mode"]}],
        "used twice": [good, good],
        "no expect_modes": [{**good, "expect_modes": []}],
        "needs an id and a plan": [{"id": "b", "expect_modes": ["expiry"]}],
    }
    for n, (message, plans) in enumerate(cases.items()):
        with pytest.raises(ValueError, match=rf"plans\.yaml: .*{message}"):
            plan_model.load_plans(_write(tmp_path / str(n), plans), {"expiry"})


@pytest.fixture(scope="module")
def model(corpus_app: Hindsight) -> plan_model.PlanModel:
    model = corpus_app.reviewer.plans
    assert model is not None
    return model


def test_the_model_is_trained_once_and_then_read_from_the_cache(
    corpus_app: Hindsight, model: plan_model.PlanModel
) -> None:
    cached = list(corpus_app.config.cache_path.glob(f"plans-{model.fingerprint}.pkl"))
    assert len(cached) == 1
    again = plan_model.load_or_train(corpus_app.tagger, corpus_app.config.cache_path)
    assert again is not None and again.fingerprint == model.fingerprint
    assert np.array_equal(again.coef, model.coef)
    assert len(model.plan_ids) == len(plan_model.load_plans()) >= 300


def test_unseen_plans_get_their_expected_modes_above_the_wrong_ones(
    corpus_app: Hindsight, model: plan_model.PlanModel
) -> None:
    """On the fourth blind plan set (never learned from), the modes a reviewer expects get a
    clearly higher probability than the modes marked wrong to raise."""
    expected, wrong = [], []
    for plan in BLIND:
        analysis = corpus_app.tagger.analyse(plan["plan"])
        proba = model.proba(
            plan["plan"], analysis, plan_model.cue_strengths(plan["plan"], analysis)
        )
        expected += [proba[m] for m in plan["expect_modes"]]
        wrong += [proba[m] for m in plan["wrong_modes"]]
    assert np.mean(expected) > np.mean(wrong) + 0.25


def test_a_review_cites_the_similar_labelled_plans_behind_a_risk(corpus_app: Hindsight) -> None:
    plan = "Rotate the JWT signing key of the auth service this afternoon and delete the old key."
    risks = {r["mode"]: r for r in corpus_app.review(plan).as_dict()["risks"]}
    assert "auth-failure" in risks
    cited = [r for r in risks["auth-failure"]["reasons"] if r.startswith("Reviewers raised it")]
    ids = {p.id for p in plan_model.load_plans()}
    assert cited and any(f"({i})" in cited[0] for i in ids)


def test_unseen_plans_get_their_expected_gaps_above_the_rest(
    corpus_app: Hindsight, model: plan_model.PlanModel
) -> None:
    """On the fourth blind plan set, the safeguards a reviewer asks the author about get a
    clearly higher probability than the ones nobody asked about."""
    asked, rest = [], []
    for plan in BLIND:
        analysis = corpus_app.tagger.analyse(plan["plan"])
        proba = model.gap_proba(
            plan["plan"], analysis, plan_model.cue_strengths(plan["plan"], analysis)
        )
        assert set(proba) == set(model.gap_ids) and all(0 <= v <= 1 for v in proba.values())
        for gap_id, p in proba.items():
            (asked if gap_id in plan.get("expect_gaps", []) else rest).append(p)
    assert np.mean(asked) > np.mean(rest) + 0.2


def test_a_plan_that_names_a_safeguard_is_less_likely_asked_about_it(
    corpus_app: Hindsight, model: plan_model.PlanModel
) -> None:
    """Naming the safeguard lowers how likely reviewers ask about it (review also never asks
    about a safeguard the plan names: service/safeguards.py decides that)."""
    purge = "Purge every event row older than 90 days from the analytics database tonight."
    agent = "Roll out the new metrics agent as a DaemonSet to all production clusters."
    pairs = [
        ("backup", purge, purge + " Take a snapshot backup first and test restoring it."),
        ("staged-rollout", agent, agent.replace("all", "one canary cluster, then the rest of the")),
    ]

    def asked(plan: str, gap_id: str) -> float:
        analysis = corpus_app.tagger.analyse(plan)
        return model.gap_proba(plan, analysis, plan_model.cue_strengths(plan, analysis))[gap_id]

    for gap_id, bare, careful in pairs:
        assert asked(bare, gap_id) >= 0.5
        assert asked(careful, gap_id) < asked(bare, gap_id) - 0.15
