"""The evidence ledger: append-only, hash-chained entries for every put, hold, release and deletion.

Rows use the generic chain of :mod:`akashi.db.chain`. Two anchors remember the head ``{seq, hash}``
so that deleting the newest rows (which leaves a valid shorter chain) is still detected: the ``kv``
row ``ledger_head`` (same transaction as the append) and the file ``ledger.head`` in the home
(advanced after commit, never moved backwards), which survives someone editing the database.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from akashi.db import chain
from akashi.db.base import utcnow
from akashi.db.models import EvidenceObject, LedgerEntry, Setting

ACTIONS = ("put", "hold", "release", "delete")
FIELDS = ("action", "object_id", "data")
KV_HEAD = "ledger_head"


def append_entry(
    session: Session, action: str, object_id: str, data: dict[str, Any], ts: datetime | None = None
) -> LedgerEntry:
    """Append one entry and move the ``kv`` head anchor; the caller commits."""
    if action not in ACTIONS:
        raise ValueError(f"unknown ledger action {action!r}")
    row = chain.append(
        session,
        LedgerEntry,
        ts or utcnow(),
        {"action": action, "object_id": object_id, "data": chain.canonical(data)},
    )
    head = {"seq": row.seq, "hash": row.entry_hash}
    kv = session.get(Setting, KV_HEAD)
    if kv is None:
        session.add(Setting(key=KV_HEAD, value=head))
    else:
        kv.value = head
    session.flush()
    return row


def reanchor_kv(session: Session) -> tuple[int, str] | None:
    """Set the ``kv`` head anchor to the ledger's last row (or remove it); returns that head."""
    last = session.execute(
        select(LedgerEntry.seq, LedgerEntry.entry_hash).order_by(LedgerEntry.seq.desc()).limit(1)
    ).first()
    kv = session.get(Setting, KV_HEAD)
    if last is None:
        if kv is not None:
            session.delete(kv)
        return None
    head = {"seq": int(last[0]), "hash": str(last[1])}
    if kv is None:
        session.add(Setting(key=KV_HEAD, value=head))
    else:
        kv.value = head
    return int(last[0]), str(last[1])


def kv_head(session: Session) -> tuple[int, str] | None:
    """The head anchor kept in the database."""
    kv = session.get(Setting, KV_HEAD)
    if kv is None or not isinstance(kv.value, dict):
        return None
    try:
        return int(kv.value["seq"]), str(kv.value["hash"])
    except (KeyError, TypeError, ValueError):
        return None


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
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"seq": seq, "hash": entry_hash}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

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
        else:
            bad.append((row.seq, f"unknown action {row.action!r}"))
    return out, bad
