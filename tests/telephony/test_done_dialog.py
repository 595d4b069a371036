"""A request that reaches a call after it ended, while it still closes its ports, gets 481 on the wire.

With media workers a finished call stays registered while the workers send its ports' last counters. A BYE
that crosses Akashi's own (both sides hang up at once) lands in that window: it once raised inside the
service and got no answer, so the phone sent it again for 32 s (baresip did not exit).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import pytest

from akashi.telephony.call.state import CallState
from tests.conftest import require_binary
from tests.telephony import scenarios
from tests.telephony.conftest import Start
from tests.telephony.peers import Sipp, rtp_peer
from tests.telephony.test_calls import _call, _until

pytestmark = [pytest.mark.sip]


async def test_a_bye_to_a_call_still_closing_gets_481(
    b2bua: Start, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sipp = require_binary("sipp")
    async with rtp_peer() as cust, rtp_peer() as op:
        opx = Sipp(sipp, tmp_path, "op", scenarios.operator(hangup="caller"))
        svc = await b2bua([opx.port], notice=None, mode="operator", sip_extra="media_workers = 2\n")
        await opx.start("-key", "rtpport", str(op.port), "-m", "1")
        callx = Sipp(sipp, tmp_path, "caller", scenarios.caller(talk_ms=1000))
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", str(cust.port), "-m", "1"
        )
        call = await _call(svc, peers=(callx, opx))
        assert call.a_rtp is not None and call.a_rtp.in_worker
        hold = asyncio.Event()
        closing = call.a_rtp.closed_fully

        async def held_open(timeout: float = 2.0) -> None:  # the workers' last counters, late
            await hold.wait()
            await closing(timeout)

        call.a_rtp.closed_fully = held_open  # type: ignore[method-assign]
        assert await callx.wait() == 0, callx.log()
        await _until(lambda: call.state is CallState.DONE, 10)
        assert svc.calls.get(call.call_id) is call  # ended, still registered
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone:
            phone.bind(("127.0.0.1", 0))
            phone.setblocking(False)
            port = phone.getsockname()[1]
            bye = (
                f"BYE sip:akashi@127.0.0.1:{svc.sip.local[1]} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-crossing-bye;rport\r\n"
                f"From: <sip:0901234567@127.0.0.1>;tag=late\r\n"
                f"To: <sip:0312345678@127.0.0.1>;tag=gone\r\n"
                f"Call-ID: {call.call_id}\r\nCSeq: 9 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            )
            with caplog.at_level(logging.ERROR):
                phone.sendto(bye.encode(), ("127.0.0.1", svc.sip.local[1]))
                answer = (await asyncio.wait_for(loop.sock_recv(phone, 4096), 5)).decode()
        assert answer.startswith("SIP/2.0 481"), answer
        assert "CSeq: 9 BYE" in answer
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
        hold.set()
        assert await opx.wait() == 0, opx.log()
        assert await asyncio.wait_for(svc.stored.get(), 30) is not None
