"""``akashi demo --clear``: remove everything a demo made, through the store's own delete path.

Each stored object of a demo call or of the demo camera is deleted the way retention deletes: its
``delete`` entry (the tombstone, reason ``demo``) is appended to the ledger under the ledger lock
before the object goes, so ``akashi verify`` stays clean and the ledger shows the deletion. The
calls' rows (transcripts, flags, keywords, jobs) and the demo camera's rows go too; one audit entry
names what was removed. Demo data under legal hold is kept (a hold outranks the demo's removal) and
reported. The demo's site stays: its deleted objects' rows and ledger entries name it (see
:mod:`akashi.demo.site`, which keeps it out of the lists people choose a site from).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import delete, or_, select

from akashi.access.audit import audit
from akashi.db.base import session_scope
from akashi.db.models import (
    Agent,
    Call,
    CallFlag,
    Camera,
    CameraGap,
    CameraSegment,
    EvidenceObject,
    IncidentItem,
    Job,
    Note,
    TranscriptSegment,
    User,
)
from akashi.db.models_analysis import CallKeyword
from akashi.demo.plan import DEMO_SIP_USERS
from akashi.store.retention import tombstone

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from akashi.context import Akashi
    from akashi.store.evidence import EvidenceStore

log = logging.getLogger(__name__)


@dataclass
class ClearResult:
    """What ``--clear`` removed (and what a legal hold kept)."""

    calls: list[int] = field(default_factory=list)
    cameras: list[str] = field(default_factory=list)
    segments: int = 0
    objects_deleted: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready summary."""
        return {
            "calls": self.calls,
            "cameras": self.cameras,
            "segments": self.segments,
            "objects_deleted": self.objects_deleted,
            "held": self.held,
        }


def _demo_objects(ak: Akashi) -> tuple[list[int], list[int], list[str]]:
    with session_scope(ak.engine) as s:
        calls = list(s.scalars(select(Call.id).where(Call.demo.is_(True))))
        cams = list(s.scalars(select(Camera.id).where(Camera.demo.is_(True))))
        objs = [
            oid
            for oid in s.scalars(select(Call.media_object_id).where(Call.demo.is_(True)))
            if oid is not None
        ]
        objs += [
            oid
            for oid in s.scalars(select(CameraSegment.object_id).where(CameraSegment.camera_id.in_(cams)))
            if oid is not None
        ]
    return calls, cams, objs


def _tombstone(store: EvidenceStore, oid: str) -> bool:
    """Delete one stored object as retention does (ledger ``delete`` entry first); False when held."""
    return tombstone(store, oid, "demo", who="demo clear")


def _drop_demo_agents(s: Session) -> None:
    """The demo's simulated operators go with their calls (a held demo call keeps its operator)."""
    used = select(Call.agent_id).where(Call.agent_id.is_not(None)).union(
        select(User.agent_id).where(User.agent_id.is_not(None)))  # fmt: skip
    s.execute(delete(Agent).where(Agent.sip_user.in_(DEMO_SIP_USERS), Agent.id.not_in(used)))


def clear_demo(ak: Akashi, *, user: str = "cli", client: str = "cli") -> ClearResult:
    """Delete every demo call and the demo camera's footage; the ledger keeps their tombstones."""
    out = ClearResult()
    calls, cams, objs = _demo_objects(ak)
    with session_scope(ak.engine) as s:
        held = set(
            s.scalars(
                select(EvidenceObject.id).where(
                    EvidenceObject.id.in_(objs), EvidenceObject.legal_hold.is_(True)
                )
            )
        )
    out.objects_deleted = [oid for oid in objs if oid not in held and _tombstone(ak.store, oid)]
    with session_scope(ak.engine) as s:
        # a hold that arrived meanwhile is a hold too
        held |= set(
            s.scalars(
                select(EvidenceObject.id).where(
                    EvidenceObject.id.in_(objs), EvidenceObject.legal_hold.is_(True)
                )
            )
        )
    out.held = sorted(held)
    with session_scope(ak.engine) as s:
        keep_calls = set(s.scalars(select(Call.id).where(Call.id.in_(calls), Call.media_object_id.in_(held))))
        gone = [c for c in calls if c not in keep_calls]
        keep_cams = set(
            s.scalars(
                select(CameraSegment.camera_id).where(
                    CameraSegment.camera_id.in_(cams), CameraSegment.object_id.in_(held)
                )
            )
        )
        gone_cams = [c for c in cams if c not in keep_cams]
        out.cameras = list(s.scalars(select(Camera.name).where(Camera.id.in_(gone_cams))))
        out.segments = len(
            list(s.scalars(select(CameraSegment.id).where(CameraSegment.camera_id.in_(gone_cams))))
        )
        for table in (TranscriptSegment, CallFlag, CallKeyword):
            s.execute(delete(table).where(table.call_id.in_(gone)))
        s.execute(
            delete(IncidentItem).where(
                or_(IncidentItem.call_id.in_(gone), IncidentItem.camera_id.in_(gone_cams))
            )
        )
        s.execute(delete(Note).where(Note.target_type == "call", Note.target_id.in_(gone)))
        # unfinished analysis of a removed call would fail on a missing row: its jobs go with it
        pending = s.execute(
            select(Job.id, Job.payload).where(Job.state.in_(("queued", "running", "dead")))
        ).all()
        stale = [jid for jid, payload in pending if (payload or {}).get("call_id") in set(gone)]
        if stale:
            s.execute(delete(Job).where(Job.id.in_(stale)))
        s.execute(delete(Call).where(Call.id.in_(gone)))
        s.execute(delete(CameraSegment).where(CameraSegment.camera_id.in_(gone_cams)))
        s.execute(delete(CameraGap).where(CameraGap.camera_id.in_(gone_cams)))
        s.execute(delete(Camera).where(Camera.id.in_(gone_cams)))
        _drop_demo_agents(s)
        out.calls = gone
        audit(
            s,
            user=user,
            action="demo_clear",
            target_type="demo",
            client=client,
            detail={"calls": gone, "cameras": out.cameras, "objects": out.objects_deleted, "held": out.held},
        )
    # the checklist shows the last demo's log: it tells of calls that are gone now
    (ak.settings.home / "demo.log").unlink(missing_ok=True)
    return out
