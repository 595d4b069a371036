"""Migrations build the same schema on SQLite and PostgreSQL; UTC times round-trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

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
