"""Database side of cameras: camera rows, segments, gaps, and cameras added from the CLI.

Cameras come from two places: ``[[cameras]]`` in ``akashi.toml`` and ``akashi cameras add``, which keeps
the camera in the database with its URL encrypted under the installation key (so the TOML file is never
rewritten). :func:`configured_cameras` merges both; config wins on a name clash.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from akashi.cameras.spool import SegmentMeta
from akashi.cameras.urls import check_rtsp_url
from akashi.config import Settings
from akashi.db import session_scope, utcnow
from akashi.db.models import Camera, CameraGap, CameraSegment, Site
from akashi.db.queries import site_id_for
from akashi.errors import ConfigError, NotFoundError
from akashi.store.keys import load_keys


@dataclass(frozen=True)
class CameraSpec:
    """A camera to record, whichever place it was declared in. ``url`` holds credentials."""

    name: str
    site: str
    url: str
    segment_seconds: float
    enabled: bool
    source: str  # config | db

    def __repr__(self) -> str:
        return f"CameraSpec(name={self.name!r}, site={self.site!r}, source={self.source!r})"


def _url_key(settings: Settings) -> bytes:
    kek = load_keys(settings.keys_path).kek
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"akashi camera url v1").derive(kek)


def seal_url(settings: Settings, url: str) -> str:
    """Encrypt a camera URL (AES-256-GCM under a key derived from the installation key)."""
    nonce = os.urandom(12)
    return (nonce + AESGCM(_url_key(settings)).encrypt(nonce, url.encode(), b"camera-url")).hex()


def open_url(settings: Settings, sealed: str) -> str:
    """Decrypt what :func:`seal_url` made."""
    raw = bytes.fromhex(sealed)
    return AESGCM(_url_key(settings)).decrypt(raw[:12], raw[12:], b"camera-url").decode()


def site_id(engine: Engine, name: str) -> int | None:
    """Id of a site by name, created if unknown; None for no site."""
    with session_scope(engine) as s:
        return site_id_for(s, name)


def ensure_camera(engine: Engine, spec: CameraSpec) -> int:
    """The camera's row id (created or updated to match the spec)."""
    sid = site_id(engine, spec.site)
    with session_scope(engine) as s:
        cam = s.scalar(select(Camera).where(Camera.name == spec.name))
        if cam is None:
            cam = Camera(name=spec.name, site_id=sid, state="stopped", extra={"source": spec.source})
            s.add(cam)
            s.flush()
        elif cam.site_id != sid:
            cam.site_id = sid
        return cam.id


def configured_cameras(settings: Settings, engine: Engine) -> list[CameraSpec]:
    """Cameras of ``akashi.toml`` followed by those added from the CLI."""
    out = [
        CameraSpec(c.name, c.site, c.url.get_secret_value(), c.segment_seconds, c.enabled, "config")
        for c in settings.cameras
    ]
    names = {c.name for c in out}
    if len(names) != len(out):
        dup = sorted({c.name for c in out if sum(1 for o in out if o.name == c.name) > 1})
        raise ConfigError(
            f"カメラ名が重複しています: {', '.join(dup)}", f"camera names must be unique: {', '.join(dup)}"
        )
    with session_scope(engine) as s:
        rows = s.execute(select(Camera, Site.name).outerjoin(Site, Camera.site_id == Site.id)).all()
        for cam, site in rows:
            extra = cam.extra or {}
            if extra.get("source") != "db" or cam.name in names or "url" not in extra:
                continue
            out.append(
                CameraSpec(
                    cam.name,
                    site or "",
                    open_url(settings, extra["url"]),
                    float(extra.get("segment_seconds", 4.0)),
                    bool(extra.get("enabled", True)),
                    "db",
                )
            )
    return out


def add_camera(settings: Settings, engine: Engine, *, name: str, url: str, site: str, seconds: float) -> int:
    """Keep a new camera in the database (URL encrypted)."""
    check_rtsp_url(url)
    if any(c.name == name for c in settings.cameras):
        raise ConfigError(
            f"カメラ {name} は設定ファイルにあります", f"camera {name} is already in akashi.toml"
        )
    if not 1.0 <= seconds <= 60.0:
        raise ConfigError("segment_seconds は 1〜60 秒です", "segment_seconds must be 1 to 60")
    sid = site_id(engine, site)
    extra: dict[str, Any] = {
        "source": "db",
        "url": seal_url(settings, url),
        "segment_seconds": seconds,
        "enabled": True,
    }
    with session_scope(engine) as s:
        cam = s.scalar(select(Camera).where(Camera.name == name))
        if cam is not None and (cam.extra or {}).get("source") == "db":
            raise ConfigError(f"カメラ {name} は登録済みです", f"camera {name} already exists")
        if cam is None:
            cam = Camera(name=name, site_id=sid, state="stopped", extra=extra)
            s.add(cam)
        else:  # known from footage of an earlier config: keep its history
            cam.site_id, cam.extra = sid, extra
        s.flush()
        return cam.id


