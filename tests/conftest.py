"""Shared fixtures: the real model loaded once, stores on SQLite and PostgreSQL, the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.config import Config
from service.embedding import Embedder
from service.hindsight import Hindsight

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
# Every search hit carries at least these keys (interfaces.md).
HIT_KEYS = frozenset(
    {"id", "kind", "title", "org", "url", "date", "score", "snippet", "section", "modes"}
)
PG_ADMIN = os.environ.get("HINDSIGHT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The packaged all-MiniLM-L6-v2, loaded once for the whole run."""
    config = Config.load(environ={})
    model = Embedder(config.model_path)
    model.encode(["warm up"])
    return model


def _pg_connect(url: str):  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(url, autocommit=True, connect_timeout=3)


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated PostgreSQL template database for this run, dropped at the end."""
    try:
        admin = _pg_connect(PG_ADMIN)
    except Exception as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI and not reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN}: {exc}")
    name = f"hindsight_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    url = _sa_url(name)
    from service import db

    db.upgrade(url)
    admin.close()
    yield name
    with _pg_connect(PG_ADMIN) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _sa_url(name: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}"


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test (copied from the template)."""
    name = f"hindsight_t_{uuid.uuid4().hex[:12]}"
    with _pg_connect(PG_ADMIN) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    yield _sa_url(name)
    with _pg_connect(PG_ADMIN) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_app(tmp_path: Path, embedder: Embedder, database_url: str = "", **settings) -> Hindsight:  # type: ignore[no-untyped-def]
    config = Config.load(
        {"data_dir": str(tmp_path / "data"), "database_url": database_url, **settings}, environ={}
    )
    app = Hindsight(config)
    app.__dict__["embedder"] = embedder  # share the session's model
    app.upgrade()
    return app


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def app(request: pytest.FixtureRequest, tmp_path: Path, embedder: Embedder) -> Iterator[Hindsight]:
    """A migrated, empty store with the taxonomy loaded, on SQLite and on PostgreSQL."""
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else ""
    hs = make_app(tmp_path, embedder, url)
    hs.init(bare=True)
    yield hs
    hs.engine.dispose()


@pytest.fixture
def sqlite_app(tmp_path: Path, embedder: Embedder) -> Iterator[Hindsight]:
    hs = make_app(tmp_path, embedder)
    hs.init(bare=True)
    yield hs
    hs.engine.dispose()


def run_cli(
    args: list[str], env: dict[str, str], stdin: str | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the installed `hindsight` command as a user would."""
    exe = shutil.which("hindsight", path=str(Path(sys.executable).parent)) or "hindsight"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HINDSIGHT_")} | env
    return subprocess.run(
        [exe, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=str(ROOT),
    )


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    return {"HINDSIGHT_DATA_DIR": str(tmp_path / "cli-data")}


@pytest.fixture(scope="session")
def corpus_app(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Hindsight:
    """A SQLite store with the whole bundled corpus loaded once for the run (read-only use)."""
    hs = make_app(tmp_path_factory.mktemp("corpus"), embedder)
    report = hs.init()
    assert report.failed == [], report.failed
    # Train (or load) the labelled-plan model here, where no clock runs: a server started on
    # a cold cache would otherwise train it during preload, inside its readiness wait.
    hs.review("Roll out a configuration change to every server at once.")
    return hs


@pytest.fixture(scope="session")
def corpus_server(
    tmp_path_factory: pytest.TempPathFactory, corpus_app: Hindsight
) -> Iterator[tuple[str, Path]]:
    """The app under real gunicorn on a copy of the corpus store: (base URL, data dir).

    Tests may write to it (with the token ``test-token``); the in-process ``corpus_app`` is
    not affected.
    """
    from tests.server import copy_store, gunicorn_server

    data = tmp_path_factory.mktemp("served")
    copy_store(corpus_app.config.data_path, data)
    env = {"HINDSIGHT_DATA_DIR": str(data), "HINDSIGHT_API_TOKEN": "test-token"}
    with gunicorn_server(env) as base:
        yield base, data
