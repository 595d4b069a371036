"""Hash chains: concurrent appends stay one chain; every kind of tampering is named."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from akashi.access import audit, verify_audit
from akashi.db import make_engine, session_scope
from akashi.db.migrate import migrate
from akashi.db.models import AuditEntry


def test_concurrent_appends_form_one_chain(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine)

    def writer(n: int) -> None:
        for i in range(10):
            with session_scope(engine) as s:
                audit(s, user=f"u{n}", action="play", target_type="call", target_id=i)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with session_scope(engine) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 40
        assert verify_audit(s) == []
    engine.dispose()


def test_edit_delete_reorder_are_detected(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    for i in range(5):
        with session_scope(engine) as s:
            audit(s, user="a", action="play", target_type="call", target_id=i)
    with session_scope(engine) as s:
        s.execute(sa.update(AuditEntry).where(AuditEntry.seq == 2).values(user_name="someone else"))
    with session_scope(engine) as s:
        assert [(p.seq, p.problem) for p in verify_audit(s)] == [(2, "edited")]
        s.execute(sa.update(AuditEntry).where(AuditEntry.seq == 2).values(user_name="a"))
    with session_scope(engine) as s:
        assert verify_audit(s) == []
        s.execute(sa.delete(AuditEntry).where(AuditEntry.seq == 3))
    with session_scope(engine) as s:
        problems = verify_audit(s)
        assert problems and problems[0].seq == 4
    engine.dispose()
