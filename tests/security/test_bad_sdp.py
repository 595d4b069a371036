"""Bad SDP from a caller (SIPp): IPv6 media, a hostname in c=, and errors after the call was answered.

Each is refused before the call is answered (488 with a Warning) or, once answered, ends with a BYE
on both legs and a call stored as failed: nobody is left in silence, no port stays taken.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from akashi.telephony.calltask import CallTask
from akashi.telephony.service import TelephonyService
from tests.conftest import require_binary
from tests.telephony import scenarios
from tests.telephony.conftest import Start, b2bua, notice_wav  # noqa: F401 - fixtures
from tests.telephony.peers import RtpPeer, Sipp, bursts
from tests.telephony.test_calls import _stored, _until, onsets

pytestmark = [pytest.mark.sip]

SDP_LINE = "c=IN IP4 [local_ip]"


def refused_caller(connection: str, warning: str) -> str:
    """A SIPp caller offering ``connection`` as its c= line, expecting 488 with a Warning matching ``warning``."""
    xml = scenarios.caller(final=488).replace(SDP_LINE, connection)
    check = (
        '  <recv response="488"><action>'
        f'<ereg regexp="{warning}" search_in="hdr" header="Warning:" check_it="true" assign_to="w"/>'
        "</action></recv>"
    )
    xml = xml.replace('  <recv response="488"/>', check)
    return xml.replace("</scenario>", '  <Reference variables="w"/>\n</scenario>')


async def _refused(svc: TelephonyService, sipp: str, tmp_path: Path, name: str, xml: str) -> None:
    callx = Sipp(sipp, tmp_path, name, xml)
    await callx.start(
        f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", "4000", "-m", "1", limit_s=30
    )
    assert await callx.wait(30) == 0, callx.log()
    # nothing left: no call, no RTP port, nothing stored
    await _until(lambda: not svc.calls and not svc.ports.used, 5)
    assert svc.stored.empty()


async def test_ipv6_offer_refused_without_an_ipv6_address(
    b2bua: Start,  # noqa: F811 - fixture
    tmp_path: Path,
    notice_wav: Path,  # noqa: F811 - fixture
) -> None:
    """c=IN IP6 while Akashi has no IPv6 address: 488 with a Warning, before any answer."""
    sipp = require_binary("sipp")
    svc = await b2bua([9], notice=notice_wav)  # the route's phone is never rung
    await _refused(
        svc, sipp, tmp_path, "v6", refused_caller("c=IN IP6 2001:db8::7", "IPv6 media is not supported")
    )


@pytest.mark.parametrize(
    "connection",
    ["c=IN IP4 media.example.com", "c=IN IP4 ::1", "c=IN IP4 239.1.2.3/16", "c=IN IP6 localhost"],
    ids=["hostname", "ip6-as-ip4", "multicast", "hostname6"],
)
async def test_unusable_connection_address_refused(
    b2bua: Start,  # noqa: F811 - fixture
    tmp_path: Path,
    notice_wav: Path,  # noqa: F811 - fixture
    connection: str,
) -> None:
    """A hostname (a DNS lookup per packet), a wrong address type or multicast in c=: 488 before answering."""
    sipp = require_binary("sipp")
    svc = await b2bua([9], notice=notice_wav)
    await _refused(svc, sipp, tmp_path, "bad", refused_caller(connection, "unusable SDP"))


@contextlib.asynccontextmanager
async def rtp_peer6() -> AsyncIterator[RtpPeer]:
    """An RTP peer on ::1."""
    loop = asyncio.get_running_loop()
    try:
        _t, peer = await loop.create_datagram_endpoint(RtpPeer, local_addr=("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    try:
        yield peer
    finally:
        peer.close()


async def test_ipv6_media_over_loopback(
    b2bua: Start,  # noqa: F811 - fixture
    tmp_path: Path,
    notice_wav: Path,  # noqa: F811 - fixture
) -> None:
    """With sip.ipv6_address, an IPv6 caller hears the notice over IPv6 and is recorded; the operator stays IPv4."""
    sipp = require_binary("sipp")
    from tests.telephony.peers import rtp_peer

    async with rtp_peer6() as cust, rtp_peer() as op:
        opx = Sipp(sipp, tmp_path, "op", scenarios.operator(hangup="caller"))
        svc = await b2bua([opx.port], notice=notice_wav, sip_extra='ipv6_address = "::1"')
        await opx.start("-key", "rtpport", str(op.port), "-m", "1")
        xml = scenarios.caller(talk_ms=3500).replace(SDP_LINE, "c=IN IP6 ::1")
        callx = Sipp(sipp, tmp_path, "caller", xml)
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", str(cust.port), "-m", "1"
        )
        await asyncio.wait_for(cust.first_packet.wait(), 10)  # the notice, over IPv6
        call = next(iter(svc.calls.values()))
        assert call.a_rtp is not None and call.a_rtp.v6 and call.b_rtp is not None and not call.b_rtp.v6
        a_port = call.a_rtp.port
        await cust.send_signal(bursts(2.5, [0.5, 1.5], 500.0), ("::1", a_port))
        assert await callx.wait() == 0, callx.log()
        assert await opx.wait() == 0, opx.log()
        call_id = await asyncio.wait_for(svc.stored.get(), 20)
        assert call_id is not None
        row, left, _right, _fmt = await asyncio.to_thread(_stored, svc, call_id)
    assert row.status == "completed"
    assert len(onsets(left)) == 2, onsets(left)
    assert len(cust.payloads(40)) == 40 * 160
    assert "rtp_refused" not in row.extra


async def test_error_after_answer_hangs_up_both_legs(
    b2bua: Start,  # noqa: F811 - fixture
    tmp_path: Path,
    notice_wav: Path,  # noqa: F811 - fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever fails once the call is bridged, both phones get a BYE and the call is stored as failed."""
    sipp = require_binary("sipp")

    async def broken(self: CallTask) -> None:
        raise RuntimeError("media watch broke")

    monkeypatch.setattr(CallTask, "_watch_media", broken)
    opx = Sipp(sipp, tmp_path, "op", scenarios.operator(hangup="caller"))  # waits for Akashi's BYE
    svc = await b2bua([opx.port], notice=notice_wav)
    await opx.start("-key", "rtpport", "4002", "-m", "1")
    callx = Sipp(sipp, tmp_path, "caller", scenarios.caller(hangup="akashi", bye_reason="cause=500"))
    await callx.start(
        f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", "4000", "-m", "1"
    )
    assert await callx.wait(30) == 0, callx.log()
    assert await opx.wait(30) == 0, opx.log()
    call_id = await asyncio.wait_for(svc.stored.get(), 20)
    assert call_id is not None
    row, _left, _right, _fmt = await asyncio.to_thread(_stored, svc, call_id)
    assert row.status == "failed"
    assert row.extra["failure"]["reason"] == "error"
    assert "media watch broke" in row.extra["failure"]["error"]
    await _until(lambda: not svc.calls and not svc.ports.used, 5)
    assert np.isfinite(row.duration_s)


