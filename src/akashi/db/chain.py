"""Append-only hash chains (the evidence ledger and the audit log share this code).

Each row stores ``prev_hash`` and ``entry_hash = SHA-256(prev_hash || canonical JSON of the row)``.
Editing, deleting, inserting or reordering a row breaks the chain at that row. Deleting the newest
rows leaves a valid shorter chain, so each chain's head ``{seq, hash}`` is also remembered outside
the rows (a ``kv`` row written in the same transaction, and a file in the home): :func:`check_anchored`
reports a chain that ends before, or differs from, a remembered head.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from akashi.db.base import Base
from akashi.db.models import Setting

log = logging.getLogger(__name__)

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
    problem: str  # edited | deleted_or_inserted | reordered_or_removed_before | tail_missing | rewritten


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


Head = tuple[int, str]


def kv_head(session: Session, key: str) -> Head | None:
    """The head ``(seq, hash)`` remembered in the ``kv`` row ``key``, or None (absent or unreadable)."""
    kv = session.get(Setting, key)
    if kv is None or not isinstance(kv.value, dict):
        return None
    try:
        return int(kv.value["seq"]), str(kv.value["hash"])
    except (KeyError, TypeError, ValueError):
        return None


def set_kv_head(session: Session, key: str, head: Head | None) -> None:
    """Remember ``head`` in the ``kv`` row ``key`` (None removes it); the caller commits."""
    kv = session.get(Setting, key)
    if head is None:
        if kv is not None:
            session.delete(kv)
        return
    value = {"seq": head[0], "hash": head[1]}
    if kv is None:
        session.add(Setting(key=key, value=value))
    else:
        kv.value = value


def last_head(session: Session, model: type[Base]) -> Head | None:
    """The ``(seq, hash)`` of the last row of a chain, or None when it is empty."""
    last = session.execute(
        select(model.seq, model.entry_hash).order_by(model.seq.desc()).limit(1)  # type: ignore[attr-defined]
    ).first()
    return (int(last[0]), str(last[1])) if last is not None else None


_left_behind: set[tuple[str, int, str]] = set()  # anchors already logged as left behind


def follows(session: Session, model: type[Base], row: Any, anchored: Head | None) -> bool:
    """Whether the new ``row`` continues the chain that an anchor remembers as ``anchored``.

    True when there is no anchor yet, when ``row`` comes right after it, or when the remembered
    entry is still in the chain, before ``row``, with the remembered hash. After a deleted tail or a
    recomputed chain it is False: a new row reuses the numbers, so moving an anchor by ``seq`` alone
    would carry it past the damage and ``verify`` would no longer see it.
    """
    if anchored is None or (anchored[0] == row.seq - 1 and anchored[1] == row.prev_hash):
        return True
    seq, h = anchored
    if seq >= row.seq:
        return False
    found = session.scalar(select(model.entry_hash).where(model.seq == seq))  # type: ignore[attr-defined]
    return bool(found == h)


def anchor_may_move(
    session: Session, model: type[Base], row: Any, anchored: Head | None, *, name: str, accept: str
) -> bool:
    """:func:`follows`, and log once per anchor that it stays behind until ``accept`` is run.

    ``name``: the anchor (``kv`` or its file), ``accept``: the command that re-anchors the chain.
    """
    if follows(session, model, row, anchored):
        return True
    assert anchored is not None
    table = model.__tablename__
    if (f"{table}:{name}", *anchored) not in _left_behind:
        _left_behind.add((f"{table}:{name}", *anchored))
        log.error(
            "%s chain no longer holds its anchored head #%d (%s): the anchor stays there until"
            " `akashi verify` is read and `akashi %s` is run",
            table,
            anchored[0],
            name,
            accept,
        )
    return False


def check_anchored(
    rows: Sequence[Any], field_names: Sequence[str], anchors: Iterable[Head | None]
) -> list[ChainProblem]:
    """:func:`check` plus the remembered heads: a removed tail and a rewritten chain are reported.

    ``anchors``: heads remembered elsewhere (None for an anchor that is absent). The highest
    remembered ``seq`` must still exist (else ``tail_missing``), and the row at each remembered
    ``seq`` must still have the remembered hash (else ``rewritten``: the chain was recomputed).
    """
    known = sorted({a for a in anchors if a is not None})
    expected_last = max((a[0] for a in known), default=None)
    problems = check(rows, field_names, expected_last=expected_last)
    by_seq = {r.seq: r for r in rows}
    for seq, h in known:
        row = by_seq.get(seq)
        if row is not None and row.entry_hash != h:
            problems.append(ChainProblem(seq, "rewritten"))
    return problems
