"""Pausing and resuming a camera (from the admin page, the API or ``akashi cameras pause``).

A paused camera is a disabled one whose row remembers who paused it: a camera added from the web or
the CLI keeps ``enabled`` in its database row, a camera of ``akashi.toml`` gets ``enabled = false`` written
there. Either way every running camera service sees the change (the database fingerprint, or the file
watch) and stops or starts the camera without a restart; the camera shows ``paused`` with who paused it,
and its footage gap says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from akashi.cameras import records
from akashi.cameras.status import note_state
from akashi.cameras.supervisor import GAP_DOWN
from akashi.config import Settings, writer
from akashi.db import session_scope, utcnow
from akashi.db.models import Camera, CameraGap
from akashi.errors import NotFoundError

#: why a paused camera records nothing (its state detail and the reason of its footage gap)
PAUSED_REASON = "停止中（管理者が一時停止） / paused by an administrator"


@dataclass(frozen=True)
class PauseResult:
    """What a pause or resume changed: the camera's row id, where it is declared, and whether it moved."""

    camera_id: int
    source: str  # config | db
    changed: bool
    #: settings as ``akashi.toml`` now holds them (a config camera), for the caller to put in force
    settings: Settings | None = None


def paused_by(extra: dict[str, Any] | None) -> str | None:
    """Who paused the camera of a row's ``extra`` (None: not paused)."""
    info = (extra or {}).get("paused")
    return str(info.get("by", "")) if isinstance(info, dict) else None


def set_paused(settings: Settings, engine: Engine, name: str, paused: bool, by: str) -> PauseResult:
    """Pause (``paused=True``) or resume the camera ``name``; ``by`` is the user (or ``cli``) asking."""
    specs = {c.name: c for c in records.configured_cameras(settings, engine)}
    spec = specs.get(name)
    if spec is None:
        raise NotFoundError(f"カメラ {name} はありません", f"no camera {name}")
    cam_id = records.ensure_camera(engine, spec)
    changed = spec.enabled == paused
    new_settings = None
    if spec.source == "config" and changed:
        new_settings = writer.set_camera_enabled(settings.home, name, not paused)
    with session_scope(engine) as s:
        cam = s.get(Camera, cam_id)
        assert cam is not None  # ensure_camera made it
        extra = dict(cam.extra or {})
        if spec.source == "db":
            extra["enabled"] = not paused
        if paused:
            if changed or "paused" not in extra:  # pausing a paused camera again keeps who paused it
                extra["paused"] = {"by": by, "at": utcnow().isoformat()}
        else:
            extra.pop("paused", None)
        cam.extra = extra
    if paused:
        note_state(engine, cam_id, "paused", detail_of(paused_by(extra) or by))
    elif changed:  # the camera service starts it ("connecting", then "recording"); until then it is stopped
        note_state(engine, cam_id, "stopped")
    return PauseResult(cam_id, spec.source, changed, new_settings)


def detail_of(user: str) -> str:
    """The state detail of a camera paused by ``user``."""
    return f"{user} が一時停止 / paused by {user}"


def note_paused(engine: Engine, camera_id: int) -> bool:
    """After the camera service stopped a disabled camera: mark it ``paused`` (and its open footage gap
    with :data:`PAUSED_REASON`) when an administrator paused it. False for a camera disabled otherwise."""
    with session_scope(engine) as s:
        cam = s.get(Camera, camera_id)
        who = paused_by(cam.extra) if cam is not None else None
        if who is None:
            return False
        gap = s.scalar(
            select(CameraGap)
            .where(CameraGap.camera_id == camera_id, CameraGap.ended_at.is_(None))
            .order_by(CameraGap.started_at.desc())
            .limit(1)
        )
        if gap is not None and gap.reason == GAP_DOWN:  # the gap its stop opened, not an earlier outage's
            gap.reason = PAUSED_REASON
    note_state(engine, camera_id, "paused", detail_of(who))
    return True
