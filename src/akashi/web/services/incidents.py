"""Incidents (案件): a case linking calls and camera ranges, with notes, status and one export."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from akashi.access import Principal, audit
from akashi.access.evidence import check_call, check_camera, check_incident, refuse
from akashi.access.export import segments_in
from akashi.db.models import Call, Camera, EvidenceObject, Incident, IncidentItem, Site
from akashi.errors import AkashiError, NotFoundError
from akashi.web.schemas import IncidentItemIn, IncidentItemOut, IncidentOut, IncidentPatch
from akashi.web.services.calls import notes_for

if TYPE_CHECKING:
    from akashi.context import Akashi

WRITE_ROLES = frozenset({"admin", "manager"})


def _engine(s: Session) -> Engine:
    engine = s.get_bind()
    assert isinstance(engine, Engine)
    return engine


def _deny_write(s: Session, p: Principal, action: str, incident_id: int | str, client: str) -> None:
    """Refuse (and audit) a change by a role that may not change incidents."""
    if p.role not in WRITE_ROLES:
        raise refuse(
            _engine(s),
            p,
            action,
            "incident",
            incident_id,
            client,
            f"role_{p.role}_read_only",
            message=(
                "案件を変更できるのは管理者とマネージャーです",
                "only admins and managers may change incidents",
            ),
        )


def list_incidents(s: Session, p: Principal) -> list[IncidentOut]:
    """Incidents of the user's sites (counsel: those granted), newest first (operators see none)."""
    if p.role == "operator":
        return []
    stmt = select(Incident).where(p.incidents_clause()).order_by(Incident.id.desc()).limit(500)
    sites = {k: v for k, v in s.execute(select(Site.id, Site.name))}
    return [_out(s, i, sites, items=False) for i in s.scalars(stmt)]


def _out(s: Session, inc: Incident, sites: dict[int, str], *, items: bool = True) -> IncidentOut:
    out = IncidentOut(
        id=inc.id,
        title=inc.title,
        status=inc.status,
        site=sites.get(inc.site_id) if inc.site_id else None,
        notes=inc.notes,
        legal_hold=inc.legal_hold,
        created_by=inc.created_by,
        created_at=inc.created_at,
    )
    if items:
        cams = {k: v for k, v in s.execute(select(Camera.id, Camera.name))}
        out.items = [
            IncidentItemOut(
                id=it.id,
                call_id=it.call_id,
                camera_id=it.camera_id,
                camera=cams.get(it.camera_id) if it.camera_id else None,
                started_at=it.started_at,
                ended_at=it.ended_at,
            )
            for it in s.scalars(
                select(IncidentItem).where(IncidentItem.incident_id == inc.id).order_by(IncidentItem.id)
            )
        ]
        out.comments = notes_for(s, "incident", inc.id)
    return out


def get_incident(s: Session, p: Principal, incident_id: int, client: str = "") -> IncidentOut:
    """One incident with its items and notes (a counsel's view of a granted incident is audited)."""
    inc = check_incident(s, p, incident_id, "view", client)
    if p.role == "counsel":
        audit(s, user=p.name, action="view", target_type="incident", target_id=incident_id, client=client)
    return _out(s, inc, {k: v for k, v in s.execute(select(Site.id, Site.name))})


def create_incident(s: Session, p: Principal, title: str, site: str | None, notes: str, client: str) -> int:
    """Open a new incident in one of the user's sites."""
    _deny_write(s, p, "incident_create", "", client)
    site_id = None
    if site:
        site_id = s.scalar(select(Site.id).where(Site.name == site))
        if site_id is None:
            raise NotFoundError(f"拠点 {site} はありません", f"no site {site}")
    if not p.sees_site(site_id):
        raise refuse(
            _engine(s),
            p,
            "incident_create",
            "site",
            site or "",
            client,
            "out_of_scope",
            message=("この拠点の案件は作成できません", "you may not create incidents for this site"),
        )
    inc = Incident(title=title, site_id=site_id, notes=notes, created_by=p.name)
    s.add(inc)
    s.flush()
    audit(s, user=p.name, action="incident_create", target_type="incident", target_id=inc.id, client=client)
    return inc.id


