"""What ``akashi cameras list`` and the web UI show about each camera."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from akashi.cameras.records import configured_cameras
from akashi.cameras.urls import mask_url
from akashi.db import session_scope
from akashi.db.models import Camera, CameraGap, CameraSegment

if TYPE_CHECKING:
    from akashi.context import Akashi

RECENT_GAPS = 10


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
                "last_segment_at": None,
                "segments": 0,
                "gaps": 0,
                "recent_gaps": [],
                "alert": None,
            }
            if cam is not None:
                row["state"] = cam.state
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
