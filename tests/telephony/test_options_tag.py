"""Answers outside a dialog carry a To tag (RFC 3261 8.2.6.2): OPTIONS pings, 405, 420 and 481.

A PBX qualifying Akashi (Asterisk's ``qualify_frequency``) or a SIPp peer treats an answer without a
To tag as malformed; each answer is checked on the wire by a real SIPp UAC.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from akashi.telephony.sip.build import response_to
from akashi.telephony.sip.message import Request
from akashi.telephony.sip.uri import parse_name_addr
from tests.conftest import require_binary
from tests.ports import free_udp_port
from tests.telephony import scenarios
from tests.telephony.conftest import Start
from tests.telephony.peers import Sipp

#: (method, extra header lines, expected status)
ASKS = [
    ("OPTIONS", "Accept: application/sdp\n", 200),
    ("MESSAGE", "Content-Type: text/plain\n", 405),
    ("SUBSCRIBE", "Event: presence\n", 405),
    ("OPTIONS", "Require: foo\n", 420),
    ("BYE", "", 481),
]


def _ask(i: int, method: str, headers: str, status: int) -> str:
    return f"""
  <send retrans="500">
    <![CDATA[
{method} sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/UDP [local_ip]:[local_port];branch=[branch];rport
From: <sip:qualify@[local_ip]:[local_port]>;tag=[pid]q{i}
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: {i + 1} {method}
Max-Forwards: 70
{headers}Content-Length: 0

    ]]>
  </send>
  <recv response="{status}">
    <action>
      <ereg regexp=";[[:space:]]*tag=[^;>[:space:]]+" search_in="hdr" header="To:" check_it="true" assign_to="t{i}"/>
    </action>
  </recv>
"""


def pinger() -> str:
    """A SIPp UAC asking each of :data:`ASKS` in turn; a missing To tag fails the scenario."""
    body = "".join(_ask(i, m, h, s) for i, (m, h, s) in enumerate(ASKS))
    refs = ",".join(f"t{i}" for i in range(len(ASKS)))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<scenario name="pinger">'
        + body
        + f'  <Reference variables="{refs}"/>\n</scenario>'
    )


def test_response_to_adds_a_tag_unless_100() -> None:
    """Every answer but 100 to a request without a To tag gets one; a given tag or the request's is kept."""
    req = Request(method="OPTIONS", uri="sip:akashi@127.0.0.1")
    for k, v in (("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx"), ("From", "<sip:a@b>;tag=f1"),
                 ("To", "<sip:akashi@127.0.0.1>"), ("Call-ID", "c1"), ("CSeq", "1 OPTIONS")):  # fmt: skip
        req.add(k, v)
    assert parse_name_addr(response_to(req, 100).header("To")).param("tag") is None
    for status in (200, 405, 420, 481):
        assert parse_name_addr(response_to(req, status).header("To")).param("tag"), status
    assert parse_name_addr(response_to(req, 405, to_tag="given").header("To")).param("tag") == "given"
    req.headers = [h for h in req.headers if h.name != "To"]
    req.add("To", "<sip:akashi@127.0.0.1>;tag=dlg")
    assert parse_name_addr(response_to(req, 481).header("To")).param("tag") == "dlg"


@pytest.mark.sip
async def test_answers_outside_a_dialog_carry_a_to_tag(b2bua: Start, tmp_path: Path) -> None:
    """OPTIONS 200, 405 to MESSAGE and SUBSCRIBE, 420 and 481 all carry a To tag on the wire."""
    sipp = require_binary("sipp")
    svc = await b2bua([free_udp_port()], notice=None, mode="operator")
    ping = Sipp(sipp, tmp_path, "pinger", pinger())
    await ping.start(f"127.0.0.1:{svc.sip.local[1]}", "-s", "akashi", "-m", "1")
    assert await asyncio.wait_for(ping.wait(), 60) == 0, ping.log()


def received_answers(workdir: Path, name: str) -> list[str]:
    """The responses a SIPp process received (from its -trace_msg log)."""
    text = "".join(f.read_text(errors="replace") for f in workdir.glob(f"{name}*_messages.log"))
    parts = re.split(r"^-{10,}.*$", text, flags=re.M)
    return [p.split("bytes :", 1)[1].strip() for p in parts if "message received" in p and "SIP/2.0 " in p]


def _to_tag(msg: str) -> str | None:
    to = next(ln for ln in msg.splitlines() if ln.lower().startswith("to:"))
    return parse_name_addr(to.split(":", 1)[1].strip()).param("tag")


@pytest.mark.sip
async def test_cancel_answered_with_the_invites_to_tag(b2bua: Start, tmp_path: Path) -> None:
    """The 200 to a CANCEL carries the To tag of the INVITE's 180 and 487 (RFC 3261 9.2)."""
    sipp = require_binary("sipp")
    op = Sipp(sipp, tmp_path, "op", scenarios.operator(answer="noanswer"))
    svc = await b2bua([op.port], notice=None, mode="operator", ring_timeout_s=30)
    await op.start("-key", "rtpport", str(free_udp_port()), "-m", "1")
    caller = Sipp(sipp, tmp_path, "caller", scenarios.caller_cancel(800))
    addr = f"127.0.0.1:{svc.sip.local[1]}"
    await caller.start(addr, "-s", "0312345678", "-key", "rtpport", str(free_udp_port()), "-m", "1")
    assert await asyncio.wait_for(caller.wait(), 60) == 0, caller.log()
    assert await asyncio.wait_for(op.wait(), 60) == 0, op.log()
    answers = {m.split("\n", 1)[0].split(" ", 1)[1] + " " + m.split("CSeq:", 1)[1].split("\n", 1)[0].strip(): m
               for m in received_answers(tmp_path, "caller")}  # fmt: skip
    ringing, ok_cancel, terminated = answers["180 Ringing 1 INVITE"], answers["200 OK 1 CANCEL"], None
    terminated = next(m for k, m in answers.items() if k.startswith("487") and k.endswith("INVITE"))
    assert _to_tag(ringing) and _to_tag(ringing) == _to_tag(ok_cancel) == _to_tag(terminated)
