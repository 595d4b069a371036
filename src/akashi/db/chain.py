"""Append-only hash chains (the evidence ledger and the audit log share this code).

Each row stores ``prev_hash`` and ``entry_hash = SHA-256(prev_hash || canonical JSON of the row)``.
Editing, deleting, inserting or reordering a row breaks the chain at that row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from akashi.db.base import Base

GENESIS = "0" * 64


class ChainRow(Protocol):
    """What a chained table has."""

    seq: int
    ts: datetime
    prev_hash: str
    entry_hash: str


R = TypeVar("R", bound=Base)


def canonical(obj: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8 text kept as is."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(prev_hash: str, seq: int, ts: datetime, fields: dict[str, Any]) -> str:
    """Hash of one entry given the previous entry's hash."""
    body = canonical({"seq": seq, "ts": ts.isoformat(), **fields})
    return hashlib.sha256((prev_hash + "\n" + body).encode()).hexdigest()


def lock_chain(session: Session, table: str) -> None:
    """Serialise appends to ``table`` (PostgreSQL: a table lock; SQLite: the write lock)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE"))
    else:
        # Take SQLite's write lock now so two writers cannot read the same tail.
        session.execute(text(f"UPDATE {table} SET seq = seq WHERE 0"))  # noqa: S608 (table name is ours)


def append(session: Session, model: type[R], ts: datetime, fields: dict[str, Any]) -> R:
    """Append one entry to the chain of ``model``; the caller commits."""
    table = model.__tablename__
    lock_chain(session, table)
    last = session.execute(
        select(model.seq, model.entry_hash).order_by(model.seq.desc()).limit(1)  # type: ignore[attr-defined]
    ).first()
    seq = (last[0] + 1) if last else 1
    prev = last[1] if last else GENESIS
    row = model(seq=seq, ts=ts, prev_hash=prev, entry_hash=entry_hash(prev, seq, ts, fields), **fields)
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class ChainProblem:
    """One break in a chain."""

    seq: int
    problem: str  # edited | deleted_or_inserted | reordered | tail_missing


def check(
    rows: Iterable[Any], field_names: Sequence[str], expected_last: int | None = None
) -> list[ChainProblem]:
    """Walk ``rows`` (ordered by seq) and report every break.

    ``expected_last`` (the count the installation remembers) detects a truncated tail.
    """
    problems: list[ChainProblem] = []
    prev = GENESIS
    want_seq = 1
    last_seq = 0
    for row in rows:
        fields = {n: getattr(row, n) for n in field_names}
        if row.seq != want_seq:
            problems.append(ChainProblem(row.seq, "deleted_or_inserted"))
        if row.prev_hash != prev:
            problems.append(ChainProblem(row.seq, "reordered_or_removed_before"))
        if entry_hash(row.prev_hash, row.seq, row.ts, fields) != row.entry_hash:
            problems.append(ChainProblem(row.seq, "edited"))
        prev = row.entry_hash
        want_seq = row.seq + 1
        last_seq = row.seq
    if expected_last is not None and last_seq < expected_last:
        problems.append(ChainProblem(last_seq + 1, "tail_missing"))
    return problems


def count(session: Session, model: type[Base]) -> int:
    """Number of entries in a chain."""
    return int(session.scalar(select(func.count()).select_from(model)) or 0)
