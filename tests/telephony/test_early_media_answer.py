"""Early media kept when the call is then answered: the recording starts at the trunk's first early packet.

A SIPp trunk answers the agent's call with 183 and SDP, plays its ringback (700 Hz) as RTP, answers
with 200 and then the customer "speaks" (400 Hz). The stored call holds the ringback before the
answer and the speech after it; the facts say where the answer is in the audio (``answer_at_s``),
the outbound notice (played after the answer) is still judged from the answer, and the call page
shows the conversation's duration and where the answer lies in the recording.
"""

from __future__ import annotations

import asyncio
from datetime import UTC
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from akashi.analysis.audio import parse_wav
from akashi.analysis.detect import Segment
from akashi.analysis.pipeline import notice_check
from akashi.callfacts import CallFacts
from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import Call, User
from akashi.web.i18n import duration
from tests.conftest import require_binary
from tests.telephony.conftest import NOTICE_HZ, Start
from tests.telephony.linphone import linphone
from tests.telephony.peers import Sipp, rtp_peer, tone
from tests.telephony.test_calls import _call, _stored, _until, dominant_hz
from tests.telephony.test_early_media import ANNOUNCEMENT_S, trunk_rings_then_answers, ulaw_wav
from tests.telephony.test_outbound import AGENT_SECRET, TRUNK_TOML, agent_phone
from tests.telephony.test_scenarios import _row
from tests.web.conftest import PASSWORD, api_login, password_hash

pytestmark = [pytest.mark.sip]

RINGBACK_HZ = 700.0
SPEECH_HZ = 400.0
SPEECH_S = 2.0
LOUD = 3000


def trunk_ringback_answer_speech(ringback: Path, speech: Path) -> str:
    """The trunk: 183 with SDP and its ringback as RTP, then 200; after the ACK the customer speaks."""
    xml = trunk_rings_then_answers(ringback)
    tail = '  <recv request="ACK"/>\n  <recv request="BYE" timeout="60000"/>'
    assert tail in xml
    talk = '  <recv request="ACK"/>\n'
    talk += f'  <nop><action><exec rtp_stream="{speech},1,0"/></action></nop>\n'
    talk += '  <recv request="BYE" timeout="60000"/>'
    return xml.replace(tail, talk)


def _epoch(row: Call) -> tuple[float, float]:
    assert row.answered_at is not None
    at = row.answered_at if row.answered_at.tzinfo else row.answered_at.replace(tzinfo=UTC)
    st = row.started_at if row.started_at.tzinfo else row.started_at.replace(tzinfo=UTC)
    return at.timestamp(), st.timestamp()


def _admin(ak: Akashi) -> None:
    with session_scope(ak.engine) as s:
        s.add(User(name="admin", role="admin", password_hash=password_hash(), display_name="admin"))


async def test_answered_call_keeps_its_early_media(b2bua: Start, tmp_path: Path, notice_wav: Path) -> None:
    """183 + ringback, 200, the customer's speech; an outbound notice after the answer."""
    sipp = require_binary("sipp")
    ringback = ulaw_wav(tmp_path / "ringback.wav", tone(RINGBACK_HZ, ANNOUNCEMENT_S, 0.5))
    speech = ulaw_wav(tmp_path / "speech.wav", tone(SPEECH_HZ, SPEECH_S, 0.5))
    agent_xml = agent_phone(3500).replace(
        '<recv response="180" optional="true"/>',
        '<recv response="183"/>\n  <recv response="183" optional="true"/>',
    )
    async with rtp_peer() as agent_rtp:
        trunk = Sipp(sipp, tmp_path, "carrier", trunk_ringback_answer_speech(ringback, speech))
        svc = await b2bua(
            [trunk.port],
            notice=notice_wav,
            extra=TRUNK_TOML.format(port=trunk.port),
            agent_password=AGENT_SECRET,
            sip_extra="outbound_notice = true",
        )
        await trunk.start("-m", "1")
        agent = Sipp(sipp, tmp_path, "agent", agent_xml)
        dial = ["-s", "0312349999", "-key", "rtpport", str(agent_rtp.port), "-m", "1"]
        dial += ["-auth_uri", f"0312349999@127.0.0.1:{svc.sip.local[1]}"]
        await agent.start(f"127.0.0.1:{svc.sip.local[1]}", *dial)
        assert await agent.wait() == 0, agent.log() + trunk.log()
        assert await trunk.wait() == 0, trunk.log()
        row = await asyncio.wait_for(_row(svc), 30)
    assert row.status == "completed" and row.direction == "out" and row.notice_mode == "automatic"
    facts = CallFacts.read(row.extra)
    assert facts.early_media_at is not None and facts.audio_started_at is not None
    answered, _started = _epoch(row)
    answer_s = facts.answer_offset_s()
    # the trunk answered ~2.1 s after its 183 (1.5 s of ringback, then a pause)
    assert 1.5 < answer_s < 3.5, facts
    assert answered - facts.audio_started_at == pytest.approx(answer_s, abs=0.01)
    _r, left, right, _fmt = await asyncio.to_thread(_stored, svc, row.id)
    cut = int(answer_s * 8000)
    before, after = left[:cut], left[cut:]
    # the ringback is at the start of the recording, before the answer
    loud_before = np.flatnonzero(np.abs(before.astype(np.int32)) > LOUD)
    assert len(loud_before) > 8000 * ANNOUNCEMENT_S * 0.7, len(loud_before)
    assert loud_before[0] < 0.3 * 8000, loud_before[0]
    assert abs(dominant_hz(before[loud_before[0] : loud_before[0] + 8000]) - RINGBACK_HZ) < 20
    # the customer's speech after it
    loud_after = np.flatnonzero(np.abs(after.astype(np.int32)) > LOUD)
    assert len(loud_after) > 8000 * SPEECH_S * 0.5, len(loud_after)
    assert abs(dominant_hz(after[loud_after[0] : loud_after[0] + 8000]) - SPEECH_HZ) < 20
    # the notice the customer heard (right) comes after the answer, nothing before it
    heard = np.flatnonzero(np.abs(right.astype(np.int32)) > LOUD)
    assert len(heard) and heard[0] >= cut - 0.05 * 8000, (heard[:1], cut)
    assert abs(dominant_hz(right[heard[0] : heard[0] + 4000]) - NOTICE_HZ) < 30

    # the automatic notice is judged from the answer: audible where it was played
    data = b"".join(svc.ak.store.iter_plaintext(row.media_object_id or ""))
    audio = parse_wav(data)
    found = notice_check(svc.ak, row, [], audio)
    assert found is not None and found.ok, found
    assert found.detail["audible_share"] > 0.8, found.detail
    # an operator notice's window counts from the answer too (call-audio time adds the early media)
    window = svc.ak.settings.analysis.notice_window_s
    row.notice_mode = "operator"
    said = "この通話は、サービス向上のため録音させていただきます。"
    late_in_audio = [Segment("operator", window + answer_s - 0.5, window + answer_s + 2.0, said)]
    in_time = notice_check(svc.ak, row, late_in_audio)
    assert in_time is not None and in_time.ok, in_time
    too_late = [Segment("operator", window + answer_s + 1.0, window + answer_s + 3.0, said)]
    late = notice_check(svc.ak, row, too_late)
    assert late is not None and not late.ok, late

    # the call page: the conversation's duration, and where the answer is in the recording
    from akashi.web.app import create_app

    await asyncio.to_thread(_admin, svc.ak)

    def page() -> str:
        with TestClient(create_app(svc.ak), base_url="http://testserver") as c:
            api_login(c, "admin", PASSWORD)
            r = c.get(f"/calls/{row.id}")
            assert r.status_code == 200, r.text
            return r.text

    html = await asyncio.to_thread(page)
    assert row.duration_s > answer_s + SPEECH_S * 0.8  # the recording: early media + the conversation
    assert f"<dd>{duration(row.duration_s - answer_s)}" in html, html
    assert 'id="early-media"' in html and duration(answer_s) in html


