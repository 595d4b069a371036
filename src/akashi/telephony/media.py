"""The media plane: RTP ports anchored by Akashi, media accepted from the peer only, relay without decoding.

Hot path (``RtpEndpoint.datagram_received``): a few comparisons of the header, no logging, no
allocation beyond what the kernel hands us, the SSRC slice and the spool's record header.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, cast

from akashi.telephony.rtp import MAX_PACKET, header_problem
from akashi.telephony.sdp import Codec

Addr = tuple[str, int]
_wall = time.time
log = logging.getLogger(__name__)
_UNSPECIFIED = ("0.0.0.0", "::")  # noqa: S104 - the SDP hold address, not a bind
#: refusal reasons in Japanese, for the log line
_REASONS_JA = {
    "source": "想定外の送信元",
    "truncated": "ヘッダが途中で切れている",
    "too_long": "長すぎる",
    "version": "RTP バージョンが 2 でない",
    "padding": "パディングが不正",
    "payload_type": "交渉していないペイロード種別",
    "ssrc": "別の SSRC",
    "srtp": "SRTP の認証に失敗",
}


class Srtp(Protocol):
    """An SRTP session of one direction (a ``pylibsrtp.Session``)."""

    def protect(self, packet: bytes) -> bytes:  # pragma: no cover - interface
        """Encrypt and authenticate an RTP packet."""
        ...

    def unprotect(self, packet: bytes) -> bytes:  # pragma: no cover - interface
        """Check and decrypt an SRTP packet (raises on a forged or replayed one)."""
        ...


class SpoolSink:
    """Where an endpoint records packets: ``append(packet, wall_time)``."""

    def append(self, data: bytes, t: float) -> None:  # pragma: no cover - interface
        """Record one packet."""
        raise NotImplementedError


#: Addresses whose packets before the peer's SDP are held for :meth:`RtpEndpoint.forgive_early`.
EARLY_MAX = 4


class RtpEndpoint(asyncio.DatagramProtocol):
    """One anchored RTP port (one leg of a call).

    Packets arriving here are recorded (``record_in``) and sent on by ``peer`` to its remote
    address; what ``peer`` sends on is recorded there as ``record_out``.

    What is accepted (anything else is refused, counted per reason in ``refused`` and logged once
    per reason): packets from the address of the peer's SDP (``c=`` and ``m=`` port); for a phone
    behind NAT, whose SDP address is not a global one and is not where its signalling came from,
    also the first packet from the signalling's IP (any port): media latches to it and stays there
    (:func:`nat_source`). The header must be RTP version 2, complete, at most
    :data:`~akashi.telephony.rtp.MAX_PACKET` bytes, with a payload type of the negotiated codecs;
    one SSRC for audio and one for telephone-event, until the peer sends a new SDP (re-INVITE).
    """

    __slots__ = (
        "early",
        "event_pts",
        "event_tap",
        "forward",
        "label",
        "last_rx",
        "latched",
        "nat_ip",
        "on_close",
        "payload_types",
        "peer",
        "port",
        "record_in",
        "record_out",
        "refused",
        "refused_from",
        "remote",
        "rx_packets",
        "signal_ip",
        "srtp_rx",
        "srtp_tx",
        "ssrc",
        "ssrc_event",
        "tap",
        "transport",
        "tx_packets",
    )

    #: an IPv6 socket (:class:`RtpEndpoint6`)
    v6 = False
    #: the socket is in a media worker process (:class:`~akashi.telephony.mediapool.WorkerEndpoint`)
    in_worker = False

    def __init__(self, port: int) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.port = port
        self.remote: Addr | None = None
        self.latched = False
        #: "source" refusals while no remote was known, by address (at most :data:`EARLY_MAX`): the
        #: peer's own first packets, sent before Akashi read its SDP, are forgiven once it is
        self.early: dict[Addr, int] | None = None
        self.peer: RtpEndpoint | None = None
        self.record_in: SpoolSink | None = None
        self.record_out: SpoolSink | None = None
        self.last_rx = time.time()  # wall clock, as read per packet
        self.rx_packets = 0
        self.tx_packets = 0
        self.forward = True
        self.on_close: Callable[[int], None] | None = None
        #: where the peer's SIP signalling comes from (its IP): the NAT rule's anchor
        self.signal_ip: str | None = None
        #: the IP media may latch to (NAT), None when only the SDP address is accepted
        self.nat_ip: str | None = None
        #: payload types of the negotiated codecs (None: not known yet, any)
        self.payload_types: frozenset[int] | None = None
        self.event_pts: frozenset[int] = frozenset()
        self.ssrc: bytes | None = None
        self.ssrc_event: bytes | None = None
        #: refused packets by reason
        self.refused: dict[str, int] = {}
        #: the first few addresses refused packets came from (for the call's audit entry)
        self.refused_from: list[Addr] = []
        #: who this port is for, in logs ("call-id caller")
        self.label = ""
        #: SRTP of this leg (:mod:`akashi.telephony.srtp`): unprotect what arrives, protect what is sent
        self.srtp_rx: Srtp | None = None
        self.srtp_tx: Srtp | None = None
        #: called with each accepted packet (clear RTP) and its time: the operator's DTMF, live detection
        self.tap: Callable[[bytes, float], None] | None = None
        #: called with each accepted telephone-event packet only (the operator's DTMF keys): the audio
        #: packets of a plain call pass it with one membership test instead of a call per packet
        self.event_tap: Callable[[bytes, float], None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.on_close is not None:
            self.on_close(self.port)

    def datagram_received(self, data: bytes, addr: Addr) -> None:  # noqa: PLR0912 - the RTP hot path, inlined on purpose (no method call per packet)
        # the hot path: one clock read, the relay inlined (no method call per packet); the checks
        # of a usual packet (from the peer, plain header) are a few comparisons
        if addr != self.remote:
            if not self._latch(data, addr):
                return
        elif not self.latched:
            self.latched = True
        rx = self.srtp_rx
        if rx is not None:
            try:
                data = rx.unprotect(data)  # authenticated and decrypted: what is recorded is clear RTP
            except Exception:  # libsrtp's error: a forged, replayed or damaged packet
                self._refuse("srtp", addr)
                return
        n = len(data)
        if n < 12 or n > MAX_PACKET or data[0] != 0x80:
            why = header_problem(data) if 12 <= n <= MAX_PACKET else ("truncated" if n < 12 else "too_long")
            if why is not None:
                self._refuse(why, addr)
                return
        pt = data[1] & 0x7F
        pts = self.payload_types
        if pts is not None and pt not in pts:
            self._refuse("payload_type", addr)
            return
        ssrc = data[8:12]
        if ssrc != self.ssrc and not self._other_ssrc(pt, ssrc, addr):
            return
        self.rx_packets += 1
        self.last_rx = now = _wall()
        rec = self.record_in
        if rec is not None:
            rec.append(data, now)
        tap = self.tap
        if tap is not None:
            tap(data, now)
        tap = self.event_tap
        if tap is not None and pt in self.event_pts:
            tap(data, now)
        peer = self.peer
        if peer is not None and self.forward:
            remote = peer.remote
            tr = peer.transport
            if remote is not None and tr is not None:
                tx = peer.srtp_tx
                tr.sendto(data if tx is None else tx.protect(data), remote)
                peer.tx_packets += 1
                out = peer.record_out
                if out is not None:
                    out.append(data, now)

    def _latch(self, data: bytes, addr: Addr) -> bool:
        """A packet from elsewhere than the remote: latch to it when the NAT rule allows (and it is RTP)."""
        if self.latched or self.nat_ip is None or addr[0] != self.nat_ip:
            self._refuse("source", addr)
            return False
        if len(data) < 12 or header_problem(data) is not None:
            self._refuse("source", addr)  # no latching to a stray non-RTP datagram
            return False
        self.remote = addr
        self.latched = True
        return True

    def _other_ssrc(self, pt: int, ssrc: bytes, addr: Addr) -> bool:
        """A packet whose SSRC is not the audio stream's: the first stream, telephone-event's own, or refused."""
        if pt in self.event_pts:
            if self.ssrc_event is None:
                self.ssrc_event = ssrc
            if ssrc == self.ssrc_event:
                return True
        elif self.ssrc is None:
            self.ssrc = ssrc
            return True
        self._refuse("ssrc", addr)
        return False

    def _refuse(self, reason: str, addr: Addr) -> None:
        n = self.refused.get(reason, 0) + 1
        self.refused[reason] = n
        if len(self.refused_from) < 5 and addr not in self.refused_from:
            self.refused_from.append((addr[0], addr[1]))
        if reason == "source" and self.remote is None:
            early = self.early if self.early is not None else {}
            key = (addr[0], addr[1])  # an IPv6 socket's address has four parts; the SDP's two
            if key in early or len(early) < EARLY_MAX:
                early[key] = early.get(key, 0) + 1
                self.early = early
                return  # said (or forgiven) once the peer's address is known: see forgive_early
        if n == 1:  # once per reason per leg: a flood costs one line
            self._say(reason, addr)

    def _say(self, reason: str, addr: Addr) -> None:
        log.warning(
            "RTP を拒否しました（%s、%s:%d から）/ refused RTP on port %d (%s) from %s:%d%s",
            _REASONS_JA.get(reason, reason), addr[0], addr[1], self.port, reason, addr[0], addr[1],
            f" [{self.label}]" if self.label else "",
        )  # fmt: skip

    def forgive_early(self, remote: Addr | None) -> None:
        """The peer's address is now known: packets it sent before (its SDP answer raced its first RTP)
        are no longer counted as refused; those from anyone else stay, and are said now."""
        early, self.early = self.early, None
        if not early:
            return
        # the SDP's address, or the peer's signalling host when the NAT rule would latch to it now
        mine = [
            a for a in early if (remote is not None and a == (remote[0], remote[1])) or a[0] == self.nat_ip
        ]
        k = sum(early.pop(a) for a in mine)
        if k:
            left = self.refused.get("source", 0) - k
            if left > 0:
                self.refused["source"] = left
            else:
                self.refused.pop("source", None)
            self.refused_from[:] = [a for a in self.refused_from if a not in mine]
        if early:
            self._say("source", next(iter(early)))

    @property
    def refused_sources(self) -> list[str]:
        """``host:port`` of the first few addresses whose packets were refused."""
        return [f"{h}:{p}" for h, p in self.refused_from]

    def send(self, data: bytes, now: float) -> None:
        """Send a packet to this leg's remote party (and record it as sent)."""
        remote = self.remote
        tr = self.transport
        if remote is None or tr is None:
            return
        tx = self.srtp_tx
        tr.sendto(data if tx is None else tx.protect(data), remote)
        self.tx_packets += 1
        rec = self.record_out
        if rec is not None:
            rec.append(data, now)

    def reaches(self, address: str) -> bool:
        """Whether this port can send to ``address`` (same IP version; the hold address always)."""
        return address in _UNSPECIFIED or (":" in address) == self.v6

    def set_remote(self, addr: Addr | None, codecs: Iterable[Codec] | None = None) -> None:
        """A new SDP from the peer (offer, answer or re-INVITE): media from its address only.

        ``codecs``: what the peer may send now (kept as they were when None). The SSRCs are learnt
        again from the next packets. An SDP with the hold address (``0.0.0.0``) keeps the
        addresses as they were.
        """
        if codecs is not None:
            self.allow(codecs)
        self.ssrc = self.ssrc_event = None
        if addr is not None and addr[0] in _UNSPECIFIED:
            return
        if addr is not None and addr[1] == 0:
            addr = None
        self.remote = addr
        self.latched = False
        self.nat_ip = nat_source(addr[0] if addr else None, self.signal_ip)
        self.forgive_early(addr)

    def allow(self, codecs: Iterable[Codec]) -> None:
        """The payload types accepted: those of ``codecs`` (telephone-event ones keep their own SSRC)."""
        codecs = list(codecs)
        self.payload_types = frozenset(c.pt for c in codecs)
        self.event_pts = frozenset(c.pt for c in codecs if c.is_dtmf)

    async def closed_fully(self, timeout: float = 2.0) -> None:
        """After :meth:`close`: return once the port's counters are final (at once in this process)."""
        return

    async def play_there(self, player: NoticePlayer) -> None:
        """Have the media worker that holds this port play ``player``'s payloads (workers only)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the port."""
        self.peer = None
        self.record_in = self.record_out = None
        self.tap = self.event_tap = None
        if self.transport is not None:
            self.transport.close()


