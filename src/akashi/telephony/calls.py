"""An inbound call through the B2BUA: answer, notice, ring, bridge, hang up, record."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from akashi.codecs.encode import can_encode, encodable_names
from akashi.errors import ProtocolError
from akashi.telephony.call.facts import CodecFacts, Failure
from akashi.telephony.call.host import ALLOW
from akashi.telephony.call.machine import (
    INBOUND,
    CallMachine,
    Direction,
    InDialog,
    LegAnswered,
    LegsFailed,
    Source,
)
from akashi.telephony.call.numbers import dialled
from akashi.telephony.call.runner import CallRunner
from akashi.telephony.call.state import LIVE, CallState
from akashi.telephony.dialog import Dialog
from akashi.telephony.identity import inbound_caller, trusted_source
from akashi.telephony.legmedia import (
    IPV6_WARNING,
    caller_srtp,
    our_crypto,
    refuse_offer,
    take_leg_answer,
)
from akashi.telephony.legs import LegState, OutLeg
from akashi.telephony.media import NoticePlayer, RtpEndpoint
from akashi.telephony.recorder import CallMeta, CallSpool, now
from akashi.telephony.ringing import final_status, ring
from akashi.telephony.sdp import (
    AudioSession,
    Codec,
    answer_direction,
    choose_codecs,
    is_g711,
    late_offer,
    parse_sdp,
    sdp_warning,
)
from akashi.telephony.sip.build import new_tag, response_to
from akashi.telephony.sip.message import Request
from akashi.telephony.sip.uri import parse_name_addr
from akashi.telephony.timers import CallTimers

if TYPE_CHECKING:
    from akashi.config.telephony import AnnouncementSettings, RouteSettings
    from akashi.telephony.call.host import CallHost
    from akashi.telephony.sip.digest import Credentials
    from akashi.telephony.srtp import LegCrypto

log = logging.getLogger(__name__)


class InboundCall:
    """One call from the trunk to the operators."""

    #: who is on the A (calling) and B (called) side, and when the notice plays
    direction: Direction = INBOUND
    a_side = INBOUND.a_side
    b_side = INBOUND.b_side

    def __init__(self, host: CallHost, invite: Request, route: RouteSettings) -> None:
        self.host = host
        self.invite = invite
        self.route = route
        #: the call's state and decisions (sans-I/O), and what carries out its effects
        self.machine = CallMachine(self.direction)
        self.runner = CallRunner(self)
        #: a message the machine asked for that the call's task plays ("unavailable"), "" when none
        self.message_due = ""
        self.local_tag = new_tag()
        self.a: Dialog = Dialog.from_uas(invite, self.local_tag, host.via_host, host.contact)
        self.a_rtp: RtpEndpoint | None = None
        self.b_rtp: RtpEndpoint | None = None
        self.legs: list[OutLeg] = []
        self.leg: OutLeg | None = None  # the answered one
        self.a_answered = False
        #: set as the call leaves its live states (waiters wake up)
        self.ended = asyncio.Event()
        self.sdp_version = random.randint(1, 1 << 30)
        self.sdp_session = random.randint(1, 1 << 30)
        self.on_hold = False
        self.pending: dict[str, Request] = {}
        #: a late offer (INVITE without SDP): set when the caller's answer came in the ACK
        self.late_answer: asyncio.Event | None = None if invite.body else asyncio.Event()
        settings = host.settings
        trusted = trusted_source(invite.source, settings.trunks, settings.inbound_networks)
        caller, withheld = inbound_caller(invite, trusted)
        self.meta = CallMeta(
            started_at=now(),
            caller=caller,
            dialled=dialled(invite),
            call_ids=[invite.call_id],
            site=route.site,
        )
        if withheld:
            self.meta.extra.caller_withheld = True
        self.spool: CallSpool | None = None
        #: the answer must be a codec Akashi can play the notice in
        self.notice_codec = False
        #: SRTP keys of the caller's leg (when it offered SRTP) and of the phones' (when the route asks)
        self.a_crypto: LegCrypto | None = None
        self.b_crypto: LegCrypto | None = None
        self.b_srtp = route.srtp == "sdes"
        #: why the call failed (stored with status ``failed``); "" while it has not
        self.failure = ""
        #: 100rel toward the caller, PRACKs toward the operators, session timers of both legs
        self.timers = CallTimers(self)

    # -- helpers --------------------------------------------------------------------------
    @property
    def call_id(self) -> str:
        """The caller's Call-ID: the call's name in logs and the key its legs are registered under."""
        return self.invite.call_id

    @property
    def dialog_ids(self) -> list[str]:
        """The Call-IDs of all the call's dialogs: the caller's, then each rung leg's."""
        return self.meta.call_ids + [lg.dialog.call_id for lg in self.legs]

    @property
    def state(self) -> CallState:
        """Where the call is (:mod:`akashi.telephony.call.state`), as its machine holds it."""
        return self.machine.state

    @property
    def hangup_side(self) -> str:
        """Who ended the call (the first to do so): caller, operator, akashi or timeout; "" while live."""
        return self.machine.hangup_side

    @property
    def over(self) -> bool:
        """Whether the call is ending or done."""
        return self.state not in LIVE

    def at(self, state: CallState) -> bool:
        """Whether the call is in ``state`` now (asked each time: effects and awaits move it)."""
        return self.machine.state is state

    def want_message(self, kind: str) -> None:
        """The machine asks for a message the call's task plays (the "nobody can answer" one)."""
        self.message_due = kind

    def leg_auth_refused(self, reason: str) -> None:
        """A leg's digest challenge was not answered: kept with the call."""
        self.meta.extra.auth_refused = reason

    def unanswer(self) -> None:
        """A 2xx to the caller that waited for its PRACK was replaced by an error: never answered."""
        self.meta.answered_at = None
        self.a_answered = False

    def hang_up(self) -> None:
        """Akashi ends the call (shutting down): BYE to whichever side was answered."""
        self.end("akashi")
        if self.a_answered:
            self.bye_caller()
        if self.leg is not None:
            self.leg.bye()

    def caller_name_addr(self) -> str:
        """The caller's From (without tag) to show on the operator's phone."""
        na = parse_name_addr(self.invite.header("From"))
        disp = f"{na.display} " if na.display else ""
        return f"{disp}<{na.uri}>"

    def identity_headers(self) -> tuple[tuple[str, str], ...]:
        """Inbound calls pass no identity headers to the operators' phones."""
        return ()

    def respond(self, status: int, reason: str | None = None, **kw: Any) -> None:
        """Answer the caller's INVITE."""
        resp = response_to(self.invite, status, reason, to_tag=self.local_tag, **kw)
        self.timers.respond_invite(resp)

    def answer_codecs(self, offer: AudioSession) -> list[Codec]:
        """The codecs of our answer (and of the offer to the phones): one Akashi can play the notice in
        when it must play one, else any (relayed as is)."""
        return choose_codecs(offer, relay_any=True, usable=can_encode if self.notice_codec else None)

    def needs_notice(self, ann: AnnouncementSettings | None) -> bool:
        """Whether Akashi plays the notice itself on this call (so the codec must be encodable)."""
        return ann is not None and ann.mode == "automatic"

    def our_sdp(self, port: int, offer: AudioSession, direction: str) -> bytes:
        """Akashi's SDP toward the caller (a new o= version): its port, codecs and SRTP key."""
        self.sdp_version += 1
        codecs = self.answer_codecs(offer)
        address = self.media_address(self.a_rtp)
        profile, crypto = our_crypto(self)
        session = (self.sdp_session, self.sdp_version)
        return AudioSession(
            address, port, codecs, direction, 20, "akashi", *session, profile, crypto
        ).to_bytes()

    def media_address(self, ep: RtpEndpoint | None) -> str:
        """The address Akashi writes in the SDP of a media port (its IPv6 one for an IPv6 port)."""
        return self.host.settings.ipv6_address if ep is not None and ep.v6 else self.host.media_address

    def fail(self, reason: str, **details: object) -> None:
        """The call failed (first reason wins): it is stored as ``failed`` with the reason and details."""
        if not self.failure:
            self.failure = reason
            self.meta.extra.failure = Failure.model_validate({"reason": reason, **details})

    def end(self, side: str) -> None:
        """The call is over (the first to end it is the one kept): it moves to ``ending``."""
        self.runner.execute(self.machine.hang_up(side))

    async def _until_end(self, aw: Awaitable[Any]) -> bool:
        """Run ``aw`` unless the call ends first; True when it completed."""
        task = asyncio.ensure_future(aw)
        waiter = asyncio.ensure_future(self.ended.wait())
        try:
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if task.done():
            task.result()
            return True
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return False

    # -- the call -------------------------------------------------------------------------
    async def run(self) -> None:
        """The whole life of the call."""
        try:
            await self._run()
        except Exception as exc:
            # whatever broke, no leg is left hanging: both are hung up and the call is stored as failed
            log.exception("call %s failed", self.invite.call_id)
            self.fail("error", error=f"{type(exc).__name__}: {exc}"[:300])
            self.end("akashi")
            with contextlib.suppress(Exception):
                if self.a_answered:
                    self.bye_caller(reason=500)
                else:
                    self.respond(500)
            for leg in self.legs:
                if leg.state is LegState.ANSWERED:
                    with contextlib.suppress(Exception):
                        leg.bye()
        finally:
            await self._cleanup()

    async def _prepare(self, announcement: str) -> AnnouncementSettings | bool | None:
        """Check the offer, open both media ports and the spool; False when the call was refused."""
        svc = self.host
        try:
            offer = parse_sdp(self.invite.body) if self.invite.body else late_offer()
        except ProtocolError as exc:
            self.respond(488, "Bad SDP", extra=[("Warning", sdp_warning(exc.en))])
            self.runner.execute(self.machine.on_offer(acceptable=False, notice=False))
            return False
        ipv6 = ":" in offer.address
        if ipv6 and not svc.ports.has_ipv6:
            # refused before answering: a port that cannot reach the phone would leave it in silence
            self.respond(488, extra=[("Warning", IPV6_WARNING)])
            self.runner.execute(self.machine.on_offer(acceptable=False, notice=False))
            return False
        refused = refuse_offer(offer)  # a transport or SRTP suite Akashi does not speak
        if refused is not None:
            self.respond(488, extra=[("Warning", refused)])
            self.runner.execute(self.machine.on_offer(acceptable=False, notice=False))
            return False
        ann = svc.notices.settings(announcement)
        self.notice_codec = self.needs_notice(ann)
        codecs = self.answer_codecs(offer)
        if not codecs:
            warning = '399 akashi "G.711 (PCMU/PCMA) is required"'
            if self.notice_codec:
                need = ", ".join(encodable_names())
                warning = f'399 akashi "録音の案内には {need} のいずれかが必要です (the notice needs one of {need})"'
            self.respond(488, extra=[("Warning", warning)])
            self.runner.execute(self.machine.on_offer(acceptable=False, notice=False))
            return False
        self.offer = offer
        self.codec = codecs[0]
        self.meta.codec = self.codec.name
        self.meta.payload_type = self.codec.pt
        if not is_g711(self.codec):
            c = self.codec
            self.meta.extra.codec = CodecFacts(name=c.name, rate=c.rate, fmtp=c.fmtp, channels=c.channels)
        self.a_rtp = await svc.ports.open(ipv6=ipv6)
        self.b_rtp = await svc.ports.open()
        self.a_rtp.label = f"{self.invite.call_id} {self.a_side}"
        self.b_rtp.label = f"{self.invite.call_id} {self.b_side}"
        self.a_rtp.signal_ip = self.invite.source[0] if self.invite.source else None
        self.a_rtp.set_remote((offer.address, offer.port) if offer.port else None, codecs)
        caller_srtp(self, offer)
        self.a_rtp.forward = False
        self.spool = svc.open_spool(self.meta)
        customer = self.customer_rtp
        assert customer is not None
        customer.record_in = self.spool.caller
        customer.record_out = self.spool.heard
        return ann

    @property
    def customer_rtp(self) -> RtpEndpoint | None:
        """The media port of the customer's side (the caller's, on inbound calls)."""
        return self.a_rtp

    async def _play_notice(self, announcement: str, to: RtpEndpoint, codec: Codec | None = None) -> bool:
        """Play the notice to the customer (in ``codec``, default the call's); False when the call ended."""
        codec = codec or self.codec
        audio = await self.host.notices.audio(announcement, codec)
        # analysis checks the notice played for all of it
        self.meta.extra.notice_duration_s = audio.duration_s
        self.meta.notice_started_at = now()
        played = await self._until_end(NoticePlayer(to, audio.payloads, codec.pt, audio.step).play())
        self.meta.notice_ended_at = now()
        self._save()
        return played

    async def _run(self) -> None:
        ann = await self._prepare(self.route.announcement)
        if ann is False:
            return
        assert self.a_rtp is not None and not isinstance(ann, bool)
        self.meta.notice_mode = ann.mode if ann is not None else ""
        self.meta.extra.announcement = self.route.announcement
        notice = ann is not None and ann.mode == "automatic"
        self.runner.execute(self.machine.on_offer(acceptable=True, notice=notice))  # Noticing, or Ringing
        if self.at(CallState.NOTICING):
            offer = self.offer
            self._answer_caller(self.our_sdp(self.a_rtp.port, offer, answer_direction(offer.direction)))
            if self.late_answer is not None and not await self._until_end(self.late_answer.wait()):
                return
            if not await self._play_notice(self.route.announcement, self.a_rtp):
                return
            self.runner.execute(self.machine.on_media_event("notice_done"))  # Ringing
        elif self.at(CallState.RINGING):
            self.respond(180)
        if not self.at(CallState.RINGING):
            return  # cancelled (or hung up) while the media was prepared or the notice played
        ringback = None
        if self.a_answered and self.host.settings.ringback_after_notice:
            # the caller was answered for the notice: let them hear that phones are ringing
            tone = await self.host.notices.ringback(self.codec)
            player = NoticePlayer(self.a_rtp, tone.payloads, self.codec.pt, tone.step, repeat=True)
            ringback = asyncio.create_task(player.play())
        try:
            leg = await self._ring(
                list(self.route.ring), self.route.strategy, float(self.route.ring_timeout_s)
            )
        finally:
            if ringback is not None:
                ringback.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ringback
        if leg is None:
            if self.message_due == "unavailable":  # the machine's answer to ringing that failed
                await self._say_unavailable()
            return
        if self.ended.is_set():
            if leg.state is LegState.ANSWERED:
                leg.bye()  # answered as the call ended (a caller that never ACKed...): never bridged
            return
        self.runner.execute(self.machine.on_response(LegAnswered()))  # Bridged
        self._bridge(leg)
        await self._watch_media()

    async def _say_unavailable(self) -> None:
        """Nobody answered after the notice: tell the caller, then hang up with the reason (RFC 3326).

        The caller was answered to hear the notice, so no final error response can reach it any more;
        the message it hears takes that place, and the BYE's ``Reason`` carries the status the phones gave.
        """
        assert self.a_rtp is not None
        name = self.route.unavailable_announcement
        if name:
            audio = await self.host.notices.audio(name, self.codec)
            self.meta.extra.unavailable_started_at = now()
            await self._until_end(NoticePlayer(self.a_rtp, audio.payloads, self.codec.pt, audio.step).play())
        # BYE with ringing's status as its Reason, unless the call ended meanwhile
        self.runner.execute(self.machine.on_media_event("notice_done"))

    def _answer_caller(self, sdp: bytes, *, answered: bool = True) -> None:
        self.respond(
            200,
            contact=self.host.contact,
            body=sdp,
            content_type="application/sdp",
            extra=[("Allow", ALLOW)],
        )
        self.a_answered = True
        if answered:
            self.meta.answered_at = now()
        self._save()

    def _save(self) -> None:
        if self.spool is not None:
            self.spool.save()

    def missed(self, statuses: list[int]) -> None:
        """Nobody answered: a final response (or BYE after the notice) to the caller."""
        self.meta.status = "missed"
        self.meta.extra.ring_statuses = statuses
        code = final_status(statuses)
        self.meta.extra.final_status = code
        # not answered: the final response; answered for the notice: the "nobody can answer" message
        failed = LegsFailed(tuple(statuses), code, caller_answered=self.a_answered)
        self.runner.execute(self.machine.on_response(failed))

    async def _ring(
        self, targets: list[str], strategy: str, timeout: float, auth: Credentials | None = None
    ) -> OutLeg | None:
        """Ring the phones (or the trunk); the answered leg, or None (the caller has been told why)."""
        return await ring(self, targets, strategy, timeout, auth)

    def bye_caller(self, reason: int = 0) -> None:
        """Hang up the caller's leg; ``reason``: the SIP status that ended the call (``Reason`` header)."""
        extra = (
            [("Reason", f'SIP;cause={reason};text="{_REASONS.get(reason, "Call ended")}"')]
            if reason
            else None
        )
        req = self.a.new_request("BYE", extra=extra)
        self.host.sip.request(req, self.a.dest, lambda r: None)

    def _bridge(self, leg: OutLeg) -> None:
        assert self.a_rtp is not None and self.b_rtp is not None and leg.answer is not None
        self.leg = leg
        take_leg_answer(self, leg)  # its address, codecs and SRTP keys (SrtpRefused: the call fails)
        if not self.a_answered:
            self._answer_caller(
                self.our_sdp(self.a_rtp.port, self.offer, answer_direction(self.offer.direction))
            )
        if self.meta.direction == "in":
            agent = self.host.agent_for(leg.user)
            self.meta.agent_sip_user = leg.user
            if agent is not None:
                self.meta.agent = agent.name
                self.meta.site = agent.site or self.meta.site
        self.meta.call_ids.append(leg.dialog.call_id)
        self.a_rtp.peer = self.b_rtp
        self.b_rtp.peer = self.a_rtp
        self.a_rtp.forward = True
        self.meta.bridged_at = now()
        self.meta.status = "completed"
        self._save()

    async def _watch_media(self) -> None:
        """Wait for a hang-up; end a call whose media stopped (RTP timeout)."""
        limit = self.host.settings.rtp_timeout_s
        while not self.ended.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.ended.wait(), timeout=min(1.0, limit))
            if self.ended.is_set() or self.on_hold:
                continue
            assert self.a_rtp is not None and self.b_rtp is not None
            quiet = time.time() - min(self.a_rtp.last_rx, self.b_rtp.last_rx)
            if quiet > limit:
                self.meta.extra.rtp_timeout_s = limit
                self.runner.execute(self.machine.on_media_event("media_quiet"))

    async def _cleanup(self) -> None:
        self.runner.execute(self.machine.on_closed())  # Done, whatever it reached
        self.timers.close()
        for leg in self.legs:
            if leg.state in (LegState.CALLING, LegState.RINGING):
                leg.cancel()
        if self.a_rtp is not None:
            self.a_rtp.close()
        if self.b_rtp is not None:
            self.b_rtp.close()
        self.meta.ended_at = now()
        # RTP refused on each side (stranger's address, bad header, other SSRC...), by reason
        refused = {
            side: dict(ep.refused)
            for side, ep in ((self.a_side, self.a_rtp), (self.b_side, self.b_rtp))
            if ep is not None and ep.refused
        }
        if refused:
            self.meta.extra.rtp_refused = refused
            self.meta.extra.rtp_refused_from = {
                side: ep.refused_sources
                for side, ep in ((self.a_side, self.a_rtp), (self.b_side, self.b_rtp))
                if ep is not None and ep.refused
            }
        self.meta.hangup_side = self.hangup_side or "akashi"
        if self.meta.status == "interrupted":
            self.meta.status = "missed"
        if self.failure:
            self.meta.status = "failed"  # whatever the call reached before, it did not end well
        self.meta.finished = True
        self.host.call_finished(self)

    # -- requests within the call ---------------------------------------------------------
    def on_request(self, req: Request, from_caller: bool, leg: OutLeg | None) -> None:
        """A request in one of our dialogs: the machine decides, the runner answers."""
        m = req.method
        # RFC 4028: a 422, or a pure refresh, is answered on its own leg before anything else
        refreshed = m in ("INVITE", "UPDATE") and self.timers.on_refresh(req, from_caller, leg)
        source: Source = "caller"
        if not from_caller:
            source = "bridged_leg" if leg is not None and leg is self.leg else "other_leg"
        event = InDialog(m, source, self.a_answered, self.timers.answer_held, refreshed)
        self.runner.execute(self.machine.on_request(event), req, from_caller=from_caller, leg=leg)

    def on_ack(self, req: Request, from_caller: bool) -> None:
        """An ACK: it stops the 2xx's retransmissions; the caller's may carry a late offer's answer."""
        self.host.sip.ack_received(req.call_id, req.cseq[0])
        if from_caller:
            self.timers.on_ack(req)
        if from_caller and self.late_answer is not None and not self.late_answer.is_set():
            self._take_late_answer(req.body)

    def _take_late_answer(self, body: bytes) -> None:
        """The caller's answer to the offer in our 200 OK, from its ACK; a call without one ends."""
        assert self.late_answer is not None and self.a_rtp is not None
        try:
            ans = parse_sdp(body)
        except ProtocolError:
            ans = None
        if (
            ans is None
            or ans.codec(self.codec.pt) is None
            or not ans.port
            or not self.a_rtp.reaches(ans.address)
        ):
            self.meta.extra.late_offer_refused = True
            self.runner.execute(self.machine.on_media_event("late_answer_refused"))
            return
        self.offer = ans
        self.a_rtp.set_remote((ans.address, ans.port), ans.codecs)
        self.meta.extra.late_offer = True
        self.late_answer.set()


#: reason phrases of the statuses a BYE can carry in its Reason header
_REASONS = {
    408: "Request Timeout",
    480: "Temporarily Unavailable",
    486: "Busy Here",
    500: "Server Internal Error",
    603: "Decline",
}
