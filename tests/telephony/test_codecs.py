"""Codecs other than G.711: relayed untouched between the legs and stored as received."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
from pathlib import Path

import pytest

from akashi.codecs.container import read_container
from akashi.telephony.calls import CallState
from akashi.telephony.sdp import choose_codecs, parse_sdp
from akashi.telephony.service import TelephonyService
from tests.conftest import require_binary
from tests.telephony import scenarios
from tests.telephony.conftest import Start
from tests.telephony.peers import RtpPeer, Sipp, rtp_peer
from tests.telephony.test_scenarios import _row

pytestmark = [pytest.mark.sip]

G711_LINES = "RTP/AVP 0 101\na=rtpmap:0 PCMU/8000"


def only(codec_lines: str, xml: str) -> str:
    """A scenario whose SDP offers (or answers) only ``codec_lines`` (and telephone-event)."""
    assert G711_LINES in xml
    return xml.replace(G711_LINES, codec_lines)


async def send_packets(peer: RtpPeer, dest: tuple[str, int], pt: int, count: int, step: int) -> list[bytes]:
    """Send ``count`` 20 ms RTP packets of random (undecodable) payload; the payloads sent."""
    assert peer.transport is not None
    ssrc, seq, ts = random.getrandbits(32), random.getrandbits(16), random.getrandbits(32)
    sent = []
    for _ in range(count):
        payload = os.urandom(random.randrange(40, 161))
        hdr = bytes([0x80, pt]) + seq.to_bytes(2, "big") + ts.to_bytes(4, "big") + ssrc.to_bytes(4, "big")
        peer.transport.sendto(hdr + payload, dest)
        sent.append(payload)
        seq, ts = (seq + 1) & 0xFFFF, (ts + step) & 0xFFFFFFFF
        await asyncio.sleep(0.02)
    return sent


async def bridged_ports(svc: TelephonyService, timeout: float = 20) -> tuple[int, int]:
    """Akashi's media ports (caller side, operator side) of the first call to be bridged, once the relay
    carries it."""

    async def bridged() -> tuple[int, int]:
        while True:
            for c in list(svc.calls.values()):
                if c.state is CallState.BRIDGED and c.a_rtp is not None and c.b_rtp is not None:
                    await svc.ports.synced()  # a media worker relays once it has the bridge
                    return c.a_rtp.port, c.b_rtp.port
            await asyncio.sleep(0.01)

    return await asyncio.wait_for(bridged(), timeout)


def test_choose_codecs_relays_other_codecs() -> None:
    """Without G.711 the first other codec is answered as offered, only when relaying is allowed."""
    body = (
        b"v=0\r\no=- 1 2 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\n"
        b"m=audio 40000 RTP/AVP 111 9 101\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 useinbandfec=1\r\n"
        b"a=rtpmap:101 telephone-event/48000\r\n"
    )
    offer = parse_sdp(body)
    assert choose_codecs(offer) == []
    chosen = choose_codecs(offer, relay_any=True)
    assert [(c.pt, c.name, c.rate, c.fmtp) for c in chosen] == [
        (111, "opus", 48000, "useinbandfec=1"),
        (101, "telephone-event", 48000, "0-16"),
    ]
    with_g711 = parse_sdp(body.replace(b"111 9 101", b"111 8 101"))
    assert [c.name for c in choose_codecs(with_g711, relay_any=True)] == ["PCMA"]


@pytest.mark.parametrize(
    ("lines", "name", "pt", "step"),
    [
        ("RTP/AVP 9\na=rtpmap:9 G722/8000", "G722", 9, 160),
        ("RTP/AVP 111\na=rtpmap:111 opus/48000/2", "opus", 111, 960),
    ],
)
async def test_other_codec_relayed_and_stored_as_received(
    b2bua: Start, tmp_path: Path, lines: str, name: str, pt: int, step: int
) -> None:
    """Both directions pass byte for byte; the stored call holds every packet with its arrival time."""
    sipp = require_binary("sipp")
    async with rtp_peer() as cust, rtp_peer() as op:
        opx = Sipp(sipp, tmp_path, "op", only(lines, scenarios.operator(talk_ms=4000)))
        svc = await b2bua([opx.port], notice=None, mode="operator")
        await opx.start("-key", "rtpport", str(op.port), "-m", "1")
        callx = Sipp(sipp, tmp_path, "caller", only(lines, scenarios.caller(talk_ms=2500)))
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", str(cust.port), "-m", "1"
        )
        a_port, b_port = await bridged_ports(svc)
        up, down = await asyncio.gather(
            send_packets(cust, ("127.0.0.1", a_port), pt, 50, step),
            send_packets(op, ("127.0.0.1", b_port), pt, 50, step),
        )
        assert await callx.wait() == 0, callx.log()
        assert await opx.wait() == 0, opx.log()
        row = await asyncio.wait_for(_row(svc), 30)
        got_op = [p[12:] for _t, p in op.received if p[1] & 0x7F == pt]
        got_cust = [p[12:] for _t, p in cust.received if p[1] & 0x7F == pt]
        data = b"".join(svc.ak.store.iter_plaintext(row.media_object_id)) if row.media_object_id else b""
    # relayed untouched, in order (loopback loses nothing)
    assert got_op == up
    assert got_cust == down
    assert row.codec == name
    assert row.status == "completed"
    assert row.extra["codec"]["name"] == name
    assert row.extra["media_container"] == "akrtp1"
    assert row.analysis_state == "pending"  # decodable: transcription is queued
    header, recs = read_container(data)
    assert (header["name"], header["payload_type"]) == (name, pt)
    sent_by_customer = [p[12:] for leg, _t, _ts, p in recs if leg == 0]
    heard_by_customer = [p[12:] for leg, _t, _ts, p in recs if leg == 1]
    assert sent_by_customer == up
    assert heard_by_customer == down
    stamps = [ts for leg, _t, ts, _p in recs if leg == 0]
    assert all((b - a) % 2**32 == step for a, b in itertools.pairwise(stamps))
    arrivals = [t for _leg, t, _ts, _p in recs]
    assert arrivals == sorted(arrivals)


async def test_other_codec_refused_when_the_notice_must_play(
    b2bua: Start, tmp_path: Path, notice_wav: Path
) -> None:
    """The notice cannot be encoded in AMR: an AMR-only offer gets 488 and nothing rings."""
    sipp = require_binary("sipp")
    async with rtp_peer() as cust:
        svc = await b2bua([cust.port], notice=notice_wav)
        amr = "RTP/AVP 96\na=rtpmap:96 AMR/8000\na=fmtp:96 octet-align=1"
        scenario = (
            scenarios.caller(final=488)
            .replace(
                '<recv response="488"/>',
                '<recv response="488"><action><ereg regexp="Warning: 399 akashi .*G722.*opus" search_in="msg"'
                ' check_it="true" assign_to="w"/></action></recv>',
            )
            .replace("</scenario>", '<Reference variables="w"/>\n</scenario>')
        )
        callx = Sipp(sipp, tmp_path, "caller", only(amr, scenario))
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", str(cust.port), "-m", "1"
        )
        assert await callx.wait() == 0, callx.log()
