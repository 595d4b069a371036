"""Agents' digest credentials cannot be replayed: each nonce count is accepted once (RFC 2617 3.2.2)."""

from __future__ import annotations

import asyncio
import socket
import uuid
from pathlib import Path
from typing import cast

import pytest

from akashi.telephony.sip.digest import NonceBook, authorization, parse_challenge
from akashi.telephony.sip.message import parse as parse_message
from tests.telephony.conftest import Start

pytestmark = [pytest.mark.sip]


class Udp(asyncio.DatagramProtocol):
    """A loopback UDP endpoint that queues what it receives."""

    def __init__(self) -> None:
        self.got: asyncio.Queue[bytes] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.got.put_nowait(data)

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    async def final(self) -> tuple[int, dict[str, str]]:
        """The next final (non-1xx) response: status and lower-cased headers."""
        while True:
            msg = parse_message(await asyncio.wait_for(self.got.get(), 10))
            status = getattr(msg, "status", 0)
            if status >= 200:
                return status, {k.lower(): msg.header(k) for k in ("Proxy-Authenticate",) if msg.get(k)}


async def udp() -> Udp:
    """Bind a :class:`Udp` on a free loopback port."""
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_datagram_endpoint(Udp, local_addr=("127.0.0.1", 0), family=socket.AF_INET)
    return proto


async def new_call(trunk: Udp, seen: set[str]) -> str:
    """Call-ID of the next INVITE the trunk gets for a call not in ``seen`` (retransmissions skipped)."""
    while True:
        msg = parse_message(await asyncio.wait_for(trunk.got.get(), 10))
        if getattr(msg, "method", "") == "INVITE" and msg.call_id not in seen:
            return msg.call_id


def invite(port: int, sip_port: int, auth: str | None) -> bytes:
    """Agent 201's INVITE to 0312349999 (fresh Call-ID and branch), optionally with credentials."""
    sdp = (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port + 2} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    )
    lines = [
        f"INVITE sip:0312349999@127.0.0.1:{sip_port} SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{uuid.uuid4().hex};rport",
        f"From: <sip:201@127.0.0.1:{port}>;tag={uuid.uuid4().hex[:8]}",
        f"To: <sip:0312349999@127.0.0.1:{sip_port}>",
        f"Call-ID: {uuid.uuid4().hex}",
        "CSeq: 1 INVITE",
        f"Contact: <sip:201@127.0.0.1:{port}>",
        "Max-Forwards: 70",
        *([f"Proxy-Authorization: {auth}"] if auth else []),
        "Content-Type: application/sdp",
        f"Content-Length: {len(sdp)}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + sdp).encode()


async def test_replayed_proxy_authorization_is_refused(b2bua: Start, tmp_path: Path) -> None:
    """A captured Proxy-Authorization sent again gets a new 407 (stale); a fresh nc passes."""
    trunk, phone = await udp(), await udp()
    try:
        svc = await b2bua(
            [trunk.port],  # never rung here: agents' calls go to the trunk
            notice=None,
            extra=f'\n[[sip.trunks]]\nname = "main"\nhost = "127.0.0.1:{trunk.port}"\n',
            agent_password="sato-201-Kq7vX2",
        )
        sip = ("127.0.0.1", svc.sip.local[1])
        assert phone.transport is not None
        phone.transport.sendto(invite(phone.port, sip[1], None), sip)
        status, hdrs = await phone.final()
        assert status == 407
        challenge = hdrs["proxy-authenticate"]
        assert "stale" not in parse_challenge(challenge)
        uri = f"sip:0312349999@127.0.0.1:{sip[1]}"

        def cred(nc: int) -> str:
            return authorization(
                challenge, method="INVITE", uri=uri, username="201", password="sato-201-Kq7vX2", nc=nc
            )

        good = cred(1)
        phone.transport.sendto(invite(phone.port, sip[1], good), sip)
        first = await new_call(trunk, set())  # the call went out to the trunk

        phone.transport.sendto(invite(phone.port, sip[1], good), sip)  # the replay
        status, hdrs = await phone.final()
        assert status == 407
        fresh = parse_challenge(hdrs["proxy-authenticate"])
        assert fresh.get("stale", "").lower() == "true"
        assert fresh["nonce"] != parse_challenge(challenge)["nonce"]

        phone.transport.sendto(invite(phone.port, sip[1], cred(2)), sip)  # the next count is fine
        await new_call(trunk, {first})

        wrong = authorization(challenge, method="INVITE", uri=uri, username="201", password="guess", nc=3)
        phone.transport.sendto(invite(phone.port, sip[1], wrong), sip)
        status, hdrs = await phone.final()
        assert status == 407
        assert "stale" not in parse_challenge(hdrs["proxy-authenticate"])  # a bad password is not stale
    finally:
        for p in (trunk, phone):
            if p.transport is not None:
                p.transport.close()


def test_nonce_book_counts_and_expiry() -> None:
    """Each nc once and rising; no qop means single use; expired and unknown nonces fail; bounded."""
    book = NonceBook(ttl_s=10, limit=3)
    n = book.issue(now=0)
    ch = f'Digest realm="r", nonce="{n}", qop="auth"'
    a1 = authorization(ch, method="INVITE", uri="sip:x", username="u", password="p", nc=1)
    a5 = authorization(ch, method="INVITE", uri="sip:x", username="u", password="p", nc=5)
    assert book.use(a1, now=1)
    assert not book.use(a1, now=1)
    assert book.use(a5, now=2)
    assert not book.use(a1, now=2)
    plain = book.issue(now=3)
    no_qop = authorization(
        f'Digest realm="r", nonce="{plain}"', method="INVITE", uri="sip:x", username="u", password="p"
    )
    assert book.use(no_qop, now=4)
    assert not book.use(no_qop, now=4)
    late = book.issue(now=5)
    a_late = authorization(
        f'Digest realm="r", nonce="{late}", qop="auth"',
        method="INVITE",
        uri="sip:x",
        username="u",
        password="p",
    )
    assert not book.use(a_late, now=15)
    assert not book.use('Digest realm="r", nonce="never-issued", nc=00000001', now=5)
    for t in range(10):
        book.issue(now=20 + t)
    assert len(book) <= 3
