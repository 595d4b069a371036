"""Retention: delete evidence past its ``retain_until`` date, never anything under legal hold.

Each deletion is first committed as a ledger ``delete`` entry (the tombstone) with the row moved to
``deleting``; then the stored object is removed and the row becomes ``deleted``. A crash or an
unreachable backend between the two leaves ``deleting`` rows that the next run finishes; ``verify``
treats both states as policy, not as loss.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
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


def _finish(store: EvidenceStore, oid: str, key: str, who: str = "retention") -> bool:
    try:
        store.backend.delete(key)
    except StoreError as err:
        log.warning("%s: %s stays in 'deleting' until the backend answers: %s", who, oid, err)
        return False
    with session_scope(store.engine) as s:
        s.execute(
            update(EvidenceObject)
            .where(EvidenceObject.id == oid, EvidenceObject.state == "deleting")
            .values(state="deleted")
        )
    return True


def tombstone(
    store: EvidenceStore,
    oid: str,
    reason: str,
    may_delete: Callable[[EvidenceObject], bool] = lambda row: True,
    *,
    who: str = "retention",
) -> bool:
    """Delete one stored object: its ledger ``delete`` entry (the tombstone) first, then the object.

    False when it is held, no longer ``stored`` or ``may_delete`` refuses it (checked under the ledger
    lock, which holds take too, so a hold cannot slip in between). An unreachable backend leaves the row
    in ``deleting`` for the next retention run to finish; the tombstone stands either way (True).
    """
    with session_scope(store.engine) as s:
        chain.lock_chain(s, "ledger")
        row = s.get(EvidenceObject, oid, with_for_update=True)
        if row is None or row.state != "stored" or row.legal_hold or not may_delete(row):
            return False
        row.state = "deleting"
        ledger.append_entry(
            s,
            "delete",
            oid,
            {
                "reason": reason,
                "retain_until": row.retain_until.isoformat() if row.retain_until else None,
                "sha256": row.sha256,
                "size": row.size,
            },
            anchor=store.anchor,
        )
        key = row.location
    _finish(store, oid, key, who)
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

    # re-checked under the lock: a hold (or a new date) may have arrived since the query above
    def still_due(row: EvidenceObject) -> bool:
        return row.retain_until is not None and row.retain_until <= now

    deleted: list[str] = []
    for oid in due:
        if tombstone(store, oid, "retention", still_due):
            deleted.append(oid)
    with session_scope(store.engine) as s:
        leftovers = s.execute(
            select(EvidenceObject.id, EvidenceObject.location).where(EvidenceObject.state == "deleting")
        ).all()
    for oid, key in leftovers:
        _finish(store, oid, key)
    return deleted
