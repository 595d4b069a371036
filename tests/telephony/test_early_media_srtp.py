"""Early media where it used to be dropped: an SRTP trunk, and an agent's phone that made a late offer.

SRTP: the SIPp trunk answers Akashi's SAVP offer with a 183 holding its own key, and its media
(an SRTP-protected 700 Hz announcement) comes from a real UDP socket of the test; Akashi takes the
key from the 183, the agent's plain phone hears the announcement and the stored call holds it.
Late offer: the agent's INVITE has no SDP, so Akashi cannot put its offer in an unreliable 183
(RFC 3261 13.2.1): the phone gets the 183 without media, and the early media is still recorded.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import numpy as np
import pylibsrtp
import pytest

from akashi.codecs import g711
from akashi.telephony.sdp import SRTP_SUITE, Crypto
from akashi.telephony.srtp import new_crypto
from tests.conftest import require_binary
from tests.telephony import scenarios
from tests.telephony.conftest import Start
from tests.telephony.peers import RtpPeer, Sipp, rtp_peer, tone
from tests.telephony.test_calls import _call, _stored, _until, dominant_hz
from tests.telephony.test_early_media import (
    ANNOUNCEMENT_HZ,
    ANNOUNCEMENT_S,
    EARLY_SDP,
    agent_hears_183_then_404,
    trunk_announces_then_404,
    ulaw_wav,
)
from tests.telephony.test_options_tag import received_answers
from tests.telephony.test_outbound import AGENT_SECRET, TRUNK_TOML
from tests.telephony.test_scenarios import _row

pytestmark = [pytest.mark.sip]

SRTP_TRUNK_TOML = TRUNK_TOML + 'srtp = "sdes"\n'
OFFER_IN_INVITE = "Content-Type: application/sdp\nContent-Length: [len]\n\n" + scenarios.SDP
NO_BODY = "Content-Length: 0\n\n"


def srtp_trunk_183_then_404(key: Crypto, wait_ms: int) -> str:
    """The trunk: 401, then 183 with an SAVP answer (its key; media from the test's socket), then 404."""
    xml = trunk_announces_then_404(Path("/nonexistent.wav"))
    savp = EARLY_SDP.replace("m=audio [media_port] RTP/AVP 0", "m=audio [rtpport] RTP/SAVP 0")
    savp = savp.replace("a=ptime:20\n", f"a=ptime:20\na=crypto:{key.line()}\n")
    assert savp != EARLY_SDP and EARLY_SDP in xml
    xml = xml.replace(EARLY_SDP, savp)
    xml = xml.replace('  <nop><action><exec rtp_stream="/nonexistent.wav,1,0"/></action></nop>\n', "")
    return xml.replace(
        f'<pause milliseconds="{int(ANNOUNCEMENT_S * 1000) + 600}"/>', f'<pause milliseconds="{wait_ms}"/>'
    )


async def send_srtp(peer: RtpPeer, pcm: np.ndarray, dest: tuple[str, int], key: Crypto) -> None:
    """``pcm`` as SRTP-protected PCMU, 20 ms packets in real time, from the peer's socket."""
    assert peer.transport is not None
    tx = pylibsrtp.Session(pylibsrtp.Policy(key=key.key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
    payload = g711.encode(pcm, "PCMU")
    loop = asyncio.get_running_loop()
    start = loop.time()
    ssrc, seq, ts = random.getrandbits(32), random.getrandbits(16), random.getrandbits(32)
    for i in range(len(payload) // 160):
        hdr = bytes([0x80, 0]) + seq.to_bytes(2, "big") + ts.to_bytes(4, "big") + ssrc.to_bytes(4, "big")
        peer.transport.sendto(tx.protect(hdr + payload[i * 160 : (i + 1) * 160]), dest)
        seq, ts = (seq + 1) & 0xFFFF, (ts + 160) & 0xFFFFFFFF
        delay = start + (i + 1) * 0.02 - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)


def _loud_tone(left: np.ndarray) -> None:
    loud = np.flatnonzero(np.abs(left.astype(np.int32)) > 3000)
    assert len(loud) > 8000 * ANNOUNCEMENT_S * 0.5, len(loud)
    assert abs(dominant_hz(left[loud[0] : loud[0] + 8000]) - ANNOUNCEMENT_HZ) < 20


async def test_srtp_trunk_early_media_relayed_and_recorded(b2bua: Start, tmp_path: Path) -> None:
    """The 183's key unprotects the trunk's announcement: relayed (plain) to the agent, stored."""
    sipp = require_binary("sipp")
    key = new_crypto(1)  # Akashi offers under tag 1: the trunk answers under it
    assert key.suite == SRTP_SUITE
    async with rtp_peer() as agent_rtp, rtp_peer() as trunk_rtp:
        trunk = Sipp(sipp, tmp_path, "carrier", srtp_trunk_183_then_404(key, 5000))
        svc = await b2bua(
            [trunk.port],
            notice=None,
            extra=SRTP_TRUNK_TOML.format(port=trunk.port),
            agent_password=AGENT_SECRET,
        )
        await trunk.start("-key", "rtpport", str(trunk_rtp.port), "-m", "1")
        agent = Sipp(sipp, tmp_path, "agent", agent_hears_183_then_404())
        dial = ["-s", "0312349999", "-key", "rtpport", str(agent_rtp.port), "-m", "1"]
        dial += ["-auth_uri", f"0312349999@127.0.0.1:{svc.sip.local[1]}"]
        await agent.start(f"127.0.0.1:{svc.sip.local[1]}", *dial)
        call = await _call(svc)
        b = call.b_rtp
        assert b is not None
        await _until(lambda: b.srtp_rx is not None and b.remote is not None, 15)  # the 183 was taken
        await send_srtp(trunk_rtp, tone(ANNOUNCEMENT_HZ, ANNOUNCEMENT_S, 0.5), ("127.0.0.1", b.port), key)
        assert await agent.wait() == 0, agent.log() + trunk.log()
        assert await trunk.wait() == 0, trunk.log()
        row = await asyncio.wait_for(_row(svc), 30)
        heard = agent_rtp.payloads(int(ANNOUNCEMENT_S * 50))
    assert len(heard) >= 8000 * ANNOUNCEMENT_S * 0.8, len(heard)  # relayed to the plain phone, decrypted
    assert abs(dominant_hz(heard) - ANNOUNCEMENT_HZ) < 20
    assert row.status == "missed" and (row.extra or {}).get("final_status") == 404
    assert (row.extra or {}).get("early_media_at") and not (row.extra or {}).get("rtp_refused")
    _r, left, _right, _fmt = _stored(svc, row.id)
    _loud_tone(left)


def late_offer_agent() -> str:
    """Agent 201 dials out with INVITEs without SDP; it gets 183 (no SDP), then 404."""
    xml = agent_hears_183_then_404()
    assert xml.count(OFFER_IN_INVITE) == 2
    xml = xml.replace(OFFER_IN_INVITE, NO_BODY)
    checks = xml[xml.index('  <recv response="183">') : xml.index('  <recv response="183" optional="true"/>')]
    xml = xml.replace(checks, '  <recv response="183"/>\n')
    return xml.replace('  <Reference variables="ct,m"/>\n', "")


async def test_late_offer_agent_gets_183_and_early_media_is_recorded(b2bua: Start, tmp_path: Path) -> None:
    """The phone's INVITE had no SDP: 183 without media for it, the announcement in the stored call."""
    sipp = require_binary("sipp")
    wav = ulaw_wav(tmp_path / "not-in-service.wav", tone(ANNOUNCEMENT_HZ, ANNOUNCEMENT_S, 0.5))
    trunk = Sipp(sipp, tmp_path, "carrier", trunk_announces_then_404(wav))
    svc = await b2bua(
        [trunk.port], notice=None, extra=TRUNK_TOML.format(port=trunk.port), agent_password=AGENT_SECRET
    )
    await trunk.start("-m", "1")
    agent = Sipp(sipp, tmp_path, "agent", late_offer_agent())
    dial = ["-s", "0312349999", "-m", "1", "-auth_uri", f"0312349999@127.0.0.1:{svc.sip.local[1]}"]
    await agent.start(f"127.0.0.1:{svc.sip.local[1]}", *dial)
    assert await agent.wait() == 0, agent.log() + trunk.log()
    assert await trunk.wait() == 0, trunk.log()
    row = await asyncio.wait_for(_row(svc), 30)
    progress = [m for m in received_answers(tmp_path, "agent") if m.startswith("SIP/2.0 183")]
    assert progress and not any("application/sdp" in m for m in progress), progress
    assert row.status == "missed" and (row.extra or {}).get("final_status") == 404
    assert (row.extra or {}).get("early_media_at")
    _r, left, _right, _fmt = _stored(svc, row.id)
    _loud_tone(left)
