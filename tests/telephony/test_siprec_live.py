"""SIPREC sessions on the live board and through live detection's tap (issue 14): a SIPp SRC records a
call; the board hears started/answered/ended with the call's site and numbers, the customer's stream
(and only it) reaches the tap under the session's Call-ID and site, and a live flag for the session is
published with its category (Akashi records SIPREC calls, so no warning is played).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import require_binary
from tests.ports import free_udp_port
from tests.telephony.conftest import Start
from tests.telephony.peers import Sipp, rtp_peer, tone
from tests.telephony.test_calls import _until, dominant_hz
from tests.telephony.test_early_media import ulaw_wav
from tests.telephony.test_protect_calls import Board
from tests.telephony.test_siprec_calls import (
    ALLOW,
    STREAM1_HZ,
    STREAM2_HZ,
    _answered,
    _session,
    sounding,
    src_scenario,
)
from tests.telephony.test_siprec_parsers import VARIANTS

pytestmark = [pytest.mark.sip]


class Tap:
    """A LiveTap that keeps what it is given."""

    def __init__(self) -> None:
        self.begun: list[tuple[str, str]] = []
        self.audio_of: dict[str, list[bytes]] = {}
        self.ended: list[str] = []

    def begin(self, call_id: str, site: str = "") -> None:
        self.begun.append((call_id, site))

    def audio(self, call_id: str, side: str, pcm16: bytes, t: float) -> None:
        self.audio_of.setdefault(call_id, []).append(pcm16)

    def end(self, call_id: str) -> None:
        self.ended.append(call_id)


async def test_siprec_session_on_the_board_and_its_customer_stream_through_the_tap(
    b2bua: Start, tmp_path: Path
) -> None:
    sipp = require_binary("sipp")
    variant = next(iter(VARIANTS))
    _xml, labels, customer_label = VARIANTS[variant]
    seconds = 3.5
    wav = ulaw_wav(tmp_path / "stream1.wav", tone(STREAM1_HZ, seconds, 0.5))
    async with rtp_peer() as second:
        svc = await b2bua([free_udp_port()], notice=None, sip_extra=ALLOW)
        board, tap = Board(), Tap()
        svc.live, svc.live_tap = board, tap  # read when the session is answered
        src = Sipp(sipp, tmp_path, "src", src_scenario(variant, wav, pause=False))
        await src.start(f"127.0.0.1:{svc.sip.local[1]}", "-key", "opport", str(second.port), "-m", "1")
        try:
            session = await _session(svc)
            await asyncio.wait_for(_answered(session), 10)
            port = session.eps[session.index.index(1)].port  # the second m= line's port
            sender = asyncio.create_task(
                second.send_signal(tone(STREAM2_HZ, seconds, 0.5), ("127.0.0.1", port))
            )
            svc.live_flag(session.call_id, "severe", "ネットに晒すぞ", time.time(), ("SNS・ネット晒し",))
            assert await src.wait(40) == 0, src.log()
            await sender
        finally:
            src.kill()
        assert await asyncio.wait_for(svc.stored.get(), 30) is not None
        # live recognition runs behind the call: a flag after the session ended still reaches the board
        await _until(lambda: session.call_id not in svc.siprec.sessions, 10)
        svc.live_flag(session.call_id, "severe", "殺すぞ", time.time(), ("脅迫",))
    cid = session.call_id
    kinds = [e.kind for e in board.events if e.call_id == cid]
    assert kinds == ["started", "answered", "flag", "ended", "flag"], kinds
    late = board.events[-1]
    assert late.detail["after_end"] == "1" and late.detail["category"] == "脅迫"
    assert (late.site, late.caller) == (session.meta.site, session.meta.caller)
    started = board.events[0]
    assert (started.site, started.caller) == (session.meta.site, session.meta.caller) and started.caller
    flag = next(e for e in board.events if e.kind == "flag")
    assert flag.detail["category"] == "SNS・ネット晒し" and flag.detail["severity"] == "severe"
    assert tap.begun == [(cid, session.meta.site)] and tap.ended == [cid]
    heard = np.frombuffer(b"".join(tap.audio_of[cid]), dtype=np.int16)
    assert len(heard) > 8000  # a second and more of the customer
    first_is_customer = labels[0] == customer_label
    cust_hz = STREAM1_HZ if first_is_customer else STREAM2_HZ
    assert abs(dominant_hz(sounding(heard)) - cust_hz) < 15  # the customer's stream, not the operator's
