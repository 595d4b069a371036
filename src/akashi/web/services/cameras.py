"""Cameras for the pages and the API: list with state, the day's timeline with gaps, range export."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from akashi.access import Principal
from akashi.access.evidence import check_camera
from akashi.cameras.status import state_since
from akashi.db.models import Camera, CameraGap, CameraSegment, Site
from akashi.web.i18n import jst
from akashi.web.services.calls import jst_day_start

if TYPE_CHECKING:
    pass


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
                # why it is not recording, and since when (JST with the zone): see akashi.cameras.status
                "since_jst": jst(state_since(c.extra)) if c.state != "recording" else "",
                "state_detail": (c.extra or {}).get("state_detail", "") if c.state != "recording" else "",
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
    return check_camera(s, p, camera_id, "view", client)


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
        "camera": {
            "id": cam.id,
            "name": cam.name,
            "state": cam.state,
            "since_jst": jst(state_since(cam.extra)) if cam.state != "recording" else "",
            "state_detail": (cam.extra or {}).get("state_detail", "") if cam.state != "recording" else "",
        },
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


def latest_segment(s: Session, p: Principal, camera_id: int, client: str = "") -> int | None:
    """Id of the newest stored segment of a camera the user may see."""
    cam = camera_for(s, p, camera_id, client)
    return s.scalar(
        select(CameraSegment.id)
        .where(CameraSegment.camera_id == cam.id, CameraSegment.object_id.is_not(None))
        .order_by(CameraSegment.started_at.desc())
        .limit(1)
    )
