"""API tokens: shown once, stored hashed, verified, revoked; the bootstrap token is seeded."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlmodel import Session, select

from service import models
from service.hindsight import Hindsight
from service.tokens import (
    BOOTSTRAP_NAME,
    TokenError,
    create_token,
    list_tokens,
    revoke_token,
    seed_token,
    verify_token,
)
from tests.conftest import run_cli


def test_created_token_verifies_and_only_its_hash_is_stored(app: Hindsight) -> None:
    token = create_token(app.engine, "ci-bot")
    assert len(token) >= 40
    assert verify_token(app.engine, token) == "ci-bot"
    with Session(app.engine) as session:
        row = session.execute(select(models.ApiToken)).scalar_one()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in (row.token_hash, row.name)


def test_wrong_empty_and_revoked_tokens_are_refused(app: Hindsight) -> None:
    token = create_token(app.engine, "deployer")
    assert verify_token(app.engine, token + "x") is None
    assert verify_token(app.engine, "") is None
    assert revoke_token(app.engine, "deployer") is True
    assert verify_token(app.engine, token) is None
    assert revoke_token(app.engine, "deployer") is False  # already revoked
    assert revoke_token(app.engine, "nobody") is False
    [info] = list_tokens(app.engine)
    assert info.name == "deployer" and info.revoked_at is not None


def test_names_are_unique_while_active_and_reusable_after_revoking(app: Hindsight) -> None:
    first = create_token(app.engine, "bot")
    with pytest.raises(TokenError, match="exists"):
        create_token(app.engine, "bot")
    revoke_token(app.engine, "bot")
    second = create_token(app.engine, "bot")
    assert verify_token(app.engine, second) == "bot"
    assert verify_token(app.engine, first) is None


@pytest.mark.parametrize("name", ["", "has space", "x" * 101, "-leading-dash"])
def test_bad_names_are_refused(sqlite_app: Hindsight, name: str) -> None:
    with pytest.raises(TokenError, match="token name"):
        create_token(sqlite_app.engine, name)


def test_seeded_token_is_kept_revoked_and_replaced_when_it_changes(app: Hindsight) -> None:
    seed_token(app.engine, BOOTSTRAP_NAME, "from-the-environment")
    seed_token(app.engine, BOOTSTRAP_NAME, "from-the-environment")  # idempotent
    assert verify_token(app.engine, "from-the-environment") == BOOTSTRAP_NAME
    revoke_token(app.engine, BOOTSTRAP_NAME)
    seed_token(app.engine, BOOTSTRAP_NAME, "from-the-environment")  # a restart
    assert verify_token(app.engine, "from-the-environment") is None
    seed_token(app.engine, BOOTSTRAP_NAME, "rotated")
    assert verify_token(app.engine, "rotated") == BOOTSTRAP_NAME
    assert verify_token(app.engine, "from-the-environment") is None
    assert [t.name for t in list_tokens(app.engine)] == [BOOTSTRAP_NAME]


def test_token_commands(tmp_path: Path) -> None:
    env = {"HINDSIGHT_DATA_DIR": str(tmp_path / "data")}
    created = run_cli(["token", "create", "ci"], env)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert len(token) >= 40 and "shown only this once" in created.stderr
    again = run_cli(["token", "create", "ci"], env)
    assert again.returncode == 2 and "exists" in again.stderr
    listed = run_cli(["token", "list"], env)
    assert "ci" in listed.stdout and "active" in listed.stdout and token not in listed.stdout
    assert run_cli(["token", "revoke", "ci"], env).returncode == 0
    missing = run_cli(["token", "revoke", "ci"], env)
    assert missing.returncode == 2 and "no active token" in missing.stderr
    assert "revoked" in run_cli(["token", "list"], env).stdout
