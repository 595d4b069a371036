"""Admission control by load: an overloaded SIP/media process refuses new calls, not the calls it carries.

The attack (or plain overload): more work than the event loop can do. A test hook burns CPU inside
the service's own loop while a SIPp call is up and relaying; new INVITEs (raw sockets, as a caller or
scanner sends them) must get 503 with Retry-After before anything is set up, the call already up must
keep relaying and end cleanly, and once the loop is free again new INVITEs are admitted.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from akashi.telephony.service import TelephonyService
from tests.conftest import require_binary
from tests.security.sip_raw import raw_sip
from tests.telephony import scenarios
from tests.telephony.conftest import Start, b2bua  # noqa: F401 - fixtures used here
from tests.telephony.peers import Sipp, rtp_peer, tone
from tests.telephony.test_calls import _until
from tests.telephony.test_scenarios import _row

#: the lag alone decides, well above the stalls a busy shared test machine's scheduling adds
LAG_ONLY = "admission_max_loop_lag_ms = 250\nadmission_max_cpu = 0\n"
#: a number without a route: an admitted INVITE gets 100 Trying, then 404
NO_ROUTE = "0399999999"


async def _burn(stop: asyncio.Event) -> None:
    """The test hook: hold the service's event loop 500 ms at a time, as a CPU-bound overload does."""
    while not stop.is_set():
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            pass
        await asyncio.sleep(0.005)


async def test_overloaded_loop_refuses_new_invites_and_keeps_the_call_up(
    b2bua: Start,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    sipp = require_binary("sipp")
    async with rtp_peer() as cust, rtp_peer() as op:
        opx = Sipp(sipp, tmp_path, "op", scenarios.operator(hangup="caller"))
        svc: TelephonyService = await b2bua(
            [opx.port], notice=None, mode="operator", ring_timeout_s=30, rtp_timeout_s=60, sip_extra=LAG_ONLY
        )
        dest = ("127.0.0.1", svc.sip.local[1])
        await opx.start("-key", "rtpport", str(op.port), "-m", "1")
        callx = Sipp(sipp, tmp_path, "caller", scenarios.caller(talk_ms=20000))
        await callx.start(
            f"{dest[0]}:{dest[1]}", "-s", "0312345678", "-key", "rtpport", str(cust.port), "-m", "1"
        )
        await _until(lambda: svc.stats()["bridged_calls"] == 1, 20)
        call = next(iter(svc.calls.values()))
        assert call.a_rtp is not None
        sender = asyncio.create_task(cust.send_signal(tone(300, 18.0), ("127.0.0.1", call.a_rtp.port)))
        await _until(lambda: len(op.received) > 20, 10)  # the caller is heard by the operator
        await _until(lambda: not svc.load.overloaded, 20)  # admitted while the loop keeps up

        stop = asyncio.Event()
        burner = asyncio.create_task(_burn(stop))
        try:
            await _until(lambda: svc.load.overloaded, 15)
            heard = len(op.received)
            async with raw_sip("127.0.0.2") as a:
                cid = a.invite(dest, NO_ROUTE)
                r = await a.wait_for(cid, 200, 15)
                assert r.status == 503
                assert r.header("Retry-After") == "5"
                assert "overloaded" in r.header("Warning")
                assert 100 not in a.statuses(cid)  # refused before anything was set up
            # the call already up keeps relaying while new ones are refused
            await _until(lambda: len(op.received) > heard + 25, 10)
            assert svc.load.overloaded
        finally:
            stop.set()
            await burner
        stats = svc.stats()
        assert stats["admission_overloaded"] == 1
        assert stats["refused_overload"] == 1
        assert stats["admission_loop_lag_p95_us"] > 250_000
        assert svc.edge_audit.entries >= 1  # the refusal is audited like the edge's others

        await _until(lambda: not svc.load.overloaded, 20)  # the lag clears: calls admitted again
        async with raw_sip("127.0.0.3") as b:
            cid = b.invite(dest, NO_ROUTE)
            assert (await b.wait_for(cid, 100, 10)).status == 100
            assert (await b.wait_for(cid, 400, 10)).status == 404  # past admission, to the dial plan
        assert svc.load.refused == 1

        assert await callx.wait(60) == 0, callx.log()
        assert await opx.wait(60) == 0, opx.log()
        sender.cancel()
    row = await _row(svc)
    assert row.status == "completed"
    assert row.bridged_at is not None
    assert svc.stored.empty()  # the refused INVITE stored nothing
