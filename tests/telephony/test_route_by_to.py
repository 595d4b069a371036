"""Calls to a registration are routed by the number the trunk says (To, P-Called-Party-ID), not by Akashi's Contact.

A carrier that Akashi registers with sends its calls to the registered Contact (``sip:akashi@…``):
the Request-URI names no number and only a ``*`` route would match. Here a SIPp registrar grants the
registration, a SIPp carrier sends the INVITE to ``sip:akashi@…`` with the dialled number in To, and
the route of that number rings a SIPp operator; the ``*`` route rings a port where nobody answers.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from akashi.config.telephony import TrunkSettings
from akashi.telephony.call.numbers import called_number, dialled_number, inbound_trunk, route_by
from akashi.telephony.sip.message import Request
from tests.conftest import require_binary
from tests.ports import free_udp_port
from tests.telephony import scenarios
from tests.telephony.conftest import Start
from tests.telephony.peers import Sipp, rtp_peer
from tests.telephony.test_register import registrar
from tests.telephony.test_scenarios import _row

DIALLED = "0312345678"


def _invite(uri: str, to: str, source: tuple[str, int] | None = ("127.0.0.1", 5999), **hdrs: str) -> Request:
    req = Request(method="INVITE", uri=uri)
    req.add("From", "<sip:0901234567@127.0.0.1>;tag=a")
    req.add("To", to)
    for k, v in hdrs.items():
        req.add(k.replace("_", "-"), v)
    req.source = source
    return req


def test_route_by_reads_the_number_the_trunk_says() -> None:
    """auto: To for a registering trunk; Request-URI otherwise; a header without a number falls back."""
    reg = TrunkSettings(name="main", host="127.0.0.1:5070", register_=True)
    plain = TrunkSettings(name="pbx", host="10.0.0.5")
    pcpi = TrunkSettings(name="ims", host="10.0.0.6", route_by="p_called_party_id")
    to_registration = _invite("sip:akashi@127.0.0.1:5060", f"<sip:{DIALLED}@carrier.example.jp>")
    assert inbound_trunk([plain, reg], to_registration) is reg and route_by(reg) == "to"
    assert called_number(to_registration, [plain, reg]) == DIALLED
    # a trunk named by host name: a call to Akashi's registered Contact is the registering trunk's
    by_name = TrunkSettings(name="main", host="sip.carrier.example.jp", register_=True)
    assert inbound_trunk([by_name], to_registration) is by_name
    # ... or a call to its account (a carrier that rewrites the Request-URI to the registered number)
    account = TrunkSettings(name="aor", host="sip.carrier.example.jp", register_=True, username="0312340000")
    to_aor = _invite(
        "sip:0312340000@192.0.2.1", f"<sip:{DIALLED}@carrier.example.jp>", ("198.51.100.7", 5060)
    )
    assert inbound_trunk([account], to_aor) is account and called_number(to_aor, [account]) == DIALLED
    assert inbound_trunk([account], _invite("sip:0312340001@a", "<sip:x@y>", ("198.51.100.7", 5060))) is None
    assert route_by(plain) == "request_uri" and route_by(None) == "request_uri"
    from_pbx = _invite("sip:0501111111@akashi", "<sip:201@pbx>", ("10.0.0.5", 5060))
    assert called_number(from_pbx, [plain]) == "0501111111"
    ims = _invite(
        "sip:0501111111@akashi", "<sip:x@y>", ("10.0.0.6", 5060), P_Called_Party_ID=f"<tel:{DIALLED}>"
    )
    assert called_number(ims, [pcpi]) == DIALLED
    assert dialled_number(_invite("sip:0501111111@a", "<sip:x@y>"), "to") == "0501111111"  # no number in To
    # someone else than a trunk: the Request-URI, whatever To says
    other = _invite("sip:0501111111@a", f"<sip:{DIALLED}@b>", ("192.0.2.9", 5060))
    assert called_number(other, [plain, reg]) == "0501111111"
    assert called_number(_invite("sip:akashi@a", "<sip:nobody@b>"), [reg]) is None  # 484


def _carrier_to(number: str, extra_header: str = "") -> str:
    """The customer through the carrier: INVITE to Akashi's Contact user with ``number`` in To."""
    xml = scenarios.caller(talk_ms=1500)
    xml = xml.replace(
        "To: <sip:[service]@[remote_ip]:[remote_port]>", f"To: <sip:{number}@carrier.example.jp>"
    )
    return xml.replace("Max-Forwards: 70\n", f"Max-Forwards: 70\n{extra_header}", 1)


@pytest.mark.sip
@pytest.mark.parametrize(
    ("trunk", "service", "header"),
    [
        ("register = true\n", "akashi", ""),
        # carriers that rewrite the Request-URI to the registered number (the AOR)
        ("register = true\n", "0312340000", ""),
        ('route_by = "p_called_party_id"\n', "0501111111", f"P-Called-Party-ID: <tel:{DIALLED}>\n"),
    ],
    ids=["registered-contact", "registered-aor", "p-called-party-id"],
)
async def test_call_to_registration_takes_the_route_of_its_number(
    b2bua: Start, tmp_path: Path, trunk: str, service: str, header: str
) -> None:
    """The route of the number in To (or P-Called-Party-ID) rings its operator, not the ``*`` route."""
    sipp = require_binary("sipp")
    reg = Sipp(sipp, tmp_path, "registrar", registrar(1, 600))
    async with rtp_peer() as cust, rtp_peer() as op:
        opx = Sipp(sipp, tmp_path, "op", scenarios.operator())
        nobody = free_udp_port()
        svc = await b2bua(
            [opx.port],
            notice=None,
            mode="operator",
            extra=f"""
[[sip.routes]]
match = "*"
ring = ["sip:299@127.0.0.1:{nobody}"]
ring_timeout_s = 3

[[sip.trunks]]
name = "carrier"
host = "127.0.0.1:{reg.port}"
username = "akashi-trunk"
password = "trunkpass"
{trunk}""",
        )
        if "register" in trunk:
            await reg.start("-m", "1")
            assert await asyncio.wait_for(reg.wait(), 30) == 0, reg.log()
        await opx.start("-key", "rtpport", str(op.port), "-m", "1")
        callx = Sipp(sipp, tmp_path, "carrier", _carrier_to(DIALLED, header))
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-s", service, "-key", "rtpport", str(cust.port), "-m", "1"
        )
        assert await callx.wait() == 0, callx.log() + opx.log()
        assert await opx.wait() == 0, opx.log()
        row = await asyncio.wait_for(_row(svc), 30)
    assert row.dialled == DIALLED
    assert row.status == "completed", row.status
