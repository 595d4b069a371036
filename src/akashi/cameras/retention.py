"""Camera retention: incidents keep their footage until released.

Continuous footage carries ``retain_until = end + camera_policy.retain_days`` from the moment it is
stored, and the store's retention deletes it after that. Footage inside an open incident item (a time
range marked on a camera, or a call linked to the incident: the cameras of the call's site during the
call, with a margin) is put under the store's hold here, with the actor :data:`HOLD_ACTOR`, and
released again when no open item covers it. A hold placed by a person (``akashi hold``, the UI) is never
released by this module: only holds whose latest ledger entry came from :data:`HOLD_ACTOR` are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from akashi.db import session_scope
from akashi.db.models import Call, Camera, CameraSegment, EvidenceObject, Incident, IncidentItem, LedgerEntry
from akashi.errors import ConfigError, NotFoundError

if TYPE_CHECKING:
    from akashi.context import Akashi

HOLD_ACTOR = "cameras:incident"
#: Footage kept around a call linked to an incident (before its start and after its end).
CALL_MARGIN = timedelta(minutes=2)


@dataclass
class HoldReport:
    """Objects held and released by one run."""

    held: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Range:
    camera_id: int
    start: datetime
    end: datetime
    incident_id: int


def _open_ranges(s: Session) -> list[_Range]:
    """Camera time ranges that open incident items cover."""
    out: list[_Range] = []
    rows = s.execute(
        select(IncidentItem, Incident)
        .join(Incident, Incident.id == IncidentItem.incident_id)
        .where(
            IncidentItem.released.is_(False), or_(Incident.status == "open", Incident.legal_hold.is_(True))
        )
    ).all()
    for item, inc in rows:
        if item.camera_id is not None and item.started_at is not None:
            end = item.ended_at or item.started_at
            out.append(_Range(item.camera_id, item.started_at, end, inc.id))
        if item.call_id is not None:
            call = s.get(Call, item.call_id)
            if call is None or call.site_id is None:
                continue
            end = call.ended_at or call.started_at + timedelta(seconds=call.duration_s)
            for cam_id in s.scalars(select(Camera.id).where(Camera.site_id == call.site_id)):
                out.append(_Range(cam_id, call.started_at - CALL_MARGIN, end + CALL_MARGIN, inc.id))
    return out


def _covered_objects(s: Session, ranges: list[_Range]) -> dict[str, int]:
    """Object id -> incident id, for every stored segment overlapping one of ``ranges``."""
    out: dict[str, int] = {}
    for r in ranges:
        q = (
            select(CameraSegment.object_id)
            .join(EvidenceObject, EvidenceObject.id == CameraSegment.object_id)
            .where(
                CameraSegment.camera_id == r.camera_id,
                CameraSegment.started_at < r.end,
                CameraSegment.ended_at > r.start,
                EvidenceObject.state == "stored",
            )
        )
        for oid in s.scalars(q):
            if oid is not None:
                out.setdefault(oid, r.incident_id)
    return out


def _held_by_us(s: Session) -> list[str]:
    """Camera segments whose current hold was placed by this module."""
    held = s.scalars(
        select(EvidenceObject.id).where(
            and_(EvidenceObject.kind == "camera_segment", EvidenceObject.legal_hold.is_(True))
        )
    ).all()
    mine = []
    for oid in held:
        last = s.scalar(
            select(LedgerEntry.data)
            .where(LedgerEntry.object_id == oid, LedgerEntry.action == "hold")
            .order_by(LedgerEntry.seq.desc())
            .limit(1)
        )
        if last is not None and json.loads(last).get("actor") == HOLD_ACTOR:
            mine.append(oid)
    return mine


def apply_camera_holds(ak: Akashi) -> HoldReport:
    """Hold footage inside open incidents; release what this module held once nothing covers it.

    Run it before the store's retention (``CameraService`` runs it every minute as well).
    """
    report = HoldReport()
    with session_scope(ak.engine) as s:
        covered = _covered_objects(s, _open_ranges(s))
        already = set(
            s.scalars(
                select(EvidenceObject.id).where(EvidenceObject.id.in_(covered), EvidenceObject.legal_hold)
            )
        )
        mine = _held_by_us(s)
    for oid, incident_id in covered.items():
        if oid not in already:
            ak.store.hold(oid, reason=f"incident {incident_id}", actor=HOLD_ACTOR)
            report.held.append(oid)
    for oid in mine:
        if oid not in covered:
            ak.store.release(oid, reason="incident released or closed", actor=HOLD_ACTOR)
            report.released.append(oid)
    return report


def mark_range(
    ak: Akashi,
    camera: str,
    start: datetime,
    end: datetime,
    *,
    title: str = "",
    incident_id: int | None = None,
) -> tuple[int, int]:
    """Add a camera time range to an incident (a new one titled ``title`` when no id is given).

    Returns (incident id, item id); call :func:`apply_camera_holds` to hold the footage at once.
    """
    if end <= start:
        raise ConfigError("--to は --from より後にしてください", "--to must be after --from")
    with session_scope(ak.engine) as s:
        cam = s.scalar(select(Camera).where(Camera.name == camera))
        if cam is None:
            raise NotFoundError(f"カメラ {camera} はありません", f"no camera {camera}")
        if incident_id is None:
            inc = Incident(
                title=title or f"{camera} {start.isoformat()}", site_id=cam.site_id, created_by="cli"
            )
            s.add(inc)
            s.flush()
        else:
            found = s.get(Incident, incident_id)
            if found is None:
                raise NotFoundError(f"案件 {incident_id} はありません", f"no incident {incident_id}")
            inc = found
        item = IncidentItem(incident_id=inc.id, camera_id=cam.id, started_at=start, ended_at=end)
        s.add(item)
        s.flush()
        return inc.id, item.id


def release_ranges(ak: Akashi, incident_id: int) -> int:
    """Mark every camera range of an incident released; returns how many were open."""
    with session_scope(ak.engine) as s:
        if s.get(Incident, incident_id) is None:
            raise NotFoundError(f"案件 {incident_id} はありません", f"no incident {incident_id}")
        items = s.scalars(
            select(IncidentItem).where(
                IncidentItem.incident_id == incident_id,
                IncidentItem.camera_id.is_not(None),
                IncidentItem.released.is_(False),
            )
        ).all()
        for it in items:
            it.released = True
        return len(items)
