"""The ledger: every edited, deleted, reordered or truncated row, and every edited evidence row, is named."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest

from akashi.db.base import utcnow
from akashi.store.evidence import EvidenceStore
from tests.store.helpers import flip_text, sql


def fill(store: EvidenceStore) -> list[str]:
    ids = [
        store.put(io.BytesIO(f"call {i}".encode() * 50), kind="call_audio", media_type="audio/wav",
                  filename=f"{i}.wav", site="osaka", meta={"n": i},
                  retain_until=utcnow() + timedelta(days=9)).object_id
        for i in range(3)
    ]  # fmt: skip
    store.hold(ids[1], reason="case", actor="admin")
    return ids  # ledger: 1..3 put, 4 hold


@pytest.mark.parametrize("column", ["action", "object_id", "data", "prev_hash", "entry_hash", "ts"])
def test_any_edited_ledger_cell_is_named(store: EvidenceStore, column: str) -> None:
    fill(store)
    for seq in (1, 2, 4):
        value = sql(store.engine, f"SELECT {column} FROM ledger WHERE seq = :s", s=seq)[0][0]
        if column == "ts":
            sql(store.engine, "UPDATE ledger SET ts = :v WHERE seq = :s", v=_shift(value), s=seq)
        elif column == "action":
            sql(
                store.engine,
                "UPDATE ledger SET action = :v WHERE seq = :s",
                v="put" if value != "put" else "hold",
                s=seq,
            )
        else:
            sql(store.engine, f"UPDATE ledger SET {column} = :v WHERE seq = :s", v=flip_text(value), s=seq)
        report = store.verify()
        assert not report.ok
        assert any(p.seq == seq and p.kind.startswith("ledger_") for p in report.problems), report.to_text()
        sql(store.engine, f"UPDATE ledger SET {column} = :v WHERE seq = :s", v=value, s=seq)
        assert store.verify().ok


def _shift(value: object) -> object:
    from datetime import datetime

    if isinstance(value, datetime):
        return value + timedelta(microseconds=1)
    return str(value)[:-1] + ("1" if str(value)[-1] != "1" else "2")


def test_deleted_middle_row_is_named(store: EvidenceStore) -> None:
    ids = fill(store)
    sql(store.engine, "DELETE FROM ledger WHERE seq = 2")
    got = {(p.kind, p.seq, p.object_id) for p in store.verify().problems}
    assert ("ledger_gap", 3, None) in got
    assert ("row_unledgered", None, ids[1]) in got


def test_deleted_tail_is_caught_by_the_database_anchor(store: EvidenceStore) -> None:
    fill(store)
    sql(store.engine, "DELETE FROM ledger WHERE seq = 4")
    got = {(p.kind, p.seq) for p in store.verify().problems}
    assert ("ledger_tail_missing", 4) in got


def test_deleted_tail_and_edited_anchor_is_caught_by_the_file_anchor(store: EvidenceStore) -> None:
    fill(store)
    row = sql(store.engine, "SELECT entry_hash FROM ledger WHERE seq = 3")[0][0]
    sql(store.engine, "DELETE FROM ledger WHERE seq = 4")
    sql(
        store.engine,
        "UPDATE kv SET value = :v WHERE key = 'ledger_head'",
        v=json.dumps({"seq": 3, "hash": row}),
    )
    got = {(p.kind, p.seq) for p in store.verify().problems}
    assert ("ledger_tail_missing", 4) in got


def test_reordered_rows_are_named(store: EvidenceStore) -> None:
    fill(store)
    rows = sql(store.engine, "SELECT seq, ts, action, object_id, data, prev_hash, entry_hash FROM ledger "
                             "WHERE seq IN (2, 3) ORDER BY seq")  # fmt: skip
    (_, *r2), (_, *r3) = rows
    sql(store.engine, "DELETE FROM ledger WHERE seq IN (2, 3)")
    for seq, vals in ((2, r3), (3, r2)):
        sql(
            store.engine,
            "INSERT INTO ledger (seq, ts, action, object_id, data, prev_hash, entry_hash) "
            "VALUES (:s, :t, :a, :o, :d, :p, :e)",
            s=seq,
            t=vals[0],
            a=vals[1],
            o=vals[2],
            d=vals[3],
            p=vals[4],
            e=vals[5],
        )
    got = {(p.kind, p.seq) for p in store.verify().problems}
    assert ("ledger_broken_link", 2) in got and ("ledger_edited", 2) in got and ("ledger_edited", 3) in got


def test_consistently_rewritten_chain_is_caught_by_the_anchor(store: EvidenceStore) -> None:
    """Someone recomputes every hash after editing a row: the chain is valid, the anchors are not."""
    from sqlalchemy import select

    from akashi.db import chain
    from akashi.db.base import session_scope
    from akashi.db.models import LedgerEntry

    fill(store)
    with session_scope(store.engine) as s:
        rows = list(s.scalars(select(LedgerEntry).order_by(LedgerEntry.seq)))
        prev = chain.GENESIS
        for r in rows:
            if r.seq == 2:
                r.data = r.data.replace('"filename":"1.wav"', '"filename":"x.wav"')
            r.prev_hash = prev
            r.entry_hash = chain.entry_hash(prev, r.seq, r.ts, {"action": r.action, "object_id": r.object_id,
                                                                  "data": r.data})  # fmt: skip
            prev = r.entry_hash
    got = {(p.kind, p.seq) for p in store.verify().problems}
    assert ("ledger_rewritten", 4) in got


EVIDENCE_COLUMNS = [
    "kind", "media_type", "filename", "size", "sha256", "cipher_size", "cipher_sha256", "wrapped_key",
    "key_id", "chunk_size", "backend", "location", "site_id", "created_at", "retain_until", "legal_hold",
    "meta", "state",
]  # fmt: skip


@pytest.mark.parametrize("column", EVIDENCE_COLUMNS)
def test_any_edited_evidence_cell_is_named(store: EvidenceStore, column: str) -> None:
    ids = fill(store)
    oid = ids[0]
    value = sql(store.engine, f"SELECT {column} FROM evidence_objects WHERE id = :i", i=oid)[0][0]
    if column in ("size", "cipher_size", "chunk_size"):
        new: object = int(value) + 1
    elif column == "site_id":
        sql(store.engine, "INSERT INTO sites (name, label, created_at) VALUES ('nagoya', '', :t)", t=utcnow())
        new = sql(store.engine, "SELECT id FROM sites WHERE name = 'nagoya'")[0][0]
    elif column == "legal_hold":
        new = not bool(value)
    elif column == "wrapped_key":
        new = bytes([value[0] ^ 1]) + bytes(value[1:])
    elif column in ("created_at", "retain_until"):
        new = _shift(value)
    elif column == "state":
        new = "deleted"
    elif column == "meta":
        new = json.dumps({"n": 99})
    else:
        new = flip_text(value)
    sql(store.engine, f"UPDATE evidence_objects SET {column} = :v WHERE id = :i", v=new, i=oid)
    report = store.verify()
    assert not report.ok
    assert any(p.object_id == oid for p in report.problems), report.to_text()


def test_restored_backup_can_be_re_anchored(store: EvidenceStore) -> None:
    """An administrator restores an older database on purpose: verify says so until they accept it."""
    fill(store)
    sql(store.engine, "DELETE FROM ledger WHERE seq = 4")  # the backup predates the hold
    sql(store.engine, "UPDATE evidence_objects SET legal_hold = :f", f=False)
    assert {p.kind for p in store.verify().problems} == {"ledger_tail_missing"}
    assert store.accept_ledger_head() is not None
    assert store.verify().ok
