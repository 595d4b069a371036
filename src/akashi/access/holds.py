"""Legal hold on a call's recording, placed or released through the access layer (web and CLI).

Only admins and managers (for their sites) may change a hold; any other attempt is refused and
audited, and a change that is allowed is audited before the store writes its ledger entry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from akashi.access.audit import audit
from akashi.access.evidence import check_call, refuse
from akashi.access.principal import Principal
from akashi.errors import NotFoundError

if TYPE_CHECKING:
    from akashi.context import Akashi

HOLD_ROLES = frozenset({"admin", "manager"})


def change_call_hold(
    ak: Akashi, s: Session, p: Principal, call_id: int, hold: bool, reason: str, client: str
) -> str:
    """Place (``hold``) or release the legal hold on a call's recording; returns the object id.

    Commits ``s`` after the audit entry: the store writes the hold and its ledger entry in its own
    transaction.
    """
    action = "hold" if hold else "release"
    call = check_call(ak, s, p, call_id, action, client)
    if p.role not in HOLD_ROLES:
        raise refuse(
            ak.engine,
            p,
            action,
            "call",
            call_id,
            client,
            f"role_{p.role}_no_hold",
            message=(
                "訴訟ホールドは管理者とマネージャーのみ操作できます",
                "only admins and managers may change a legal hold",
            ),
        )
    if call.media_object_id is None:
        raise NotFoundError(f"通話 {call_id} には録音がありません", f"call {call_id} has no recording")
    object_id = call.media_object_id
    audit(
        s,
        user=p.name,
        action=action,
        target_type="call",
        target_id=call_id,
        client=client,
        detail={"reason": reason, "object_id": object_id},
    )
    s.commit()
    if hold:
        ak.store.hold(object_id, reason=reason, actor=p.name)
    else:
        ak.store.release(object_id, reason=reason, actor=p.name)
    return object_id
