"""Migrations build the same schema on SQLite and PostgreSQL; UTC times round-trip."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa

from akashi.db import make_engine, session_scope
from akashi.db.all_models import Base
from akashi.db.migrate import migrate
from akashi.db.models import Call, Site
from akashi.db.queries import national_digits


def test_migrations_create_every_table_and_are_idempotent(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    migrate(engine)  # a second start changes nothing
    tables = set(sa.inspect(engine).get_table_names())
    missing = set(Base.metadata.tables) - tables
    assert not missing, missing
    for name in ("sites", "users", "calls", "camera_segments", "evidence_objects", "ledger", "audit", "jobs"):
        assert name in tables
    if db_url.startswith("sqlite"):
        with engine.connect() as c:
            assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def test_times_are_stored_as_utc(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    jst = timezone(timedelta(hours=9))
    t = datetime(2026, 11, 1, 9, 30, tzinfo=jst)
    with session_scope(engine) as s:
        site = Site(name="tokyo")
        s.add(site)
        s.flush()
        s.add(Call(started_at=t, direction="in", caller="03-1234-5678", site_id=site.id))
    with session_scope(engine) as s:
        call = s.scalars(sa.select(Call)).one()
        assert call.started_at == t
        assert call.started_at.tzinfo is not None
        assert call.started_at.utcoffset() == timedelta(0)
        assert call.started_at.astimezone(UTC).hour == 0
    engine.dispose()


def test_national_digits() -> None:
    assert national_digits("+81-3-1234-5678") == "312345678"
    assert national_digits("03-1234-5678") == "312345678"
    assert national_digits("0312345678") == "312345678"
    assert national_digits("090-1234-5678") == "9012345678"
    assert national_digits("+1 415 555 0100") == "14155550100"
    assert national_digits("") == ""


def test_the_heads_read_from_the_migration_files_are_alembics() -> None:
    from alembic.script import ScriptDirectory

    from akashi.db.migrate import alembic_config, script_heads

    expected = set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())
    assert script_heads() == expected and len(expected) > 1  # each area keeps its own branch


def test_a_current_schema_is_checked_without_alembic_and_an_older_one_upgraded(tmp_path: Path) -> None:
    """A command on a database at the newest schema does not import Alembic (a fifth of its start-up);
    a new database, and one whose schema lacks a head, still go through Alembic's upgrade."""
    url = f"sqlite:///{tmp_path / 'a.db'}"
    probe = (
        "import sys; from akashi.db import make_engine; from akashi.db.migrate import migrate; "
        f"migrate(make_engine({url!r})); print('alembic' in sys.modules)"
    )

    def run() -> str:
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
        return done.stdout.strip()

    assert run() == "True"  # new: Alembic builds the schema
    assert run() == "False"  # current: checked without it
    engine = make_engine(url)
    with engine.begin() as c:
        c.execute(sa.text("DELETE FROM alembic_version WHERE version_num = '0015_live_board'"))
        for table in ("live_commands", "live_events", "live_calls"):  # what 0015 made, indexes with them
            c.execute(sa.text(f"DROP TABLE {table}"))
    assert run() == "True"  # a head missing: upgraded again
    assert "live_calls" in sa.inspect(engine).get_table_names()
    engine.dispose()
