"""``/api/v1``: dashboard, incidents (案件) and cameras."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, cast

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from akashi.access import audit, open_segment_media
from akashi.access import export as evidence_export
from akashi.access import grants as grantsvc
from akashi.access.evidence import refuse
from akashi.context import Akashi
from akashi.db.base import session_scope, utcnow
from akashi.errors import AkashiError, NotFoundError, ProtocolError
from akashi.web.deps import AkashiDep, Auth, DbDep, UserDep, require_user
from akashi.web.downloads import package_response
from akashi.web.i18n import JST, jst
from akashi.web.schemas import IncidentIn, IncidentItemIn, IncidentOut, IncidentPatch, NoteIn, NoteOut
from akashi.web.services import cameras as camsvc
from akashi.web.services import incidents
from akashi.web.services.calls import add_note, readable_dashboard
from akashi.web.services.dashboard import dashboard
from akashi.web.services.media import RangeNotSatisfiable, parse_range

router = APIRouter(dependencies=[Depends(require_user)])
Id = Annotated[int, PathParam(ge=1, le=2**62)]


@router.get("/dashboard", tags=["dashboard"])
def get_dashboard(db: DbDep, auth: UserDep) -> dict[str, Any]:
    """Figures of the dashboard over the calls and cameras the user may see."""
    return readable_dashboard(auth.principal, dashboard(db, auth.principal))


@router.get("/incidents", tags=["incidents"], response_model=list[IncidentOut])
def get_incidents(db: DbDep, auth: UserDep) -> list[IncidentOut]:
    """Incidents of the user's sites."""
    return incidents.list_incidents(db, auth.principal)


@router.post(
    "/incidents", tags=["incidents"], response_model=IncidentOut, status_code=201, responses={403: {}}
)
def post_incident(body: IncidentIn, db: DbDep, auth: UserDep) -> IncidentOut:
    """Open an incident (admins and managers)."""
    new_id = incidents.create_incident(db, auth.principal, body.title, body.site, body.notes, auth.client)
    return incidents.get_incident(db, auth.principal, new_id)


@router.get("/incidents/{incident_id}", tags=["incidents"], response_model=IncidentOut, responses={404: {}})
def get_incident(incident_id: Id, db: DbDep, auth: UserDep) -> IncidentOut:
    """One incident with its calls, camera ranges and notes."""
    return incidents.get_incident(db, auth.principal, incident_id, auth.client)


@router.patch(
    "/incidents/{incident_id}", tags=["incidents"], response_model=IncidentOut, responses={403: {}, 404: {}}
)
def patch_incident(
    incident_id: Id, body: IncidentPatch, ak: AkashiDep, db: DbDep, auth: UserDep
) -> IncidentOut:
    """Change status, notes or legal hold."""
    incidents.patch_incident(ak, db, auth.principal, incident_id, body, auth.client)
    return incidents.get_incident(db, auth.principal, incident_id)


@router.post(
    "/incidents/{incident_id}/items",
    tags=["incidents"],
    response_model=IncidentOut,
    status_code=201,
    responses={400: {}, 403: {}, 404: {}},
)
def post_item(incident_id: Id, body: IncidentItemIn, ak: AkashiDep, db: DbDep, auth: UserDep) -> IncidentOut:
    """Link a call or a camera range."""
    incidents.add_item(ak, db, auth.principal, incident_id, body, auth.client)
    return incidents.get_incident(db, auth.principal, incident_id)


@router.post(
    "/incidents/{incident_id}/notes",
    tags=["incidents"],
    response_model=NoteOut,
    status_code=201,
    responses={403: {}, 404: {}},
)
def post_incident_note(incident_id: Id, body: NoteIn, ak: AkashiDep, db: DbDep, auth: UserDep) -> NoteOut:
    """Add a note to an incident."""
    incidents.get_incident(db, auth.principal, incident_id, auth.client)
    n = add_note(ak, db, auth.principal, "incident", incident_id, body.text, auth.client)
    return NoteOut(
        id=n.id, author=n.author, text=n.text, created_at=n.created_at, created_jst=jst(n.created_at)
    )


class GrantIn(BaseModel):
    """Let a counsel user read one incident until a day (JST, inclusive) or a time."""

    user: str = Field(..., min_length=1, max_length=128, description="User name (role counsel)")
    until: str = Field(
        ...,
        min_length=10,
        max_length=40,
        pattern=r"^\d{4}-\d{2}-\d{2}([T ][0-9:.+\-Z]+)?$",
        description="YYYY-MM-DD (through that JST day) or an ISO 8601 time",
    )


class GrantView(BaseModel):
    """One grant of an incident."""

    id: int
    incident_id: int
    user: str
    until: datetime
    granted_by: str
    created_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None
    active: bool


