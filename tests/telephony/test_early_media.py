"""Early media on outbound calls: the trunk's 180/183 reach the agent's phone, and its early media is
relayed and recorded.

A SIPp trunk answers the agent's call with 183 and SDP, plays an announcement (a 700 Hz tone, as
"this number is not in service") as RTP, then refuses the call with 404: the SIPp agent phone must
get the 183 with SDP, its RTP peer hears the tone, and the stored call holds it on the customer's
channel. A trunk that rings with 180 and no SDP makes the agent's phone get 180.
"""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import numpy as np
import pytest

from akashi.codecs import g711
from tests.conftest import require_binary
from tests.telephony import scenarios
from tests.telephony.conftest import Start
from tests.telephony.linphone import linphone
from tests.telephony.peers import Sipp, rtp_peer, tone
from tests.telephony.test_calls import _stored, dominant_hz
from tests.telephony.test_options_tag import received_answers
from tests.telephony.test_outbound import AGENT_INVITE, AGENT_SECRET, TRUNK_TOML, agent_phone, carrier
from tests.telephony.test_scenarios import _row

pytestmark = [pytest.mark.sip]

ANNOUNCEMENT_HZ = 700.0
ANNOUNCEMENT_S = 1.5

#: the trunk's SDP: its media from SIPp's own RTP socket (rtp_stream sends from there)
EARLY_SDP = (
    scenarios.SDP.replace("[rtpport]", "[media_port]")
    .replace(" 0 101", " 0")
    .replace("a=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16\n", "")
)


def ulaw_wav(path: Path, pcm: np.ndarray) -> Path:
    """A mono 8 kHz mu-law WAV (what SIPp's rtp_stream plays as PCMU)."""
    data = g711.encode(pcm, "PCMU")
    fmt = struct.pack("<HHIIHHH", 7, 1, 8000, 8000, 1, 8, 0)
    body = (
        b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    )
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def trunk_announces_then_404(wav: Path) -> str:
    """The trunk: 401 challenge, then 183 with SDP, the announcement as RTP, then 404."""
    full = carrier()
    head = full.split('  <label id="good"/>')[0] + '  <label id="good"/>'
    progress = scenarios.OP_OK.replace("200 OK", "183 Session Progress").replace("SIPpTag01", "SIPpTag02")
    progress = progress.replace('<send retrans="500">', "<send>").split("Content-Type:")[0]
    progress += (
        "Content-Type: application/sdp\nContent-Length: [len]\n\n" + EARLY_SDP + "\n    ]]>\n  </send>\n"
    )
    refused = scenarios.OP_RINGING.replace("180 Ringing", "404 Not Found").replace("SIPpTag01", "SIPpTag02")
    return "\n".join(
        [
            head,
            progress,
            f'  <nop><action><exec rtp_stream="{wav},1,0"/></action></nop>',
            f'  <pause milliseconds="{int(ANNOUNCEMENT_S * 1000) + 600}"/>',
            refused,
            '  <recv request="ACK"/>',
            '  <label id="end"/>',
            "</scenario>",
        ]
    )


def trunk_rings_then_answers(wav: Path) -> str:
    """The trunk: 401 challenge, then 183 with SDP and its ringback as RTP, then 200 (the customer answers)."""
    xml = trunk_announces_then_404(wav)
    ok = scenarios.OP_OK.replace("SIPpTag01", "SIPpTag02").replace("[rtpport]", "[media_port]")
    answered = "\n".join(
        [ok, '  <recv request="ACK"/>', '  <recv request="BYE" timeout="60000"/>', scenarios.OK_TO_REQUEST]
    )
    refused = xml[xml.index("  <send>\n    <![CDATA[\nSIP/2.0 404") :].split('  <label id="end"/>')[0]
    return xml.replace(refused, answered + "\n")


def _sdp_origin(msg: str) -> str:
    return next(ln for ln in msg.splitlines() if ln.startswith("o="))


