"""100rel/PRACK (RFC 3262) and session timers (RFC 4028) against SIPp peers on both legs."""

from __future__ import annotations

from pathlib import Path

import pytest

from akashi.db.models import Call
from tests.conftest import require_binary
from tests.ports import free_udp_port
from tests.telephony import ext_scenarios as ext
from tests.telephony import scenarios
from tests.telephony.conftest import Start
from tests.telephony.peers import Sipp, rtp_peer
from tests.telephony.test_scenarios import _row

pytestmark = [pytest.mark.sip]

#: a short session interval: RFC 4028 wants >= 90 s, the tests allow 6 s to stay fast (Akashi refreshes at
#: half of it, 3 s; an unrefreshed session ends at 6 - 6/3 = 4 s)
INTERVAL = 6
SHORT = f"min_se_s = {INTERVAL}\nsession_expires_s = {INTERVAL}\n"


async def _call(
    b2bua: Start,
    tmp_path: Path,
    caller_xml: str,
    operator_xml: str | None,
    *,
    sip_extra: str = SHORT,
    ring_timeout_s: int = 10,
    limit_s: int = 60,
) -> tuple[Sipp, Call]:
    """One call through an operator-mode route; both SIPp peers must pass; the stored row (if any)."""
    sipp = require_binary("sipp")
    async with rtp_peer() as cust, rtp_peer() as op:
        opx = Sipp(sipp, tmp_path, "op", operator_xml) if operator_xml else None
        svc = await b2bua(
            [opx.port if opx else free_udp_port()],
            notice=None,
            mode="operator",
            ring_timeout_s=ring_timeout_s,
            rtp_timeout_s=120,
            sip_extra=sip_extra,
        )
        if opx:
            await opx.start("-key", "rtpport", str(op.port), "-m", "1", limit_s=limit_s)
        callx = Sipp(sipp, tmp_path, "caller", caller_xml)
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}",
            "-s",
            "0312345678",
            "-key",
            "rtpport",
            str(cust.port),
            "-m",
            "1",
            limit_s=limit_s,
        )
        try:
            assert await callx.wait(limit_s + 5) == 0, callx.log() + ("\n" + opx.log() if opx else "")
            if opx:
                assert await opx.wait(limit_s + 5) == 0, opx.log()
        finally:
            callx.kill()
            if opx:
                opx.kill()
        row = await _row(svc) if operator_xml else Call()
        return callx, row


def _received(sipp: Sipp, start_line: str) -> int:
    """How many times SIPp's message log shows ``start_line`` received."""
    text = "".join(f.read_text(errors="replace") for f in sipp.dir.glob(f"{sipp.name}_*messages.log"))
    return text.count(start_line)


async def test_caller_prack_then_answer(b2bua: Start, tmp_path: Path) -> None:
    """Require: 100rel: a reliable 180 (RSeq), PRACK gets 200, then the held 200 OK; call recorded."""
    _c, row = await _call(b2bua, tmp_path, ext.caller_prack(), scenarios.operator(hangup="caller"))
    assert row.status == "completed"
    assert row.hangup_side == "caller"


