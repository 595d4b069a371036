"""Toll fraud (issue 10, item 1): nobody calls out through the trunk without the agent's secret, and
nobody calls international or premium numbers unless the trunk allows it.

Each attack is made the way an attacker would (SIPp, hand-written INVITEs on raw sockets) against a
running B2BUA with a trunk. "The trunk never sees an INVITE" is checked by an event, not a sleep: after
the refused attempts a legitimate call is placed, and the first INVITE the trunk gets must be that one.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from sqlalchemy import select

from akashi.access.sipaudit import ACTION
from akashi.db.base import session_scope
from akashi.db.models import AuditEntry
from akashi.telephony.service import TelephonyService
from tests.conftest import require_binary
from tests.security.agent_phone import (
    AGENT_203,
    SECRET_201,
    SECRET_203,
    Phone,
    Trunk,
    trunk_and_phone,
    trunk_toml,
)
from tests.telephony import scenarios
from tests.telephony.conftest import Start, b2bua  # noqa: F401 - fixture
from tests.telephony.peers import Sipp

pytestmark = [pytest.mark.sip]


async def refusals(svc: TelephonyService, count: int, timeout: float = 10.0) -> list[dict[str, object]]:
    """The audit entries of refused outbound attempts, once there are ``count`` (waits up to ``timeout``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        with session_scope(svc.ak.engine) as s:
            rows = [
                {"user": r.user_name, "number": r.target_id, "outcome": r.outcome, **json.loads(r.detail)}
                for r in s.scalars(
                    select(AuditEntry).where(AuditEntry.action == ACTION).order_by(AuditEntry.seq)
                )
            ]
        if len(rows) >= count or loop.time() > deadline:
            return rows
        await asyncio.sleep(0.05)  # polling the database: the entry is written by a worker thread


async def placed_first(svc: TelephonyService, trunk: Trunk, phone: Phone) -> None:
    """Agent 201 places a good call: it must be the first INVITE the trunk ever got."""
    dest = ("127.0.0.1", svc.sip.local[1])
    final = await phone.call(dest, number="0312340000")
    assert final.status == 486, final.status  # the trunk's answer, relayed: the call went out
    first = await trunk.next_invite()
    assert first.uri.startswith("sip:0312340000@"), first.uri
    assert len(trunk.invites) == 1, [i.uri for i in trunk.invites]


def sipp_agent_no_credentials() -> str:
    """Agent 201 dials out with no credentials at all, expecting 407 (and ACKs it)."""
    invite = scenarios.CALLER_INVITE.replace('"Customer" <sip:0901234567@', '"Sato" <sip:201@').replace(
        "Contact: <sip:0901234567@", "Contact: <sip:201@"
    )
    ack = scenarios.ACK.replace("0901234567", "201")
    return "\n".join(
        [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<scenario name="agent-no-credentials">',
            invite.split("<recv")[0],
            '  <recv response="100" optional="true"/>',
            '  <recv response="407"/>',
            ack,
            "</scenario>",
        ]
    )


async def test_sipp_invite_from_agent_without_credentials_is_challenged(
    b2bua: Start,  # noqa: F811
    tmp_path: Path,
) -> None:
    """SIPp as agent 201 from a private address, no credentials: 407, and nothing reaches the trunk."""
    sipp = require_binary("sipp")
    async with trunk_and_phone() as (trunk, phone):
        svc = await b2bua([trunk.port], notice=None, extra=trunk_toml(trunk.port), agent_password=SECRET_201)
        agent = Sipp(sipp, tmp_path, "agent", sipp_agent_no_credentials())
        await agent.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312349999", "-key", "rtpport", "4000", "-m", "1"
        )
        assert await agent.wait() == 0, agent.log()
        await placed_first(svc, trunk, phone)


async def test_wrong_secret_or_other_agents_secret_never_reaches_the_trunk(
    b2bua: Start,  # noqa: F811
) -> None:
    """A wrong secret gets 407 again; another agent's right secret under From 201 too; then 201's own passes."""
    async with trunk_and_phone() as (trunk, phone):
        svc = await b2bua(
            [trunk.port], notice=None, extra=trunk_toml(trunk.port) + AGENT_203, agent_password=SECRET_201
        )
        dest = ("127.0.0.1", svc.sip.local[1])
        assert (await phone.call(dest, password="Tq8s-201-ZkP4vX")).status == 407  # one letter off
        # From 201, digest username 203 with 203's own secret: the From user must be the one proved
        mixed = await phone.call(dest, user="201", username="203", password=SECRET_203)
        assert mixed.status == 407
        # and the other way round: From 203 proved with 201's secret
        assert (await phone.call(dest, user="203", username="201", password=SECRET_201)).status == 407
        await placed_first(svc, trunk, phone)


