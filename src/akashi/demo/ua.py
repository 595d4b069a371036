"""The demo's SIP user agents: a caller that dials Akashi and an operator's phone that answers it.

Both speak real SIP over UDP on loopback with the project's own message, SDP and RTP code, and send
G.711 μ-law from a prepared track. A caller and its operator share a :class:`Talk`: each starts its
side of the script when the operator's answer is acknowledged (the moment Akashi bridges them), so the
recording has the turns in the order of the script.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import cast

from akashi.telephony.rtp import RtpPacket
from akashi.telephony.sdp import AudioSession, Codec, SdpError, parse_sdp
from akashi.telephony.sip.build import new_branch, new_call_id, new_tag, request, response_to
from akashi.telephony.sip.grammar import SipParseError
from akashi.telephony.sip.message import Request, Response, SipMessage, parse

log = logging.getLogger(__name__)

PCMU = Codec(0, "PCMU", 8000)
FRAME = 160  # 20 ms of 8 kHz μ-law
SILENCE = b"\xff" * FRAME
T1 = 0.5  # RFC 3261 retransmission base over UDP
#: how long a call may take to be answered (the notice plays first) before the caller gives up
ANSWER_TIMEOUT_S = 90.0


class DemoCallError(Exception):
    """A demo call that could not be made (the reason in words)."""


@dataclass
class Talk:
    """What one demo call says: the caller's and the operator's tracks (μ-law, same timeline)."""

    customer: bytes
    operator: bytes
    #: set when the operator's 200 OK is acknowledged: both sides start speaking
    bridged: asyncio.Event = field(default_factory=asyncio.Event)
    #: set when the operator's side has ended (BYE received)
    operator_done: asyncio.Event = field(default_factory=asyncio.Event)


def sdp_offer(host: str, port: int) -> bytes:
    """A PCMU-only audio offer or answer at ``host:port``."""
    sid = secrets.randbelow(2**31)
    return AudioSession(host, port, [PCMU], origin_user="demo", session_id=sid, version=sid).to_bytes()


class _Rtp(asyncio.DatagramProtocol):
    """One RTP port: sends a track in real time, drops what it receives."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.ssrc = secrets.randbits(32)
        self.seq = secrets.randbelow(2**16)
        self.ts = secrets.randbits(32)
        self.received = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received += 1

    @property
    def port(self) -> int:
        """The bound port."""
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def send(self, dest: tuple[str, int], payload: bytes) -> None:
        """Send one 20 ms frame."""
        if self.transport is None or self.transport.is_closing():
            return
        pkt = RtpPacket(0, self.seq, self.ts, self.ssrc, payload)
        self.transport.sendto(bytes(pkt), dest)
        self.seq = (self.seq + 1) & 0xFFFF
        self.ts = (self.ts + FRAME) & 0xFFFFFFFF

    async def stream(self, dest: tuple[str, int], track: bytes, stop: asyncio.Event) -> None:
        """Send ``track`` paced at 20 ms per frame (silence when empty) until it ends or ``stop``."""
        start = time.monotonic()
        frames = (len(track) + FRAME - 1) // FRAME
        for i in range(frames):
            if stop.is_set():
                return
            chunk = track[i * FRAME : (i + 1) * FRAME]
            self.send(dest, chunk.ljust(FRAME, b"\xff"))
            delay = start + (i + 1) * 0.02 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    async def silence_until(self, dest: tuple[str, int], until: asyncio.Event) -> None:
        """Keep the port alive with silence until ``until`` is set (Akashi times out a mute leg)."""
        start = time.monotonic()
        i = 0
        while not until.is_set():
            self.send(dest, SILENCE)
            i += 1
            delay = start + i * 0.02 - time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(until.wait(), max(delay, 0.0))

    def close(self) -> None:
        """Close the port."""
        if self.transport is not None:
            self.transport.close()


class _Sip(asyncio.DatagramProtocol):
    """A UDP SIP socket that hands every parsed message to a queue."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.inbox: asyncio.Queue[SipMessage] = asyncio.Queue()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            msg = parse(data)
        except SipParseError:
            return
        msg.source = addr
        self.inbox.put_nowait(msg)

    @property
    def port(self) -> int:
        """The bound port."""
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def send(self, msg: SipMessage, dest: tuple[str, int]) -> None:
        """Send one message."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(bytes(msg), dest)

    def close(self) -> None:
        """Close the socket."""
        if self.transport is not None:
            self.transport.close()


async def _open(host: str) -> tuple[_Sip, _Rtp]:
    loop = asyncio.get_running_loop()
    _t1, sip = await loop.create_datagram_endpoint(_Sip, local_addr=(host, 0))
    _t2, rtp = await loop.create_datagram_endpoint(_Rtp, local_addr=(host, 0))
    return sip, rtp


def _remote_media(msg: SipMessage) -> tuple[str, int]:
    try:
        sdp = parse_sdp(msg.body)
    except SdpError as exc:
        raise DemoCallError(f"unusable SDP from Akashi: {exc}") from None
    return sdp.address, sdp.port