def agent_hears_183_then_404() -> str:
    """Agent 201 dials out; it must get 183 with SDP (checked), then 404 (ACKed)."""
    invite2 = AGENT_INVITE.split("<recv")[0].replace(
        "CSeq: 1 INVITE", f"CSeq: 2 INVITE\n[authentication username=201 password={AGENT_SECRET}]"
    )
    ack407 = scenarios.ACK.replace("[branch]", "[branch-3]").replace("0901234567", "201")
    ack404 = scenarios.ACK.replace("CSeq: 1 ACK", "CSeq: 2 ACK").replace("0901234567", "201")
    ack404 = ack404.replace("[branch]", "[branch-5]")
    return "\n".join(
        [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<scenario name="agent">',
            AGENT_INVITE.split("<recv")[0],
            '  <recv response="100" optional="true"/>',
            '  <recv response="407" auth="true"/>',
            ack407,
            invite2,
            '  <recv response="100" optional="true"/>',
            '  <recv response="183">',
            "    <action>",
            '      <ereg regexp="application/sdp" search_in="hdr" header="Content-Type:" check_it="true" assign_to="ct"/>',
            '      <ereg regexp="m=audio [0-9]+ RTP/AVP 0" search_in="body" check_it="true" assign_to="m"/>',
            "    </action>",
            "  </recv>",
            '  <recv response="183" optional="true"/>',
            '  <recv response="404"/>',
            ack404,
            '  <Reference variables="ct,m"/>',
            "</scenario>",
        ]
    )


async def test_183_announcement_then_404_reaches_agent_and_is_recorded(b2bua: Start, tmp_path: Path) -> None:
    """The agent gets 183 + SDP and hears the announcement; 404 follows; the stored call holds the announcement."""
    sipp = require_binary("sipp")
    wav = ulaw_wav(tmp_path / "not-in-service.wav", tone(ANNOUNCEMENT_HZ, ANNOUNCEMENT_S, 0.5))
    async with rtp_peer() as agent_rtp:
        trunk = Sipp(sipp, tmp_path, "carrier", trunk_announces_then_404(wav))
        svc = await b2bua(
            [trunk.port], notice=None, extra=TRUNK_TOML.format(port=trunk.port), agent_password=AGENT_SECRET
        )
        await trunk.start("-m", "1")
        agent = Sipp(sipp, tmp_path, "agent", agent_hears_183_then_404())
        dial = ["-s", "0312349999", "-key", "rtpport", str(agent_rtp.port), "-m", "1"]
        dial += ["-auth_uri", f"0312349999@127.0.0.1:{svc.sip.local[1]}"]
        await agent.start(f"127.0.0.1:{svc.sip.local[1]}", *dial)
        assert await agent.wait() == 0, agent.log() + trunk.log()
        assert await trunk.wait() == 0, trunk.log()
        row = await asyncio.wait_for(_row(svc), 30)
        heard = agent_rtp.payloads(int(ANNOUNCEMENT_S * 50))
        assert len(heard) >= 8000 * ANNOUNCEMENT_S * 0.8, len(heard)  # the agent heard (most of) it
        assert abs(dominant_hz(heard) - ANNOUNCEMENT_HZ) < 20
        assert row.direction == "out" and row.status == "missed", row.status
        assert (row.extra or {}).get("final_status") == 404
        assert (row.extra or {}).get("early_media_at")
        _r, left, _right, _fmt = _stored(svc, row.id)
    # the customer's channel (left) holds the trunk's announcement
    loud = np.flatnonzero(np.abs(left.astype(np.int32)) > 3000)
    assert len(loud) > 8000 * ANNOUNCEMENT_S * 0.5, len(loud)
    assert abs(dominant_hz(left[loud[0] : loud[0] + 8000]) - ANNOUNCEMENT_HZ) < 20


async def test_180_without_sdp_reaches_agent(b2bua: Start, tmp_path: Path, notice_wav: Path) -> None:
    """The trunk rings (180, no SDP) before answering: the agent's phone gets 180 (no longer optional)."""
    sipp = require_binary("sipp")
    agent_xml = agent_phone(800).replace('<recv response="180" optional="true"/>', '<recv response="180"/>')
    async with rtp_peer() as agent_rtp, rtp_peer() as cust_rtp:
        trunk = Sipp(sipp, tmp_path, "carrier", carrier())
        svc = await b2bua(
            [trunk.port],
            notice=notice_wav,
            extra=TRUNK_TOML.format(port=trunk.port),
            agent_password=AGENT_SECRET,
        )
        await trunk.start("-key", "rtpport", str(cust_rtp.port), "-m", "1")
        agent = Sipp(sipp, tmp_path, "agent", agent_xml)
        dial = ["-s", "0312349999", "-key", "rtpport", str(agent_rtp.port), "-m", "1"]
        dial += ["-auth_uri", f"0312349999@127.0.0.1:{svc.sip.local[1]}"]
        await agent.start(f"127.0.0.1:{svc.sip.local[1]}", *dial)
        assert await agent.wait() == 0, agent.log() + trunk.log()
        assert await trunk.wait() == 0, trunk.log()
        row = await asyncio.wait_for(_row(svc), 30)
    assert row.status == "completed" and not (row.extra or {}).get("early_media_at")


