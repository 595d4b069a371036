"""A raw-socket SIP client for the attack tests: hand-made INVITEs from any loopback address."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import cast

from akashi.telephony.sip.grammar import SipParseError
from akashi.telephony.sip.message import Response, parse

SDP = (
    "v=0\r\no=raw 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
    "m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


class RawSip(asyncio.DatagramProtocol):
    """A UDP socket that sends hand-written requests and keeps every response by Call-ID."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.responses: dict[str, list[Response]] = {}
        self.arrived = asyncio.Event()
        #: each INVITE's branch and From (a CANCEL repeats them)
        self.branches: dict[str, str] = {}
        self.froms: dict[str, str] = {}
        #: each INVITE as sent (to retransmit it)
        self.sent: dict[str, str] = {}

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
        if isinstance(msg, Response):
            self.responses.setdefault(msg.call_id, []).append(msg)
            self.arrived.set()

    def invite(self, dest: tuple[str, int], number: str = "0312345678", *, sdp: bool = True) -> str:
        """Send a new INVITE (with an offer unless ``sdp`` is False); its Call-ID."""
        ip, port = self.local
        call_id = f"raw-{secrets.token_hex(8)}@{ip}"
        branch = f"z9hG4bK{secrets.token_hex(8)}"
        tag = secrets.token_hex(4)
        self.branches[call_id] = branch
        body = SDP.format(ip=ip, port=port + 2) if sdp else ""
        ctype = "Content-Type: application/sdp\r\n" if sdp else ""
        msg = (
            f"INVITE sip:{number}@{dest[0]}:{dest[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {ip}:{port};branch={branch};rport\r\n"
            f"From: <sip:0901234567@{ip}>;tag={tag}\r\n"
            f"To: <sip:{number}@{dest[0]}>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:0901234567@{ip}:{port}>\r\nMax-Forwards: 70\r\n"
            f"{ctype}Content-Length: {len(body)}\r\n\r\n{body}"
        )
        self.froms[call_id] = f"<sip:0901234567@{ip}>;tag={tag}"
        self.sent[call_id] = msg
        self._send(msg, dest)
        return call_id

    def resend(self, dest: tuple[str, int], call_id: str) -> None:
        """Send an INVITE again, byte for byte (a retransmission: same branch)."""
        self._send(self.sent[call_id], dest)

    def cancel(self, dest: tuple[str, int], call_id: str, number: str = "0312345678") -> None:
        """CANCEL an INVITE sent by :meth:`invite` (same branch, RFC 3261 9.1)."""
        ip, port = self.local
        msg = (
            f"CANCEL sip:{number}@{dest[0]}:{dest[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {ip}:{port};branch={self.branches[call_id]};rport\r\n"
            f"From: {self.froms[call_id]}\r\nTo: <sip:{number}@{dest[0]}>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 CANCEL\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        self._send(msg, dest)

    def _send(self, text: str, dest: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(text.encode(), dest)

    def statuses(self, call_id: str) -> list[int]:
        """Statuses received for a call so far."""
        return [r.status for r in self.responses.get(call_id, [])]

    async def wait_for(self, call_id: str, at_least: int, timeout: float = 10.0) -> Response:
        """The first response of ``call_id`` with a status >= ``at_least`` (waits up to ``timeout``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for r in self.responses.get(call_id, []):
                if r.status >= at_least:
                    return r
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"no response >= {at_least} for {call_id}: {self.statuses(call_id)}")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), left)

    def close(self) -> None:
        """Close the socket."""
        if self.transport is not None:
            self.transport.close()


@contextlib.asynccontextmanager
async def raw_sip(ip: str = "127.0.0.1") -> AsyncIterator[RawSip]:
    """A raw SIP client bound to ``ip`` (any 127.x.y.z works on Linux: another "source address")."""
    loop = asyncio.get_running_loop()
    _t, peer = await loop.create_datagram_endpoint(RawSip, local_addr=(ip, 0))
    try:
        yield peer
    finally:
        peer.close()