def remove_camera(engine: Engine, name: str) -> None:
    """Stop recording a CLI-added camera; its footage and history stay."""
    with session_scope(engine) as s:
        cam = s.scalar(select(Camera).where(Camera.name == name))
        if cam is None or (cam.extra or {}).get("source") != "db":
            raise NotFoundError(
                f"CLIで追加したカメラ {name} はありません（設定ファイルのカメラは akashi.toml で削除）",
                f"no camera {name} added from the CLI (remove config cameras from akashi.toml)",
            )
        cam.extra = {"source": "removed"}
        cam.state = "removed"


def set_state(engine: Engine, camera_id: int, state: str, alert: str | None = None) -> None:
    """Record the camera's state (and an alert text, or clear it with "")."""
    with session_scope(engine) as s:
        cam = s.get(Camera, camera_id)
        if cam is None:
            return
        cam.state = state
        if alert is not None:
            extra = dict(cam.extra or {})
            if alert:
                extra["alert"] = alert
                extra["alert_at"] = utcnow().isoformat()
            else:
                extra.pop("alert", None)
                extra.pop("alert_at", None)
            cam.extra = extra


def open_gap(engine: Engine, camera_id: int, start: datetime, reason: str) -> int:
    """Start a gap (ended_at stays empty until footage resumes)."""
    with session_scope(engine) as s:
        gap = CameraGap(camera_id=camera_id, started_at=start, reason=reason[:200])
        s.add(gap)
        s.flush()
        return gap.id


def add_gap(engine: Engine, camera_id: int, start: datetime, end: datetime, reason: str) -> int:
    """Record a whole gap at once (its start could not be written while the database was down)."""
    with session_scope(engine) as s:
        gap = CameraGap(camera_id=camera_id, started_at=start, ended_at=max(end, start), reason=reason[:200])
        s.add(gap)
        s.flush()
        return gap.id


def close_gap(engine: Engine, gap_id: int, end: datetime) -> None:
    """End a gap at the first footage after it."""
    with session_scope(engine) as s:
        gap = s.get(CameraGap, gap_id)
        if gap is not None and gap.ended_at is None:
            gap.ended_at = max(end, gap.started_at)


def open_gap_of(engine: Engine, camera_id: int) -> int | None:
    """The camera's gap still open (recorder stopped or crashed during an outage), if any."""
    with session_scope(engine) as s:
        return s.scalar(
            select(CameraGap.id)
            .where(CameraGap.camera_id == camera_id, CameraGap.ended_at.is_(None))
            .order_by(CameraGap.started_at.desc())
            .limit(1)
        )


def last_segment_end(engine: Engine, camera_id: int) -> datetime | None:
    """End of the camera's newest stored segment."""
    with session_scope(engine) as s:
        return s.scalar(select(func.max(CameraSegment.ended_at)).where(CameraSegment.camera_id == camera_id))


def segment_exists(engine: Engine, camera_id: int, started_at: datetime) -> bool:
    """True when this segment was already recorded (an upload repeated after a crash)."""
    with session_scope(engine) as s:
        return (
            s.scalar(
                select(CameraSegment.id).where(
                    CameraSegment.camera_id == camera_id, CameraSegment.started_at == started_at
                )
            )
            is not None
        )


def add_segment(engine: Engine, meta: SegmentMeta, object_id: str, sha256: str, size: int) -> int:
    """Record a stored segment and move the camera's last-segment time."""
    with session_scope(engine) as s:
        return add_segment_rows(s, [(meta, object_id, sha256, size)])[0]


def add_segment_rows(session: Session, stored: list[tuple[SegmentMeta, str, str, int]]) -> list[int]:
    """Add the rows of stored segments ``(meta, object_id, sha256, size)`` in the caller's transaction
    and move each camera's last-segment time; their ids."""
    segs = [
        CameraSegment(
            camera_id=meta.camera_id,
            object_id=object_id,
            started_at=meta.started_at,
            ended_at=meta.ended_at,
            frames=meta.frames,
            codec=meta.codec,
            width=meta.width,
            height=meta.height,
            size=size,
            sha256=sha256,
        )
        for meta, object_id, sha256, size in stored
    ]
    session.add_all(segs)
    cams: dict[int, Camera | None] = {}
    for meta, *_ in stored:
        if meta.camera_id not in cams:
            cams[meta.camera_id] = session.get(Camera, meta.camera_id)
        cam = cams[meta.camera_id]
        if cam is not None:
            if cam.last_segment_at is None or meta.ended_at > cam.last_segment_at:
                cam.last_segment_at = meta.ended_at
            cam.codec = meta.codec
    session.flush()
    return [seg.id for seg in segs]