async def test_linphone_agent_answered_call_keeps_the_ringback(b2bua: Start, tmp_path: Path) -> None:
    """linphonec as the agent's phone: 183 + ringback, the customer answers and speaks, the agent hangs
    up; the stored call holds the ringback before the answer and the speech after it."""
    sipp = require_binary("sipp")
    ringback = ulaw_wav(tmp_path / "ringback.wav", tone(RINGBACK_HZ, ANNOUNCEMENT_S, 0.5))
    speech = ulaw_wav(tmp_path / "speech.wav", tone(SPEECH_HZ, SPEECH_S, 0.5))
    trunk = Sipp(sipp, tmp_path, "carrier", trunk_ringback_answer_speech(ringback, speech))
    svc = await b2bua(
        [trunk.port], notice=None, extra=TRUNK_TOML.format(port=trunk.port), agent_password=AGENT_SECRET
    )
    await trunk.start("-m", "1")
    akashi = f"127.0.0.1:{svc.sip.local[1]}"
    async with linphone(tmp_path, "201", "Sato", proxy=akashi, password=AGENT_SECRET) as phone:
        await phone.command(f"call sip:0312349999@{akashi}")
        call = await _call(svc, 15)
        await asyncio.wait_for(phone.connected.wait(), 20)
        b = call.b_rtp
        assert b is not None
        # the ringback and the customer's speech have reached Akashi: the agent hangs up
        want = int((ANNOUNCEMENT_S + SPEECH_S) * 50 * 0.9)
        await _until(lambda: b.rx_packets >= want, 15)
        await phone.command("terminate")
        assert await trunk.wait() == 0, trunk.log() + phone.log()
        row = await asyncio.wait_for(_row(svc), 30)
        await asyncio.wait_for(phone.ended.wait(), 10)
    assert row.status == "completed" and row.direction == "out", phone.log()
    facts = CallFacts.read(row.extra)
    answer_s = facts.answer_offset_s()
    assert facts.audio_started_at is not None and 1.5 < answer_s < 3.5, facts
    _r, left, _right, _fmt = await asyncio.to_thread(_stored, svc, row.id)
    cut = int(answer_s * 8000)
    loud_before = np.flatnonzero(np.abs(left[:cut].astype(np.int32)) > LOUD)
    assert len(loud_before) > 8000 * ANNOUNCEMENT_S * 0.7, len(loud_before)
    assert abs(dominant_hz(left[loud_before[0] : loud_before[0] + 8000]) - RINGBACK_HZ) < 20
    after = left[cut:]
    loud_after = np.flatnonzero(np.abs(after.astype(np.int32)) > LOUD)
    assert len(loud_after) > 8000 * SPEECH_S * 0.5, len(loud_after)
    assert abs(dominant_hz(after[loud_after[0] : loud_after[0] + 8000]) - SPEECH_HZ) < 20