def _contact_uri(msg: SipMessage) -> str | None:
    value = msg.get("Contact")
    if not value:
        return None
    if "<" in value:
        return value[value.index("<") + 1 : value.index(">")]
    return value.split(";", 1)[0].strip()


class Caller:
    """A customer's phone: dials ``number`` at Akashi, says its side of ``talk``, hangs up."""

    def __init__(
        self, akashi: tuple[str, int], number: str, caller: str, talk: Talk, host: str = "127.0.0.1"
    ):
        self.akashi = akashi
        self.number = number
        self.caller = caller
        self.talk = talk
        self.host = host
        self._bye_answers: asyncio.Queue[Response] = asyncio.Queue()

    async def run(self) -> None:
        """Make the call; raises :class:`DemoCallError` when Akashi refuses it."""
        sip, rtp = await _open(self.host)
        try:
            await self._call(sip, rtp)
        finally:
            sip.close()
            rtp.close()

    async def _call(self, sip: _Sip, rtp: _Rtp) -> None:
        host, port = self.akashi
        uri = f"sip:{self.number}@{host}:{port}"
        call_id = new_call_id(self.host)
        from_ = f"<sip:{self.caller}@{self.host}>;tag={new_tag()}"
        via = f"SIP/2.0/UDP {self.host}:{sip.port};branch={new_branch()};rport"
        invite = request(
            "INVITE",
            uri,
            via=via,
            from_=from_,
            to=f"<sip:{self.number}@{host}>",
            call_id=call_id,
            cseq=1,
            contact=f"<sip:{self.caller}@{self.host}:{sip.port}>",
            body=sdp_offer(self.host, rtp.port),
            content_type="application/sdp",
        )
        answer = await self._invite(sip, invite)
        to = answer.header("To")
        target = _contact_uri(answer) or uri
        ack = request(
            "ACK", target, via=_via(self.host, sip.port), from_=from_, to=to, call_id=call_id, cseq=1
        )
        sip.send(ack, self.akashi)
        media = _remote_media(answer)
        hung_up = asyncio.Event()
        keepalive = asyncio.create_task(rtp.silence_until(media, self.talk.bridged))
        watcher = asyncio.create_task(self._watch(sip, answer, ack, hung_up))
        try:
            bridged = asyncio.create_task(self.talk.bridged.wait())
            ended = asyncio.create_task(hung_up.wait())
            await asyncio.wait(
                {bridged, ended}, timeout=ANSWER_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
            )
            bridged.cancel()
            ended.cancel()
            if hung_up.is_set():
                raise DemoCallError("Akashi hung up before an operator answered")
            if not self.talk.bridged.is_set():
                raise DemoCallError("no operator answered")
            await rtp.stream(media, self.talk.customer, hung_up)
            if hung_up.is_set():
                return
            bye = request(
                "BYE", target, via=_via(self.host, sip.port), from_=from_, to=to, call_id=call_id, cseq=2
            )
            await self._transaction(sip, bye)
        finally:
            self.talk.bridged.set()  # never leave the keep-alive running
            for t in (keepalive, watcher):
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await t

    async def _invite(self, sip: _Sip, invite: Request) -> Response:
        """Send the INVITE (retransmitted until a provisional answer) and wait for its final answer."""
        sip.send(invite, self.akashi)
        provisional = False
        interval = T1
        deadline = time.monotonic() + ANSWER_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                msg = await asyncio.wait_for(sip.inbox.get(), interval if not provisional else 5.0)
            except TimeoutError:
                if not provisional:
                    sip.send(invite, self.akashi)
                    interval = min(interval * 2, 4.0)
                continue
            if not isinstance(msg, Response) or msg.call_id != invite.call_id:
                continue
            if msg.status < 200:
                provisional = True
                continue
            if msg.status >= 300:
                ack = request(
                    "ACK",
                    invite.uri,
                    via=invite.header("Via"),
                    from_=invite.header("From"),
                    to=msg.header("To"),
                    call_id=invite.call_id,
                    cseq=1,
                )
                sip.send(ack, self.akashi)
                raise DemoCallError(f"Akashi answered {msg.status} {msg.reason}")
            return msg
        raise DemoCallError("Akashi did not answer the INVITE")

    async def _watch(self, sip: _Sip, answer: Response, ack: Request, hung_up: asyncio.Event) -> None:
        """Answer what Akashi sends during the call: its BYE, retransmitted 200 OKs, other requests."""
        while True:
            msg = await sip.inbox.get()
            if isinstance(msg, Response):
                if msg.status == 200 and msg.cseq == (1, "INVITE"):
                    sip.send(ack, self.akashi)  # our ACK was lost: Akashi repeats its answer
                elif msg.cseq[1] == "BYE":
                    self._bye_answers.put_nowait(msg)
                continue
            if not isinstance(msg, Request) or msg.call_id != answer.call_id:
                continue
            body = b""
            if msg.method in ("INVITE", "UPDATE") and msg.body:
                body = sdp_offer(self.host, 0)  # not expected in a demo; keeps the dialog alive
            if msg.method != "ACK":
                sip.send(
                    response_to(msg, 200, body=body, content_type="application/sdp" if body else None),
                    _src(msg),
                )
            if msg.method == "BYE":
                hung_up.set()

    async def _transaction(self, sip: _Sip, req: Request) -> None:
        """Send a BYE (retransmitted) until its answer arrives (through :meth:`_watch`)."""
        interval = T1
        for _ in range(7):
            sip.send(req, self.akashi)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._bye_answers.get(), interval)
                return
            interval = min(interval * 2, 4.0)
        log.warning("demo caller %s: no answer to BYE", self.caller)


