"""Unauthenticated denial of service at the SIP edge (issue 10, item 4), performed with SIPp and raw sockets.

- answered INVITEs never ACKed (late offer: about 400 bytes each) used to hold a call and two RTP
  ports each until restart, then be stored as junk "missed" calls;
- a flood of INVITEs from one address, many calls from one address, calls from outside the
  configured trunks/PBXs.
Each attack must fail with a clear refusal and leave everything else working.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from akashi.db import session_scope
from akashi.db.models import Call
from akashi.telephony.service import TelephonyService
from tests.conftest import require_binary
from tests.ports import free_udp_port
from tests.security.sip_raw import raw_sip
from tests.security.test_sip_password_guessing import short_retransmissions
from tests.telephony import scenarios
from tests.telephony.conftest import Start, b2bua, notice_wav  # noqa: F401 - fixtures used here
from tests.telephony.peers import Sipp, rtp_peer
from tests.telephony.test_calls import _until
from tests.telephony.test_late_offer import late_caller
from tests.telephony.test_scenarios import _row

pytestmark = [pytest.mark.sip]

#: a short T1: 64*T1 = 6.4 s of 2xx retransmissions instead of 32 s
SHORT_T1 = 0.1
CALLS = 30


def no_ack(*, late: bool) -> str:
    """A caller that is answered and never ACKs: it only answers the BYE that must come."""
    xml = late_caller(0, answer=False) if late else scenarios.caller(hangup="akashi")
    assert xml.count(scenarios.ACK) == 1
    return xml.replace(scenarios.ACK, "")


def flood_caller() -> str:
    """One INVITE per call to an unrouted number: 404 when admitted, else 503 with a Retry-After."""
    # elements: 0 INVITE, 1 100, 2 180, 3 404, 4 503, 5 ACK: [branch-5] is the INVITE's branch
    return "\n".join(
        [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<scenario name="flood">',
            scenarios.CALLER_INVITE,
            '  <recv response="404" optional="true" next="ack"/>',
            '  <recv response="503"><action><ereg regexp="^ *[1-9][0-9]*$" search_in="hdr" header="Retry-After:"'
            ' check_it="true" assign_to="ra"/></action></recv>',
            '  <label id="ack"/>',
            scenarios.ACK.replace("[branch]", "[branch-5]"),
            '  <nop><action><log message="retry after [$ra]"/></action></nop>',
            "</scenario>",
        ]
    )


def _received(sipp: Sipp, start_line: str) -> int:
    """How many times SIPp's message log shows ``start_line``."""
    text = "".join(f.read_text(errors="replace") for f in sipp.dir.glob(f"{sipp.name}_*messages.log"))
    return text.count(start_line)


def _count_calls(svc: TelephonyService) -> int:
    with session_scope(svc.ak.engine) as s:
        return int(s.scalar(select(func.count()).select_from(Call)) or 0)


async def _normal_call(svc: TelephonyService, tmp_path: Path, opx: Sipp, name: str) -> Call:
    """A clean call (caller hangs up) through the operator SIPp ``opx`` already listening."""
    sipp = require_binary("sipp")
    async with rtp_peer() as cust:
        callx = Sipp(sipp, tmp_path, name, scenarios.caller(talk_ms=3000))
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", str(cust.port), "-m", "1"
        )
        try:
            assert await callx.wait(60) == 0, callx.log()
            assert await opx.wait(60) == 0, opx.log()
        finally:
            callx.kill()
            opx.kill()
        return await _row(svc)