class RtpEndpoint6(RtpEndpoint):
    """An RTP port on Akashi's IPv6 address (for a peer whose SDP says ``c=IN IP6``)."""

    __slots__ = ()
    v6 = True

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        # IPv6 sources are (host, port, flowinfo, scope_id): compared as (host, port)
        super().datagram_received(data, (addr[0], addr[1]))


def nat_source(sdp_ip: str | None, signal_ip: str | None) -> str | None:
    """The IP media may latch to besides the SDP address (symmetric RTP for a phone behind NAT).

    A phone behind NAT writes its private address in its SDP; its media then comes from the NAT's
    public address, which is where its SIP came from. So when the SDP address is not a global
    (routable) one and differs from the signalling's IP, media may come from the signalling's IP,
    any port (the NAT picks it): the first RTP packet from there is latched to. Without an SDP
    address (none yet, port 0) the signalling's IP is the only one. A global SDP address (a
    trunk's media server, a phone with a public address) is taken as it is: nothing latches.
    """
    if not signal_ip:
        return None
    if sdp_ip is None:
        return signal_ip
    if sdp_ip == signal_ip:
        return None
    try:
        ip = ipaddress.ip_address(sdp_ip)
    except ValueError:
        return None
    return None if ip.is_global else signal_ip


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
        if self.ep.in_worker:  # the worker that holds the port sends them, on its own clock
            await self.ep.play_there(self)
            return
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