@router.get(
    "/incidents/{incident_id}/grants",
    tags=["incidents"],
    response_model=list[GrantView],
    responses={404: {}},
)
def get_grants(incident_id: Id, db: DbDep, auth: UserDep) -> list[GrantView]:
    """Who was given access to this incident, until when (admins and the site's managers)."""
    incidents.get_incident(db, auth.principal, incident_id, auth.client)
    return [GrantView(**vars(g)) for g in grantsvc.list_grants(db, auth.principal, incident_id)]


@router.post(
    "/incidents/{incident_id}/grants",
    tags=["incidents"],
    response_model=list[GrantView],
    status_code=201,
    responses={400: {}, 403: {}, 404: {}},
)
def post_grant(incident_id: Id, body: GrantIn, db: DbDep, auth: UserDep) -> list[GrantView]:
    """Grant a counsel user this incident's calls and camera clips until a date; audited."""
    until = grantsvc.parse_until(body.until)
    grantsvc.grant_incident(db, auth.principal, incident_id, body.user, until, auth.client)
    return [GrantView(**vars(g)) for g in grantsvc.list_grants(db, auth.principal, incident_id)]


@router.delete(
    "/incidents/{incident_id}/grants/{user_name}",
    tags=["incidents"],
    status_code=204,
    responses={403: {}, 404: {}},
)
def delete_grant(
    incident_id: Id,
    user_name: Annotated[str, PathParam(min_length=1, max_length=128)],
    db: DbDep,
    auth: UserDep,
) -> Response:
    """Revoke a user's access to this incident now; audited."""
    grantsvc.revoke_grants(db, auth.principal, incident_id, user_name, auth.client)
    return Response(status_code=204)


def _tmp(ak: Akashi) -> Path:
    return Path(tempfile.mkdtemp(prefix="akashi-export-", dir=ak.settings.spool_path))


def _export_incident(ak: Akashi, auth: Auth, incident_id: int) -> Path:
    tmp = _tmp(ak)
    try:
        return evidence_export.export_incident(
            ak, auth.principal, incident_id, tmp / f"akashi-incident-{incident_id}.zip", auth.client
        )
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@router.post(
    "/incidents/{incident_id}/export",
    tags=["incidents"],
    response_class=FileResponse,
    responses={200: {"content": {"application/zip": {}}}, 403: {}, 404: {}},
)
async def export_incident(
    incident_id: Id, ak: AkashiDep, auth: UserDep, tasks: BackgroundTasks
) -> FileResponse:
    """One evidence package for the whole incident."""
    path = await run_in_threadpool(_export_incident, ak, auth, incident_id)
    return package_response(path, path.name, tasks)


@router.get("/cameras", tags=["cameras"])
def get_cameras(db: DbDep, auth: UserDep) -> list[dict[str, Any]]:
    """Cameras of the user's sites with state and last segment time."""
    return camsvc.list_cameras(db, auth.principal)


@router.get("/cameras/{camera_id}/timeline", tags=["cameras"], responses={404: {}})
def get_timeline(
    camera_id: Id,
    db: DbDep,
    auth: UserDep,
    day: Annotated[date | None, Query(description="JST day; default today")] = None,
) -> dict[str, Any]:
    """Segments and gaps of one day."""

    return camsvc.timeline(db, auth.principal, camera_id, day or utcnow().astimezone(JST).date())


@router.get(
    "/camera-segments/{segment_id}/media",
    tags=["cameras"],
    response_class=Response,
    responses={200: {"content": {"video/mp4": {}}}, 206: {}, 403: {}, 404: {}, 416: {}},
)
def segment_media(segment_id: Id, request: Request, ak: AkashiDep, auth: UserDep) -> Response:
    """One camera segment (fMP4), decrypted on the fly, with Range; audited."""
    rng_header = request.headers.get("range")
    handle = open_segment_media(ak, auth.principal, segment_id, action="play", client=auth.client)
    size = handle.info.size
    headers = {"Accept-Ranges": "bytes", "Content-Type": handle.info.media_type}
    try:
        rng = parse_range(rng_header, size)
    except RangeNotSatisfiable:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
    if rng is None:
        headers["Content-Length"] = str(size)
        return StreamingResponse(handle.iter(0, size), headers=headers)
    headers["Content-Length"] = str(rng.length)
    headers["Content-Range"] = rng.content_range()
    return StreamingResponse(handle.iter(rng.start, rng.end + 1), status_code=206, headers=headers)


_THUMBS: dict[int, bytes] = {}