async def test_linphone_agent_gets_the_early_media(b2bua: Start, tmp_path: Path) -> None:
    """linphonec (another SIP stack) as the agent's phone: it answers Akashi's digest, is told of the
    trunk's 183 with SDP (early media), then of the 404; the stored call holds the announcement."""
    sipp = require_binary("sipp")
    wav = ulaw_wav(tmp_path / "not-in-service.wav", tone(ANNOUNCEMENT_HZ, ANNOUNCEMENT_S, 0.5))
    trunk = Sipp(sipp, tmp_path, "carrier", trunk_announces_then_404(wav))
    svc = await b2bua(
        [trunk.port], notice=None, extra=TRUNK_TOML.format(port=trunk.port), agent_password=AGENT_SECRET
    )
    await trunk.start("-m", "1")
    akashi = f"127.0.0.1:{svc.sip.local[1]}"
    async with linphone(tmp_path, "201", "Sato", proxy=akashi, password=AGENT_SECRET) as phone:
        await phone.command(f"call sip:0312349999@{akashi}")
        assert await trunk.wait() == 0, trunk.log() + phone.log()
        row = await asyncio.wait_for(_row(svc), 30)
        await asyncio.wait_for(phone.ended.wait(), 10)
        log = phone.log()
    assert row.direction == "out" and row.status == "missed" and row.agent_name == "佐藤 花子", log
    assert (row.extra or {}).get("final_status") == 404
    assert (row.extra or {}).get("early_media_at")
    debug = phone.debug_log()
    assert "to LinphoneCallOutgoingEarlyMedia" in debug and "SIP/2.0 404" in debug, log
    # its audio stream received the announcement relayed by Akashi (1.5 s: 75 packets of 20 ms)
    assert phone.rtp_received() >= ANNOUNCEMENT_S * 50 * 0.8, phone.rtp_received()
    _r, left, _right, _fmt = _stored(svc, row.id)
    loud = np.flatnonzero(np.abs(left.astype(np.int32)) > 3000)
    assert len(loud) > 8000 * ANNOUNCEMENT_S * 0.5, len(loud)


async def test_early_media_then_answer_keeps_one_sdp_answer(b2bua: Start, tmp_path: Path) -> None:
    """183 with ringback, then the customer answers: the agent's phone heard the ringback, and its 200
    carries the very SDP answer of the 183 (same o= line); the call is stored as completed."""
    sipp = require_binary("sipp")
    wav = ulaw_wav(tmp_path / "ringback.wav", tone(ANNOUNCEMENT_HZ, ANNOUNCEMENT_S, 0.5))
    agent_xml = agent_phone(800).replace(
        '<recv response="180" optional="true"/>',
        '<recv response="183"/>\n  <recv response="183" optional="true"/>',
    )
    async with rtp_peer() as agent_rtp:
        trunk = Sipp(sipp, tmp_path, "carrier", trunk_rings_then_answers(wav))
        svc = await b2bua(
            [trunk.port], notice=None, extra=TRUNK_TOML.format(port=trunk.port), agent_password=AGENT_SECRET
        )
        await trunk.start("-m", "1")
        agent = Sipp(sipp, tmp_path, "agent", agent_xml)
        dial = ["-s", "0312349999", "-key", "rtpport", str(agent_rtp.port), "-m", "1"]
        dial += ["-auth_uri", f"0312349999@127.0.0.1:{svc.sip.local[1]}"]
        await agent.start(f"127.0.0.1:{svc.sip.local[1]}", *dial)
        assert await agent.wait() == 0, agent.log() + trunk.log()
        assert await trunk.wait() == 0, trunk.log()
        row = await asyncio.wait_for(_row(svc), 30)
        heard = agent_rtp.payloads(int(ANNOUNCEMENT_S * 50))
    assert len(heard) >= 8000 * ANNOUNCEMENT_S * 0.8 and abs(dominant_hz(heard) - ANNOUNCEMENT_HZ) < 20
    assert row.status == "completed" and (row.extra or {}).get("early_media_at")
    got = [m for m in received_answers(tmp_path, "agent") if "CSeq: 2 INVITE" in m and "application/sdp" in m]
    progress = [m for m in got if m.startswith("SIP/2.0 183")]
    ok = [m for m in got if m.startswith("SIP/2.0 200")]
    assert progress and ok, got
    assert {_sdp_origin(m) for m in progress + ok} == {_sdp_origin(ok[0])}
