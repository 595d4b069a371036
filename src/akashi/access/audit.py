"""The audit log: who did what to which evidence, when and from where. Hash-chained like the ledger.

Its head ``{seq, hash}`` is anchored exactly as the ledger's (:mod:`akashi.store.ledger`): the ``kv``
row ``audit_head``, moved in the same transaction as each append, and the file ``audit.head`` in the
home, advanced after the commit and never moved backwards, which survives someone editing the
database. Deleting the newest entries, or editing one and recomputing the chain after it, is then
reported by ``akashi verify``.

An anchor only moves along the chain it names: a new entry advances it only while the entry the
anchor remembers is still in the log with the same hash. Otherwise the anchor stays where it is
(and this is logged), so that entries appended after a deletion or a rewrite, such as ``verify``'s
own, cannot carry the anchor past the damage. :func:`accept_audit_head` is the only way to move
the anchors off the chain, and it is itself an audit entry naming the heads it replaced.
"""

from __future__ import annotations

import json
import logging
import threading
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, event, select
from sqlalchemy.orm import Session

from akashi.db import chain
from akashi.db.base import session_scope, utcnow
from akashi.db.models import AuditEntry
from akashi.store.ledger import HeadAnchor

log = logging.getLogger(__name__)

AUDIT_FIELDS = ("user_name", "action", "target_type", "target_id", "outcome", "client", "detail")
#: ``kv`` row of the audit head anchor.
KV_HEAD = "audit_head"
#: File of the audit head anchor, in the home.
HEAD_FILE = "audit.head"
_PENDING = "akashi_audit_head"  # Session.info key: the head this transaction will commit

_anchors: weakref.WeakKeyDictionary[Engine, HeadAnchor] = weakref.WeakKeyDictionary()
_anchors_lock = threading.Lock()


def anchor_file(home: Path) -> HeadAnchor:
    """The audit head anchor file of the installation at ``home``."""
    return HeadAnchor(home / HEAD_FILE)


def register_anchor(engine: Engine, home: Path) -> HeadAnchor:
    """Advance ``<home>/audit.head`` after every commit of an audit entry made through ``engine``."""
    anchor = anchor_file(home)
    with _anchors_lock:
        _anchors[engine] = anchor
    return anchor


def registered_anchor(bind: Engine | Connection | None) -> HeadAnchor | None:
    """The anchor file registered for a session's bind, if any."""
    engine = bind.engine if isinstance(bind, Connection) else bind
    if engine is None:
        return None
    with _anchors_lock:
        return _anchors.get(engine)


@event.listens_for(Session, "after_commit")
def _advance_file_anchor(session: Session) -> None:
    if session.in_nested_transaction():  # a SAVEPOINT released: the entry is not committed yet
        return
    head = session.info.pop(_PENDING, None)
    if head is None:
        return
    anchor = registered_anchor(session.get_bind())
    if anchor is None:
        return
    try:
        anchor.advance(*head)
    except OSError as err:  # the kv anchor still holds; the file catches up with the next entry
        log.error("audit head anchor file not advanced: %s", err)


@event.listens_for(Session, "after_soft_rollback")
def _forget_pending(session: Session, _previous: Any) -> None:
    # A rolled-back entry must never be named by the file (it would look like a removed tail).
    session.info.pop(_PENDING, None)


