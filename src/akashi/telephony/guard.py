"""Live protection on one call (issue 14): the operator's key, warnings, the final message, timers.

:class:`CallGuard` is the I/O side of the machine's live-protection effects (:class:`Mark`,
:class:`Play`, :class:`Arm`, :class:`Transfer`); the decisions stay in
:class:`~akashi.telephony.call.machine.CallMachine`. It reads the operator's DTMF (RFC 4733 packets
tapped off the relay, SIP INFO bodies) into protection-key presses; the DTMF itself is relayed to
the other side as before.

A message plays to the caller and to the operator at once while the relay between them is held,
so the caller hears it and what the caller heard, the recording's right channel, holds it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Protocol

from akashi.codecs import g711
from akashi.errors import ProtocolError
from akashi.telephony.call.facts import CallEvent
from akashi.telephony.call.machine import (
    Arm,
    CallMachine,
    Mark,
    MessageKind,
    Play,
    Protect,
    Protection,
    Transfer,
)
from akashi.telephony.dtmf import KeyDetector, info_key
from akashi.telephony.live import LiveEvent, flag_detail
from akashi.telephony.media import NoticePlayer
from akashi.telephony.protect import AutoWarning, KeySequence
from akashi.telephony.recorder import now
from akashi.telephony.rtp import RtpPacket
from akashi.telephony.transfer import transfer

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from akashi.config.telephony import RouteSettings
    from akashi.telephony.call.host import CallHost, LiveTap
    from akashi.telephony.call.runner import CallRunner
    from akashi.telephony.media import RtpEndpoint
    from akashi.telephony.recorder import CallMeta, CallSpool
    from akashi.telephony.sdp import Codec
    from akashi.telephony.sip.message import Request

log = logging.getLogger(__name__)

#: timeline kinds the board hears of as they happen (the others reach it with the call's end)
PUBLISHED = frozenset({"key", "warning", "long_call", "flag"})
#: the DTMF bodies of SIP INFO
DTMF_TYPES = ("application/dtmf-relay", "application/dtmf")


class GuardedCall(Protocol):
    """What the guard reads and drives of its call."""

    host: CallHost
    route: RouteSettings
    meta: CallMeta
    spool: CallSpool | None
    machine: CallMachine
    runner: CallRunner
    a_rtp: RtpEndpoint | None
    b_rtp: RtpEndpoint | None
    codec: Codec

    @property
    def call_id(self) -> str:
        """The caller's Call-ID."""

    @property
    def ended(self) -> asyncio.Event:
        """Set when the call is over."""


