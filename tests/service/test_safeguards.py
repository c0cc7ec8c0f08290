"""How a plan's words are read for the safeguards it covers, and those it sets aside."""

from __future__ import annotations

import pytest

from service.safeguards import BY_ID, dropped, mentioned

STAGED = BY_ID["staged-rollout"]


@pytest.mark.parametrize(
    ("plan", "phrase"),
    [
        ("Canary to one cluster, then the rest.", "Canary"),
        ("Roll out in three stages over a week.", "stages"),
        ("Ramp to 5% of users, then 50%.", "5% of"),
        ("We will skip nothing: canary first.", "canary"),
    ],
)
def test_staged_rollout_is_covered(plan: str, phrase: str) -> None:
    assert mentioned(plan, STAGED) == phrase
    assert dropped(plan, STAGED) is None


@pytest.mark.parametrize(
    ("plan", "left_out"),
    [
        (
            "Patch glibc everywhere tonight; skip the usual canary batch, it's a security fix.",
            "canary",
        ),
        (
            "Hotfix goes straight to prod, skipping the canary stage since support is on fire.",
            "canary",
        ),
        ("No canary this time.", "canary"),
        ("Ship iOS 7.3 to 100% of App Store users on Monday.", None),
        ("Switch the WAF rule to block; applies to all API stages at once.", None),
    ],
)
def test_staged_rollout_is_not_covered(plan: str, left_out: str | None) -> None:
    assert mentioned(plan, STAGED) is None
    assert dropped(plan, STAGED) == left_out
