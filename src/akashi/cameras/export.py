"""``akashi export camera``: the footage of one or more cameras over a time range, as a signed package.

Each camera's segments in the range are joined by remuxing (never re-encoded) into one MP4 whose
time 0 is the first segment's wall-clock start; outages stay as holes in the timeline and are listed
as gaps. The joined clip goes into the store (kind ``camera_export``) so that the package writer,
which takes media from the store only, can include it; the original segments' hashes, object ids and
wall-clock times go into the metadata (and the segments themselves with ``include_segments``).
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
from sqlalchemy import select

from akashi.access.audit import audit, audit_now, entries_for
from akashi.access.principal import Principal
from akashi.db import session_scope, utcnow
from akashi.db.models import Camera, CameraGap, CameraSegment, EvidenceObject, Site
from akashi.errors import AccessDenied, ConfigError, NotFoundError
from akashi.store.export import write_package
from akashi.store.keys import load_keys

if TYPE_CHECKING:
    from akashi.context import Akashi

EXPORT_KEEP = timedelta(days=30)


@dataclass(frozen=True)
class SegmentRef:
    """What the export needs of one stored segment."""

    id: int
    object_id: str
    sha256: str
    size: int
    started_at: datetime
    ended_at: datetime
    frames: int
    codec: str
    width: int
    height: int
    quicktime: bool = False

    def facts(self) -> dict[str, Any]:
        """For metadata.json."""
        return {
            "segment_id": self.id, "object_id": self.object_id, "sha256": self.sha256, "size": self.size,
            "started_at": self.started_at.isoformat(), "ended_at": self.ended_at.isoformat(),
            "frames": self.frames, "codec": self.codec, "width": self.width, "height": self.height,
        }  # fmt: skip


def _check_camera(ak: Akashi, who: Principal, name: str, client: str) -> Camera:
    with session_scope(ak.engine) as s:
        cam = s.scalar(select(Camera).where(Camera.name == name))
        if cam is None:
            raise NotFoundError(f"カメラ {name} はありません", f"no camera {name}")
        why = ""
        if not who.may_view_camera(cam):
            why = "out_of_scope"
        elif not who.can_export:
            why = f"role_{who.role}_no_export"
        if why:
            audit_now(
                ak.engine, user=who.name, action="export", target_type="camera", target_id=cam.id,
                outcome="denied", client=client, detail={"reason": why},
            )  # fmt: skip
            raise AccessDenied(
                "この映像を書き出す権限がありません（記録されました）",
                f"not permitted to export camera {name} ({why}); the attempt has been audited",
            )
        return cam


def footage(
    ak: Akashi, camera_id: int, start: datetime, end: datetime
) -> tuple[list[SegmentRef], list[CameraGap]]:
    """Stored (not deleted) segments overlapping ``[start, end)`` and the gaps that touch it."""
    with session_scope(ak.engine) as s:
        rows = s.execute(
            select(CameraSegment, EvidenceObject.state, EvidenceObject.media_type)
            .join(EvidenceObject, EvidenceObject.id == CameraSegment.object_id)
            .where(
                CameraSegment.camera_id == camera_id,
                CameraSegment.started_at < end,
                CameraSegment.ended_at > start,
            )
            .order_by(CameraSegment.started_at)
        ).all()
        segs = [
            SegmentRef(
                r.id, r.object_id or "", r.sha256, r.size, r.started_at, r.ended_at, r.frames, r.codec,
                r.width, r.height, mtype == "video/quicktime",
            )
            for r, state, mtype in rows
            if state != "deleted"
        ]  # fmt: skip
        gaps = list(
            s.scalars(
                select(CameraGap)
                .where(
                    CameraGap.camera_id == camera_id,
                    CameraGap.started_at < end,
                    (CameraGap.ended_at.is_(None)) | (CameraGap.ended_at > start),
                )
                .order_by(CameraGap.started_at)
            )
        )
        return segs, gaps


def join_segments(ak: Akashi, segs: list[SegmentRef], out: Path, title: str) -> float:
    """Remux segments (stream copy) into one MP4 on a wall-clock timeline; returns its duration (s).

    A segment whose codec or size differs from the first is refused: it would not play in one track.
    """
    first = segs[0]
    t0 = first.started_at
    last_dts: dict[str, int] = {}
    fmt = "mov" if any(sg.quicktime for sg in segs) else "mp4"  # G.711 audio needs QuickTime
    with av.open(str(out), "w", format=fmt, options={"movflags": "+faststart"}) as dst:
        dst.metadata["title"] = title
        dst.metadata["creation_time"] = t0.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        dst.metadata["comment"] = f"wall-clock start {t0.isoformat()}; end {segs[-1].ended_at.isoformat()}"
        outs: dict[str, Any] = {}
        for seg in segs:
            if (seg.codec, seg.width, seg.height) != (first.codec, first.width, first.height):
                raise ConfigError(
                    f"映像の形式が途中で変わっています（{seg.started_at.isoformat()}）。範囲を分けてください",
                    f"the stream format changes at {seg.started_at.isoformat()}; export ranges separately",
                )
            data = b"".join(ak.store.iter_plaintext(seg.object_id))
            with av.open(io.BytesIO(data), "r") as src:
                streams = [*src.streams.video[:1], *src.streams.audio[:1]]
                for st in streams:
                    if st.type not in outs:
                        outs[st.type] = dst.add_stream_from_template(st)
                for pkt in src.demux(streams):
                    if pkt.dts is None or pkt.size == 0:
                        continue
                    tb = pkt.time_base
                    offset = round((seg.started_at - t0).total_seconds() / tb)
                    pkt.dts += offset
                    if pkt.pts is not None:
                        pkt.pts += offset
                    kind = pkt.stream.type
                    if pkt.dts <= last_dts.get(kind, -1):
                        continue  # rounding at a boundary: never let decode time go backwards
                    last_dts[kind] = pkt.dts
                    pkt.stream = outs[kind]
                    dst.mux(pkt)
    return (segs[-1].ended_at - t0).total_seconds()


def export_cameras(
    ak: Akashi,
    who: Principal,
    names: list[str],
    *,
    start: datetime,
    end: datetime,
    out: Path,
    client: str = "",
    include_segments: bool = False,
) -> Path:
    """Write the evidence package of ``names`` over ``[start, end)`` (permission checked, audited)."""

    if end <= start:
        raise ConfigError("--to は --from より後にしてください", "--to must be after --from")
    media: list[tuple[str, str]] = []
    cams_meta: list[dict[str, Any]] = []
    trail: list[dict[str, Any]] = []
    for name in dict.fromkeys(names):
        cam = _check_camera(ak, who, name, client)
        segs, gaps = footage(ak, cam.id, start, end)
        if not segs:
            raise NotFoundError(
                f"カメラ {name} のこの時間帯の映像はありません", f"camera {name} has no footage in that range"
            )
        ext = "mov" if any(sg.quicktime for sg in segs) else "mp4"
        clip_name = f"camera-{cam.id}.{ext}"
        # Plaintext is joined inside Akashi's own spool (mode 0700), never the system temp folder.
        ak.settings.spool_path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="export-", dir=ak.settings.spool_path) as tmp:
            clip = Path(tmp) / clip_name
            duration = join_segments(ak, segs, clip, f"{name} {segs[0].started_at.isoformat()}")
            with open(clip, "rb") as f:
                res = ak.store.put(
                    f, kind="camera_export", media_type="video/quicktime" if ext == "mov" else "video/mp4",
                    filename=f"{name}.{ext}",
                    meta={"camera": name, "segments": [sg.object_id for sg in segs], "by": who.name},
                    retain_until=utcnow() + EXPORT_KEEP,
                )  # fmt: skip
        media.append((clip_name, res.object_id))
        if include_segments:
            for sg in segs:
                stamp = sg.started_at.strftime("%Y%m%dT%H%M%S.%fZ")
                media.append((f"segments/camera-{cam.id}/{stamp}.{ext}", sg.object_id))
        with session_scope(ak.engine) as s:
            site = s.get(Site, cam.site_id) if cam.site_id is not None else None
            audit(
                s, user=who.name, action="export", target_type="camera", target_id=cam.id, client=client,
                detail={"from": start.isoformat(), "to": end.isoformat(), "segments": len(segs),
                        "file": out.name},
            )  # fmt: skip
        with session_scope(ak.engine) as s:
            trail += entries_for(s, "camera", cam.id)
        cams_meta.append({
            "name": name,
            "site": site.name if site is not None else "",
            "requested": {"from": start.isoformat(), "to": end.isoformat()},
            "covered": {"from": segs[0].started_at.isoformat(), "to": segs[-1].ended_at.isoformat()},
            "clip": {
                "file": f"media/{clip_name}", "object_id": res.object_id, "sha256": res.sha256,
                "duration_s": round(duration, 3), "time_zero": segs[0].started_at.isoformat(),
                "method": "remux (stream copy), no re-encoding",
            },
            "segments": [sg.facts() for sg in segs],
            "gaps": [
                {"started_at": g.started_at.isoformat(),
                 "ended_at": g.ended_at.isoformat() if g.ended_at else None, "reason": g.reason}
                for g in gaps
            ],
        })  # fmt: skip
    return write_package(
        out,
        keys=load_keys(ak.settings.keys_path),
        store=ak.store,
        media=media,
        metadata={"cameras": cams_meta},
        audit=trail,
    )