class OperatorPhone:
    """An operator's phone on its own port: rings, answers after ``ring_s`` and says its side of ``talk``."""

    def __init__(self, talk: Talk, ring_s: float = 1.5, host: str = "127.0.0.1") -> None:
        self.talk = talk
        self.ring_s = ring_s
        self.host = host
        self.sip: _Sip | None = None
        self.rtp: _Rtp | None = None

    async def open(self) -> int:
        """Bind the phone's SIP and RTP ports; returns the SIP port (for the route's ring URI)."""
        self.sip, self.rtp = await _open(self.host)
        return self.sip.port

    def close(self) -> None:
        """Close the phone's ports."""
        for p in (self.sip, self.rtp):
            if p is not None:
                p.close()

    async def run(self, stop: asyncio.Event) -> None:  # noqa: PLR0912, PLR0915 - the scripted operator phone: one linear script of SIP and media steps
        """Answer one call and play the operator's side until Akashi's BYE (or ``stop``)."""
        assert self.sip is not None and self.rtp is not None
        sip, rtp = self.sip, self.rtp
        invite: Request | None = None
        last: Response | None = None
        tag = new_tag()
        media: tuple[str, int] | None = None
        speaking: asyncio.Task[None] | None = None
        answer_at: float | None = None
        retransmit_at = 0.0
        interval = T1
        try:
            while not stop.is_set() and not self.talk.operator_done.is_set():
                now = time.monotonic()
                waits = [1.0]
                if answer_at is not None:
                    waits.append(answer_at - now)
                if last is not None and last.status == 200 and not self.talk.bridged.is_set():
                    waits.append(retransmit_at - now)
                try:
                    msg = await asyncio.wait_for(sip.inbox.get(), max(0.0, min(waits)))
                except TimeoutError:
                    msg = None
                now = time.monotonic()
                if msg is None:
                    if invite is not None and answer_at is not None and now >= answer_at:
                        answer_at = None
                        last = response_to(
                            invite,
                            200,
                            to_tag=tag,
                            contact=f"<sip:operator@{self.host}:{sip.port}>",
                            body=sdp_offer(self.host, rtp.port),
                            content_type="application/sdp",
                        )
                        sip.send(last, _src(invite))
                        retransmit_at, interval = now + T1, T1
                    elif (
                        last is not None
                        and invite is not None
                        and not self.talk.bridged.is_set()
                        and now >= retransmit_at
                    ):
                        sip.send(last, _src(invite))
                        interval = min(interval * 2, 4.0)
                        retransmit_at = now + interval
                    continue
                if not isinstance(msg, Request):
                    continue
                if msg.method == "INVITE" and invite is None:
                    invite = msg
                    media = _remote_media(msg)
                    last = response_to(msg, 180, to_tag=tag)
                    sip.send(last, _src(msg))
                    answer_at = now + self.ring_s
                elif invite is not None and msg.call_id != invite.call_id:
                    sip.send(response_to(msg, 486, to_tag=new_tag()), _src(msg))  # one call per phone
                elif (
                    msg.method == "INVITE"
                    and invite is not None
                    and last is not None
                    and msg.cseq == invite.cseq
                ):
                    sip.send(last, _src(msg))  # a retransmitted INVITE gets the last answer again
                elif msg.method == "ACK":
                    if not self.talk.bridged.is_set() and media is not None:
                        self.talk.bridged.set()
                        speaking = asyncio.create_task(
                            rtp.stream(media, self.talk.operator, self.talk.operator_done)
                        )
                elif msg.method == "CANCEL" and invite is not None:
                    sip.send(response_to(msg, 200), _src(msg))
                    sip.send(response_to(invite, 487, to_tag=tag), _src(invite))
                    self.talk.operator_done.set()
                elif msg.method == "BYE":
                    sip.send(response_to(msg, 200), _src(msg))
                    self.talk.operator_done.set()
                else:  # session refresh, OPTIONS, INFO: accepted as they are
                    body = (
                        sdp_offer(self.host, rtp.port)
                        if msg.method in ("INVITE", "UPDATE") and msg.body
                        else b""
                    )
                    sip.send(
                        response_to(msg, 200, body=body, content_type="application/sdp" if body else None),
                        _src(msg),
                    )
        finally:
            self.talk.operator_done.set()
            if speaking is not None:
                speaking.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await speaking


def _via(host: str, port: int) -> str:
    return f"SIP/2.0/UDP {host}:{port};branch={new_branch()};rport"


def _src(msg: SipMessage) -> tuple[str, int]:
    assert msg.source is not None
    return msg.source