def _thumbnail(ak: Akashi, auth: Auth, camera_id: int) -> bytes:
    from akashi.cameras.thumbs import segment_thumbnails  # noqa: PLC0415 - PyAV is the optional 'media' extra; a call-only install never loads it

    p = auth.principal
    if not p.can_play:  # checked before the cache: frames are media
        raise refuse(
            ak.engine,
            p,
            "play",
            "camera",
            camera_id,
            auth.client,
            f"role_{p.role}_no_media",
            message=("映像を見る権限がありません", "not permitted to view camera footage"),
        )
    with session_scope(ak.engine) as s:
        seg_id = camsvc.latest_segment(s, p, camera_id, auth.client)
        cached = _THUMBS.get(seg_id) if seg_id is not None else None
        if seg_id is not None and cached is not None:
            # a frame from the cache is still footage shown to someone: audited like a decode
            audit(
                s,
                user=p.name,
                action="play",
                target_type="camera_segment",
                target_id=seg_id,
                client=auth.client,
                detail={"purpose": "thumbnail", "cached": True, "camera_id": camera_id},
            )
            return cached
    if seg_id is None:
        raise NotFoundError("このカメラの録画はまだありません", "no footage from this camera yet")
    if seg_id not in _THUMBS:
        thumbs = segment_thumbnails(ak, auth.principal, seg_id, client=auth.client)
        if not thumbs:
            raise NotFoundError("サムネイルを作れませんでした", "no thumbnail could be made")
        if len(_THUMBS) > 256:
            _THUMBS.clear()
        _THUMBS[seg_id] = thumbs[0].jpeg
    return _THUMBS[seg_id]


@router.get(
    "/cameras/{camera_id}/thumbnail",
    tags=["cameras"],
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, 403: {}, 404: {}},
)
async def thumbnail(camera_id: Id, ak: AkashiDep, auth: UserDep) -> Response:
    """A JPEG of the camera's newest stored segment (keyframe decode only)."""
    jpeg = await run_in_threadpool(_thumbnail, ak, auth, camera_id)
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=10"})


@router.get(
    "/cameras/{camera_id}/live",
    tags=["cameras"],
    response_class=StreamingResponse,
    responses={200: {"content": {"video/mp4": {}}}, 403: {}, 404: {}},
)
async def live(camera_id: Id, ak: AkashiDep, auth: UserDep) -> StreamingResponse:
    """The camera's live stream remuxed to fragmented MP4 (each viewer opens its own RTSP session)."""
    from akashi.cameras.live import mse_mime, open_live  # noqa: PLC0415 - PyAV is the optional 'media' extra; a call-only install never loads it

    def name() -> str:
        with session_scope(ak.engine) as s:
            return camsvc.camera_for(s, auth.principal, camera_id).name

    cam = await run_in_threadpool(name)
    # open_live is an async generator (typed as an iterator): it has aclose()
    stream = cast(AsyncGenerator[bytes, None], open_live(ak, auth.principal, cam, client=auth.client))
    # Permission check and audit happen on the first step; then read up to the init segment (ftyp +
    # moov) so that the MSE codec string can go in a header before the body starts.
    head = b""
    mime = ""
    async for chunk in stream:
        head += chunk
        try:
            mime = mse_mime(head)
            break
        except ProtocolError:
            if len(head) > 4 << 20:
                await stream.aclose()
                raise
    if not mime:
        raise NotFoundError("ライブ映像を受信できません", "no live video received")

    async def body() -> AsyncIterator[bytes]:
        try:
            yield head
            async for chunk in stream:
                yield chunk
        finally:
            await stream.aclose()

    return StreamingResponse(body(), media_type="video/mp4", headers={"X-Akashi-MSE-Type": mime})


def _export_range(ak: Akashi, auth: Auth, camera_id: int, start: datetime, end: datetime) -> Path:
    tmp = _tmp(ak)
    try:
        return evidence_export.export_camera_range(
            ak,
            auth.principal,
            camera_id,
            start,
            end,
            tmp / f"akashi-camera-{camera_id}-{start:%Y%m%dT%H%M%S}.zip",
            auth.client,
        )
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@router.post(
    "/cameras/{camera_id}/export",
    tags=["cameras"],
    response_class=FileResponse,
    responses={200: {"content": {"application/zip": {}}}, 400: {}, 403: {}, 404: {}},
)
async def export_camera_range(
    *,
    camera_id: Id,
    ak: AkashiDep,
    auth: UserDep,
    tasks: BackgroundTasks,
    start: Annotated[datetime, Query()],
    end: Annotated[datetime, Query()],
) -> FileResponse:
    """Evidence package of a camera's footage between ``start`` and ``end`` (timezone-aware ISO times)."""

    if start.tzinfo is None or end.tzinfo is None:
        raise AkashiError("時刻にはタイムゾーンを付けてください", "times must carry a timezone")
    path = await run_in_threadpool(_export_range, ak, auth, camera_id, start, end)
    return package_response(path, path.name, tasks)