class CallGuard:
    """The protection key, the messages and the long-call timers of one call."""

    def __init__(self, call: GuardedCall) -> None:
        self.call = call
        self.keys = KeySequence(call.route.protection_key)
        self.detector = KeyDetector()
        self.auto = AutoWarning(call.route.auto_warning_flags, call.route.auto_warning_window_s)
        self._player: asyncio.Task[None] | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self._tasks: set[asyncio.Task[None]] = set()
        #: the operator's media port (its telephone-event packets are read), set when bridged
        self.operator: RtpEndpoint | None = None
        #: live detection hearing the customer (told when the call ends)
        self.heard_by: LiveTap | None = None

    # -- the operator's keys --------------------------------------------------------------
    def operator_packet(self, data: bytes, t: float) -> None:
        """An RTP packet from the operator's leg (the relay's tap): telephone-event ones are read."""
        b = self.operator
        if b is None or (data[1] & 0x7F) not in b.event_pts:
            return
        try:
            pkt = RtpPacket.parse(data)
            keys = self.detector.feed(pkt.timestamp, pkt.payload)
        except ProtocolError:
            return  # a damaged event is relayed as it is and counts for nothing here
        for k in keys:
            self.key(k, t)

    def info(self, req: Request) -> None:
        """A SIP INFO from the operator's leg: its DTMF key, when it carries one."""
        ctype = req.header("Content-Type") or ""
        if ctype.split(";", 1)[0].strip().lower() not in DTMF_TYPES:
            return
        try:
            key = info_key(ctype, req.body)
        except ProtocolError:
            return
        self.key(key, now())

    def key(self, key: str, at: float) -> None:
        """One key of the operator: a complete protection sequence goes to the machine."""
        if self.keys.feed(key):
            self.protect(Protect("key", at, "operator"))

    def protect(self, ev: Protect) -> bool:
        """A protection event for the machine; False when the call could not take it."""
        m = self.call.machine
        if not m.live:
            return False
        effects = m.on_protect(ev)
        self.call.runner.execute(effects)
        return bool(effects)

    def flag(self, severity: str, text: str, at: float, categories: Sequence[str] = ()) -> None:
        """A live detection result: on the timeline and the board; the route's warning policy decides.

        ``at`` is when the utterance ended (``said_at``: the board's alert latency is measured from it);
        ``category`` names what was found (脅迫, 暴言...; several joined by 「、」).
        """
        policy = self.call.route.warning
        detail = flag_detail(severity, text, at, categories)
        if policy == "ask" and severity == "severe":
            detail["ask"] = "1"  # the board shows the warn button
        self.mark("flag", "live", detail)
        if policy == "auto" and self.auto.feed(severity, at):
            self.protect(Protect("auto", at, "auto"))

    # -- the machine's effects --------------------------------------------------------------
    def execute(self, e: Mark | Play | Transfer | Arm) -> None:
        """Carry out one live-protection effect."""
        if isinstance(e, Mark):
            self.mark(e.kind, e.by, dict(e.detail))
        elif isinstance(e, Play):
            if self._player is not None:
                self._player.cancel()  # the final message replaces a warning still playing
            self._player = asyncio.get_running_loop().create_task(self._play(e.kind))
        elif isinstance(e, Arm):
            loop = asyncio.get_running_loop()
            self._timers.append(loop.call_later(e.after_s, self._fire, e))
        else:
            task = asyncio.get_running_loop().create_task(transfer(self.call, self, self.call.route))  # type: ignore[arg-type]
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def mark(self, kind: str, by: str, detail: dict[str, str]) -> None:
        """A step on the call's timeline (stored with the call, put in the ledger), told to the board."""
        call = self.call
        ev = CallEvent(kind=kind, at=now(), by=by, detail=detail)
        call.meta.extra.timeline = [*(call.meta.extra.timeline or []), ev]
        if call.spool is not None:
            call.spool.save()
        log.info("call %s: %s by %s %s", call.call_id, kind, by or "-", detail)
        if kind in PUBLISHED:
            self.publish(kind, ev.at, {**detail, "by": by})

    def publish(self, kind: str, at: float, detail: dict[str, str]) -> None:
        """Tell the board (non-blocking)."""
        meta = self.call.meta
        event = LiveEvent(
            call_id=self.call.call_id,
            kind=kind,  # type: ignore[arg-type]
            at=at,
            site=meta.site,
            caller=meta.caller,
            agent=meta.agent,
            direction=meta.direction,
            detail=detail,
        )
        try:
            self.call.host.live.publish(event)
        except Exception:  # the board is down: the call and its evidence go on
            log.exception("live event not published")

    def _fire(self, arm: Arm) -> None:
        m = self.call.machine
        if m.live:
            self.call.runner.execute(m.on_timer(arm.kind))

    async def _play(self, kind: MessageKind) -> None:  # noqa: PLR0912 - picks the message, plays it to both sides, then records how it ended
        call = self.call
        r = call.route
        if kind == "warning":
            text, audio = r.warning_text, r.warning_audio
        elif kind == "final":
            text, audio = r.final_text, r.final_audio
        else:
            k = call.machine.protection.long_end_after_s / 60
            text, audio = r.long_call_text.replace("{minutes}", f"{k:g}"), r.long_call_audio
        a, b = call.a_rtp, call.b_rtp
        try:
            if a is None or b is None:
                raise RuntimeError("no media")
            enc = await call.host.notices.message(text, audio, call.codec)
            pt, step = call.codec.pt, enc.step
            a.forward = b.forward = False  # each side hears the message, not the other, meanwhile
            try:
                plays = [
                    asyncio.ensure_future(NoticePlayer(ep, enc.payloads, pt, step).play()) for ep in (a, b)
                ]
                ended = asyncio.ensure_future(call.ended.wait())
                try:
                    await asyncio.wait([*plays, ended], return_when=asyncio.FIRST_COMPLETED)
                    if not ended.done():
                        await asyncio.wait(plays)
                finally:
                    for t in (*plays, ended):
                        t.cancel()
            finally:
                if not call.ended.is_set():
                    a.forward = b.forward = True
            played = {"message": kind, "duration_s": f"{enc.duration_s:.2f}"}
            if call.ended.is_set():
                played["cut"] = "1"  # the call ended while it played
            self.mark("played", "akashi", played)
        except asyncio.CancelledError:
            raise
        # no audio (a codec Akashi cannot encode, a missing WAV): the call goes on, the timeline says so
        except Exception as exc:
            log.warning("call %s: %s message not played: %s", call.call_id, kind, exc)
            self.mark("message_failed", "akashi", {"message": kind, "error": str(exc)[:200]})
        if kind == "final" and call.machine.live:
            call.runner.execute(call.machine.on_media_event("final_done"))

    def close(self) -> None:
        """The call is over: timers and a message still playing stop."""
        for h in self._timers:
            h.cancel()
        self._timers.clear()
        if self._player is not None:
            self._player.cancel()
        if self.heard_by is not None:
            try:
                self.heard_by.end(self.call.call_id)
            except Exception:  # live detection must never keep a call from being stored
                log.exception("live tap end failed")
            self.heard_by = None