async def _no_ack_calls(
    b2bua: Start,  # noqa: F811 - the fixture
    tmp_path: Path,
    notice: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    late: bool,
    calls: int,
    operator_xml: str | None,
) -> tuple[TelephonyService, list[Call], Sipp]:
    """``calls`` answered INVITEs that are never ACKed; every one must get its BYE; the stored rows."""
    monkeypatch.setattr("akashi.telephony.timers.T1", SHORT_T1)
    sipp = require_binary("sipp")
    async with rtp_peer() as cust, rtp_peer() as op:
        opx = Sipp(sipp, tmp_path, "op", operator_xml) if operator_xml else None
        normal_op = Sipp(sipp, tmp_path, "op2", scenarios.operator(hangup="caller"))
        targets = [opx.port if opx else normal_op.port]
        svc = await b2bua(targets, notice=notice, ring_timeout_s=10)
        if opx:
            await opx.start("-key", "rtpport", str(op.port), "-m", str(calls))
        attacker = Sipp(sipp, tmp_path, "noack", no_ack(late=late))
        await attacker.start(
            f"127.0.0.1:{svc.sip.local[1]}",
            "-s",
            "0312345678",
            "-key",
            "rtpport",
            str(cust.port),
            "-m",
            str(calls),
            "-l",
            str(calls),
            "-r",
            "20",
            limit_s=90,
        )
        try:
            # every call gets Akashi's BYE after 64*T1 without an ACK (the scenario fails otherwise)
            assert await attacker.wait(95) == 0, attacker.log()
            if opx:
                assert await opx.wait(30) == 0, opx.log()  # the operator's leg was hung up too
        finally:
            attacker.kill()
            if opx:
                opx.kill()
        rows = [await _row(svc) for _ in range(calls)]
        if opx:
            # the operator leg's phone took the calls; the normal call rings another phone from here
            normal_op = opx
        return svc, rows, normal_op


