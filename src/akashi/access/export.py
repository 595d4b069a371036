"""The one evidence-package builder: a call, a camera range, an incident.

Every export checks permission first and audits it (a refusal is audited as ``denied``), then writes
one package with :func:`akashi.store.export.write_package`. A call is packed the same way wherever
it travels: its original media, its facts (what was said only for roles that may read it), a stereo
WAV listening copy beside an RTP original, and its readable transcript. So an incident's package holds
exactly what the package of each of its calls would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from akashi.access.audit import audit, entries_for
from akashi.access.evidence import (
    call_media_name,
    check_call,
    check_camera,
    check_incident,
    readable_facts,
    refuse,
)
from akashi.access.principal import Principal
from akashi.analysis.transcript_doc import package_files as transcript_files
from akashi.calls import call_facts
from akashi.codecs.container import MEDIA_TYPE
from akashi.codecs.decode import playable_wav
from akashi.db.base import session_scope
from akashi.db.models import Call, Camera, CameraSegment, EvidenceObject, IncidentItem
from akashi.errors import AkashiError, NotFoundError
from akashi.store.export import Derived, write_package
from akashi.store.keys import load_keys

if TYPE_CHECKING:
    from akashi.context import Akashi

#: the longest camera range one export joins
MAX_CAMERA_RANGE = timedelta(days=1)


@dataclass
class _Parts:
    """What a package is made of, gathered item by item before anything is written."""

    media: list[tuple[str, str]] = field(default_factory=list)  # (name under media/, object id)
    derived: list[Derived] = field(default_factory=list)


def _listening_copy(ak: Akashi, obj: EvidenceObject, media_name: str, call_id: int) -> list[Derived]:
    """A call kept as RTP (G.722, Opus...) gets a stereo WAV beside it that any player opens."""
    if obj.media_type != MEDIA_TYPE:
        return []
    wav = playable_wav(b"".join(ak.store.iter_plaintext(obj.id)))
    how = (
        "decoded from the RTP packets of the original for listening (stereo PCM, left: customer, "
        "right: what the customer heard); not the evidence / 再生用に原本の RTP から復号した複製"
    )
    return [Derived(f"call-{call_id}.wav", wav, media_name, how)]


def _live_object(s: Session, call: Call) -> EvidenceObject | None:
    obj = s.get(EvidenceObject, call.media_object_id) if call.media_object_id else None
    return obj if obj is not None and obj.state != "deleted" else None


def _add_call(
    ak: Akashi, s: Session, p: Principal, call: Call, obj: EvidenceObject | None, parts: _Parts, prefix: str
) -> dict[str, Any]:
    """Pack one call (already permitted) into ``parts``; its facts for the package's metadata."""

    facts = readable_facts(p, call_facts(s, call, with_transcript=True))
    if obj is None:
        return facts
    media_name = call_media_name(call.id, obj)
    parts.media.append((media_name, obj.id))  # write_package adds media/
    facts["evidence_object"] = {
        "id": obj.id,
        "file": f"media/{media_name}",
        "sha256": obj.sha256,
        "size": obj.size,
        "media_type": obj.media_type,
    }
    parts.derived += _listening_copy(ak, obj, media_name, call.id)
    # the model and settings the readable transcript states
    parts.derived += transcript_files(facts, call.facts.analysis, media_name, prefix=prefix)
    return facts


def _write(
    ak: Akashi, out: Path, parts: _Parts, metadata: dict[str, Any], trail: list[dict[str, Any]]
) -> Path:
    return write_package(
        out,
        keys=load_keys(ak.settings.keys_path),
        store=ak.store,
        media=parts.media,
        metadata=metadata,
        audit=trail,
        derived=parts.derived,
    )


