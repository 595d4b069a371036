"""Trunk digest (RFC 7616) and trunk transports, against SIPp carriers and registrars.

A carrier that offers SHA-256 first (two WWW-Authenticate headers, as Asterisk's
``supported_algorithms_uas=SHA-256,MD5`` does) is answered in SHA-256, verified here with hashlib;
a challenge Akashi may not or cannot answer fails the leg at once with a logged reason and no
credentials; calls and REGISTER go over TCP and TLS when the trunk says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import require_binary
from tests.security.trunk_peers import (
    AGENT_SECRET,
    MD5,
    REALM,
    SHA,
    TRUNK_PASS,
    TRUNK_USER,
    TlsFront,
    agent,
    carrier,
    check_answer,
    header,
    registrar,
    self_signed,
    sent_requests,
    tls_front,
)
from tests.telephony import scenarios
from tests.telephony.conftest import Start, b2bua  # noqa: F401 - fixtures
from tests.telephony.peers import Sipp

pytestmark = [pytest.mark.sip]


def trunk_toml(port: int, transport: str, *, ca: Path | None = None, register: bool = False) -> str:
    """The trunk's akashi.toml lines (realm pinned to the carrier's)."""
    lines = [
        "[[sip.trunks]]",
        'name = "main"',
        f'host = "127.0.0.1:{port}"',
        f'transport = "{transport}"',
        f'username = "{TRUNK_USER}"',
        f'password = "{TRUNK_PASS}"',
        f'realm = "{REALM}"',
    ]
    if ca is not None:
        lines.append(f'tls_ca = "{ca}"')
    if register:
        lines += ["register = true", "register_expires_s = 120"]
    return "\n".join(lines) + "\n"


@contextlib.asynccontextmanager
async def peer_in_front(
    transport: str, sipp_port: int, tmp_path: Path
) -> AsyncIterator[tuple[int, Path | None, TlsFront | None]]:
    """(port Akashi calls, CA file, TLS front): SIPp itself for udp/tcp, a TLS front of it for tls."""
    if transport != "tls":
        yield sipp_port, None, None
        return
    cert, key = self_signed(tmp_path)
    async with tls_front(cert, key, sipp_port) as front:
        yield front.port, cert, front


def sipp_args(transport: str) -> list[str]:
    """SIPp's transport option: TCP for tcp and for tls (behind the TLS front)."""
    return [] if transport == "udp" else ["-t", "t1"]


async def dial_out(svc_port: int, sipp: str, tmp_path: Path, final: int) -> Sipp:
    """Agent 201 calls 0312349999 out (MD5 digest to Akashi); returns the finished SIPp."""
    ua = Sipp(sipp, tmp_path, "agent", agent(final))
    uri = f"0312349999@127.0.0.1:{svc_port}"  # SIPp puts "sip:" in front: the digest uri is the Request-URI
    await ua.start(f"127.0.0.1:{svc_port}", "-s", "0312349999", "-key", "rtpport", "40000", "-m", "1",
                   "-auth_uri", uri)  # fmt: skip
    assert await ua.wait(45) == 0, ua.log()
    return ua


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
async def test_trunk_call_answers_sha256(
    b2bua: Start,  # noqa: F811 - fixture
    tmp_path: Path,
    transport: str,
) -> None:
    """The carrier offers SHA-256 then MD5: Akashi's second INVITE carries a correct SHA-256 answer."""
    sipp = require_binary("sipp")
    trunk = Sipp(sipp, tmp_path, "carrier", carrier([SHA, MD5]))
    async with peer_in_front(transport, trunk.port, tmp_path) as (port, ca, front):
        svc = await b2bua(
            [trunk.port], notice=None, agent_password=AGENT_SECRET, extra=trunk_toml(port, transport, ca=ca)
        )
        await trunk.start(*sipp_args(transport), "-m", "1")
        await dial_out(svc.sip.local[1], sipp, tmp_path, 486)
        assert await trunk.wait(30) == 0, trunk.log()
        if front is not None:
            assert front.handshakes >= 1
    invites = sent_requests(trunk.log(), "INVITE")
    assert len(invites) == 2, trunk.log()
    assert header(invites[0], "Authorization") is None
    assert f"SIP/2.0/{transport.upper()} " in (header(invites[1], "Via") or "")
    auth = header(invites[1], "Authorization")
    assert auth is not None
    p = check_answer(auth, method="INVITE", nonce_prefix="sha-")
    assert p["algorithm"] == "SHA-256"
    assert p["uri"] == invites[1].split(" ", 2)[1]  # the digest uri is the Request-URI


