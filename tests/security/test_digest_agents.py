"""Akashi's own challenge to agents' phones: SHA-256 and MD5 offered, either verified, uri = Request-URI.

SIPp answers only MD5, so the phone here is a raw UDP socket that computes its digest with hashlib.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import AsyncIterator, Callable
from typing import cast

import pytest

from akashi.telephony.sip.build import response_to
from akashi.telephony.sip.digest import parse_challenge
from akashi.telephony.sip.message import Request, Response, SipMessage, parse
from tests.telephony.conftest import Start, b2bua  # noqa: F401 - fixtures

pytestmark = [pytest.mark.sip]

AGENT_SECRET = "agent-secret-201"
NUMBER = "0312349999"


class Udp(asyncio.DatagramProtocol):
    """A UDP socket keeping every SIP message it gets; as a trunk it answers INVITEs 486."""

    def __init__(self, busy: bool = False) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.got: list[SipMessage] = []
        self.arrived = asyncio.Event()
        self.busy = busy

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        msg = parse(data)
        self.got.append(msg)
        self.arrived.set()
        if self.busy and isinstance(msg, Request) and msg.method == "INVITE":
            assert self.transport is not None
            self.transport.sendto(bytes(response_to(msg, 486, to_tag="busy")), addr)

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    async def next(self, check: Callable[[SipMessage], bool], timeout: float = 10) -> SipMessage:
        """The first message (old or new) for which ``check(msg)`` is true."""
        async with asyncio.timeout(timeout):
            while True:
                for m in self.got:
                    if check(m):
                        return m
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
async def udp() -> AsyncIterator[list[Udp]]:
    """UDP sockets on loopback, closed at the end."""
    made: list[Udp] = []
    yield made
    for u in made:
        if u.transport is not None:
            u.transport.close()


async def open_udp(made: list[Udp], busy: bool = False) -> Udp:
    """A new :class:`Udp` on 127.0.0.1."""
    loop = asyncio.get_running_loop()
    _t, proto = await loop.create_datagram_endpoint(lambda: Udp(busy), local_addr=("127.0.0.1", 0))
    made.append(proto)
    return proto


def invite(phone: Udp, akashi: int, cseq: int, call_id: str, auth: str = "") -> bytes:
    """Agent 201's INVITE to NUMBER (with Proxy-Authorization when ``auth``)."""
    sdp = (
        "v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
    )
    cred = f"Proxy-Authorization: {auth}\r\n" if auth else ""
    return (
        f"INVITE sip:{NUMBER}@127.0.0.1:{akashi} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{phone.port};branch=z9hG4bK{secrets.token_hex(6)};rport\r\n"
        f"From: <sip:201@127.0.0.1>;tag=t201\r\nTo: <sip:{NUMBER}@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: {cseq} INVITE\r\nContact: <sip:201@127.0.0.1:{phone.port}>\r\n"
        f"Max-Forwards: 70\r\n{cred}Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}"
    ).encode()


def answer(ch: dict[str, str], uri: str, password: str = AGENT_SECRET) -> str:
    """The phone's digest answer, computed here with hashlib (not with Akashi's code)."""
    h = hashlib.sha256 if ch["algorithm"] == "SHA-256" else hashlib.md5

    def hx(s: str) -> str:
        return h(s.encode()).hexdigest()

    cnonce, nc = "0a4f113b", "00000001"
    ha1, ha2 = hx(f"201:{ch['realm']}:{password}"), hx(f"INVITE:{uri}")
    resp = hx(f"{ha1}:{ch['nonce']}:{nc}:{cnonce}:auth:{ha2}")
    return (
        f'Digest username="201", realm="{ch["realm"]}", nonce="{ch["nonce"]}", uri="{uri}", '
        f'response="{resp}", algorithm={ch["algorithm"]}, qop=auth, nc={nc}, cnonce="{cnonce}"'
    )


def final(call_id: str, cseq: int) -> Callable[[SipMessage], bool]:
    """A predicate: the final response to one INVITE."""
    return lambda m: (
        isinstance(m, Response) and m.call_id == call_id and m.cseq[0] == cseq and m.status >= 200
    )


TRUNK = """
[[sip.trunks]]
name = "main"
host = "127.0.0.1:{port}"
"""


@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5"])
async def test_agent_answers_either_challenge(
    b2bua: Start,  # noqa: F811 - fixture
    udp: list[Udp],
    algorithm: str,
) -> None:
    """Two Proxy-Authenticate headers, SHA-256 first; an answer to either is accepted and the call goes out."""
    trunk = await open_udp(udp, busy=True)
    phone = await open_udp(udp)
    svc = await b2bua(
        [trunk.port],
        notice=None,
        agent_password=AGENT_SECRET,
        sip_extra='digest_algorithms = ["SHA-256", "MD5"]',
        extra=TRUNK.format(port=trunk.port),
    )
    akashi = ("127.0.0.1", svc.sip.local[1])
    uri = f"sip:{NUMBER}@127.0.0.1:{akashi[1]}"
    assert phone.transport is not None
    phone.transport.sendto(invite(phone, akashi[1], 1, "c1@raw"), akashi)
    r407 = cast(Response, await phone.next(final("c1@raw", 1)))
    assert r407.status == 407
    offered = [parse_challenge(v) for v in r407.get_each("Proxy-Authenticate")]
    assert [c["algorithm"] for c in offered] == ["SHA-256", "MD5"]
    ch = next(c for c in offered if c["algorithm"] == algorithm)
    phone.transport.sendto(invite(phone, akashi[1], 2, "c1@raw", answer(ch, uri)), akashi)
    out = await trunk.next(lambda m: isinstance(m, Request) and m.method == "INVITE")
    assert isinstance(out, Request) and out.uri.startswith(f"sip:{NUMBER}@127.0.0.1:{trunk.port}")
    busy = cast(Response, await phone.next(final("c1@raw", 2)))
    assert busy.status == 486


async def test_agent_digest_for_another_uri_is_refused(
    b2bua: Start,  # noqa: F811 - fixture
    udp: list[Udp],
) -> None:
    """A right password, but the digest uri names another number: challenged again, nothing goes out."""
    trunk = await open_udp(udp, busy=True)
    phone = await open_udp(udp)
    svc = await b2bua(
        [trunk.port],
        notice=None,
        agent_password=AGENT_SECRET,
        sip_extra='digest_algorithms = ["SHA-256", "MD5"]',
        extra=TRUNK.format(port=trunk.port),
    )
    akashi = ("127.0.0.1", svc.sip.local[1])
    assert phone.transport is not None
    phone.transport.sendto(invite(phone, akashi[1], 1, "c2@raw"), akashi)
    r407 = cast(Response, await phone.next(final("c2@raw", 1)))
    ch = parse_challenge(r407.get_each("Proxy-Authenticate")[0])
    other = f"sip:0990123456@127.0.0.1:{akashi[1]}"  # an answer captured for another call
    phone.transport.sendto(invite(phone, akashi[1], 2, "c2@raw", answer(ch, other)), akashi)
    again = cast(Response, await phone.next(final("c2@raw", 2)))
    assert again.status in (403, 407)
    assert not [m for m in trunk.got if isinstance(m, Request)]
    assert not svc.calls
