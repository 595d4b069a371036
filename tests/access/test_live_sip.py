"""The live board over a real SIP call (SIPp both sides): the call, the key and the warning reach the board's
tables, an incident opens with the site's camera range, the board's end (a manager's command) ends the call,
and the stored call is linked to the incident and held; a manager listens in to both channels (audited)."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from akashi.access import load_principal
from akashi.access.live import calls_in_progress, live_store, post_command
from akashi.cameras import records
from akashi.cameras.records import CameraSpec
from akashi.cameras.spool import SegmentMeta
from akashi.db import session_scope
from akashi.db.models import Call, EvidenceObject, Incident, IncidentItem, Site, User
from tests.conftest import require_binary
from tests.telephony import scenarios
from tests.telephony.conftest import Start, b2bua, notice_wav  # noqa: F401  (fixtures of the SIP tests)
from tests.telephony.peers import Sipp, rtp_peer
from tests.telephony.test_calls import _call
from tests.telephony.test_protect_calls import caller_gets_info, operator_info, route_lines

pytestmark = [pytest.mark.sip]


async def _until(cond: Callable[[], bool], timeout: float = 20) -> None:
    """Poll a database condition (the exchange loop writes every 0.5 s)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not await asyncio.to_thread(cond):
        if loop.time() > end:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.1)


async def test_key_press_reaches_the_board_opens_an_incident_and_the_board_ends_the_call(
    b2bua: Start,  # noqa: F811  (the SIP tests' fixture, imported above)
    tmp_path: Path,
    notice_wav: Path,  # noqa: F811
) -> None:
    sipp = require_binary("sipp")
    async with rtp_peer() as cust, rtp_peer() as op:
        opx = Sipp(sipp, tmp_path, "op", operator_info("*9"))
        svc = await b2bua([opx.port], notice=notice_wav, route_extra=route_lines(tmp_path))
        ak = svc.ak
        svc.live = live_store(ak)
        cam = records.ensure_camera(ak.engine, CameraSpec("受付", "tokyo", "rtsp://h/x", 4.0, True, "config"))
        start = datetime.now(UTC) - timedelta(minutes=1)
        meta = SegmentMeta(cam, "受付", "tokyo", start, start + timedelta(seconds=4), frames=60, codec="h264")
        put = ak.store.put(
            io.BytesIO(b"footage"), kind="camera_segment", media_type="video/mp4", site="tokyo"
        )
        records.add_segment(ak.engine, meta, put.object_id, put.sha256, put.size)
        with session_scope(ak.engine) as s:
            tokyo = records.site_id(ak.engine, "tokyo")
            mgr = User(name="kanri", role="manager", password_hash="x")
            mgr.sites = [s.get_one(Site, tokyo)]
            s.add(mgr)

        await opx.start("-key", "rtpport", str(op.port), "-m", "1")
        callx = Sipp(sipp, tmp_path, "caller", caller_gets_info(2))
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", str(cust.port), "-m", "1"
        )
        call = await _call(svc)
        with session_scope(ak.engine) as s:
            kanri = load_principal(s, "kanri")

        def board_kinds() -> list[str]:
            with session_scope(ak.engine) as s:
                live = [c for c in calls_in_progress(s, kanri) if c.call_id == call.call_id]
                return [e.kind for e in live[0].events] if live else []

        await _until(lambda: {"key", "warning"} <= set(board_kinds()))
        with session_scope(ak.engine) as s:
            inc = s.scalars(select(Incident)).one()
            assert inc.legal_hold and inc.status == "open" and inc.site_id == tokyo
            assert call.call_id in inc.notes
            inc_id = inc.id
            cmd = post_command(s, kanri, call.call_id, "end", "test")
        assert cmd > 0
        assert await callx.wait(30) == 0, callx.log()
        assert await opx.wait(30) == 0, opx.log()
        stored = await asyncio.wait_for(svc.stored.get(), 20)
        assert stored is not None
        await _until(lambda: board_kinds() == [])  # ended: off the board

        def linked() -> bool:
            with session_scope(ak.engine) as s:
                ids = s.scalars(select(IncidentItem.call_id).where(IncidentItem.incident_id == inc_id)).all()
                return stored in ids

        await _until(linked)
        with session_scope(ak.engine) as s:
            row = s.get(Call, stored)
            assert row is not None and row.media_object_id is not None
            media = row.media_object_id
            kinds = [e["kind"] for e in row.extra["timeline"]]
            assert kinds[:2] == ["key", "warning"] and ("final", "kanri") in [
                (e["kind"], e["by"]) for e in row.extra["timeline"]
            ]

        def held(oid: str) -> bool:
            with session_scope(ak.engine) as s:
                obj = s.get(EvidenceObject, oid)
                return obj is not None and obj.legal_hold

        await _until(lambda: held(media) and held(put.object_id))


