"""SIPREC sessions that Akashi ends, and an SRC on TCP: the BYE goes back to the SRC in its dialog."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from akashi.db import session_scope
from akashi.db.models import Call
from tests.conftest import require_binary
from tests.ports import free_udp_port
from tests.telephony import scenarios
from tests.telephony.conftest import Start
from tests.telephony.peers import Sipp, rtp_peer, tone
from tests.telephony.test_early_media import ulaw_wav
from tests.telephony.test_siprec_calls import (
    ALLOW,
    INVITE,
    STREAM1_HZ,
    answered,
    multipart,
    refused_scenario,
    sdp,
    src_scenario,
)
from tests.telephony.test_siprec_parsers import PARTIES, sample

pytestmark = [pytest.mark.sip]


def silent_src() -> str:
    """An SRC that answers Akashi's BYE (it sends no RTP at all)."""
    body = multipart(sdp(["1", "2"]).replace("{v}", "1"), sample("minimal").decode())
    return "\n".join(
        [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<scenario name="src">',
            INVITE.format(cseq=1, ctype="multipart/mixed;boundary=foobar", body=body),
            answered(1, "recvonly"),
            '  <recv request="BYE" timeout="20000"/>',
            scenarios.OK_TO_REQUEST,
            "</scenario>",
        ]
    )


def _call(engine: Engine, call_id: int) -> Call:
    with session_scope(engine) as s:
        row = s.get(Call, call_id)
        assert row is not None
        s.expunge(row)
        return row


async def test_streams_that_stop_end_the_session_with_bye(b2bua: Start, tmp_path: Path) -> None:
    """No RTP for rtp_timeout_s: Akashi sends BYE in the SRC's dialog; the call is stored as ended by timeout."""
    sipp = require_binary("sipp")
    svc = await b2bua([free_udp_port()], notice=None, sip_extra=ALLOW, rtp_timeout_s=2)
    src = Sipp(sipp, tmp_path, "src", silent_src())
    await src.start(f"127.0.0.1:{svc.sip.local[1]}", "-key", "opport", str(free_udp_port()), "-m", "1")
    try:
        assert await src.wait(30) == 0, src.log()
    finally:
        src.kill()
    call_id = await asyncio.wait_for(svc.stored.get(), 30)
    assert call_id is not None
    row = _call(svc.ak.engine, call_id)
    assert (row.hangup_side, row.status, row.caller) == ("timeout", "completed", PARTIES["cust"])
    assert row.extra["rtp_timeout_s"] == 2


async def test_src_over_tcp(b2bua: Start, tmp_path: Path) -> None:
    """SBCs often send SIPREC over TCP with a session timer: the session is recorded, the timer left to
    the SRC (``refresher=uac`` in the 200)."""
    sipp = require_binary("sipp")
    wav = ulaw_wav(tmp_path / "stream1.wav", tone(STREAM1_HZ, 3.0, 0.5))
    async with rtp_peer() as second:
        svc = await b2bua([free_udp_port()], notice=None, sip_extra=ALLOW)
        xml = src_scenario("oracle", wav, pause=False, talk_ms=2000)
        xml = xml.replace(
            "Require: siprec\n", "Require: siprec\nSupported: timer\nSession-Expires: 1800\n", 1
        )
        checked = (
            '<ereg regexp="1800;refresher=uac" search_in="hdr" header="Session-Expires:" check_it="true" '
        )
        xml = xml.replace("    <action>\n", f'    <action>\n      {checked}assign_to="se"/>\n', 1)
        xml = xml.replace("</scenario>", '  <Reference variables="se"/>\n</scenario>')
        src = Sipp(sipp, tmp_path, "src", xml)
        await src.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-t", "t1", "-key", "opport", str(second.port), "-m", "1"
        )
        try:
            assert await src.wait(30) == 0, src.log()
        finally:
            src.kill()
        call_id = await asyncio.wait_for(svc.stored.get(), 30)
        assert call_id is not None
    row = _call(svc.ak.engine, call_id)
    assert (row.caller, row.dialled, row.agent_name, row.notice_mode) == (
        PARTIES["cust"], PARTIES["op"], "佐藤 花子", "siprec",
    )  # fmt: skip


async def test_session_timer_below_min_se_gets_422(b2bua: Start, tmp_path: Path) -> None:
    sipp = require_binary("sipp")
    svc = await b2bua([free_udp_port()], notice=None, sip_extra=ALLOW)
    xml = refused_scenario("minimal").replace('<recv response="403"/>', '<recv response="422"/>')
    xml = xml.replace("Require: siprec\n", "Require: siprec, timer\nSession-Expires: 30\n", 1)
    src = Sipp(sipp, tmp_path, "src", xml)
    await src.start(f"127.0.0.1:{svc.sip.local[1]}", "-key", "opport", str(free_udp_port()), "-m", "1")
    try:
        assert await src.wait(30) == 0, src.log()
    finally:
        src.kill()
    assert not svc.siprec.sessions