async def test_agent_without_secret_cannot_call_out(b2bua: Start) -> None:  # noqa: F811
    """Agent 202 has no secret: whatever it sends, nothing goes out; inside agent_networks it is told why."""
    async with trunk_and_phone() as (trunk, phone):
        svc = await b2bua(
            [trunk.port],
            notice=None,
            extra=trunk_toml(trunk.port),
            agent_password=SECRET_201,
            sip_extra='agent_networks = ["127.0.0.0/8"]',
        )
        dest = ("127.0.0.1", svc.sip.local[1])
        refused = await phone.invite(dest, user="202")
        assert refused.status == 403
        assert "no outbound secret" in refused.header("Warning")
        await placed_first(svc, trunk, phone)  # 201 (with a secret) still calls out from there
        rows = await refusals(svc, 1)
        assert [(r["user"], r["reason"], r["outcome"]) for r in rows] == [("sip:202", "no_secret", "denied")]


async def test_agent_without_secret_outside_any_allow_list_looks_like_everyone(b2bua: Start) -> None:  # noqa: F811
    """With no agent_networks, a secret-less agent, a real one and a stranger all get the same 407."""
    async with trunk_and_phone() as (trunk, phone):
        svc = await b2bua([trunk.port], notice=None, extra=trunk_toml(trunk.port), agent_password=SECRET_201)
        dest = ("127.0.0.1", svc.sip.local[1])
        answers = [await phone.invite(dest, user=u) for u in ("201", "202", "299")]
        assert [(r.status, r.reason, r.get("Warning")) for r in answers] == [
            (407, "Proxy Authentication Required", None)
        ] * 3
        assert (await phone.call(dest, user="202", password="anything-at-all")).status == 407
        assert (await phone.call(dest, user="299", password="anything-at-all")).status == 407
        await placed_first(svc, trunk, phone)


async def test_agent_networks_only_restrict(b2bua: Start) -> None:  # noqa: F811
    """Outside sip.agent_networks even the right secret is refused (403 + Warning); inside, the secret is still needed."""
    async with trunk_and_phone() as (trunk, phone), trunk_and_phone("127.0.0.2") as (_t2, outsider):
        svc = await b2bua(
            [trunk.port],
            notice=None,
            extra=trunk_toml(trunk.port),
            agent_password=SECRET_201,
            sip_extra='agent_networks = ["127.0.0.1/32"]',
        )
        dest = ("127.0.0.1", svc.sip.local[1])
        out = await outsider.call(dest)
        assert out.status == 403 and "not allowed to call out from this address" in out.header("Warning")
        assert (await phone.invite(dest)).status == 407  # inside the network: still challenged
        await placed_first(svc, trunk, phone)
        rows = await refusals(svc, 1)
        assert [(r["reason"], r["user"]) for r in rows] == [("network", "sip:201")]


@pytest.mark.parametrize(
    ("number", "reason", "words"),
    [
        ("0101212555123", "international", "international calls"),
        ("+12125551234", "international", "international calls"),
        ("00330101212555", "international", "international calls"),
        ("0990123456", "premium", "premium-rate"),
        ("0570123456", "premium", "premium-rate"),
        ("104", "other", "not a Japanese"),
    ],
)
async def test_dial_plan_refuses_with_warning_and_audit(
    b2bua: Start,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
    number: str,
    reason: str,
    words: str,
) -> None:
    """An authenticated agent dialling a refused number: 403 + Warning, logged, audited, trunk untouched."""
    caplog.set_level(logging.WARNING, logger="akashi.telephony.outbound")
    async with trunk_and_phone() as (trunk, phone):
        svc = await b2bua([trunk.port], notice=None, extra=trunk_toml(trunk.port), agent_password=SECRET_201)
        dest = ("127.0.0.1", svc.sip.local[1])
        refused = await phone.call(dest, number=number)
        assert refused.status == 403
        warning = refused.header("Warning")
        assert warning.startswith('399 akashi "') and words in warning
        await placed_first(svc, trunk, phone)
        rows = await refusals(svc, 1)
        assert [(r["user"], r["number"], r["reason"], r["class"], r["outcome"]) for r in rows] == [
            ("sip:201", number, "dial_plan", reason, "denied")
        ]
        assert any(number in m and "outbound refused" in m for m in caplog.messages), caplog.messages
        assert SECRET_201 not in caplog.text


async def test_dial_plan_opened_per_trunk(b2bua: Start) -> None:  # noqa: F811
    """allow_premium and a dial_allow pattern let exactly those numbers out."""
    async with trunk_and_phone() as (trunk, phone):
        extra = trunk_toml(trunk.port, 'allow_premium = true\ndial_allow = ["\\\\+1212555[0-9]{4}"]')
        svc = await b2bua([trunk.port], notice=None, extra=extra, agent_password=SECRET_201)
        dest = ("127.0.0.1", svc.sip.local[1])
        assert (await phone.call(dest, number="0570123456")).status == 486  # out, the trunk was busy
        assert (await phone.call(dest, number="+12125551234")).status == 486
        assert (await phone.call(dest, number="+12125550000999")).status == 403
        assert [i.uri.split("@")[0] for i in trunk.invites] == ["sip:0570123456", "sip:+12125551234"]