UNANSWERABLE = {
    "other-realm": [SHA.replace(REALM, "evil.example"), MD5.replace(REALM, "evil.example")],
    "unknown-algorithm": [SHA.replace("SHA-256", "SHA3-512")],
    "auth-int-only": [MD5.replace('qop="auth"', 'qop="auth-int"')],
}


@pytest.mark.parametrize("kind", sorted(UNANSWERABLE))
async def test_unanswerable_trunk_challenge_fails_at_once(
    b2bua: Start,  # noqa: F811 - fixture
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    """No credentials are sent; the agent hears a final answer within SIPp's 20 s, not after 120 s."""
    sipp = require_binary("sipp")
    trunk = Sipp(sipp, tmp_path, "carrier", carrier(UNANSWERABLE[kind]))
    svc = await b2bua(
        [trunk.port], notice=None, agent_password=AGENT_SECRET, extra=trunk_toml(trunk.port, "udp")
    )
    caplog.set_level(logging.WARNING, logger="akashi.telephony.legs")
    await trunk.start("-m", "1")
    await dial_out(svc.sip.local[1], sipp, tmp_path, 480)
    trunk.kill()  # it waits (20 s) for a second INVITE that never comes
    log = trunk.log()
    assert len(sent_requests(log, "INVITE")) == 1 and "Authorization:" not in log
    reasons = [r.getMessage() for r in caplog.records if "not answered, leg failed" in r.getMessage()]
    assert reasons, caplog.text
    assert {"other-realm": "realm", "unknown-algorithm": "SHA3-512", "auth-int-only": "auth-int"}[
        kind
    ] in reasons[0]
    assert TRUNK_PASS not in caplog.text


async def test_tls_trunk_with_an_untrusted_certificate_is_not_called(
    b2bua: Start,  # noqa: F811 - fixture
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The trunk's certificate does not chain to tls_ca: no SIP is sent at all (and never plain UDP)."""
    sipp = require_binary("sipp")
    trunk = Sipp(sipp, tmp_path, "carrier", carrier([SHA, MD5]))
    other_ca, _key = self_signed(tmp_path, "other")
    cert, key = self_signed(tmp_path)
    async with tls_front(cert, key, trunk.port) as front:
        svc = await b2bua(
            [trunk.port], notice=None, agent_password=AGENT_SECRET,
            extra=trunk_toml(front.port, "tls", ca=other_ca),
        )  # fmt: skip
        await trunk.start("-t", "t1", "-m", "1")
        caplog.set_level(logging.WARNING, logger="akashi.telephony.ringing")
        await dial_out(svc.sip.local[1], sipp, tmp_path, 503)
        trunk.kill()
    assert sent_requests(trunk.log(), "INVITE") == []
    assert any("CERTIFICATE_VERIFY_FAILED" in r.getMessage() for r in caplog.records), caplog.text


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
async def test_register_answers_sha256(
    b2bua: Start,  # noqa: F811 - fixture
    tmp_path: Path,
    transport: str,
) -> None:
    """REGISTER over the trunk's transport; the SHA-256 challenge of two is answered correctly."""
    sipp = require_binary("sipp")
    reg = Sipp(sipp, tmp_path, "registrar", registrar([SHA, MD5]))
    async with peer_in_front(transport, reg.port, tmp_path) as (port, ca, front):
        await reg.start(*sipp_args(transport), "-m", "1")
        svc = await b2bua([reg.port], notice=None, extra=trunk_toml(port, transport, ca=ca, register=True))
        assert await reg.wait(30) == 0, reg.log()
        await asyncio.wait_for(svc.registrars[0].registered.wait(), 10)
        if front is not None:
            assert front.handshakes >= 1
    registers = sent_requests(reg.log(), "REGISTER")
    assert len(registers) == 2
    for r in registers:
        assert f"SIP/2.0/{transport.upper()} " in (header(r, "Via") or "")
        if transport != "udp":
            assert f";transport={transport}>" in (header(r, "Contact") or "")
    auth = header(registers[1], "Authorization")
    assert auth is not None
    p = check_answer(auth, method="REGISTER", nonce_prefix="sha-")
    assert p["algorithm"] == "SHA-256" and p["uri"] == registers[1].split(" ", 2)[1]


async def test_register_to_another_realm_sends_no_credentials(
    b2bua: Start,  # noqa: F811 - fixture
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A registrar challenging in a realm that is not the trunk's gets no answer; the reason is logged."""
    sipp = require_binary("sipp")
    reg = Sipp(sipp, tmp_path, "registrar", registrar([MD5.replace(REALM, "evil.example")]))
    caplog.set_level(logging.WARNING, logger="akashi.telephony.register")
    await reg.start("-m", "1")
    svc = await b2bua([reg.port], notice=None, extra=trunk_toml(reg.port, "udp", register=True))
    async with asyncio.timeout(20):
        while not svc.registrars[0].refused:
            await asyncio.sleep(0.05)
    reg.kill()
    assert "realm" in svc.registrars[0].refused
    assert "Authorization:" not in reg.log()
    assert any("not answered" in r.getMessage() for r in caplog.records)


async def test_operator_leg_through_a_pbx_trunk_answers_sha256(
    b2bua: Start,  # noqa: F811 - fixture
    tmp_path: Path,
) -> None:
    """An inbound call rings an operator behind a cloud PBX configured as a trunk: its challenge is answered."""
    sipp = require_binary("sipp")
    pbx = Sipp(sipp, tmp_path, "carrier", carrier([SHA, MD5]))
    svc = await b2bua([pbx.port], notice=None, mode="operator", extra=trunk_toml(pbx.port, "udp"))
    await pbx.start("-m", "1")
    caller = Sipp(sipp, tmp_path, "caller", scenarios.caller(final=486))
    await caller.start(
        f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", "40000", "-m", "1"
    )
    assert await caller.wait(45) == 0, caller.log()
    assert await pbx.wait(30) == 0, pbx.log()
    invites = sent_requests(pbx.log(), "INVITE")
    auth = header(invites[1], "Authorization")
    assert auth is not None
    assert check_answer(auth, method="INVITE", nonce_prefix="sha-")["algorithm"] == "SHA-256"


async def test_operator_phone_challenge_without_credentials_fails_at_once(
    b2bua: Start,  # noqa: F811 - fixture
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An operator phone that is no trunk challenges: no credentials at all, the leg fails with a logged reason."""
    sipp = require_binary("sipp")
    phone = Sipp(sipp, tmp_path, "carrier", carrier([SHA, MD5]))
    other = Sipp(sipp, tmp_path, "trunk", carrier([MD5]))  # a configured trunk elsewhere: its secret stays
    svc = await b2bua([phone.port], notice=None, mode="operator", extra=trunk_toml(other.port, "udp"))
    caplog.set_level(logging.WARNING, logger="akashi.telephony.legs")
    await phone.start("-m", "1")
    caller = Sipp(sipp, tmp_path, "caller", scenarios.caller(final=480))
    await caller.start(
        f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", "40000", "-m", "1"
    )
    assert await caller.wait(45) == 0, caller.log()  # 480 well before the route's ring timeout
    phone.kill()
    assert "Authorization:" not in phone.log()
    assert any("no credentials" in r.getMessage() for r in caplog.records), caplog.text


class _Udp(asyncio.DatagramProtocol):
    """A raw UDP socket keeping what it receives."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.got: list[bytes] = []
        self.arrived = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.got.append(data)
        self.arrived.set()


async def test_spoofed_challenge_from_another_address_gets_no_credentials(
    b2bua: Start,  # noqa: F811 - fixture
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 401 for Akashi's REGISTER sent from 127.0.0.2 (not the trunk's address) is not answered."""
    from akashi.telephony.sip.build import response_to
    from akashi.telephony.sip.message import Request, parse

    loop = asyncio.get_running_loop()
    _t, trunk = await loop.create_datagram_endpoint(_Udp, local_addr=("127.0.0.1", 0))
    _t2, spoofer = await loop.create_datagram_endpoint(_Udp, local_addr=("127.0.0.2", 0))
    assert trunk.transport is not None and spoofer.transport is not None
    port = int(trunk.transport.get_extra_info("sockname")[1])
    caplog.set_level(logging.WARNING, logger="akashi.telephony.register")
    try:
        svc = await b2bua([port], notice=None, extra=trunk_toml(port, "udp", register=True))
        await asyncio.wait_for(trunk.arrived.wait(), 10)
        register = parse(trunk.got[0])
        assert isinstance(register, Request) and register.method == "REGISTER"
        forged = response_to(
            register, 401, to_tag="spoof", extra=[(SHA.split(": ", 1)[0], SHA.split(": ", 1)[1])]
        )
        spoofer.transport.sendto(bytes(forged), ("127.0.0.1", svc.sip.local[1]))
        async with asyncio.timeout(10):
            while not svc.registrars[0].refused:
                await asyncio.sleep(0.05)
        assert "127.0.0.2" in svc.registrars[0].refused
        assert not [d for d in trunk.got if b"Authorization:" in d]
        assert not [d for d in spoofer.got if b"Authorization:" in d]
    finally:
        trunk.transport.close()
        spoofer.transport.close()
