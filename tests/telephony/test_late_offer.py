"""Late offer (RFC 3261 13.2.1): an INVITE without SDP; Akashi offers in its 200 OK, the ACK answers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from akashi.codecs import g711
from akashi.telephony.calls import CallState
from tests.conftest import require_binary
from tests.telephony import scenarios
from tests.telephony.conftest import NOTICE_HZ, Start
from tests.telephony.peers import Sipp, rtp_peer, tone
from tests.telephony.test_calls import _call, _until, dominant_hz
from tests.telephony.test_scenarios import _row

pytestmark = [pytest.mark.sip]

OFFER_IN_INVITE = "Content-Type: application/sdp\nContent-Length: [len]\n\n" + scenarios.SDP
NO_BODY = "Content-Length: 0\n\n"
EMPTY_ACK = "Max-Forwards: 70\nContent-Length: 0\n\n"


def late_caller(talk_ms: int, *, answer: bool = True) -> str:
    """The customer: INVITE without SDP, then its answer in the ACK (or an ACK without one)."""
    xml = scenarios.caller(talk_ms=talk_ms, hangup="caller" if answer else "akashi")
    assert xml.count(OFFER_IN_INVITE) == 1 and xml.count(scenarios.ACK) == 1
    xml = xml.replace(OFFER_IN_INVITE, NO_BODY)
    if answer:
        xml = xml.replace(
            scenarios.ACK, scenarios.ACK.replace(EMPTY_ACK, "Max-Forwards: 70\n" + OFFER_IN_INVITE)
        )
    return xml


async def test_late_offer_notice_and_bridge(b2bua: Start, tmp_path: Path, notice_wav: Path) -> None:
    """The notice reaches the address of the ACK's answer; then the operator and customer talk."""
    sipp = require_binary("sipp")
    async with rtp_peer() as cust, rtp_peer() as op:
        opx = Sipp(sipp, tmp_path, "op", scenarios.operator(talk_ms=6000))
        svc = await b2bua([opx.port], notice=notice_wav)
        await opx.start("-key", "rtpport", str(op.port), "-m", "1")
        callx = Sipp(sipp, tmp_path, "caller", late_caller(4000))
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", str(cust.port), "-m", "1"
        )
        call = await _call(svc)
        await asyncio.wait_for(cust.first_packet.wait(), 10)  # the notice, sent where the ACK said
        await _until(lambda: call.state is CallState.BRIDGED, 15)
        assert call.a_rtp is not None
        heard_notice = len(cust.received)
        await cust.send_signal(tone(300, 1.0), ("127.0.0.1", call.a_rtp.port))
        assert await callx.wait() == 0, callx.log()
        assert await opx.wait() == 0, opx.log()
        row = await asyncio.wait_for(_row(svc), 30)
    notice = g711.decode(b"".join(p[12:] for _t, p in cust.received[:heard_notice]), "PCMU")
    assert abs(dominant_hz(notice) - NOTICE_HZ) < 50
    to_op = g711.decode(b"".join(p[12:] for _t, p in op.received if p[1] & 0x7F == 0), "PCMU")
    assert abs(dominant_hz(to_op[np.abs(to_op.astype(np.int32)) > 0]) - 300) < 30
    assert row.status == "completed"
    assert row.notice_ended_at is not None
    assert row.codec == "PCMU"
    assert row.extra["late_offer"] is True


async def test_late_offer_without_answer_is_ended(b2bua: Start, tmp_path: Path, notice_wav: Path) -> None:
    """An ACK without the answer: Akashi hangs up (BYE) and plays nothing."""
    sipp = require_binary("sipp")
    async with rtp_peer() as cust:
        svc = await b2bua([cust.port], notice=notice_wav)
        callx = Sipp(sipp, tmp_path, "caller", late_caller(0, answer=False))
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", str(cust.port), "-m", "1"
        )
        assert await callx.wait() == 0, callx.log()
        row = await asyncio.wait_for(_row(svc), 30)
    assert row.extra["late_offer_refused"] is True
    assert row.hangup_side == "akashi"
    assert row.notice_started_at is None
    assert not cust.received
