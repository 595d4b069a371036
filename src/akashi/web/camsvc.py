"""Cameras for the pages and the API: list with state, the day's timeline with gaps, range export."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session

from akashi.access import Principal
from akashi.access.evidence import audit_refusal
from akashi.db.base import session_scope
from akashi.db.models import Camera, CameraGap, CameraSegment, Site
from akashi.errors import AkashiError, NotFoundError
from akashi.web.callsvc import jst_day_start
from akashi.web.i18n import jst

if TYPE_CHECKING:
    from akashi.context import Akashi


def list_cameras(s: Session, p: Principal) -> list[dict[str, Any]]:
    """Cameras the user may see, grouped by site name in order."""
    sites = {k: v for k, v in s.execute(select(Site.id, Site.name))}
    out = []
    for c in s.scalars(select(Camera).where(p.cameras_clause()).order_by(Camera.site_id, Camera.name)):
        out.append(
            {
                "id": c.id,
                "name": c.name,
                "site": sites.get(c.site_id) if c.site_id else None,
                "state": c.state,
                "codec": c.codec,
                "last_segment_at": c.last_segment_at,
                "last_segment_jst": jst(c.last_segment_at),
                "thumbnail_object_id": (c.extra or {}).get("thumbnail_object_id"),
            }
        )
    return out


def camera_for(s: Session, p: Principal, camera_id: int, client: str = "") -> Camera:
    """A camera the user may see, else 404 (operators and counsel browse no cameras).

    A camera that exists but is out of scope is audited as a denied ``view`` before the 404.
    """
    cam = s.get(Camera, camera_id)
    if cam is not None and not p.sees_camera(cam):
        engine = s.get_bind()
        assert isinstance(engine, Engine)
        audit_refusal(engine, p, "view", "camera", camera_id, client, "out_of_scope")
    if cam is None or not p.sees_camera(cam):
        raise NotFoundError(f"カメラ {camera_id} はありません", f"no camera {camera_id}")
    return cam


def timeline(s: Session, p: Principal, camera_id: int, day: date) -> dict[str, Any]:
    """Segments and gaps of one JST day, as offsets in seconds from JST midnight."""
    cam = camera_for(s, p, camera_id)
    start = jst_day_start(day)
    end = start + timedelta(days=1)
    segs = s.scalars(
        select(CameraSegment)
        .where(
            CameraSegment.camera_id == cam.id, CameraSegment.started_at < end, CameraSegment.ended_at > start
        )
        .order_by(CameraSegment.started_at)
    ).all()
    gaps = s.scalars(
        select(CameraGap)
        .where(
            CameraGap.camera_id == cam.id,
            CameraGap.started_at < end,
            or_(CameraGap.ended_at.is_(None), CameraGap.ended_at > start),
        )
        .order_by(CameraGap.started_at)
    ).all()

    def off(t: datetime | None) -> float:
        return max(0.0, min(86400.0, ((t or end) - start).total_seconds()))

    return {
        "camera": {"id": cam.id, "name": cam.name, "state": cam.state},
        "day": day.isoformat(),
        "segments": [
            {
                "id": g.id,
                "start": off(g.started_at),
                "end": off(g.ended_at),
                "started_jst": jst(g.started_at),
                "ended_jst": jst(g.ended_at),
                "size": g.size,
                "playable": g.object_id is not None,
            }
            for g in segs
        ],
        "gaps": [
            {
                "start": off(g.started_at),
                "end": off(g.ended_at),
                "reason": g.reason,
                "started_jst": jst(g.started_at),
                "ended_jst": jst(g.ended_at),
            }
            for g in gaps
        ],
    }


def export_range(
    ak: Akashi, p: Principal, camera_id: int, start: datetime, end: datetime, out: Path, client: str
) -> Path:
    """The evidence package of one camera over ``[start, end)``: segments joined without re-encoding
    (the cameras area's exporter checks permission and audits)."""
    from akashi.cameras.export import export_cameras

    if end <= start or end - start > timedelta(days=1):
        raise AkashiError(
            "範囲は 24 時間以内で、終了は開始より後にしてください",
            "the range must end after it starts and last at most 24 hours",
        )
    with session_scope(ak.engine) as s:
        name = camera_for(s, p, camera_id).name
    return export_cameras(ak, p, [name], start=start, end=end, out=out, client=client)


def latest_segment(s: Session, p: Principal, camera_id: int, client: str = "") -> int | None:
    """Id of the newest stored segment of a camera the user may see."""
    cam = camera_for(s, p, camera_id, client)
    return s.scalar(
        select(CameraSegment.id)
        .where(CameraSegment.camera_id == cam.id, CameraSegment.object_id.is_not(None))
        .order_by(CameraSegment.started_at.desc())
        .limit(1)
    )
