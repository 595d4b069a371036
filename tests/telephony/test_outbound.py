"""Outbound calls: an agent's phone (digest-authenticated) -> Akashi -> trunk (digest challenge)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from akashi.db.models import Call
from tests.conftest import require_binary
from tests.telephony import scenarios
from tests.telephony.conftest import Start
from tests.telephony.peers import RtpPeer, Sipp, rtp_peer
from tests.telephony.test_scenarios import _row

pytestmark = [pytest.mark.sip]

#: agent 201's digest secret (12 characters or more, as the configuration requires)
AGENT_SECRET = "sato-201-Kq7vX2"

AGENT_INVITE = scenarios.CALLER_INVITE.replace('"Customer" <sip:0901234567@', '"Sato" <sip:201@').replace(
    "Contact: <sip:0901234567@", "Contact: <sip:201@"
)


def agent_phone(talk_ms: int) -> str:
    """Agent 201 dials out; answers Akashi's 407 with its password."""
    invite2 = AGENT_INVITE.split("<recv")[0].replace(
        "CSeq: 1 INVITE", f"CSeq: 2 INVITE\n[authentication username=201 password={AGENT_SECRET}]"
    )
    ack407 = scenarios.ACK.replace("[branch]", "[branch-3]").replace("0901234567", "201")
    ack = scenarios.ACK.replace("CSeq: 1 ACK", "CSeq: 2 ACK").replace("0901234567", "201")
    bye = scenarios.CALLER_REQ.format(
        method="BYE", cseq=3, body_headers="Content-Length: 0\n", body=""
    ).replace("0901234567", "201")
    return "\n".join(
        [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<scenario name="agent">',
            AGENT_INVITE.split("<recv")[0],
            '  <recv response="100" optional="true"/>',
            '  <recv response="407" auth="true"/>',
            ack407,
            invite2,
            '  <recv response="100" optional="true"/>',
            '  <recv response="180" optional="true"/>',
            '  <recv response="200" rrs="true"/>',
            ack,
            f'  <pause milliseconds="{talk_ms}"/>',
            bye,
            '  <recv response="200"/>',
            "</scenario>",
        ]
    )


def carrier() -> str:
    """The trunk: challenges the first INVITE, checks the digest of the second, answers it."""
    challenge = scenarios.OP_RINGING.replace("180 Ringing", "401 Unauthorized").replace(
        "Contact: <sip:[local_ip]:[local_port]>",
        'WWW-Authenticate: Digest realm="carrier.example", nonce="8f9a0c1d2e", algorithm=MD5',
    )
    ok = scenarios.OP_OK.replace("SIPpTag01", "SIPpTag02")
    return "\n".join(
        [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<scenario name="carrier">',
            '  <recv request="INVITE"/>',
            challenge,
            '  <recv request="ACK"/>',
            """  <recv request="INVITE" rrs="true">
    <action>
      <verifyauth assign_to="authvalid" username="akashi-trunk" password="trunkpass"/>
    </action>
  </recv>""",
            '  <nop hide="true" test="authvalid" next="good"/>',
            scenarios.OP_RINGING.replace("180 Ringing", "403 Forbidden"),
            '  <recv request="ACK" next="end"/>',
            '  <label id="good"/>',
            scenarios.OP_RINGING.replace("SIPpTag01", "SIPpTag02"),
            ok,
            '  <recv request="ACK"/>',
            '  <recv request="BYE" timeout="60000"/>',
            scenarios.OK_TO_REQUEST,
            '  <label id="end"/>',
            "</scenario>",
        ]
    )


TRUNK_TOML = """
[[sip.trunks]]
name = "main"
host = "127.0.0.1:{port}"
username = "akashi-trunk"
password = "trunkpass"
"""


async def place_outbound(
    b2bua: Start, tmp_path: Path, notice: Path, *, carrier_xml: str, agent_xml: str, sip_extra: str = ""
) -> tuple[Call, bytes, RtpPeer, RtpPeer]:
    """An agent's phone calls 0312349999 out through a SIPp carrier with digest on both sides.

    Returns the stored row, its stored media, and the RTP peers of the agent and of the customer.
    """
    sipp = require_binary("sipp")
    async with rtp_peer() as agent_rtp, rtp_peer() as cust_rtp:
        trunk = Sipp(sipp, tmp_path, "carrier", carrier_xml)
        svc = await b2bua(
            [trunk.port],
            notice=notice,
            sip_extra=sip_extra,
            extra=TRUNK_TOML.format(port=trunk.port),
            agent_password=AGENT_SECRET,
        )
        await trunk.start("-key", "rtpport", str(cust_rtp.port), "-m", "1")
        agent = Sipp(sipp, tmp_path, "agent", agent_xml)
        dial = ["-s", "0312349999", "-key", "rtpport", str(agent_rtp.port), "-m", "1"]
        # the digest uri must be the Request-URI (SIPp's default is only host:port)
        dial += ["-auth_uri", f"0312349999@127.0.0.1:{svc.sip.local[1]}"]  # SIPp adds "sip:"
        await agent.start(f"127.0.0.1:{svc.sip.local[1]}", *dial)
        assert await agent.wait() == 0, agent.log() + trunk.log()
        assert await trunk.wait() == 0, trunk.log()
        row = await asyncio.wait_for(_row(svc), 30)
        data = b"".join(svc.ak.store.iter_plaintext(row.media_object_id)) if row.media_object_id else b""
    return row, data, agent_rtp, cust_rtp


async def test_outbound_call_through_trunk(b2bua: Start, tmp_path: Path, notice_wav: Path) -> None:
    """The agent authenticates, Akashi answers the trunk's challenge; the call is stored as 'out'."""
    row, _data, _a, _c = await place_outbound(
        b2bua, tmp_path, notice_wav, carrier_xml=carrier(), agent_xml=agent_phone(1500)
    )
    assert row.direction == "out"
    assert row.status == "completed"
    assert row.agent_name == "佐藤 花子"
    assert row.dialled == "0312349999"
    assert row.hangup_side == "operator"
    assert row.notice_mode == ""  # outbound notices are off unless configured
