"""The supervisor's live board (``/live``, 通話モニター): calls in progress, their flags, warn and end.

The page is static HTML plus ``live.js`` (the CSP forbids inline scripts). The browser follows
``/live/stream``, a server-sent event stream that reads the database every ~0.5 s from the last event
id it sent (``Last-Event-ID`` resumes after a reconnect) and, every few seconds, sends the whole list of
calls in progress (``snapshot``), so a call whose node died leaves the board. Each stream lasts a few
minutes; the browser reconnects by itself and the session is checked again then.

Who: admins (every site) and managers (their sites); everyone else is refused and audited. Pressing
「警告を流す」 or 「通話を終了」 posts ``/live/command`` (CSRF token as header) and is audited with who.
「聴く」 follows ``/live/listen``: the call's two channels as they are recorded, audited as a play (served
by a web process on the host of the telephony node recording the call; see :mod:`akashi.access.listen`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from akashi.access import Principal
from akashi.access.listen import ListenStream, open_listen
from akashi.access.live import post_command
from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.web.deps import AkashiDep, DbDep, UserDep, require_user
from akashi.web.messages import MESSAGES
from akashi.web.render import render
from akashi.web.services.live import board_events, board_snapshot, check_board

router = APIRouter(dependencies=[Depends(require_user)], include_in_schema=False)

#: How often the stream reads new events.
POLL_S = 0.5
#: How often the stream re-sends the calls in progress.
SNAPSHOT_S = 5.0
#: How long one stream lasts before the browser reconnects (and the session is checked again).
STREAM_S = 300.0
#: How often a listen-in reads the spool (the telephony process flushes it at least every second).
LISTEN_POLL_S = 0.25
#: The longest one listen-in lasts (press the button again to go on).
LISTEN_S = 3600.0


@router.get("/live", response_class=HTMLResponse)
async def live_page(request: Request, ak: AkashiDep, auth: UserDep) -> HTMLResponse:
    """The board page; its script fills it from the stream."""
    await run_in_threadpool(check_board, ak.engine, auth.principal, auth.client)
    return render(request, auth, "live.html")


def _sse(data: Any, *, event: str = "", id_: int | None = None) -> bytes:
    lines = []
    if event:
        lines.append(f"event: {event}")
    if id_ is not None:
        lines.append(f"id: {id_}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False))
    return ("\n".join(lines) + "\n\n").encode()


@router.get("/live/stream")
async def live_stream(request: Request, ak: AkashiDep, auth: UserDep) -> StreamingResponse:
    """Server-sent events: ``snapshot`` (calls in progress) now and every few seconds, then each event."""
    p = auth.principal
    await run_in_threadpool(check_board, ak.engine, p, auth.client)
    resume = request.headers.get("last-event-id", "")

    async def stream() -> AsyncIterator[bytes]:
        snap = await run_in_threadpool(board_snapshot, ak.engine, p)
        after = int(resume) if resume.isdigit() else int(snap["last_id"])
        yield b"retry: 2000\n\n"
        yield _sse(snap, event="snapshot")
        started = last_snap = time.monotonic()
        while True:
            for item in await run_in_threadpool(board_events, ak.engine, p, after):
                after = int(item["id"])
                yield _sse(item, event="live", id_=after)
            if time.monotonic() - last_snap >= SNAPSHOT_S:
                last_snap = time.monotonic()
                yield _sse(await run_in_threadpool(board_snapshot, ak.engine, p), event="snapshot")
            if time.monotonic() - started >= STREAM_S or await request.is_disconnected():
                return
            await asyncio.sleep(POLL_S)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _spool_roots(ak: Akashi) -> list[Path]:
    return [ak.settings.spool_path / "calls", ak.settings.spool_path / "demo-calls"]


def _open_listen(ak: Akashi, p: Principal, call_id: str, client: str) -> ListenStream:
    with session_scope(ak.engine) as s:
        return open_listen(s, p, _spool_roots(ak), call_id, client)


@router.get("/live/listen")
async def live_listen(
    request: Request,
    ak: AkashiDep,
    auth: UserDep,
    call_id: Annotated[str, Query(min_length=1, max_length=256)],
) -> StreamingResponse:
    """Listen in: the call's two channels as they are recorded (16-bit stereo PCM, 8 kHz), audited as a play.

    Served by a web process on the telephony node's host (it follows the call's spool files).
    """
    stream = await run_in_threadpool(_open_listen, ak, auth.principal, call_id, auth.client)

    async def pcm() -> AsyncIterator[bytes]:
        started = time.monotonic()
        while time.monotonic() - started < LISTEN_S and not await request.is_disconnected():
            data = await run_in_threadpool(stream.chunk)
            if data:
                yield data
            elif await run_in_threadpool(stream.finished):
                return
            await asyncio.sleep(LISTEN_POLL_S)

    return StreamingResponse(
        pcm(),
        media_type="application/octet-stream",
        headers={"Cache-Control": "no-store", "X-Audio-Format": "s16le; rate=8000; channels=2"},
    )


@router.post("/live/command")
def live_command(
    s: DbDep,
    auth: UserDep,
    call_id: Annotated[str, Form(min_length=1, max_length=256)],
    action: Annotated[str, Form(pattern="^(warn|end)$")],
) -> JSONResponse:
    """Ask the node running the call to play the warning (``warn``) or end the call (``end``)."""
    cid = post_command(s, auth.principal, call_id, action, auth.client)
    return JSONResponse({"id": cid, "call_id": call_id, "action": action})


#: The board's words (Japanese first); merged into the page labels when this module is imported.
LIVE_MESSAGES: dict[str, tuple[str, str]] = {
    "live": ("通話モニター", "Live calls"),
    "live_connecting": ("接続中…", "connecting…"),
    "live_connected": ("リアルタイム表示中", "live"),
    "live_reconnecting": ("再接続中…", "reconnecting…"),
    "live_none": ("通話中の通話はありません。", "No call in progress."),
    "live_alerts": ("通知と音を有効にする", "Turn on notifications and sound"),
    "live_alerts_on": ("通知と音は有効です", "Notifications and sound are on"),
    "live_alerts_denied": (
        "ブラウザが通知を拒否しました（音は鳴ります）",
        "The browser refused notifications (the sound still plays)",
    ),
    "live_hint": (
        "新しい検知・保護キー・長時間通話があると、通知と短い音でお知らせします。",
        "A new flag, protection key or long call is announced by a notification and a short sound.",
    ),
    "live_operator": ("応対者", "Operator"),
    "live_caller": ("発信者", "Caller"),
    "live_warn": ("警告を流す", "Play warning"),
    "live_end": ("通話を終了", "End call"),
    "live_listen": ("聴く", "Listen"),
    "live_listen_stop": ("聴くのをやめる", "Stop listening"),
    "live_listen_failed": ("この通話は聴けません", "Cannot listen to this call"),
    "live_confirm_end": (
        "この通話を終了します。よろしいですか？（終了メッセージを流して切断します）",
        "End this call now? (the final message is played, then the call is cut)",
    ),
    "live_sent": ("送信しました（記録済み）", "Sent (recorded in the audit log)"),
    "live_failed": ("送信できませんでした", "Could not send"),
    "live_kind_flag": ("検知", "Flag"),
    "live_kind_key": ("保護キー", "Protection key"),
    "live_kind_warning": ("警告を再生", "Warning played"),
    "live_kind_long_call": ("長時間通話", "Long call"),
    "live_ask": ("警告の判断を求めています", "asks you whether to warn"),
    "live_severe": ("重大", "severe"),
    "live_notify_title": ("通話モニター: 新しい検知", "Live calls: new alert"),
    "live_late": ("通話終了後の検知", "Flags after the call ended"),
    "live_late_hint": (
        "音声認識が追いつく前に終わった通話です。重大な検知はインシデントになり、録音とカメラ映像は保全されます。"
        "応対者の様子を確認してください。",
        "These calls ended before live recognition caught up. A severe flag opens an incident that holds the "
        "recording and the camera footage. Check on the operator.",
    ),
}
MESSAGES.update(LIVE_MESSAGES)
