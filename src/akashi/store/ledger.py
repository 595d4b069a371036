"""The evidence ledger: append-only, hash-chained entries for every put, hold, release and deletion.

Rows use the generic chain of :mod:`akashi.db.chain`. Two anchors remember the head ``{seq, hash}``
so that deleting the newest rows (which leaves a valid shorter chain) is still detected: the ``kv``
row ``ledger_head`` (same transaction as the append) and the file ``ledger.head`` in the home
(advanced after commit, never moved backwards), which survives someone editing the database.
Both move only along the chain they remember, exactly as the audit log's anchors do.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from akashi.atomicfile import write_atomic
from akashi.db import chain
from akashi.db.base import utcnow
from akashi.db.models import EvidenceObject, LedgerEntry

log = logging.getLogger(__name__)

#: "event": a step on a call's timeline (a protection key, a warning played...), on the call's recording
ACTIONS = ("put", "hold", "release", "delete", "event")
FIELDS = ("action", "object_id", "data")
KV_HEAD = "ledger_head"
ACCEPT = "ledger-accept-head"  # the command that re-anchors a ledger on purpose
_PENDING = "akashi_ledger_head"  # Session.info key: the file heads this transaction will commit


def append_entry(
    session: Session,
    action: str,
    object_id: str,
    data: dict[str, Any],
    ts: datetime | None = None,
    anchor: HeadAnchor | None = None,
) -> LedgerEntry:
    """Append one entry and move the head anchors with it; the caller commits.

    The ``kv`` anchor moves in this transaction and ``anchor`` (the home's ``ledger.head``) once it
    commits, each only while the entry it remembers is still in the ledger with the same hash
    (:func:`akashi.db.chain.follows`): after a deleted tail or a rewrite it stays where it is, so
    ``verify`` keeps reporting the damage until ``ledger-accept-head`` is run.
    """
    return append_entries(session, [(action, object_id, data, ts)], anchor)[0]


def append_entries(
    session: Session,
    entries: list[tuple[str, str, dict[str, Any], datetime | None]],
    anchor: HeadAnchor | None = None,
) -> list[LedgerEntry]:
    """Append ``(action, object_id, data, ts)`` entries in order, as :func:`append_entry` does one.

    The chain is locked and its tail read once, the rows are flushed together and the anchors move
    once, to the last entry: a batch of recordings costs about one entry's database work.
    """
    for action, _oid, _data, _ts in entries:
        if action not in ACTIONS:
            raise ValueError(f"unknown ledger action {action!r}")
    if not entries:
        return []
    chain.lock_chain(session, LedgerEntry.__tablename__)
    prev = chain.last_head(session, LedgerEntry)
    seq, prev_hash = prev if prev is not None else (0, chain.GENESIS)
    rows: list[LedgerEntry] = []
    for action, object_id, data, ts in entries:
        seq += 1
        when = ts or utcnow()
        fields = {"action": action, "object_id": object_id, "data": chain.canonical(data)}
        digest = chain.entry_hash(prev_hash, seq, when, fields)
        row = LedgerEntry(seq=seq, ts=when, prev_hash=prev_hash, entry_hash=digest, **fields)
        prev_hash = row.entry_hash
        rows.append(row)
    session.add_all(rows)
    session.flush()
    first, last = rows[0], rows[-1]
    head = (last.seq, last.entry_hash)
    if chain.anchor_may_move(session, LedgerEntry, first, kv_head(session), name="kv", accept=ACCEPT):
        chain.set_kv_head(session, KV_HEAD, head)
        session.flush()
    # Read under the chain lock taken above: no other append can move the file meanwhile.
    if anchor is not None and chain.anchor_may_move(
        session, LedgerEntry, first, anchor.read(), name=str(anchor.path), accept=ACCEPT
    ):
        pending: dict[Path, tuple[HeadAnchor, chain.Head]] = session.info.setdefault(_PENDING, {})
        known = pending.get(anchor.path)
        if known is None or known[1][0] < last.seq:
            pending[anchor.path] = (anchor, head)
    return rows


@event.listens_for(Session, "after_commit")
def _advance_file_anchors(session: Session) -> None:
    if session.in_nested_transaction():  # a SAVEPOINT released: the entry is not committed yet
        return
    pending: dict[Path, tuple[HeadAnchor, chain.Head]] = session.info.pop(_PENDING, {})
    for anchor, head in pending.values():
        try:
            anchor.advance(*head)
        except OSError as err:  # the kv anchor still holds; the file catches up with the next entry
            log.error("ledger head anchor file not advanced: %s", err)


@event.listens_for(Session, "after_soft_rollback")
def _forget_pending(session: Session, _previous: Any) -> None:
    # A rolled-back entry must never be named by the file (it would look like a removed tail).
    session.info.pop(_PENDING, None)


def reanchor_kv(session: Session) -> tuple[int, str] | None:
    """Set the ``kv`` head anchor to the ledger's last row (or remove it); returns that head."""
    head = chain.last_head(session, LedgerEntry)
    chain.set_kv_head(session, KV_HEAD, head)
    session.info.pop(_PENDING, None)  # the caller resets the file to this head itself
    return head


def kv_head(session: Session) -> tuple[int, str] | None:
    """The head anchor kept in the database."""
    return chain.kv_head(session, KV_HEAD)


class HeadAnchor:
    """The head anchor file: JSON ``{"seq": n, "hash": h}``, replaced atomically, only forwards."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> tuple[int, str] | None:
        """The remembered head, or None when there is none (new installation) or it is unreadable."""
        try:
            value = json.loads(self.path.read_text(encoding="utf-8"))
            return int(value["seq"]), str(value["hash"])
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            return None

    def reset(self, seq: int, entry_hash: str) -> None:
        """Remember exactly this head, even an older one (after restoring a database backup)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a+b") as lf:
            fcntl.flock(lf.fileno(), fcntl.LOCK_EX)
            self._write(seq, entry_hash)

    def _write(self, seq: int, entry_hash: str) -> None:
        write_atomic(self.path, json.dumps({"seq": seq, "hash": entry_hash}))

    def advance(self, seq: int, entry_hash: str) -> None:
        """Remember ``seq``/``entry_hash`` unless a later head is already remembered."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = self.path.with_suffix(".lock")
        with open(lock, "a+b") as lf:
            fcntl.flock(lf.fileno(), fcntl.LOCK_EX)
            cur = self.read()
            if cur is not None and cur[0] >= seq:
                return
            self._write(seq, entry_hash)


def iso(dt: datetime | None) -> str | None:
    """ISO text of a UTC time (ledger facts)."""
    return dt.astimezone(UTC).isoformat() if dt is not None else None


def row_facts(row: EvidenceObject, site: str | None) -> dict[str, Any]:
    """The facts of an object row as recorded in its ledger ``put`` entry."""
    return {
        "kind": row.kind,
        "media_type": row.media_type,
        "filename": row.filename,
        "size": row.size,
        "sha256": row.sha256,
        "cipher_size": row.cipher_size,
        "cipher_sha256": row.cipher_sha256,
        "wrapped_key": row.wrapped_key.hex(),
        "key_id": row.key_id,
        "chunk_size": row.chunk_size,
        "backend": row.backend,
        "location": row.location,
        "site": site,
        "created_at": iso(row.created_at),
        "retain_until": iso(row.retain_until),
        "meta_sha256": hashlib.sha256(chain.canonical(row.meta).encode()).hexdigest(),
    }


@dataclass
class History:
    """What the ledger says about one object."""

    put_seq: int | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    held: bool = False
    deleted_seq: int | None = None
    order_problems: list[tuple[int, str]] = field(default_factory=list)


def replay(rows: list[LedgerEntry]) -> tuple[dict[str, History], list[tuple[int, str]]]:
    """Fold entries into per-object history. Returns it and a list of (seq, reason) for bad entries."""
    out: dict[str, History] = {}
    bad: list[tuple[int, str]] = []
    for row in rows:
        try:
            data = json.loads(row.data)
            if not isinstance(data, dict):
                raise ValueError("not an object")
        except ValueError:
            bad.append((row.seq, "data is not valid JSON"))
            continue
        h = out.setdefault(row.object_id, History())
        if row.action == "put":
            if h.put_seq is not None:
                bad.append((row.seq, "second put of the same object"))
                continue
            h.put_seq, h.facts = row.seq, data
        elif h.put_seq is None:
            bad.append((row.seq, f"{row.action} before put"))
        elif h.deleted_seq is not None:
            bad.append((row.seq, f"{row.action} after delete"))
        elif row.action == "hold":
            h.held = True
        elif row.action == "release":
            h.held = False
        elif row.action == "delete":
            h.deleted_seq = row.seq
        elif row.action == "event":
            pass  # facts about the recording (issue 14's timeline); the object itself is unchanged
        else:
            bad.append((row.seq, f"unknown action {row.action!r}"))
    return out, bad
