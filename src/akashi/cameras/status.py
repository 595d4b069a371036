"""What ``akashi cameras list`` and the web UI show about each camera."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, func, select

from akashi.cameras.records import configured_cameras
from akashi.cameras.urls import mask_url
from akashi.db import session_scope, utcnow
from akashi.db.models import Camera, CameraGap, CameraSegment

if TYPE_CHECKING:
    from akashi.context import Akashi

RECENT_GAPS = 10

#: States in which a camera records nothing for a reason its tile names; "since" runs from the first.
NOT_RECORDING = frozenset({"connecting", "unreachable", "auth_refused", "no_keyframe", "error"})
#: What a refused login looks like in FFmpeg's words (RTSP 401/403 map to its HTTP errors).
_AUTH_WORDS = ("401", "403", "unauthorized", "forbidden", "authorization failed")


def why_not_recording(connected: bool, recorded: bool, reason: str) -> str:
    """The state a session that ended leaves its camera in: ``auth_refused`` (the camera refused the
    login), ``unreachable`` (no answer, or the link dropped), ``no_keyframe`` (it answered but sent no
    picture to start a segment with) or ``error`` (no video stream at all)."""
    low = reason.lower()
    if any(w in low for w in _AUTH_WORDS):
        return "auth_refused"
    if not connected or recorded:
        return "unreachable"
    if "no video" in low:
        return "error"
    return "no_keyframe"


def note_state(
    engine: Engine, camera_id: int, state: str, detail: str = "", at: datetime | None = None
) -> None:
    """Record the camera's state with since when it holds (``state_since``, UTC) and why (``state_detail``).

    One outage keeps its start: moving between the not-recording states (a retry that fails another
    way) keeps ``state_since``; reaching or leaving ``recording`` (or ``disabled``...) starts it again.
    """
    with session_scope(engine) as s:
        cam = s.get(Camera, camera_id)
        if cam is None:
            return
        extra = dict(cam.extra or {})
        same_outage = cam.state in NOT_RECORDING and state in NOT_RECORDING and "state_since" in extra
        if (cam.state != state and not same_outage) or "state_since" not in extra:
            extra["state_since"] = (at or utcnow()).isoformat()
        if detail or state == "recording":
            extra["state_detail"] = detail[:300]
        cam.state = state
        cam.extra = extra


def state_since(extra: dict[str, Any] | None) -> datetime | None:
    """When the camera's state began (see :func:`note_state`), if known."""
    raw = (extra or {}).get("state_since")
    try:
        return datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        return None


def _iso(v: Any) -> str | None:
    return v.isoformat() if v is not None else None


def camera_status(ak: Akashi) -> list[dict[str, Any]]:
    """One dict per configured camera: state, last segment time, counts and the latest gaps."""
    out = []
    specs = configured_cameras(ak.settings, ak.engine)
    with session_scope(ak.engine) as s:
        for spec in specs:
            cam = s.scalar(select(Camera).where(Camera.name == spec.name))
            row: dict[str, Any] = {
                "name": spec.name,
                "site": spec.site,
                "url": mask_url(spec.url),
                "source": spec.source,
                "enabled": spec.enabled,
                "segment_seconds": spec.segment_seconds,
                "state": "never_started",
                "state_since": None,
                "state_detail": "",
                "last_segment_at": None,
                "segments": 0,
                "gaps": 0,
                "recent_gaps": [],
                "alert": None,
            }
            if cam is not None:
                row["state"] = cam.state
                row["state_since"] = (cam.extra or {}).get("state_since")
                row["state_detail"] = (cam.extra or {}).get("state_detail", "")
                row["last_segment_at"] = _iso(cam.last_segment_at)
                row["alert"] = (cam.extra or {}).get("alert")
                row["segments"] = s.scalar(
                    select(func.count()).select_from(CameraSegment).where(CameraSegment.camera_id == cam.id)
                )
                row["gaps"] = s.scalar(
                    select(func.count()).select_from(CameraGap).where(CameraGap.camera_id == cam.id)
                )
                gaps = s.scalars(
                    select(CameraGap)
                    .where(CameraGap.camera_id == cam.id)
                    .order_by(CameraGap.started_at.desc())
                    .limit(RECENT_GAPS)
                ).all()
                row["recent_gaps"] = [
                    {"started_at": _iso(g.started_at), "ended_at": _iso(g.ended_at), "reason": g.reason}
                    for g in gaps
                ]
            out.append(row)
    return out
