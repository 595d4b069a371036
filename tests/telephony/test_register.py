"""REGISTER to the trunk: digest challenge answered, refreshed before expiry."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import require_binary
from tests.telephony import scenarios
from tests.telephony.conftest import Start
from tests.telephony.peers import Sipp

pytestmark = [pytest.mark.sip]

CHALLENGE = """
  <send>
    <![CDATA[
SIP/2.0 401 Unauthorized
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag09
[last_Call-ID:]
[last_CSeq:]
WWW-Authenticate: Digest realm="carrier.example", nonce="[call_number]n[pid]", algorithm=MD5
Content-Length: 0

    ]]>
  </send>
"""

OK = """
  <send>
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag09
[last_Call-ID:]
[last_CSeq:]
[last_Contact:];expires={expires}
Content-Length: 0

    ]]>
  </send>
"""


def registrar(rounds: int, expires: int) -> str:
    """Challenges every REGISTER, checks the digest, grants ``expires`` seconds."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>', '<scenario name="registrar">']
    for i in range(rounds):
        parts += [
            '  <recv request="REGISTER" timeout="20000"/>',
            CHALLENGE,
            f"""  <recv request="REGISTER">
    <action><verifyauth assign_to="ok{i}" username="akashi-trunk" password="trunkpass"/></action>
  </recv>""",
            f'  <nop hide="true" test="ok{i}" next="good{i}"/>',
            scenarios.OP_RINGING.replace("180 Ringing", "403 Forbidden"),
            '  <nop hide="true" next="end"/>',
            f'  <label id="good{i}"/>',
            OK.format(expires=expires),
        ]
    parts += ['  <label id="end"/>', "</scenario>"]
    return "\n".join(parts)


async def test_register_with_digest_and_refresh(b2bua: Start, tmp_path: Path) -> None:
    """Two registrations in a row: the second is the refresh at 80% of the 2 s granted."""
    sipp = require_binary("sipp")
    reg = Sipp(sipp, tmp_path, "registrar", registrar(2, 2))
    svc = await b2bua(
        [reg.port],
        notice=None,
        mode="operator",
        extra=f"""
[[sip.trunks]]
name = "main"
host = "127.0.0.1:{reg.port}"
username = "akashi-trunk"
password = "trunkpass"
register = true
register_expires_s = 60
""",
    )
    await reg.start("-m", "1")
    assert await asyncio.wait_for(reg.wait(), 30) == 0, reg.log()
    assert svc.registrars[0].registrations >= 2