async def test_listen_in_streams_both_channels_and_is_audited_as_a_play(
    b2bua: Start,  # noqa: F811
    tmp_path: Path,
    notice_wav: Path,  # noqa: F811
) -> None:
    from fastapi.testclient import TestClient

    from akashi.db.models import AuditEntry
    from akashi.web.app import create_app
    from tests.telephony.peers import tone
    from tests.telephony.test_calls import dominant_hz
    from tests.web.conftest import api_login, password_hash

    sipp = require_binary("sipp")
    async with rtp_peer() as cust, rtp_peer() as op:
        opx = Sipp(sipp, tmp_path, "op", scenarios.operator(hangup="caller"))
        svc = await b2bua([opx.port], notice=notice_wav)
        ak = svc.ak
        svc.live = live_store(ak)
        tokyo = records.site_id(ak.engine, "tokyo")
        with session_scope(ak.engine) as s:
            for name, role in (("kanri", "manager"), ("op", "operator")):
                u = User(name=name, role=role, password_hash=password_hash())
                u.sites = [s.get_one(Site, tokyo)]
                s.add(u)
        await opx.start("-key", "rtpport", str(op.port), "-m", "1")
        callx = Sipp(sipp, tmp_path, "caller", scenarios.caller(talk_ms=8000, hangup="caller"))
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", str(cust.port), "-m", "1"
        )
        call = await _call(svc)
        assert call.a_rtp is not None and call.b_rtp is not None
        with session_scope(ak.engine) as s:
            kanri = load_principal(s, "kanri")

        def on_board() -> bool:
            with session_scope(ak.engine) as s:
                return any(c.call_id == call.call_id for c in calls_in_progress(s, kanri))

        await _until(on_board)
        client = TestClient(create_app(ak), base_url="http://testserver")
        url = f"/live/listen?call_id={call.call_id}"
        want = 2 * 8000 * 4  # two seconds of 16-bit stereo
        streaming = threading.Event()  # the listen stream is open: what is recorded from now is heard

        def listen() -> bytes:
            api_login(client, "op")
            assert client.get(url).status_code == 403
            api_login(client, "kanri")
            got = bytearray()
            with client.stream("GET", url) as r:
                assert r.status_code == 200 and r.headers["x-audio-format"].startswith("s16le")
                streaming.set()
                for chunk in r.iter_bytes():
                    got += chunk
                    if len(got) >= want:
                        break
            return bytes(got)

        # the operator's phone is heard only once it is bridged (before that its RTP is refused),
        # and a listener hears what is recorded after it opened the stream: both are waited for
        await asyncio.wait_for(call.bridged.wait(), 20)
        listener = asyncio.ensure_future(asyncio.to_thread(listen))
        assert await asyncio.to_thread(streaming.wait, 20), "the listen stream did not open"
        await asyncio.gather(
            cust.send_signal(tone(440, 3.0), ("127.0.0.1", call.a_rtp.port)),
            op.send_signal(tone(660, 3.0), ("127.0.0.1", call.b_rtp.port)),
        )
        heard = await listener
        client.close()
        assert await callx.wait(30) == 0, callx.log()
        assert await opx.wait(30) == 0, opx.log()

    frames = np.frombuffer(heard[: len(heard) // 4 * 4], dtype="<i2").reshape(-1, 2)
    left, right = frames[:, 0], frames[:, 1]
    assert len(frames) >= 2 * 8000
    assert abs(dominant_hz(left[-8000:]) - 440) < 10  # what the caller says
    assert abs(dominant_hz(right[-8000:]) - 660) < 10  # what the caller hears: the operator
    with session_scope(ak.engine) as s:
        plays = s.execute(
            select(AuditEntry.user_name, AuditEntry.outcome).where(
                AuditEntry.action == "play", AuditEntry.target_type == "live_call"
            )
        ).all()
    assert sorted(plays) == [("kanri", "ok"), ("op", "denied")]
