"""Refusals at the SIP/RTP edge are audited, and a flood writes a bounded number of entries (issue 10).

Performed as an attacker would: a SIPp INVITE flood, SIPp dialling an injected number again and
again, raw-socket INVITEs from outside ``sip.inbound_networks``, and raw UDP sprayed at a call's
RTP ports. Each kind of refusal from an address is audited at once, then summarised (one entry per
window carrying how many refusals it stands for); the counts add up to every refusal; RTP refused
during a call is one entry for that call.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from akashi.access.sipaudit import ANONYMOUS, INVITE_ACTION, RTP_ACTION
from akashi.codecs import g711
from akashi.db import session_scope
from akashi.db.models import AuditEntry, Call
from akashi.telephony.service import TelephonyService
from tests.conftest import require_binary
from tests.ports import free_udp_port
from tests.security.sip_raw import raw_sip
from tests.security.test_media_hijack import ATTACK_HZ, raw_udp, spray
from tests.security.test_sip_dos import flood_caller
from tests.security.test_sip_injection import INJECTIONS, attacker
from tests.telephony import scenarios
from tests.telephony.conftest import Start, b2bua, notice_wav  # noqa: F401 - fixtures
from tests.telephony.peers import Sipp, rtp_peer, tone
from tests.telephony.test_calls import _call, _until

pytestmark = [pytest.mark.sip]


def entries(svc: TelephonyService, action: str) -> list[dict[str, Any]]:
    """The audit entries of ``action``, oldest first."""
    with session_scope(svc.ak.engine) as s:
        return [
            {
                "user": r.user_name,
                "target_type": r.target_type,
                "target": r.target_id,
                "outcome": r.outcome,
                "client": r.client,
                **json.loads(r.detail),
            }
            for r in s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq))
        ]


async def counted(
    svc: TelephonyService, action: str, kind: str, total: int, timeout: float = 20
) -> list[dict[str, Any]]:
    """The entries of ``kind``, once their counts add up to ``total`` (written by a worker thread)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        rows = [e for e in entries(svc, action) if e["kind"] == kind]
        if sum(e["count"] for e in rows) >= total or loop.time() > deadline:
            return rows
        await asyncio.sleep(0.05)


def _calls_stored(svc: TelephonyService) -> int:
    with session_scope(svc.ak.engine) as s:
        return int(s.scalar(select(func.count()).select_from(Call)) or 0)


async def test_invite_flood_writes_few_summarised_entries(b2bua: Start, tmp_path: Path) -> None:  # noqa: F811
    """SIPp floods 400 INVITEs at 100/s from 127.0.0.2 (10/s allowed): hundreds of 503s, a handful of
    audit entries (the first at once, then one per window) whose counts add up to every refusal."""
    sipp = require_binary("sipp")
    svc = await b2bua(
        [free_udp_port()], notice=None, mode="operator", sip_extra="invites_per_second_per_source = 10\n"
    )
    window = 1.0
    svc.edge_audit.summary.every_s = window  # a minute in production: a short flood spans a few windows here
    loop = asyncio.get_running_loop()
    started = loop.time()
    flood = Sipp(sipp, tmp_path, "flood", flood_caller())
    await flood.start(
        f"127.0.0.1:{svc.sip.local[1]}", "-i", "127.0.0.2", "-s", "0399999999", "-key", "rtpport",
        str(free_udp_port()), "-m", "400", "-r", "100", "-l", "400", limit_s=60,
    )  # fmt: skip
    try:
        assert await flood.wait(65) == 0, flood.log()
    finally:
        flood.kill()
    refused = svc.limits.refused["rate"]
    assert refused >= 250
    rows = await counted(svc, INVITE_ACTION, "rate", refused)  # the timer audits the last window's rest
    elapsed = loop.time() - started
    assert sum(e["count"] for e in rows) == refused, rows  # every refusal is in exactly one entry
    assert rows[0]["count"] == 1  # the first at once
    assert 2 <= len(rows) <= 2 + math.ceil(elapsed / window), (len(rows), elapsed)
    assert len(rows) < refused // 10
    for e in rows:
        assert e["user"] == ANONYMOUS and e["outcome"] == "denied"
        assert e["target_type"] == "address" and e["target"] == "127.0.0.2" and e["client"] == "127.0.0.2"
        assert (
            e["status"] == 503
            and "too many INVITEs" in e["message"]
            and "INVITE が多すぎます" in e["message"]
        )
    # nothing else was audited or stored for the flood
    assert {e["kind"] for e in entries(svc, INVITE_ACTION)} == {"rate"}
    assert entries(svc, RTP_ACTION) == []
    assert _calls_stored(svc) == 0


