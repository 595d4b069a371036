"""``/api/v1/calls``: search, detail, media with HTTP Range, waveform peaks, notes, hold, export."""

from __future__ import annotations

import shutil
import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from akashi.access import export_call, open_call_media
from akashi.context import Akashi
from akashi.web.deps import AkashiDep, Auth, CachesDep, DbDep, UserDep, require_user
from akashi.web.downloads import package_response
from akashi.web.i18n import jst
from akashi.web.schemas import CallDetail, CallOrder, CallPage, HoldIn, NoteIn, NoteOut, Peaks
from akashi.web.services.calls import add_note, call_detail, list_calls, make_query, set_call_hold
from akashi.web.services.derived import derived_wav, needs_deriving
from akashi.web.services.media import RangeNotSatisfiable, parse_range, wav_peaks

router = APIRouter(prefix="/calls", tags=["calls"], dependencies=[Depends(require_user)])
CallId = Annotated[int, PathParam(ge=1, le=2**62, description="Call id")]


@router.get("", response_model=CallPage)
def search(
    *,
    db: DbDep,
    auth: UserDep,
    from_: Annotated[date | None, Query(alias="from", description="First day (JST), inclusive")] = None,
    to: Annotated[date | None, Query(description="Last day (JST), inclusive")] = None,
    number: Annotated[
        str | None, Query(max_length=64, description="Part of a phone number, hyphens ok")
    ] = None,
    agent: Annotated[str | None, Query(max_length=128)] = None,
    site: Annotated[str | None, Query(max_length=64)] = None,
    flag: Annotated[str | None, Query(max_length=64, description="Flag category")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Words said (transcript)")] = None,
    order: CallOrder = CallOrder.newest,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> CallPage:
    """Search the calls the user may see."""
    query = make_query(
        from_=from_,
        to=to,
        number=number,
        agent=agent,
        site=site,
        flag=flag,
        text=q,
        order=order.value,
        limit=limit,
        offset=offset,
    )
    return list_calls(db, auth.principal, query, client=auth.client, via="api")


@router.get("/{call_id}", response_model=CallDetail, responses={403: {}, 404: {}})
def detail(call_id: CallId, ak: AkashiDep, db: DbDep, auth: UserDep) -> CallDetail:
    """One call: facts, transcript with flagged words, flags, notes, incidents, hold."""
    return call_detail(ak, db, auth.principal, call_id, auth.client)


@router.get(
    "/{call_id}/media",
    responses={
        200: {"content": {"audio/wav": {}}},
        206: {"description": "partial"},
        403: {},
        404: {},
        416: {},
    },
    response_class=Response,
)
def media(
    call_id: CallId, request: Request, ak: AkashiDep, auth: UserDep, caches: CachesDep, download: bool = False
) -> Response:
    """The recording, decrypted on the fly; supports ``Range`` (206). Every request is audited.

    A call kept as RTP (codecs other than G.711) is served as a WAV derived in memory.
    """
    rng_header = request.headers.get("range")
    handle = open_call_media(
        ak,
        auth.principal,
        call_id,
        action="download" if download else "play",
        client=auth.client,
        detail={"range": rng_header[:64]} if rng_header else None,
    )
    derived = derived_wav(handle, caches.derived) if needs_deriving(handle) else None
    size = handle.info.size if derived is None else len(derived)
    media_type = handle.info.media_type if derived is None else "audio/wav"
    headers = {"Accept-Ranges": "bytes", "Content-Type": media_type}
    if download:
        headers["Content-Disposition"] = f'attachment; filename="call-{call_id}.wav"'
    try:
        rng = parse_range(rng_header, size)
    except RangeNotSatisfiable:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
    if rng is None:
        headers["Content-Length"] = str(size)
        if derived is not None:
            return Response(derived, status_code=200, headers=headers)
        return StreamingResponse(handle.iter(0, size), status_code=200, headers=headers)
    headers["Content-Length"] = str(rng.length)
    headers["Content-Range"] = rng.content_range()
    if derived is not None:
        return Response(derived[rng.start : rng.end + 1], status_code=206, headers=headers)
    return StreamingResponse(handle.iter(rng.start, rng.end + 1), status_code=206, headers=headers)


@router.get("/{call_id}/peaks", response_model=Peaks, responses={403: {}, 404: {}})
def peaks(call_id: CallId, ak: AkashiDep, auth: UserDep, caches: CachesDep) -> Peaks:
    """Waveform peaks computed from the decoded recording (cached per object)."""
    handle = open_call_media(
        ak, auth.principal, call_id, action="play", client=auth.client, detail={"purpose": "waveform"}
    )

    def compute() -> Peaks:
        chunks = (
            [derived_wav(handle, caches.derived)]
            if needs_deriving(handle)
            else handle.iter(0, handle.info.size)
        )
        return Peaks.model_validate(wav_peaks(chunks))

    return caches.peaks.get_or_make(handle.info.object_id, compute)


@router.post("/{call_id}/notes", response_model=NoteOut, status_code=201, responses={403: {}, 404: {}})
def post_note(call_id: CallId, body: NoteIn, ak: AkashiDep, db: DbDep, auth: UserDep) -> NoteOut:
    """Add a note to a call."""

    n = add_note(ak, db, auth.principal, "call", call_id, body.text, auth.client)
    return NoteOut(
        id=n.id, author=n.author, text=n.text, created_at=n.created_at, created_jst=jst(n.created_at)
    )


@router.post("/{call_id}/hold", status_code=204, responses={403: {}, 404: {}})
def post_hold(call_id: CallId, body: HoldIn, ak: AkashiDep, db: DbDep, auth: UserDep) -> Response:
    """Place or release the legal hold on the call's recording (admins and managers)."""
    set_call_hold(ak, db, auth.principal, call_id, body.hold, body.reason, auth.client)
    return Response(status_code=204)


def _export(ak: Akashi, auth: Auth, call_id: int) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix="akashi-export-", dir=ak.settings.spool_path))
    try:
        return export_call(
            ak, auth.principal, call_id, tmp / f"akashi-call-{call_id}.zip", client=auth.client
        )
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@router.post(
    "/{call_id}/export",
    response_class=FileResponse,
    responses={200: {"content": {"application/zip": {}}}, 403: {}, 404: {}},
)
async def export(call_id: CallId, ak: AkashiDep, auth: UserDep, tasks: BackgroundTasks) -> FileResponse:
    """The evidence package (ZIP) of one call; admins and managers; audited."""
    path = await run_in_threadpool(_export, ak, auth, call_id)
    return package_response(path, path.name, tasks)
