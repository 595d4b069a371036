"""Retention: delete evidence past its ``retain_until`` date, never anything under legal hold.

Each deletion is first committed as a ledger ``delete`` entry (the tombstone) with the row moved to
``deleting``; then the stored object is removed and the row becomes ``deleted``. A crash or an
unreachable backend between the two leaves ``deleting`` rows that the next run finishes; ``verify``
treats both states as policy, not as loss.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from akashi.db import chain
from akashi.db.base import session_scope, utcnow
from akashi.db.models import EvidenceObject
from akashi.errors import StoreError
from akashi.store import ledger

if TYPE_CHECKING:
    from akashi.store.evidence import EvidenceStore

log = logging.getLogger(__name__)


def _finish(store: EvidenceStore, oid: str, key: str) -> bool:
    try:
        store.backend.delete(key)
    except StoreError as err:
        log.warning("retention: %s stays in 'deleting' until the backend answers: %s", oid, err)
        return False
    with session_scope(store.engine) as s:
        s.execute(
            update(EvidenceObject)
            .where(EvidenceObject.id == oid, EvidenceObject.state == "deleting")
            .values(state="deleted")
        )
    return True


def apply_retention(store: EvidenceStore, now: datetime | None = None) -> list[str]:
    """Tombstone and delete every expired, unheld, stored object; returns the ids tombstoned now."""
    now = now or utcnow()
    with session_scope(store.engine) as s:
        due = s.scalars(
            select(EvidenceObject.id)
            .where(
                EvidenceObject.state == "stored",
                EvidenceObject.retain_until.is_not(None),
                EvidenceObject.retain_until <= now,
                EvidenceObject.legal_hold.is_(False),
            )
            .order_by(EvidenceObject.retain_until, EvidenceObject.id)
        ).all()
    deleted: list[str] = []
    for oid in due:
        with session_scope(store.engine) as s:
            # Take the ledger lock before reading: holds take it too, so they cannot interleave.
            chain.lock_chain(s, "ledger")
            row = s.get(EvidenceObject, oid, with_for_update=True)
            # Re-check under the lock: a hold may have arrived since the query above.
            if (
                row is None
                or row.state != "stored"
                or row.legal_hold
                or row.retain_until is None
                or row.retain_until > now
            ):
                continue
            row.state = "deleting"
            ledger.append_entry(
                s,
                "delete",
                oid,
                {
                    "reason": "retention",
                    "retain_until": row.retain_until.isoformat(),
                    "sha256": row.sha256,
                    "size": row.size,
                },
                anchor=store.anchor,
            )
            key = row.location
        deleted.append(oid)
        _finish(store, oid, key)
    with session_scope(store.engine) as s:
        leftovers = s.execute(
            select(EvidenceObject.id, EvidenceObject.location).where(EvidenceObject.state == "deleting")
        ).all()
    for oid, key in leftovers:
        _finish(store, oid, key)
    return deleted
