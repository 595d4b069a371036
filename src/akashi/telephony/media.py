"""The media plane: RTP ports anchored by Akashi, symmetric latching, relay without decoding.

Hot path (``RtpEndpoint.datagram_received``): no parsing, no logging, no allocation beyond what
the kernel hands us and the spool's record header.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from typing import cast

from akashi.errors import AkashiError

Addr = tuple[str, int]
_wall = time.time


class SpoolSink:
    """Where an endpoint records packets: ``append(packet, wall_time)``."""

    def append(self, data: bytes, t: float) -> None:  # pragma: no cover - interface
        """Record one packet."""
        raise NotImplementedError


class RtpEndpoint(asyncio.DatagramProtocol):
    """One anchored RTP port (one leg of a call).

    Packets arriving here are recorded (``record_in``) and sent on by ``peer`` to its remote
    address; what ``peer`` sends on is recorded there as ``record_out``.
    """

    __slots__ = (
        "forward",
        "last_rx",
        "latched",
        "on_close",
        "peer",
        "port",
        "record_in",
        "record_out",
        "remote",
        "rx_packets",
        "transport",
        "tx_packets",
    )

    def __init__(self, port: int) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.port = port
        self.remote: Addr | None = None
        self.latched = False
        self.peer: RtpEndpoint | None = None
        self.record_in: SpoolSink | None = None
        self.record_out: SpoolSink | None = None
        self.last_rx = time.time()  # wall clock, as read per packet
        self.rx_packets = 0
        self.tx_packets = 0
        self.forward = True
        self.on_close: Callable[[int], None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.on_close is not None:
            self.on_close(self.port)

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        # the hot path: one clock read, no parsing, the relay inlined (no method call per packet)
        if not self.latched:
            # symmetric RTP: send back to where the media comes from (NAT)
            self.remote = addr
            self.latched = True
        elif addr != self.remote:
            return
        self.rx_packets += 1
        self.last_rx = now = _wall()
        rec = self.record_in
        if rec is not None:
            rec.append(data, now)
        peer = self.peer
        if peer is not None and self.forward:
            remote = peer.remote
            tr = peer.transport
            if remote is not None and tr is not None:
                tr.sendto(data, remote)
                peer.tx_packets += 1
                out = peer.record_out
                if out is not None:
                    out.append(data, now)

    def send(self, data: bytes, now: float) -> None:
        """Send a packet to this leg's remote party (and record it as sent)."""
        remote = self.remote
        tr = self.transport
        if remote is None or tr is None:
            return
        tr.sendto(data, remote)
        self.tx_packets += 1
        rec = self.record_out
        if rec is not None:
            rec.append(data, now)

    def set_remote(self, addr: Addr | None) -> None:
        """A new address from SDP: send there until media arrives from elsewhere (re-latch)."""
        if addr is not None and addr[1] == 0:
            addr = None
        self.remote = addr
        self.latched = False

    def close(self) -> None:
        """Release the port."""
        self.peer = None
        self.record_in = self.record_out = None
        if self.transport is not None:
            self.transport.close()


class PortPool:
    """Even RTP ports from ``sip.rtp_ports``, bound on demand."""

    def __init__(self, host: str, ports: str) -> None:
        lo, hi = (int(p) for p in ports.split("-"))
        self.host = host
        self.free = list(range(lo + (lo & 1), hi, 2))
        random.shuffle(self.free)
        self.used: set[int] = set()

    async def open(self) -> RtpEndpoint:
        """Bind a free port."""
        loop = asyncio.get_running_loop()
        for _ in range(min(64, len(self.free))):
            port = self.free.pop(0)
            try:
                _tr, ep = await loop.create_datagram_endpoint(
                    lambda port=port: RtpEndpoint(port),  # type: ignore[misc]
                    local_addr=(self.host, port),
                )
            except OSError:
                self.free.append(port)
                continue
            self.used.add(port)
            ep.on_close = self._release
            return ep
        raise AkashiError("RTP ポートが足りません", "no free RTP port in sip.rtp_ports")

    def _release(self, port: int) -> None:
        if port in self.used:
            self.used.discard(port)
            self.free.append(port)


class NoticePlayer:
    """Plays encoded payloads to a leg as RTP packets (one per ``ptime_ms``) on an absolute schedule.

    ``payloads`` come from :func:`akashi.codecs.encode.encode`; ``step`` is the RTP timestamp
    increment per packet (160 for G.711 and G.722, 960 for Opus). A new SSRC per player; the
    first packet carries the marker bit.
    """

    def __init__(
        self,
        endpoint: RtpEndpoint,
        payloads: Sequence[bytes],
        payload_type: int,
        step: int,
        ptime_ms: int = 20,
        *,
        repeat: bool = False,
    ) -> None:
        self.repeat = repeat
        self.ep = endpoint
        self.payloads = payloads
        self.pt = payload_type
        self.step = step
        self.ptime_s = ptime_ms / 1000
        self.ssrc = random.getrandbits(32)
        self.seq = random.getrandbits(16)
        self.ts = random.getrandbits(32)

    async def play(self) -> None:
        """Send the payloads once (or in a loop until cancelled, with ``repeat``)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        chunks = self.payloads
        count = len(chunks)
        ssrc = self.ssrc.to_bytes(4, "big")
        first = bytes([0x80, 0x80 | self.pt])
        later = bytes([0x80, self.pt])
        send = self.ep.send
        i = 0
        while i < count or (self.repeat and count):
            hdr = (
                (first if i == 0 else later) + self.seq.to_bytes(2, "big") + self.ts.to_bytes(4, "big") + ssrc
            )
            send(hdr + chunks[i % count], time.time())
            self.seq = (self.seq + 1) & 0xFFFF
            self.ts = (self.ts + self.step) & 0xFFFFFFFF
            i += 1
            delay = start + i * self.ptime_s - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
