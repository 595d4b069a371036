"""The one door to evidence: every play, download and export checks permission and is audited.

A refusal is audited as ``denied`` and raises :class:`AccessDenied`; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from akashi.access.audit import audit, audit_now
from akashi.access.principal import Principal
from akashi.db.base import session_scope
from akashi.db.models import Call, Camera, CameraSegment, EvidenceObject, Incident
from akashi.errors import AccessDenied, NotFoundError

if TYPE_CHECKING:
    from akashi.context import Akashi


@dataclass(frozen=True)
class MediaInfo:
    """What a player needs to know about a stored object."""

    object_id: str
    size: int
    media_type: str
    filename: str
    sha256: str


@dataclass
class MediaHandle:
    """Permission granted: read plaintext bytes ``[start, end)`` of one object."""

    ak: Akashi
    info: MediaInfo

    def iter(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Authenticated plaintext, decrypted on the fly (never written to disk)."""
        return self.ak.store.iter_plaintext(self.info.object_id, start, end)


def audit_refusal(
    engine: Engine,
    p: Principal,
    action: str,
    ttype: str,
    tid: str | int,
    client: str,
    why: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Audit a refused action as ``denied`` in its own transaction (the caller's rolls back)."""
    audit_now(
        engine,
        user=p.name,
        action=action,
        target_type=ttype,
        target_id=tid,
        outcome="denied",
        client=client,
        detail={"reason": why, **(detail or {})},
    )


def refuse(
    engine: Engine,
    p: Principal,
    action: str,
    ttype: str,
    tid: str | int,
    client: str,
    why: str,
    message: tuple[str, str] | None = None,
) -> AccessDenied:
    """Audit the refusal, then return the :class:`AccessDenied` for the caller to raise."""
    audit_refusal(engine, p, action, ttype, tid, client, why)
    ja, en = message or (
        "この記録を閲覧する権限がありません",
        f"not permitted to {action} this record ({why})",
    )
    return AccessDenied(f"{ja}（記録されました）", f"{en}; the attempt has been audited")


def _deny(
    ak: Akashi, p: Principal, action: str, ttype: str, tid: str | int, client: str, why: str
) -> AccessDenied:
    return refuse(ak.engine, p, action, ttype, tid, client, why)


def readable_facts(p: Principal, facts: dict[str, Any]) -> dict[str, Any]:
    """``facts`` without what was said (transcript, keywords, flagged words) for metadata-only roles."""
    if p.can_read_content:
        return facts
    out = {k: v for k, v in facts.items() if k not in ("transcript", "flag_details")}
    if "keywords" in out:
        out["keywords"] = []
    return out


def _info(obj: EvidenceObject) -> MediaInfo:
    return MediaInfo(obj.id, obj.size, obj.media_type, obj.filename, obj.sha256)


def check_call(ak: Akashi, s: Session, p: Principal, call_id: int, action: str, client: str) -> Call:
    """Load a call the principal may act on, or audit the refusal and raise."""
    call = s.get(Call, call_id)
    if call is None:
        raise NotFoundError(f"通話 {call_id} はありません", f"no call {call_id}")
    if not p.may_view_call(call):
        raise _deny(ak, p, action, "call", call_id, client, "out_of_scope")
    if action in ("play", "download") and not p.can_play:
        raise _deny(ak, p, action, "call", call_id, client, f"role_{p.role}_no_media")
    if action == "export" and not p.can_export:
        raise _deny(ak, p, action, "call", call_id, client, f"role_{p.role}_no_export")
    return call


def view_call(ak: Akashi, s: Session, p: Principal, call_id: int, client: str) -> Call:
    """A call (its record, transcript and flags) for reading: permission checked, the view audited.

    What was said in a call is evidence too, so reading it is logged like playback.
    """
    call = check_call(ak, s, p, call_id, "view", client)
    audit(s, user=p.name, action="view", target_type="call", target_id=call_id, client=client)
    return call


def open_call_media(
    ak: Akashi,
    principal: Principal,
    call_id: int,
    *,
    action: str = "play",
    client: str = "",
    detail: dict[str, Any] | None = None,
) -> MediaHandle:
    """Permission check + audit entry, then a handle to the call's media."""
    with session_scope(ak.engine) as s:
        call = check_call(ak, s, principal, call_id, action, client)
        if call.media_object_id is None:
            raise NotFoundError(f"通話 {call_id} には録音がありません", f"call {call_id} has no recording")
        obj = s.get(EvidenceObject, call.media_object_id)
        if obj is None or obj.state == "deleted":
            raise NotFoundError(
                f"通話 {call_id} の録音は保存期間満了で削除されています",
                f"recording of call {call_id} was deleted by retention",
            )
        audit(
            s,
            user=principal.name,
            action=action,
            target_type="call",
            target_id=call_id,
            client=client,
            detail={"object_id": obj.id, **(detail or {})},
        )
        return MediaHandle(ak, _info(obj))


def open_segment_media(
    ak: Akashi, principal: Principal, segment_id: int, *, action: str = "play", client: str = ""
) -> MediaHandle:
    """Permission check + audit entry, then a handle to one camera segment."""
    with session_scope(ak.engine) as s:
        seg = s.get(CameraSegment, segment_id)
        if seg is None or seg.object_id is None:
            raise NotFoundError(
                f"映像セグメント {segment_id} はありません", f"no camera segment {segment_id}"
            )
        cam = s.get(Camera, seg.camera_id)
        if cam is None or not principal.may_view_segment(cam, seg.started_at, seg.ended_at):
            raise _deny(ak, principal, action, "camera_segment", segment_id, client, "out_of_scope")
        if not principal.can_play:
            raise _deny(
                ak, principal, action, "camera_segment", segment_id, client, f"role_{principal.role}_no_media"
            )
        obj = s.get(EvidenceObject, seg.object_id)
        if obj is None or obj.state == "deleted":
            raise NotFoundError(
                f"映像セグメント {segment_id} は削除されています", f"camera segment {segment_id} was deleted"
            )
        audit(
            s,
            user=principal.name,
            action=action,
            target_type="camera_segment",
            target_id=segment_id,
            client=client,
            detail={"object_id": obj.id, "camera": cam.name},
        )
        return MediaHandle(ak, _info(obj))


def call_media_name(call_id: int, obj: EvidenceObject) -> str:
    """The name of a call's recording inside a package's ``media/`` folder (without that prefix)."""
    return f"call-{call_id}-{obj.filename or obj.id + '.wav'}"


def _engine_of(s: Session) -> Engine:
    engine = s.get_bind()
    assert isinstance(engine, Engine)
    return engine


def check_camera(s: Session, p: Principal, camera_id: int, action: str = "view", client: str = "") -> Camera:
    """A camera the principal may see (:meth:`Principal.may_view_camera`), else 404.

    A camera that exists but is out of scope is audited as a denied ``action`` before the 404, so
    probing for cameras of other sites leaves a trace without telling which exist.
    """
    cam = s.get(Camera, camera_id)
    if cam is None or not p.may_view_camera(cam):
        if cam is not None:
            audit_refusal(_engine_of(s), p, action, "camera", camera_id, client, "out_of_scope")
        raise NotFoundError(f"カメラ {camera_id} はありません", f"no camera {camera_id}")
    return cam


def check_incident(
    s: Session, p: Principal, incident_id: int, action: str = "view", client: str = ""
) -> Incident:
    """An incident the principal may open (:meth:`Principal.may_view_incident`), else 404.

    One that exists but is out of scope is audited as a denied ``action`` before the 404.
    """
    inc = s.get(Incident, incident_id)
    if inc is None or not p.may_view_incident(inc):
        if inc is not None:
            audit_refusal(_engine_of(s), p, action, "incident", incident_id, client, "out_of_scope")
        raise NotFoundError(f"案件 {incident_id} はありません", f"no incident {incident_id}")
    return inc