def export_call(ak: Akashi, principal: Principal, call_id: int, out: Path, *, client: str = "") -> Path:
    """Write the evidence package of one call (permission checked, export audited first)."""
    with session_scope(ak.engine) as s:
        call = check_call(ak, s, principal, call_id, "export", client)
        if call.media_object_id is None:
            raise NotFoundError(f"通話 {call_id} には録音がありません", f"call {call_id} has no recording")
        obj = _live_object(s, call)
        if obj is None:
            raise NotFoundError(
                f"通話 {call_id} の録音は削除されています", f"recording of call {call_id} was deleted"
            )
        audit(
            s,
            user=principal.name,
            action="export",
            target_type="call",
            target_id=call_id,
            client=client,
            detail={"object_id": obj.id, "file": out.name},
        )
    parts = _Parts()
    with session_scope(ak.engine) as s:
        again = s.get(Call, call_id)
        assert again is not None
        facts = _add_call(ak, s, principal, again, obj, parts, prefix="")
        trail = entries_for(s, "call", call_id)
    return _write(ak, out, parts, {"call": facts}, trail)


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


def _add_range(s: Session, p: Principal, it: IncidentItem, parts: _Parts) -> dict[str, Any] | None:
    """Pack the segments of one camera range the principal may see; None when the camera is hidden."""
    assert it.camera_id is not None and it.started_at is not None and it.ended_at is not None
    cam = s.get(Camera, it.camera_id)
    if cam is None:
        return None
    segs = [
        g
        for g in segments_in(s, cam.id, it.started_at, it.ended_at)
        if p.may_view_segment(cam, g.started_at, g.ended_at)
    ]
    if not segs and not p.may_view_camera(cam):
        return None
    for seg in segs:
        assert seg.object_id is not None
        parts.media.append((f"camera-{cam.name}-{seg.started_at:%Y%m%dT%H%M%S}-{seg.id}.mp4", seg.object_id))
    return {
        "camera": cam.name,
        "started_at": it.started_at.isoformat(),
        "ended_at": it.ended_at.isoformat(),
        "segments": [g.id for g in segs],
    }


def export_incident(ak: Akashi, p: Principal, incident_id: int, out: Path, client: str = "") -> Path:
    """One package with every call and camera range of an incident (each call packed as by :func:`export_call`).

    A role that may not export, an incident out of scope, or a linked call out of scope is refused
    and audited as ``denied``; nothing is written then.
    """
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
    parts = _Parts()
    with session_scope(ak.engine) as s:
        inc = check_incident(s, p, incident_id, "export", client)
        meta: dict[str, Any] = {
            "incident": {
                "id": inc.id,
                "title": inc.title,
                "status": inc.status,
                "notes": inc.notes,
                "created_by": inc.created_by,
                "created_at": inc.created_at.isoformat(),
            }
        }
        calls: list[dict[str, Any]] = []
        ranges: list[dict[str, Any]] = []
        for it in s.scalars(select(IncidentItem).where(IncidentItem.incident_id == incident_id)):
            if it.call_id is not None:
                call = check_call(ak, s, p, it.call_id, "export", client)
                calls.append(
                    _add_call(ak, s, p, call, _live_object(s, call), parts, prefix=f"call-{call.id}-")
                )
            elif it.camera_id is not None and it.started_at and it.ended_at:
                found = _add_range(s, p, it, parts)
                if found is not None:
                    ranges.append(found)
        meta["calls"] = calls
        meta["camera_ranges"] = ranges
        audit(
            s,
            user=p.name,
            action="export",
            target_type="incident",
            target_id=incident_id,
            client=client,
            detail={"objects": [m[1] for m in parts.media], "file": out.name},
        )
    with session_scope(ak.engine) as s:
        trail = entries_for(s, "incident", incident_id)
    return _write(ak, out, parts, meta, trail)


def export_camera_range(
    ak: Akashi, p: Principal, camera_id: int, start: datetime, end: datetime, out: Path, client: str = ""
) -> Path:
    """The package of one camera over ``[start, end)`` (at most a day): segments joined without re-encoding.

    A camera out of scope is audited and answered 404; the joining exporter of the cameras area then
    checks the export right itself and audits the export.
    """
    from akashi.cameras.export import export_cameras  # noqa: PLC0415 - camera export imports PyAV (optional 'media' extra); call exports never need it

    if end <= start or end - start > MAX_CAMERA_RANGE:
        raise AkashiError(
            "範囲は 24 時間以内で、終了は開始より後にしてください",
            "the range must end after it starts and last at most 24 hours",
        )
    with session_scope(ak.engine) as s:
        name = check_camera(s, p, camera_id, "view", client).name
    return export_cameras(ak, p, [name], start=start, end=end, out=out, client=client)
