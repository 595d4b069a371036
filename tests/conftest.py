"""Shared fixtures: interop peers (skip on a laptop, fail under AKASHI_REQUIRE_INTEROP=1), databases, homes."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REQUIRE_INTEROP = os.environ.get("AKASHI_REQUIRE_INTEROP") == "1"
PG_ADMIN_URL = os.environ.get("AKASHI_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def missing_peer(what: str) -> None:
    """A real peer is missing: skip on a laptop, fail in CI."""
    if REQUIRE_INTEROP:
        pytest.fail(f"interop peer missing under AKASHI_REQUIRE_INTEROP=1: {what}")
    pytest.skip(f"peer not available: {what}")


def require_binary(name: str) -> str:
    """Path of an executable, or skip/fail."""
    path = shutil.which(name)
    if path is None:
        missing_peer(f"executable {name!r}")
    assert path is not None
    return path


def _pg_conninfo(dbname: str | None = None) -> str:
    """psycopg connection string of ``AKASHI_TEST_PG`` (optionally another database on it)."""
    from sqlalchemy.engine import make_url

    u = make_url(PG_ADMIN_URL)
    parts = {
        "host": u.host or "127.0.0.1",
        "port": u.port or 5432,
        "user": u.username or "postgres",
        "dbname": dbname or u.database or "test",
    }
    if u.password:
        parts["password"] = u.password
    return " ".join(f"{k}={v}" for k, v in parts.items())


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(_pg_conninfo(), connect_timeout=3):
            return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """URL of the PostgreSQL used to create throwaway databases."""
    if not _pg_available():
        missing_peer("PostgreSQL on 127.0.0.1:5432 (user postgres, trust)")
    return PG_ADMIN_URL


def _new_pg_database(admin_url: str) -> tuple[str, str]:
    import psycopg

    name = f"akashi_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_pg_conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, admin_url.rsplit("/", 1)[0] + "/" + name


def _drop_pg_database(name: str) -> None:
    import psycopg

    with psycopg.connect(_pg_conninfo(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: SQLite in tmp_path, and a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'akashi.db'}"
        return
    admin = request.getfixturevalue("pg_admin_url")
    name, url = _new_pg_database(admin)
    try:
        yield url
    finally:
        _drop_pg_database(name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database (for tests whose subject is not the database)."""
    return f"sqlite:///{tmp_path / 'akashi.db'}"


def make_home(path: Path, database_url: str, extra_toml: str = "") -> Path:
    """Initialise an Akashi home at ``path`` (config, keys, schema)."""
    from akashi.setup import init_home

    init_home(path, database_url=database_url, extra_toml=extra_toml)
    return path


@pytest.fixture
def home(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An initialised home, once on SQLite and once on PostgreSQL."""
    monkeypatch.delenv("AKASHI_HOME", raising=False)
    return make_home(tmp_path / "home", db_url)


@pytest.fixture
def sqlite_home(tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An initialised home on SQLite only."""
    monkeypatch.delenv("AKASHI_HOME", raising=False)
    return make_home(tmp_path / "home", sqlite_url)


@pytest.fixture
def akashi(home: Path) -> Iterator[object]:
    """The opened installation of ``home``."""
    from akashi.context import Akashi

    with Akashi.open(home) as ak:
        yield ak
