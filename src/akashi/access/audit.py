"""The audit log: who did what to which evidence, when and from where. Hash-chained like the ledger."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from akashi.db import chain
from akashi.db.base import session_scope, utcnow
from akashi.db.models import AuditEntry

AUDIT_FIELDS = ("user_name", "action", "target_type", "target_id", "outcome", "client", "detail")


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
    """Append an audit entry in the caller's transaction."""
    fields = {
        "user_name": user,
        "action": action,
        "target_type": target_type,
        "target_id": str(target_id),
        "outcome": outcome,
        "client": client[:200],
        "detail": chain.canonical(detail or {}),
    }
    return chain.append(session, AuditEntry, utcnow(), fields)


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


def verify_audit(session: Session) -> list[chain.ChainProblem]:
    """Check the audit chain."""
    rows = session.scalars(select(AuditEntry).order_by(AuditEntry.seq))
    return chain.check(rows, AUDIT_FIELDS)
