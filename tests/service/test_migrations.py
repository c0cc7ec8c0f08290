"""Alembic owns the schema: upgrade head, then `alembic check` finds nothing to add."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


def _alembic(args: list[str], url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HINDSIGHT_")}
    env["HINDSIGHT_DATABASE_URL"] = url
    exe = str(Path(sys.executable).parent / "alembic")
    return subprocess.run([exe, *args], cwd=ROOT, env=env, capture_output=True, text=True)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_upgrade_then_check(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if backend == "postgres":
        url = request.getfixturevalue("pg_url")
        # start from an empty schema, not the template's
        assert _alembic(["downgrade", "base"], url).returncode == 0
    else:
        url = f"sqlite:///{tmp_path / 'm.db'}"
    up = _alembic(["upgrade", "head"], url)
    assert up.returncode == 0, up.stderr
    check = _alembic(["check"], url)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No new upgrade operations detected" in check.stdout + check.stderr