async def test_injected_numbers_are_audited_and_logged_once_a_minute(
    b2bua: Start,  # noqa: F811 - fixture
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """SIPp from 127.0.0.3 dials a CR LF header injection 20 times: 20 × 484, one audit entry and one
    log line at once; the other 19 are one summary (here: when the service stops)."""
    sipp = require_binary("sipp")
    caplog.set_level(logging.WARNING, logger="akashi.telephony.edgeaudit")
    svc = await b2bua([free_udp_port()], notice=None, sip_extra="invites_per_second_per_source = 1000\n")
    number = INJECTIONS["header"].format(other=free_udp_port())
    ua = Sipp(sipp, tmp_path, "attacker", attacker(agent=False))
    await ua.start(
        f"127.0.0.1:{svc.sip.local[1]}", "-i", "127.0.0.3", "-s", number, "-key", "rtpport", "40000",
        "-m", "20", "-r", "20",
    )  # fmt: skip
    try:
        assert await ua.wait() == 0, ua.log()  # all 20 INVITEs got their 484 (the scenario fails otherwise)
    finally:
        ua.kill()
    first = await counted(svc, INVITE_ACTION, "number", 1)
    assert [e["count"] for e in first] == [1]
    assert first[0]["status"] == 484 and first[0]["client"] == "127.0.0.3"
    assert first[0]["numbers"][0].startswith("sip:0312349999%0D%0AP-Asserted-Identity")
    lines = [r.getMessage() for r in caplog.records if "refused (484)" in r.getMessage()]
    assert len(lines) == 1 and "(1 since the last report)" in lines[0], lines
    assert "\r" not in lines[0] and "\n" not in lines[0]
    # the service stopping audits (and logs) what the window counted since
    svc.edge_audit.close()
    rows = await counted(svc, INVITE_ACTION, "number", 20)
    assert [e["count"] for e in rows] == [1, 19]
    lines = [r.getMessage() for r in caplog.records if "refused (484)" in r.getMessage()]
    assert len(lines) == 2 and "(19 since the last report)" in lines[1], lines
    assert not svc.calls and _calls_stored(svc) == 0


async def test_inbound_networks_refusals_are_audited(b2bua: Start, tmp_path: Path) -> None:  # noqa: F811
    """Raw INVITEs from 127.0.0.1 when only 127.0.0.2 may call in: 403 each; audited once, then summarised."""
    require_binary("sipp")
    svc = await b2bua(
        [free_udp_port()], notice=None, mode="operator", sip_extra='inbound_networks = ["127.0.0.2"]\n'
    )
    dest = ("127.0.0.1", svc.sip.local[1])
    async with raw_sip("127.0.0.1") as a:
        for _ in range(5):
            cid = a.invite(dest)
            assert (await a.wait_for(cid, 200)).status == 403
    assert svc.limits.refused["inbound"] == 5
    rows = await counted(svc, INVITE_ACTION, "inbound", 1)
    assert [(e["count"], e["client"], e["status"]) for e in rows] == [(1, "127.0.0.1", 403)]
    svc.edge_audit.close()
    rows = await counted(svc, INVITE_ACTION, "inbound", 5)
    assert [e["count"] for e in rows] == [1, 4]
    assert "着信を受け付けないアドレスです" in rows[0]["message"]
    assert not svc.calls and _calls_stored(svc) == 0


async def test_rtp_hijack_spray_is_one_entry_for_the_call(
    b2bua: Start,  # noqa: F811 - fixture
    tmp_path: Path,
    notice_wav: Path,  # noqa: F811 - fixture
) -> None:
    """During a SIPp call, a raw socket sprays both RTP ports: once the call ends, one audit entry for
    the call, counting every refused packet, naming the stranger's address."""
    sipp = require_binary("sipp")
    attack = g711.encode(tone(ATTACK_HZ, 0.02, 0.6), "PCMU")
    async with rtp_peer() as cust, rtp_peer() as op:
        opx = Sipp(sipp, tmp_path, "op", scenarios.operator(hangup="caller"))
        svc = await b2bua([opx.port], notice=notice_wav)
        await opx.start("-key", "rtpport", str(op.port), "-m", "1")
        callx = Sipp(sipp, tmp_path, "caller", scenarios.caller(talk_ms=2000))
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", str(cust.port), "-m", "1"
        )
        call = await _call(svc)
        assert call.a_rtp is not None and call.b_rtp is not None
        ports = [call.a_rtp.port, call.b_rtp.port]
        sip_call_id = call.invite.call_id
        with raw_udp() as stranger:
            stranger_addr = "{}:{}".format(*stranger.getsockname())
            sprayed = await spray(stranger, ports, 0.5, attack)
            t_cust = asyncio.create_task(cust.send_signal(tone(500.0, 2.0, 0.3), ("127.0.0.1", ports[0])))
            await t_cust
            try:
                assert await callx.wait() == 0, callx.log()
                assert await opx.wait() == 0, opx.log()
            finally:
                callx.kill()
                opx.kill()
        stored = await asyncio.wait_for(svc.stored.get(), 20)
        assert stored is not None
    with session_scope(svc.ak.engine) as s:
        row = s.scalar(select(Call).where(Call.id == stored))
        assert row is not None
        refused = row.extra["rtp_refused"]
    total = sum(n for by_reason in refused.values() for n in by_reason.values())
    assert total >= sprayed - 5  # the stranger's packets (a few may still be in flight as the ports close)
    rows = await counted(svc, RTP_ACTION, "rtp", total)
    assert len(rows) == 1, rows
    (e,) = rows
    assert e["count"] == total and e["refused"] == refused
    assert e["target_type"] == "sip_call" and e["target"] == sip_call_id[:64] and e["call_id"] == sip_call_id
    assert e["outcome"] == "denied" and e["user"] == ANONYMOUS and e["client"] == "127.0.0.1"
    assert stranger_addr in e["from"]["caller"] and stranger_addr in e["from"]["operator"]
    await _until(lambda: not svc.calls, 10)
    assert entries(svc, INVITE_ACTION) == []  # the call itself was refused nothing
