"""Outbound identity: what the trunk sees of an agent's call (From, P-Asserted-Identity, Privacy).

The agent's phone writes its LAN address (192.168.10.23) into From and Contact, and a forged
P-Preferred-Identity; the SIPp carrier's captured INVITE must carry none of it, only the trunk's
registered number at the configured domain and Akashi's own address in Via and Contact.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from pathlib import Path

import pytest

from akashi.db.models import Call
from tests.conftest import require_binary
from tests.telephony.conftest import Start
from tests.telephony.peers import Sipp, rtp_peer
from tests.telephony.test_outbound import TRUNK_TOML, agent_phone, carrier
from tests.telephony.test_scenarios import _row

pytestmark = [pytest.mark.sip]

LAN = "192.168.10.23"
IDENTITY = """from_user = "0312340000"
from_domain = "trunk.example.jp"
identity_header = "pai"
"""


def lan_agent_phone() -> str:
    """Agent 201's phone as a LAN phone writes it: its private address in From and Contact."""
    xml = agent_phone(800).replace("sip:201@[local_ip]", f"sip:201@{LAN}")
    return xml.replace(
        "Max-Forwards: 70\n", f"Max-Forwards: 70\nP-Preferred-Identity: <sip:201@{LAN}>\nX-Lan: 10.9.8.7\n"
    )


def trunk_invites(workdir: Path) -> list[str]:
    """The INVITEs the SIPp carrier received (from its -trace_msg log)."""
    text = "".join(f.read_text(errors="replace") for f in workdir.glob("carrier*_messages.log"))
    parts = re.split(r"^-{10,}.*$", text, flags=re.M)
    return [p.split("bytes :", 1)[1].strip() for p in parts if "message received" in p and "INVITE sip:" in p]


async def call_out(
    b2bua: Start, tmp_path: Path, notice: Path, dial: str, identity: str
) -> tuple[Call, list[str]]:
    """Agent 201 dials ``dial`` through a SIPp carrier; the stored row and the carrier's INVITEs."""
    sipp = require_binary("sipp")
    async with rtp_peer() as agent_rtp, rtp_peer() as cust_rtp:
        trunk = Sipp(sipp, tmp_path, "carrier", carrier())
        svc = await b2bua(
            [trunk.port], notice=notice, extra=TRUNK_TOML.format(port=trunk.port) + identity,
            agent_password="sato-201-Kq7vX2",
        )  # fmt: skip
        await trunk.start("-key", "rtpport", str(cust_rtp.port), "-m", "1")
        agent = Sipp(sipp, tmp_path, "agent", lan_agent_phone())
        args = ["-s", dial, "-key", "rtpport", str(agent_rtp.port), "-m", "1"]
        args += ["-auth_uri", f"{dial}@127.0.0.1:{svc.sip.local[1]}"]
        await agent.start(f"127.0.0.1:{svc.sip.local[1]}", *args)
        assert await agent.wait() == 0, agent.log() + trunk.log()
        assert await trunk.wait() == 0, trunk.log()
        row = await asyncio.wait_for(_row(svc), 30)
    return row, trunk_invites(tmp_path)


def private_addresses(msg: str) -> set[str]:
    """Every private or loopback IPv4 address written in a message other than Akashi's own (127.0.0.1)."""
    found = set()
    for a in re.findall(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b", msg):
        try:
            ip = ipaddress.ip_address(a)
        except ValueError:
            continue
        if (ip.is_private or ip.is_loopback) and a != "127.0.0.1":
            found.add(a)
    return found


def header(msg: str, name: str) -> list[str]:
    """The values of header ``name`` in a raw message."""
    return [
        ln.split(":", 1)[1].strip() for ln in msg.splitlines() if ln.lower().startswith(name.lower() + ":")
    ]


async def test_trunk_sees_registered_number_not_the_lan(
    b2bua: Start, tmp_path: Path, notice_wav: Path
) -> None:
    """From and PAI carry from_user@from_domain; no LAN address or phone header reaches the trunk."""
    row, invites = await call_out(b2bua, tmp_path, notice_wav, "0312349999", IDENTITY)
    assert len(invites) == 2, invites  # challenged, then with credentials
    for inv in invites:
        assert inv.startswith("INVITE sip:0312349999@127.0.0.1"), inv
        assert private_addresses(inv) == set(), inv
        assert "X-Lan" not in inv and "Sato" not in inv
        (frm,) = header(inv, "From")
        assert frm.startswith("<sip:0312340000@trunk.example.jp>;tag="), frm
        assert header(inv, "P-Asserted-Identity") == ["<sip:0312340000@trunk.example.jp>"]
        assert header(inv, "P-Preferred-Identity") == [] and header(inv, "Privacy") == []
        assert all("127.0.0.1" in v for v in header(inv, "Via") + header(inv, "Contact"))
    assert row.status == "completed" and row.dialled == "0312349999"
    assert row.caller == "201" and not (row.extra or {}).get("caller_withheld")


async def test_184_withholds_the_number(b2bua: Start, tmp_path: Path, notice_wav: Path) -> None:
    """184 + number: the prefix is stripped, From is anonymous, Privacy: id, PPI keeps the number for the network."""
    identity = IDENTITY.replace('"pai"', '"ppi"')
    row, invites = await call_out(b2bua, tmp_path, notice_wav, "1840312349999", identity)
    assert len(invites) == 2, invites
    for inv in invites:
        assert inv.startswith("INVITE sip:0312349999@127.0.0.1"), inv  # 184 is not dialled to the trunk
        assert private_addresses(inv) == set(), inv
        (frm,) = header(inv, "From")
        assert frm.startswith('"Anonymous" <sip:anonymous@anonymous.invalid>;tag='), frm
        assert header(inv, "Privacy") == ["id"]
        assert header(inv, "P-Preferred-Identity") == ["<sip:0312340000@trunk.example.jp>"]
        assert header(inv, "P-Asserted-Identity") == []
    assert row.dialled == "0312349999"
    assert (row.extra or {}).get("caller_withheld") is True


async def test_186_shows_the_number_and_default_from_is_akashi(
    b2bua: Start, tmp_path: Path, notice_wav: Path
) -> None:
    """186 + number: stripped and shown; without from_user/from_domain the From is the agent's user at Akashi."""
    row, invites = await call_out(b2bua, tmp_path, notice_wav, "1860312349999", "")
    for inv in invites:
        assert inv.startswith("INVITE sip:0312349999@127.0.0.1"), inv
        assert private_addresses(inv) == set(), inv
        (frm,) = header(inv, "From")
        assert frm.startswith("<sip:201@127.0.0.1>;tag="), frm
        assert header(inv, "Privacy") == [] and header(inv, "P-Asserted-Identity") == []
    assert row.dialled == "0312349999" and not (row.extra or {}).get("caller_withheld")
