"""Agent naming on real calls: the configured name, or the name the PBX gives the phone that answered.

linphonec (an independent SIP stack) answers as phone 202 that was auto-created as agent "202" before
it was configured: the call is stored under the configured name and the old agent takes it. A SIPp
PBX answers a ring group with P-Asserted-Identity naming the phone that picked up.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from akashi.calloutcome import CallOutcome
from akashi.db.base import session_scope
from akashi.db.models import Agent, Call
from akashi.ingest import ingest_call
from tests.conftest import require_binary
from tests.telephony import scenarios
from tests.telephony.conftest import Start
from tests.telephony.linphone import linphone
from tests.telephony.peers import Sipp, rtp_peer, tone, write_wav16
from tests.telephony.test_scenarios import _row

pytestmark = [pytest.mark.sip]


def _agents(engine: object) -> dict[str, str | None]:
    with session_scope(engine) as s:  # type: ignore[arg-type]
        return {a.name: a.sip_user for a in s.scalars(select(Agent))}


async def test_linphone_phone_takes_the_configured_name(b2bua: Start, tmp_path: Path) -> None:
    """Agent "202" (auto-created before 202 was configured) becomes 鈴木 一郎 when linphonec answers as 202."""
    sipp = require_binary("sipp")
    async with linphone(tmp_path, "202", "Suzuki") as phone, rtp_peer() as cust:
        svc = await b2bua(
            [phone.port],
            notice=None,
            mode="operator",
            extra=f"""
[[sip.routes]]
match = "0399999999"
ring = ["sip:202@127.0.0.1:{phone.port}"]
announcement = "default"
site = "tokyo"
""",
        )
        before = ingest_call(
            svc.ak,
            write_wav16(tmp_path / "old.wav", tone(440, 1.0)),
            CallOutcome(
                started_at=datetime.now(UTC) - timedelta(days=1),
                direction="in",
                caller="0312345678",
                dialled="0399999999",
                agent_sip_user="202",
                site="tokyo",
                codec="pcm16",
            ),
            transcribe=False,
        )
        assert _agents(svc.ak.engine).get("202") == "202"
        callx = Sipp(sipp, tmp_path, "caller", scenarios.caller(talk_ms=1500))
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-s", "0399999999", "-key", "rtpport", str(cust.port), "-m", "1"
        )
        assert await callx.wait() == 0, callx.log() + phone.log()
        assert phone.connected.is_set(), phone.log()
        row = await asyncio.wait_for(_row(svc), 30)
    assert row.status == "completed" and row.agent_name == "鈴木 一郎"
    agents = _agents(svc.ak.engine)
    assert "202" not in agents and agents["鈴木 一郎"] == "202"
    with session_scope(svc.ak.engine) as s:
        old = s.get(Call, before)
        assert old is not None and old.agent_name == "鈴木 一郎" and old.agent_id == row.agent_id


@pytest.mark.parametrize(
    ("pai", "stored", "sip_user"),
    [
        ('"Yamada Taro" <sip:203@pbx.example.jp>', "Yamada Taro", "203"),  # a phone nobody configured
        ('"Suzuki" <sip:202@pbx.example.jp>', "鈴木 一郎", "202"),  # configuration wins over the PBX's name
        ("", "佐藤 花子", "201"),  # no PAI: the rung target itself
    ],
    ids=["pbx-name", "configured", "no-pai"],
)
async def test_ring_group_answered_names_the_phone(
    b2bua: Start, tmp_path: Path, pai: str, stored: str, sip_user: str
) -> None:
    """The route rings 201 (a PBX ring group); the PBX's 200 says which phone answered."""
    sipp = require_binary("sipp")
    op_xml = scenarios.operator(talk_ms=1500)
    if pai:
        op_xml = op_xml.replace(
            "Content-Type: application/sdp", f"P-Asserted-Identity: {pai}\nContent-Type: application/sdp"
        )
    async with rtp_peer() as cust, rtp_peer() as op:
        opx = Sipp(sipp, tmp_path, "pbx", op_xml)
        svc = await b2bua([opx.port], notice=None, mode="operator")
        await opx.start("-key", "rtpport", str(op.port), "-m", "1")
        callx = Sipp(sipp, tmp_path, "caller", scenarios.caller(talk_ms=1500))
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", str(cust.port), "-m", "1"
        )
        assert await callx.wait() == 0, callx.log() + opx.log()
        assert await opx.wait() == 0, opx.log()
        row = await asyncio.wait_for(_row(svc), 30)
    assert row.agent_name == stored
    assert _agents(svc.ak.engine)[stored] == sip_user
