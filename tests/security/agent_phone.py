"""An agent's phone and a trunk as raw UDP sockets, for the toll-fraud and password-guessing tests.

The phone sends hand-written INVITEs (any From user, any number, any credentials) from any loopback
address; the trunk records every INVITE it gets and answers 486, so a call that does get out ends
at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import cast

from akashi.telephony.sip.build import response_to
from akashi.telephony.sip.digest import authorization
from akashi.telephony.sip.grammar import SipParseError
from akashi.telephony.sip.message import Request, Response, parse

#: agent 201's secret in these tests (the configuration refuses fewer than 12 characters)
SECRET_201 = "Tq8s-201-ZkP4vW"
#: agent 203's secret: another agent, for From / username mismatches
SECRET_203 = "Rm2x-203-HgL7cN"
AGENT_203 = f'\n[[agents]]\nname = "高橋 三郎"\nsip_user = "203"\nsite = "tokyo"\npassword = "{SECRET_203}"\n'


class Trunk(asyncio.DatagramProtocol):
    """The carrier: keeps every INVITE (new Call-IDs only) and answers it 486 Busy Here."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.invites: list[Request] = []
        self.arrived = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    @property
    def port(self) -> int:
        """The bound port."""
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            msg = parse(data)
        except SipParseError:
            return
        if isinstance(msg, Request) and msg.method == "INVITE":
            if all(i.call_id != msg.call_id for i in self.invites):
                self.invites.append(msg)
                self.arrived.set()
            assert self.transport is not None
            self.transport.sendto(bytes(response_to(msg, 486, to_tag="busy")), addr)

    async def next_invite(self, timeout: float = 10.0) -> Request:
        """Wait for the first INVITE (returns it)."""
        await asyncio.wait_for(self.arrived.wait(), timeout)
        return self.invites[0]


class Phone(asyncio.DatagramProtocol):
    """An agent's phone (or an attacker's socket): INVITEs out, final responses in."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.finals: dict[str, asyncio.Future[Response]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    @property
    def local(self) -> tuple[str, int]:
        """The bound address."""
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            msg = parse(data)
        except SipParseError:
            return
        if isinstance(msg, Response) and msg.status >= 200:
            fut = self.finals.get(msg.call_id)
            if fut is not None and not fut.done():
                fut.set_result(msg)

    async def invite(
        self, dest: tuple[str, int], *, user: str = "201", number: str = "0312349999", auth: str | None = None
    ) -> Response:
        """Send an INVITE from ``user`` to ``number`` (with ``auth`` as Proxy-Authorization); its final answer."""
        ip, port = self.local
        call_id = f"agent-{secrets.token_hex(8)}@{ip}"
        sdp = (
            f"v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
            f"m=audio {port + 2} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        )
        lines = [
            f"INVITE {uri(dest, number)} SIP/2.0",
            f"Via: SIP/2.0/UDP {ip}:{port};branch=z9hG4bK{secrets.token_hex(8)};rport",
            f"From: <sip:{user}@{ip}>;tag={secrets.token_hex(4)}",
            f"To: <sip:{number}@{dest[0]}>",
            f"Call-ID: {call_id}",
            "CSeq: 1 INVITE",
            f"Contact: <sip:{user}@{ip}:{port}>",
            "Max-Forwards: 70",
            *([f"Proxy-Authorization: {auth}"] if auth else []),
            "Content-Type: application/sdp",
            f"Content-Length: {len(sdp)}",
        ]
        fut: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self.finals[call_id] = fut
        assert self.transport is not None
        self.transport.sendto(("\r\n".join(lines) + "\r\n\r\n" + sdp).encode(), dest)
        return await asyncio.wait_for(fut, 10)

    async def call(
        self,
        dest: tuple[str, int],
        *,
        user: str = "201",
        number: str = "0312349999",
        username: str | None = None,
        password: str = SECRET_201,
    ) -> Response:
        """An INVITE, and once challenged (407) the INVITE with credentials: the final answer to that."""
        first = await self.invite(dest, user=user, number=number)
        if first.status != 407:
            return first
        cred = authorization(
            [h.value for h in first.headers if h.name.lower() == "proxy-authenticate"],
            method="INVITE",
            uri=uri(dest, number),
            username=username or user,
            password=password,
        )
        return await self.invite(dest, user=user, number=number, auth=cred)


def uri(dest: tuple[str, int], number: str) -> str:
    """The Request-URI of a call to ``number`` through Akashi at ``dest``."""
    return f"sip:{number}@{dest[0]}:{dest[1]}"


@contextlib.asynccontextmanager
async def trunk_and_phone(ip: str = "127.0.0.1") -> AsyncIterator[tuple[Trunk, Phone]]:
    """A trunk on 127.0.0.1 and a phone bound to ``ip`` (any 127.x.y.z is another source address)."""
    loop = asyncio.get_running_loop()
    _t1, trunk = await loop.create_datagram_endpoint(Trunk, local_addr=("127.0.0.1", 0))
    _t2, phone = await loop.create_datagram_endpoint(Phone, local_addr=(ip, 0))
    try:
        yield trunk, phone
    finally:
        for p in (trunk, phone):
            if p.transport is not None:
                p.transport.close()


def trunk_toml(port: int, extra: str = "") -> str:
    """The ``[[sip.trunks]]`` of the test trunk (plus dial plan lines in ``extra``)."""
    return f'\n[[sip.trunks]]\nname = "main"\nhost = "127.0.0.1:{port}"\n{extra}\n'