async def test_caller_without_prack_gets_504(
    b2bua: Start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No PRACK: the 180 is retransmitted, then after 64*T1 the INVITE gets 504; a missed call."""
    monkeypatch.setattr("akashi.telephony.timers.T1", 0.1)  # 64*T1 = 6.4 s instead of 32 s
    callx, row = await _call(
        b2bua,
        tmp_path,
        ext.caller_prack(prack=False),
        scenarios.operator(answer="noanswer"),
        ring_timeout_s=30,
    )
    assert _received(callx, "SIP/2.0 180 Ringing") >= 3  # the first and its retransmissions
    assert row.status == "missed"
    assert row.extra["prack_timeout"] is True


async def test_operator_reliable_180_is_pracked(b2bua: Start, tmp_path: Path) -> None:
    """An operator phone sending 180 with Require: 100rel answers only after Akashi's PRACK."""
    _c, row = await _call(b2bua, tmp_path, scenarios.caller(talk_ms=1500), ext.operator_prack())
    assert row.status == "completed"


async def test_caller_refreshes_keep_the_call(b2bua: Start, tmp_path: Path) -> None:
    """Session-Expires 6, refresher=uac: the 200 carries it; UPDATEs every 2 s keep the call past 6 s."""
    _c, row = await _call(
        b2bua,
        tmp_path,
        ext.caller_timer(INTERVAL, refreshes=3, every_ms=2000),
        scenarios.operator(hangup="caller"),
    )
    assert row.hangup_side == "caller"
    assert "session_expired" not in row.extra


async def test_caller_stops_refreshing_gets_bye(b2bua: Start, tmp_path: Path) -> None:
    """No refresh by 6 - min(32, 6/3) s: Akashi hangs up both legs; the stored call says why."""
    _c, row = await _call(b2bua, tmp_path, ext.caller_timer(INTERVAL), scenarios.operator(hangup="caller"))
    assert row.hangup_side == "timeout"
    assert row.extra["session_expired"]["leg"] == "caller"
    assert row.extra["session_expired"]["interval_s"] == INTERVAL


@pytest.mark.parametrize("allow_update", [True, False], ids=["update", "reinvite"])
async def test_akashi_refreshes_caller(b2bua: Start, tmp_path: Path, allow_update: bool) -> None:
    """refresher=uas: Akashi refreshes the caller's leg at half the interval (UPDATE, else re-INVITE)."""
    _c, row = await _call(
        b2bua,
        tmp_path,
        ext.caller_timer(INTERVAL, refreshes=2, refresher="uas", allow_update=allow_update),
        scenarios.operator(hangup="caller"),
    )
    assert row.hangup_side == "caller"


async def test_akashi_refreshes_operator_leg(b2bua: Start, tmp_path: Path) -> None:
    """The operator's 200 says Session-Expires 6;refresher=uac: Akashi sends it an UPDATE in time (at 3 s
    of the 5 s call)."""
    _c, row = await _call(b2bua, tmp_path, scenarios.caller(talk_ms=5000), ext.operator_timer(INTERVAL))
    assert row.hangup_side == "caller"


async def test_operator_leg_expires(b2bua: Start, tmp_path: Path) -> None:
    """The operator's 200 makes it the refresher (refresher=uas) and it never refreshes: both legs end."""
    _c, row = await _call(
        b2bua, tmp_path, scenarios.caller(hangup="akashi"), ext.operator_timer(INTERVAL, refresher="uas")
    )
    assert row.hangup_side == "timeout"
    assert row.extra["session_expired"] == {"leg": "operator", "interval_s": INTERVAL}


@pytest.mark.parametrize("status", [481, 408])
async def test_failed_refresh_ends_the_call(b2bua: Start, tmp_path: Path, status: int) -> None:
    """Akashi's refresh answered 481/408: the session is gone, both legs are hung up, the row says why."""
    _c, row = await _call(
        b2bua, tmp_path, ext.caller_refresh_fails(INTERVAL, status), scenarios.operator(hangup="caller")
    )
    assert row.hangup_side == "timeout"
    assert row.extra["session_expired"] == {"leg": "caller", "interval_s": INTERVAL, "refresh_status": status}


async def test_session_expires_too_small_gets_422(b2bua: Start, tmp_path: Path) -> None:
    """Session-Expires below Min-SE (90 by default): 422 with Min-SE: 90."""
    check = '<ereg regexp="90" search_in="hdr" header="Min-SE:" check_it="true" assign_to="chk"/>'
    await _call(b2bua, tmp_path, ext.caller_refused("Session-Expires: 30\n", 422, check), None, sip_extra="")


async def test_unknown_require_gets_420(b2bua: Start, tmp_path: Path) -> None:
    """Require: foo is still refused with 420 and Unsupported: foo."""
    check = '<ereg regexp="foo" search_in="hdr" header="Unsupported:" check_it="true" assign_to="chk"/>'
    await _call(b2bua, tmp_path, ext.caller_refused("Require: foo\n", 420, check), None)


async def test_operator_422_is_retried_with_its_min_se(b2bua: Start, tmp_path: Path) -> None:
    """422 with Min-SE from the operator phone: Akashi asks again with that interval; the call connects."""
    _c, row = await _call(
        b2bua, tmp_path, scenarios.caller(talk_ms=1000), ext.operator_422(3600), sip_extra=""
    )
    assert row.status == "completed"


async def test_cancel_while_answer_waits_for_prack(b2bua: Start, tmp_path: Path) -> None:
    """The operator answered but the caller never PRACKed and then CANCELs: 487, the operator gets BYE."""
    cancel = scenarios.caller_cancel(1500).replace(
        "Max-Forwards: 70\n", "Max-Forwards: 70\nRequire: 100rel\n", 1
    )
    _c, row = await _call(b2bua, tmp_path, cancel, scenarios.operator(hangup="caller", ring_ms=100))
    assert row.status == "missed"
    assert row.hangup_side == "caller"
    assert row.answered_at is None
