"""API bearer tokens: created once and shown once, stored as SHA-256, revocable by name."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from service import models
from service.db import session_scope

BOOTSTRAP_NAME = "env:HINDSIGHT_API_TOKEN"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}")


class TokenError(ValueError):
    """A token command cannot be done as asked; the message says why."""


@dataclass(frozen=True)
class TokenInfo:
    name: str
    created_at: str
    revoked_at: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "created_at": self.created_at, "revoked_at": self.revoked_at}


def digest(token: str) -> str:
    """The stored form of a token. Tokens are 256 random bits, so a plain hash is enough."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(engine: Engine, name: str) -> str:
    """Make a new token called ``name`` and return it; only its hash is kept.

    A revoked name may be reused; an active one may not.
    """
    if not _NAME.fullmatch(name):
        raise TokenError(
            f"token name {name!r}: use up to 100 letters, digits, '.', '_', ':', '@' or '-'"
        )
    token = secrets.token_urlsafe(32)
    _put(engine, name, digest(token), replace_active=False)
    return token


def seed_token(engine: Engine, name: str, token: str) -> None:
    """Make sure ``token`` (from the environment) is stored under ``name``.

    A changed value replaces the old one; the same value once revoked stays revoked, so
    `hindsight token revoke` works on the bootstrap token too.
    """
    with Session(engine) as session:
        row = session.execute(
            select(models.ApiToken).where(col(models.ApiToken.name) == name)
        ).scalar_one_or_none()
    if row is not None and hmac.compare_digest(row.token_hash, digest(token)):
        return
    _put(engine, name, digest(token), replace_active=True)


def _put(engine: Engine, name: str, token_hash: str, *, replace_active: bool) -> None:
    with session_scope(engine) as session:
        row = session.execute(
            select(models.ApiToken).where(col(models.ApiToken.name) == name)
        ).scalar_one_or_none()
        if row is None:
            session.add(models.ApiToken(name=name, token_hash=token_hash))
            return
        if row.revoked_at is None and not replace_active:
            raise TokenError(f"a token named {name!r} exists; revoke it first or pick another name")
        row.token_hash = token_hash
        row.created_at = models.utcnow()
        row.revoked_at = None


def list_tokens(engine: Engine) -> list[TokenInfo]:
    with Session(engine) as session:
        rows = session.execute(
            select(models.ApiToken).order_by(col(models.ApiToken.name))
        ).scalars()
        return [
            TokenInfo(
                r.name,
                r.created_at.isoformat(),
                r.revoked_at.isoformat() if r.revoked_at else None,
            )
            for r in rows
        ]


def revoke_token(engine: Engine, name: str) -> bool:
    """Revoke the token called ``name``; False when there is no such active token."""
    with session_scope(engine) as session:
        row = session.execute(
            select(models.ApiToken).where(col(models.ApiToken.name) == name)
        ).scalar_one_or_none()
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = models.utcnow()
    return True


def verify_token(engine: Engine, token: str) -> str | None:
    """The name of the active token ``token``, or None."""
    if not token:
        return None
    wanted = digest(token)
    with Session(engine) as session:
        row = session.execute(
            select(models.ApiToken).where(col(models.ApiToken.token_hash) == wanted)
        ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    # The lookup found it by hash already; compare again in constant time so the decision
    # never rests on a short-circuiting string comparison.
    return row.name if hmac.compare_digest(row.token_hash, wanted) else None