def caller_updates() -> str:
    """A caller that, while the phones ring after the notice, sends UPDATEs: a hostname in c= (488), then hold."""
    bad = scenarios.SDP.replace(SDP_LINE, "c=IN IP4 evil.example.net")
    hold = scenarios.hold_sdp("sendonly")
    body_hdrs = "Content-Type: application/sdp\nContent-Length: [len]\n"
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<scenario name="caller">',
        scenarios.CALLER_INVITE,
        '  <recv response="200" rtd="true" rrs="true"/>',
        scenarios.ACK,
        '  <pause milliseconds="1500"/>',
        scenarios.CALLER_REQ.format(method="UPDATE", cseq=2, body_headers=body_hdrs, body=bad),
        '  <recv response="488"><action>'
        '<ereg regexp="unusable SDP" search_in="hdr" header="Warning:" check_it="true" assign_to="w"/>'
        "</action></recv>",
        scenarios.CALLER_REQ.format(method="UPDATE", cseq=3, body_headers=body_hdrs, body=hold),
        '  <recv response="200"><action>'
        '<ereg regexp="a=recvonly" search_in="body" check_it="true" assign_to="h"/>'
        "</action></recv>",
        scenarios.CALLER_REQ.format(method="BYE", cseq=10, body_headers="Content-Length: 0\n", body=""),
        '  <recv response="200"/>',
        '  <Reference variables="w,h"/>',
        "</scenario>",
    ]
    return "\n".join(parts)


async def test_bad_update_before_bridging_refused_and_the_call_goes_on(
    b2bua: Start,  # noqa: F811 - fixture
    tmp_path: Path,
    notice_wav: Path,  # noqa: F811 - fixture
) -> None:
    """While the phones ring, an UPDATE with a hostname in c= gets 488 and changes nothing; hold still works."""
    sipp = require_binary("sipp")
    opx = Sipp(sipp, tmp_path, "op", scenarios.operator(answer="noanswer"))
    svc = await b2bua([opx.port], notice=notice_wav, ring_timeout_s=20)
    await opx.start("-key", "rtpport", "4002", "-m", "1")
    callx = Sipp(sipp, tmp_path, "caller", caller_updates())
    await callx.start(
        f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", "4000", "-m", "1"
    )
    assert await callx.wait(30) == 0, callx.log()
    assert await opx.wait(30) == 0, opx.log()
    call_id = await asyncio.wait_for(svc.stored.get(), 20)
    assert call_id is not None
    await _until(lambda: not svc.calls and not svc.ports.used, 5)