def audit(
    session: Session,
    *,
    user: str,
    action: str,
    target_type: str = "",
    target_id: str | int = "",
    outcome: str = "ok",
    client: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append an audit entry in the caller's transaction and move the head anchors with it."""
    fields = {
        "user_name": user,
        "action": action,
        "target_type": target_type,
        "target_id": str(target_id),
        "outcome": outcome,
        "client": client[:200],
        "detail": chain.canonical(detail or {}),
    }
    row = chain.append(session, AuditEntry, utcnow(), fields)
    head = (row.seq, row.entry_hash)
    if _on_chain(session, row, "kv", chain.kv_head(session, KV_HEAD)):
        chain.set_kv_head(session, KV_HEAD, head)
        session.flush()
    anchor = registered_anchor(session.get_bind())
    if anchor is not None and _on_chain(session, row, str(anchor.path), anchor.read()):
        pending = session.info.get(_PENDING)
        if pending is None or pending[0] < row.seq:
            session.info[_PENDING] = head
    return row


def _on_chain(session: Session, row: AuditEntry, name: str, anchored: chain.Head | None) -> bool:
    """Whether ``row`` extends the chain that the anchor ``anchored`` remembers (no anchor yet: yes)."""
    return chain.anchor_may_move(session, AuditEntry, row, anchored, name=name, accept="audit-accept-head")


def audit_now(engine: Engine, **kwargs: Any) -> None:
    """Append an audit entry in its own transaction (for denials that roll back everything else)."""
    with session_scope(engine) as s:
        audit(s, **kwargs)


def entries_for(session: Session, target_type: str, target_id: str | int) -> list[dict[str, Any]]:
    """Audit entries about one target, oldest first, as plain dicts (for evidence packages)."""
    rows = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.target_type == target_type, AuditEntry.target_id == str(target_id))
        .order_by(AuditEntry.seq)
    )
    return [entry_dict(r) for r in rows]


def entry_dict(r: AuditEntry) -> dict[str, Any]:
    """One entry as a dict with its chain hashes."""
    return {
        "seq": r.seq,
        "ts": r.ts.isoformat(),
        "user": r.user_name,
        "action": r.action,
        "target_type": r.target_type,
        "target_id": r.target_id,
        "outcome": r.outcome,
        "client": r.client,
        "detail": json.loads(r.detail or "{}"),
        "prev_hash": r.prev_hash,
        "entry_hash": r.entry_hash,
    }


def verify_audit(session: Session, anchor: HeadAnchor | None = None) -> list[chain.ChainProblem]:
    """Check the audit chain against its head anchors (``kv`` and the file).

    ``anchor``: the anchor file to check against; by default the one registered for the
    session's engine (none when the engine was not opened from a home).
    """
    anchor = anchor or registered_anchor(session.get_bind())
    rows = list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
    heads = [chain.kv_head(session, KV_HEAD), anchor.read() if anchor is not None else None]
    return chain.check_anchored(rows, AUDIT_FIELDS, heads)


def accept_audit_head(
    engine: Engine, anchor: HeadAnchor, *, user: str, reason: str, client: str = ""
) -> AuditEntry:
    """Accept the audit log as it is now (after restoring a database backup on purpose).

    Both anchors are moved to a new entry ``audit_accept_head`` appended to the log as it stands;
    its detail records the reason, the last entry accepted and the heads the anchors held before,
    so the acceptance itself is evidence of what was given up. Returns that entry.
    """
    with session_scope(engine) as s:
        chain.lock_chain(s, AuditEntry.__tablename__)  # no append between reading and re-anchoring
        before = {"kv": chain.kv_head(s, KV_HEAD), "file": anchor.read()}
        accepted = chain.last_head(s, AuditEntry)
        row = audit(
            s,
            user=user,
            action="audit_accept_head",
            target_type="audit",
            target_id=accepted[0] if accepted else 0,
            client=client,
            detail={
                "reason": reason,
                "accepted": list(accepted) if accepted else None,
                "previous_anchors": {k: list(v) if v else None for k, v in before.items()},
            },
        )
        head = (row.seq, row.entry_hash)
        chain.set_kv_head(s, KV_HEAD, head)
        anchor.reset(*head)  # even backwards or off the old chain: that is what is being accepted
        s.info.pop(_PENDING, None)
    log.warning(
        "audit head accepted by %s at #%d (anchors were kv=%s file=%s)", user, row.seq, *before.values()
    )
    return row