def protection_of(route: RouteSettings) -> Protection:
    """The machine's view of a route's live-protection settings (minutes become seconds)."""
    return Protection(
        window_s=route.protection_window_s,
        second=route.protection_second,
        long_alert_s=route.long_call_alert_min * 60,
        long_warn_s=route.long_call_warn_min * 60,
        long_end_after_s=route.long_call_end_after_min * 60 if route.long_call_warn_min else 0.0,
    )


def start_live(guard: CallGuard, operator: RtpEndpoint | None, customer: RtpEndpoint | None) -> None:
    """The call is bridged: read the operator's DTMF, feed live detection, tell the board."""
    call = guard.call
    guard.operator = operator
    if operator is not None:
        operator.event_tap = guard.operator_packet  # telephone-event packets only
    tap = call.host.live_tap
    codec = call.codec.name.upper()
    # route.live: None follows the tap (there is one when the transcriber runs on this host)
    if (
        tap is not None
        and call.route.live is not False
        and customer is not None
        and codec in ("PCMU", "PCMA")
    ):
        tap.begin(call.call_id, call.meta.site)
        customer.tap = customer_tap(tap, call.call_id, codec, customer)
        guard.heard_by = tap
    guard.publish("answered", now(), {})


def customer_tap(tap: LiveTap, call_id: str, codec: str, ep: RtpEndpoint) -> Callable[[bytes, float], None]:
    """The relay's per-packet hook for live detection: the customer's audio as 16-bit PCM."""

    def audio(data: bytes, t: float) -> None:
        if (data[1] & 0x7F) in ep.event_pts:
            return
        payload = data[12:] if data[0] == 0x80 else _payload(data)
        if payload:
            try:
                tap.audio(call_id, "customer", g711.decode(payload, codec).tobytes(), t)
            except Exception:  # live detection must never break the relay
                log.debug("live tap failed", exc_info=True)

    return audio


def _payload(data: bytes) -> bytes:
    try:
        return RtpPacket.parse(data).payload
    except ProtocolError:
        return b""