async def test_late_offer_never_acked_calls_end(
    b2bua: Start,  # noqa: F811 - the fixture
    tmp_path: Path,
    notice_wav: Path,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """30 late-offer INVITEs whose 200 OK is never ACKed: each ends after 64*T1, stored once as failed,
    ports free; then a normal call works and a restart finds nothing left to store."""
    svc, rows, normal_op = await _no_ack_calls(
        b2bua, tmp_path, notice_wav, monkeypatch, late=True, calls=CALLS, operator_xml=None
    )
    for row in rows:
        assert row.status == "failed"
        assert row.extra["failure"] == {"reason": "ack_timeout", "after_s": pytest.approx(64 * SHORT_T1)}
        assert row.hangup_side == "timeout"
        assert row.notice_started_at is None  # nothing was played to an address nobody confirmed
    assert len({row.call_ids[0] for row in rows}) == CALLS  # each call once
    await _until(lambda: not svc.ports.used and not svc.calls, 10)
    assert svc.limits.total == 0 and not svc.limits.active
    assert _count_calls(svc) == CALLS
    assert not any(svc.sip.server[k].timer for k in svc.sip.server)  # no 200 OK is resent any more
    assert svc.stats()["calls_never_acked"] == CALLS
    lines = [r for r in caplog.records if r.name == "akashi.telephony.timers" and "no ACK" in r.getMessage()]
    assert 1 <= len(lines) < CALLS  # logged, but not a line per call of an attack
    # the edge still works: a normal call is answered, bridged and stored
    async with rtp_peer() as op:
        await normal_op.start("-key", "rtpport", str(op.port), "-m", "1")
        row = await _normal_call(svc, tmp_path, normal_op, "normal")
    assert row.status == "completed"
    # a restart stores nothing more: no spool was left behind
    assert await asyncio.to_thread(svc.recover) == []
    assert not any(svc.spool_root.iterdir())
    assert _count_calls(svc) == CALLS + 1


async def test_answered_with_notice_never_acked_hangs_up_operator(
    b2bua: Start,  # noqa: F811 - the fixture
    tmp_path: Path,
    notice_wav: Path,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Early offer, automatic notice: answered at once, notice, operator answers and is bridged; the
    caller never ACKs: after 64*T1 both legs get BYE and the call is stored once as failed."""
    svc, rows, _op = await _no_ack_calls(
        b2bua,
        tmp_path,
        notice_wav,
        monkeypatch,
        late=False,
        calls=2,
        operator_xml=scenarios.operator(hangup="caller", ring_ms=0),
    )
    for row in rows:
        assert row.status == "failed"
        assert row.extra["failure"]["reason"] == "ack_timeout"
        assert row.bridged_at is not None  # it reached the operator before the deadline
    await _until(lambda: not svc.ports.used and not svc.calls, 10)
    assert _count_calls(svc) == 2


async def test_invite_flood_from_one_source_gets_503(
    b2bua: Start,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    """SIPp floods INVITEs from 127.0.0.2 at 10x its allowed rate: the excess gets 503 with
    Retry-After (stateless); a call from another address meanwhile goes through; nothing is stored."""
    sipp = require_binary("sipp")
    opx = Sipp(sipp, tmp_path, "op", scenarios.operator(hangup="caller"))
    svc = await b2bua(
        [opx.port], notice=None, mode="operator", sip_extra="invites_per_second_per_source = 10\n"
    )
    flood = Sipp(sipp, tmp_path, "flood", flood_caller())
    async with rtp_peer() as op:
        await opx.start("-key", "rtpport", str(op.port), "-m", "1")
        await flood.start(
            f"127.0.0.1:{svc.sip.local[1]}",
            "-i",
            "127.0.0.2",
            "-s",
            "0399999999",
            "-key",
            "rtpport",
            str(free_udp_port()),
            "-m",
            "600",
            "-r",
            "100",
            "-l",
            "600",
            limit_s=60,
        )
        try:
            await _until(lambda: svc.limits.refused["rate"] > 50, 20)
            row = await _normal_call(svc, tmp_path, opx, "legit")  # from 127.0.0.1, during the flood
            assert await flood.wait(65) == 0, flood.log()  # every INVITE: 404 or 503 + Retry-After
        finally:
            flood.kill()
    refused = _received(flood, "SIP/2.0 503 Service Unavailable")
    admitted = _received(flood, "SIP/2.0 404 Not Found")
    assert refused + admitted >= 600
    assert refused >= 450  # about 10/s of 100/s get through
    assert 1 <= admitted <= 150
    assert svc.limits.refused["rate"] >= refused
    assert row.status == "completed"
    assert _count_calls(svc) == 1  # the flood stored nothing
    assert svc.stored.empty()
    stats = svc.stats()
    assert stats["refused_rate"] == svc.limits.refused["rate"]
    assert stats["refused_acks_dropped"] >= refused  # the 503s' ACKs never reached the parser


async def test_flood_gate_spares_a_running_calls_retransmission(b2bua: Start, tmp_path: Path) -> None:  # noqa: F811
    """Raw sockets, 1 INVITE/s: a second new INVITE gets 503 (from the gate, with every field the
    response needs), but a retransmission of the running call's INVITE still gets its own answer."""
    require_binary("sipp")
    svc = await b2bua(
        [free_udp_port()], notice=None, mode="operator", ring_timeout_s=60,
        sip_extra="invites_per_second_per_source = 0.1\n",
    )  # fmt: skip
    dest = ("127.0.0.1", svc.sip.local[1])
    async with raw_sip("127.0.0.2") as a:
        first = a.invite(dest)
        assert (await a.wait_for(first, 180)).status == 180
        second = a.invite(dest)
        r = await a.wait_for(second, 200)
        # Retry-After: the seconds until the next INVITE is let through, 10 at once after the first (0.1/s),
        # 9 when the first call's 180 took over a second (seen on a loaded machine)
        assert r.status == 503 and 1 <= int(r.header("Retry-After")) <= 10
        assert r.call_id == second and r.cseq == (1, "INVITE")
        assert r.branch == a.branches[second]
        assert r.header("To").endswith(";tag=limit") and r.header("From") == a.froms[second]
        a.resend(dest, first)
        await _until(lambda: a.statuses(first).count(180) >= 2, 5)  # the transaction answered it again
        assert 503 not in a.statuses(first)
    assert svc.limits.refused["rate"] == 1
    assert svc.limits.active == {"127.0.0.2": 1}


async def test_calls_per_source_and_in_total(b2bua: Start, tmp_path: Path) -> None:  # noqa: F811
    """max_calls_per_source = 2, max_calls = 3 (raw sockets): the 3rd call from one address and the
    4th in all get 503 with Retry-After; a call that ends frees its place."""
    require_binary("sipp")
    svc = await b2bua(
        [free_udp_port()],
        notice=None,
        mode="operator",
        ring_timeout_s=60,
        sip_extra="max_calls_per_source = 2\nmax_calls = 3\n",
    )
    dest = ("127.0.0.1", svc.sip.local[1])
    async with raw_sip("127.0.0.1") as a, raw_sip("127.0.0.2") as b, raw_sip("127.0.0.3") as c:
        a1, a2 = a.invite(dest), a.invite(dest)
        for cid in (a1, a2):
            assert (await a.wait_for(cid, 180)).status == 180  # ringing the operators
        a3 = a.invite(dest)
        r = await a.wait_for(a3, 200)
        assert r.status == 503
        assert r.header("Retry-After") == "5"
        assert "from this address" in r.header("Warning")
        b1 = b.invite(dest)
        assert (await b.wait_for(b1, 180)).status == 180
        c1 = c.invite(dest)
        r = await c.wait_for(c1, 200)
        assert r.status == 503 and r.get("Retry-After") == "5"
        assert "too many calls" in r.header("Warning")
        assert 100 not in c.statuses(c1)  # refused before anything else happened
        assert svc.limits.active == {"127.0.0.1": 2, "127.0.0.2": 1}
        # the caller of a1 gives up: its place is free again
        a.cancel(dest, a1)
        assert (await a.wait_for(a1, 400)).status == 487
        await _until(lambda: svc.limits.total == 2, 10)
        a4 = a.invite(dest)
        assert (await a.wait_for(a4, 180)).status == 180
    assert svc.limits.refused["calls_per_source"] == 1
    assert svc.limits.refused["calls"] == 1


async def test_inbound_networks_refuse_other_sources(b2bua: Start, tmp_path: Path) -> None:  # noqa: F811
    """sip.inbound_networks = ["127.0.0.2"]: SIPp calling from 127.0.0.1 gets 403; 127.0.0.2 gets in."""
    sipp = require_binary("sipp")
    svc = await b2bua(
        [free_udp_port()], notice=None, mode="operator", sip_extra='inbound_networks = ["127.0.0.2"]\n'
    )
    outsider = Sipp(sipp, tmp_path, "outsider", scenarios.caller(final=403))
    await outsider.start(
        f"127.0.0.1:{svc.sip.local[1]}",
        "-s",
        "0312345678",
        "-key",
        "rtpport",
        str(free_udp_port()),
        "-m",
        "1",
    )
    try:
        assert await outsider.wait(30) == 0, outsider.log()
    finally:
        outsider.kill()
    assert svc.limits.refused["inbound"] == 1
    assert not svc.calls
    async with raw_sip("127.0.0.2") as pbx:
        cid = pbx.invite(("127.0.0.1", svc.sip.local[1]))
        assert (await pbx.wait_for(cid, 180)).status == 180
    assert svc.limits.active == {"127.0.0.2": 1}
    assert _count_calls(svc) == 0


async def test_svwar_invite_scan_is_throttled(
    b2bua: Start,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """sipvicious svwar enumerating 200 extensions by INVITE from 127.0.0.2: past 5/s every INVITE gets a
    503 (counted), no call is started or stored, and the scanner learns no extension (all "weird")."""
    svwar = require_binary("svwar")
    short_retransmissions(monkeypatch)  # svwar reads on while the admitted INVITEs' answers are resent
    svc = await b2bua(
        [free_udp_port()], notice=None, mode="operator", sip_extra="invites_per_second_per_source = 5\n"
    )
    proc = await asyncio.create_subprocess_exec(
        "timeout", "-s", "KILL", "90", svwar, "-m", "INVITE", "-e", "100-299", "-b", "127.0.0.2",
        "--force", "-p", str(svc.sip.local[1]), "127.0.0.1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env={**os.environ, "HOME": str(tmp_path)},
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 95)
    text = out.decode(errors="replace")
    assert svc.limits.refused["rate"] >= 150, text
    assert "reqauth" not in text and "noauth" not in text, text  # svwar's words for a found extension
    assert not svc.calls and svc.limits.total == 0
    assert _count_calls(svc) == 0
