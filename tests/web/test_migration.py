"""Migration 0005: session table, and the number-search indexes kept in sync with ``calls``."""

from __future__ import annotations

from sqlalchemy import text, update

from akashi.db.base import session_scope
from akashi.db.models import Call
from tests.web.conftest import Seeded


def _fts(seeded: Seeded, digits: str) -> set[int]:
    with seeded.ak.engine.connect() as c:
        rows = c.execute(
            text("SELECT rowid FROM call_digits_fts WHERE call_digits_fts MATCH :q"), {"q": f'"{digits}"'}
        )
        return {r[0] for r in rows}


def test_sqlite_trigram_table_follows_calls(seeded_sqlite: Seeded) -> None:
    tanaka, suzuki = seeded_sqlite.calls["tanaka_call"], seeded_sqlite.calls["suzuki_call"]
    assert _fts(seeded_sqlite, "123456") == {tanaka}
    assert _fts(seeded_sqlite, "87654") == {suzuki}
    assert _fts(seeded_sqlite, "120000111") == set(seeded_sqlite.calls.values())  # dialled number too
    with session_scope(seeded_sqlite.ak.engine) as s:
        s.execute(update(Call).where(Call.id == tanaka).values(caller_digits="9990001111"))
    assert _fts(seeded_sqlite, "123456") == set() and _fts(seeded_sqlite, "999000") == {tanaka}
    with session_scope(seeded_sqlite.ak.engine) as s:
        s.execute(text("DELETE FROM calls WHERE id = :i"), {"i": suzuki})
    assert _fts(seeded_sqlite, "87654") == set()


def test_indexes_exist(seeded: Seeded) -> None:
    engine = seeded.ak.engine
    with engine.connect() as c:
        if engine.dialect.name == "postgresql":
            names = {
                r[0] for r in c.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'calls'"))
            }
            assert {"ix_calls_caller_digits_trgm", "ix_calls_dialled_digits_trgm"} <= names
        else:
            names = {
                r[0]
                for r in c.execute(text("SELECT name FROM sqlite_master WHERE type IN ('table','trigger')"))
            }
            assert {
                "call_digits_fts",
                "call_digits_fts_ai",
                "call_digits_fts_ad",
                "call_digits_fts_au",
            } <= names
        assert c.execute(text("SELECT count(*) FROM web_sessions")).scalar() == 0
