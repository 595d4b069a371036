"""Forged caller identity: a stranger's INVITE with a P-Asserted-Identity it made up.

Anyone can write a P-Asserted-Identity header (svcrack/SIPp send whatever they like), so Akashi
believes it only from a trusted source (a trunk's host or ``sip.inbound_networks``). From anyone
else the call is stored with the From number: the forged number never becomes the caller.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from akashi.db.models import Call
from tests.conftest import require_binary
from tests.ports import free_udp_port
from tests.telephony import scenarios
from tests.telephony.conftest import Start
from tests.telephony.peers import Sipp, rtp_peer
from tests.telephony.test_scenarios import _row

pytestmark = [pytest.mark.sip]

FORGED = "0120999999"


def customer(*, anonymous: bool) -> str:
    """A caller (hangs up during the notice) whose INVITE asserts ``FORGED`` in P-Asserted-Identity."""
    xml = scenarios.caller(talk_ms=400)
    extra = f"P-Asserted-Identity: <sip:{FORGED}@carrier.example;user=phone>\n"
    if anonymous:
        xml = xml.replace('"Customer" <sip:0901234567@', '"Anonymous" <sip:anonymous@')
        extra += "Privacy: id\n"
    return xml.replace("Max-Forwards: 70\n", f"Max-Forwards: 70\n{extra}", 1)  # the INVITE only


async def inbound(b2bua: Start, tmp_path: Path, notice: Path, xml: str, sip_extra: str = "") -> Call:
    """Send one SIPp call to the route 0312345678 and return its stored row."""
    sipp = require_binary("sipp")
    async with rtp_peer() as cust:
        svc = await b2bua([free_udp_port()], notice=notice, sip_extra=sip_extra)
        caller = Sipp(sipp, tmp_path, "caller", xml)
        args = ["-s", "0312345678", "-key", "rtpport", str(cust.port), "-m", "1"]
        await caller.start(f"127.0.0.1:{svc.sip.local[1]}", *args)
        assert await caller.wait() == 0, caller.log()
        return await asyncio.wait_for(_row(svc), 30)


async def test_forged_pai_from_a_stranger_is_ignored(b2bua: Start, tmp_path: Path, notice_wav: Path) -> None:
    """No trunk and no inbound_networks trust the source: the From number is stored, not the PAI."""
    row = await inbound(b2bua, tmp_path, notice_wav, customer(anonymous=False))
    assert row.caller == "0901234567"
    assert FORGED not in row.caller and not (row.extra or {}).get("caller_withheld")
    assert row.dialled == "0312345678" and row.status == "missed"  # the call itself is unchanged


async def test_pai_from_a_trusted_network_gives_the_number(
    b2bua: Start, tmp_path: Path, notice_wav: Path
) -> None:
    """From sip.inbound_networks, a withheld call (anonymous From, Privacy: id) is stored with the PAI number."""
    row = await inbound(
        b2bua,
        tmp_path,
        notice_wav,
        customer(anonymous=True),
        sip_extra='inbound_networks = ["127.0.0.0/8"]\n',
    )
    assert row.caller == FORGED  # trusted here: the network's number, searchable
    assert (row.extra or {}).get("caller_withheld") is True


async def test_withheld_from_a_stranger_stays_anonymous(
    b2bua: Start, tmp_path: Path, notice_wav: Path
) -> None:
    """Untrusted and withheld: marked 非通知, stored as anonymous, the PAI still ignored."""
    row = await inbound(b2bua, tmp_path, notice_wav, customer(anonymous=True))
    assert row.caller == "anonymous"
    assert (row.extra or {}).get("caller_withheld") is True