def hold_linked_calls(ak: Akashi, s: Session, p: Principal, incident_id: int) -> int:
    """Put the recordings of the incident's calls under legal hold (those not held yet).

    Commits ``s`` first: the store writes each hold and its ledger entry in its own transaction.
    Releasing an incident's hold does not release these (a call may be held for other reasons):
    that stays a deliberate step on each call. Returns how many objects were newly held.
    """
    objects = s.scalars(
        select(EvidenceObject.id)
        .join(Call, Call.media_object_id == EvidenceObject.id)
        .join(IncidentItem, IncidentItem.call_id == Call.id)
        .where(IncidentItem.incident_id == incident_id, EvidenceObject.legal_hold.is_(False),
               EvidenceObject.state != "deleted")
    ).all()  # fmt: skip
    s.commit()
    for oid in objects:
        ak.store.hold(oid, reason=f"incident {incident_id}", actor=p.name)
    return len(objects)


def patch_incident(
    ak: Akashi, s: Session, p: Principal, incident_id: int, patch: IncidentPatch, client: str
) -> None:
    """Change status, notes or the legal-hold flag (a hold also holds the linked calls' recordings)."""
    _deny_write(s, p, "incident_update", incident_id, client)
    inc = check_incident(s, p, incident_id, "incident_update", client)
    changed: dict[str, Any] = {}
    if patch.status is not None:
        inc.status = changed["status"] = patch.status
    if patch.notes is not None:
        inc.notes = patch.notes
        changed["notes"] = True
    if patch.legal_hold is not None:
        inc.legal_hold = changed["legal_hold"] = patch.legal_hold
    audit(
        s,
        user=p.name,
        action="incident_update",
        target_type="incident",
        target_id=incident_id,
        client=client,
        detail=changed,
    )
    if inc.legal_hold:
        hold_linked_calls(ak, s, p, incident_id)


def add_item(
    ak: Akashi, s: Session, p: Principal, incident_id: int, item: IncidentItemIn, client: str
) -> int:
    """Link a call (that the user may see) or a camera range to an incident."""
    _deny_write(s, p, "incident_link", incident_id, client)
    inc = check_incident(s, p, incident_id, "incident_link", client)
    if item.call_id is not None:
        check_call(ak, s, p, item.call_id, "link", client)
        row = IncidentItem(incident_id=incident_id, call_id=item.call_id)
    elif item.camera_id is not None and item.started_at and item.ended_at:
        cam = check_camera(s, p, item.camera_id, "incident_link", client)
        if item.ended_at <= item.started_at:
            raise AkashiError("終了は開始より後にしてください", "the range must end after it starts")
        row = IncidentItem(
            incident_id=incident_id, camera_id=cam.id, started_at=item.started_at, ended_at=item.ended_at
        )
    else:
        raise AkashiError(
            "通話かカメラの範囲を指定してください", "give a call id or a camera with a time range"
        )
    s.add(row)
    s.flush()
    audit(
        s,
        user=p.name,
        action="incident_link",
        target_type="incident",
        target_id=incident_id,
        client=client,
        detail={"call_id": item.call_id, "camera_id": item.camera_id},
    )
    row_id = row.id
    if inc.legal_hold and item.call_id is not None:
        hold_linked_calls(ak, s, p, incident_id)
    return row_id


def item_clips(s: Session, p: Principal, inc: IncidentOut) -> dict[int, list[dict[str, Any]]]:
    """Stored segments the user may play for each camera range of the incident (item id → clips)."""
    out: dict[int, list[dict[str, Any]]] = {}
    for it in inc.items:
        if it.camera_id is None or it.started_at is None or it.ended_at is None:
            continue
        cam = s.get(Camera, it.camera_id)
        if cam is None:
            continue
        out[it.id] = [
            {"id": g.id, "started_at": g.started_at, "ended_at": g.ended_at}
            for g in segments_in(s, cam.id, it.started_at, it.ended_at)
            if p.may_view_segment(cam, g.started_at, g.ended_at)
        ]
    return out
