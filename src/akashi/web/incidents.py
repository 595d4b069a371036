"""Incidents (案件): a case linking calls and camera ranges, with notes, status and one export."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from akashi.access import Principal, audit
from akashi.access.audit import entries_for
from akashi.access.evidence import audit_refusal, call_media_name, check_call, readable_facts, refuse
from akashi.db.base import session_scope
from akashi.db.models import Call, Camera, CameraSegment, EvidenceObject, Incident, IncidentItem, Site
from akashi.errors import AkashiError, NotFoundError
from akashi.web.callsvc import notes_for
from akashi.web.schemas import IncidentItemIn, IncidentItemOut, IncidentOut, IncidentPatch

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


def may_open(p: Principal, inc: Incident) -> bool:
    """An incident in scope: counsel its granted ones, operators none, others their sites'."""
    if p.role == "counsel":
        return inc.id in p.incident_ids
    return p.role != "operator" and p.sees_site(inc.site_id)


def _load(s: Session, p: Principal, incident_id: int, client: str = "", action: str = "view") -> Incident:
    """An incident the user may open; one outside their scope is audited as denied and answered 404."""
    inc = s.get(Incident, incident_id)
    if inc is not None and not may_open(p, inc):
        audit_refusal(_engine(s), p, action, "incident", incident_id, client, "out_of_scope")
    if inc is None or not may_open(p, inc):
        raise NotFoundError(f"案件 {incident_id} はありません", f"no incident {incident_id}")
    return inc


def list_incidents(s: Session, p: Principal) -> list[IncidentOut]:
    """Incidents of the user's sites (counsel: those granted), newest first (operators see none)."""
    if p.role == "operator":
        return []
    stmt = select(Incident).order_by(Incident.id.desc()).limit(500)
    if p.role == "counsel":
        stmt = stmt.where(Incident.id.in_(sorted(p.incident_ids)))
    elif p.site_ids is not None:
        stmt = stmt.where(Incident.site_id.in_(p.site_ids))
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
    inc = _load(s, p, incident_id, client)
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
    inc = _load(s, p, incident_id, client, "incident_update")
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
    inc = _load(s, p, incident_id, client, "incident_link")
    if item.call_id is not None:
        check_call(ak, s, p, item.call_id, "link", client)
        row = IncidentItem(incident_id=incident_id, call_id=item.call_id)
    elif item.camera_id is not None and item.started_at and item.ended_at:
        cam = s.get(Camera, item.camera_id)
        if cam is not None and not p.sees_camera(cam):
            audit_refusal(_engine(s), p, "incident_link", "camera", cam.id, client, "out_of_scope")
        if cam is None or not p.sees_camera(cam):
            raise NotFoundError(f"カメラ {item.camera_id} はありません", f"no camera {item.camera_id}")
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


def segments_in(s: Session, camera_id: int, start: datetime, end: datetime) -> list[CameraSegment]:
    """Stored segments of a camera overlapping ``[start, end)``."""
    return list(
        s.scalars(
            select(CameraSegment)
            .where(
                CameraSegment.camera_id == camera_id,
                CameraSegment.started_at < end,
                CameraSegment.ended_at > start,
                CameraSegment.object_id.is_not(None),
            )
            .order_by(CameraSegment.started_at)
        )
    )


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


def export_incident(ak: Akashi, p: Principal, incident_id: int, out: Path, client: str) -> Path:
    """One evidence package with every call and camera segment of the incident (audited per item)."""
    from akashi.analysis.transcript_doc import package_files as transcript_files
    from akashi.calls import call_facts
    from akashi.store.export import Derived, write_package
    from akashi.store.keys import load_keys

    if not p.can_export:
        raise refuse(
            ak.engine,
            p,
            "export",
            "incident",
            incident_id,
            client,
            f"role_{p.role}_no_export",
            message=("証拠パッケージを書き出す権限がありません", "you may not export evidence packages"),
        )
    media: list[tuple[str, str]] = []
    derived: list[Derived] = []  # each call's readable transcript (derived/call-N-transcript.*)
    meta: dict[str, Any] = {}
    with session_scope(ak.engine) as s:
        inc = _load(s, p, incident_id, client, "export")
        meta["incident"] = {
            "id": inc.id,
            "title": inc.title,
            "status": inc.status,
            "notes": inc.notes,
            "created_by": inc.created_by,
            "created_at": inc.created_at.isoformat(),
        }
        calls: list[dict[str, Any]] = []
        ranges: list[dict[str, Any]] = []
        for it in s.scalars(select(IncidentItem).where(IncidentItem.incident_id == incident_id)):
            if it.call_id is not None:
                call: Call = check_call(ak, s, p, it.call_id, "export", client)
                facts = readable_facts(p, call_facts(s, call, with_transcript=True))
                obj = s.get(EvidenceObject, call.media_object_id) if call.media_object_id else None
                if obj is not None and obj.state != "deleted":
                    media.append((call_media_name(call.id, obj), obj.id))  # write_package adds media/
                    facts["evidence_object"] = {
                        "id": obj.id,
                        "file": f"media/{media[-1][0]}",
                        "sha256": obj.sha256,
                        "size": obj.size,
                    }
                    analysis = call.extra.get("analysis")
                    derived += transcript_files(
                        facts,
                        analysis if isinstance(analysis, dict) else None,
                        media[-1][0],
                        prefix=f"call-{call.id}-",
                    )
                calls.append(facts)
            elif it.camera_id is not None and it.started_at and it.ended_at:
                cam = s.get(Camera, it.camera_id)
                if cam is None:
                    continue
                segs = [
                    g
                    for g in segments_in(s, cam.id, it.started_at, it.ended_at)
                    if p.may_view_segment(cam, g.started_at, g.ended_at)
                ]
                if not segs and not p.sees_camera(cam):
                    continue
                for seg in segs:
                    assert seg.object_id is not None
                    media.append(
                        (
                            f"camera-{cam.name}-{seg.started_at:%Y%m%dT%H%M%S}-{seg.id}.mp4",
                            seg.object_id,
                        )
                    )
                ranges.append(
                    {
                        "camera": cam.name,
                        "started_at": it.started_at.isoformat(),
                        "ended_at": it.ended_at.isoformat(),
                        "segments": [g.id for g in segs],
                    }
                )
        meta["calls"] = calls
        meta["camera_ranges"] = ranges
        audit(
            s,
            user=p.name,
            action="export",
            target_type="incident",
            target_id=incident_id,
            client=client,
            detail={"objects": [m[1] for m in media], "file": out.name},
        )
    with session_scope(ak.engine) as s:
        trail = entries_for(s, "incident", incident_id)
    return write_package(
        out,
        keys=load_keys(ak.settings.keys_path),
        store=ak.store,
        media=media,
        metadata=meta,
        audit=trail,
        derived=derived,
    )
