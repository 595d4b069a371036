"""A call through the B2BUA: answer, notice, ring, bridge, hang up, record.

One :class:`Call` class for both directions: its machine's
:class:`~akashi.telephony.call.machine.Direction` says who is on each leg and when the notice plays,
and an outbound call carries its :class:`~akashi.telephony.outbound.OutboundSide` (the agent, the
trunk, the identity it presents). The call's task follows the machine's state
(:meth:`Call._run`): each step is taken where the machine is, never from a flag of its own.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import TYPE_CHECKING, Any

from akashi.codecs.encode import can_encode
from akashi.errors import ProtocolError
from akashi.telephony.call.facts import Failure
from akashi.telephony.call.machine import (
    INBOUND,
    OUTBOUND,
    CallMachine,
    Direction,
    InDialog,
    LegsFailed,
    Source,
    TimerKind,
)
from akashi.telephony.call.numbers import dialled
from akashi.telephony.call.runner import CallRunner
from akashi.telephony.call.state import LIVE, CallState
from akashi.telephony.dialog import Dialog
from akashi.telephony.guard import CallGuard, protection_of
from akashi.telephony.identity import inbound_caller, trusted_source
from akashi.telephony.legmedia import (
    our_crypto,
)
from akashi.telephony.legs import OutLeg
from akashi.telephony.media import RtpEndpoint
from akashi.telephony.outbound import OutboundSide
from akashi.telephony.recorder import CallMeta, CallSpool, now
from akashi.telephony.ringing import final_status
from akashi.telephony.sdp import (
    AudioSession,
    Codec,
    answer_direction,
    choose_codecs,
    parse_sdp,
)
from akashi.telephony.sip.build import new_tag, response_to
from akashi.telephony.sip.message import Request
from akashi.telephony.sip.uri import parse_name_addr
from akashi.telephony.timers import CallTimers

if TYPE_CHECKING:
    from akashi.config.telephony import AgentSettings, AnnouncementSettings, RouteSettings, TrunkSettings
    from akashi.telephony.call.host import CallHost
    from akashi.telephony.srtp import LegCrypto

log = logging.getLogger(__name__)


class Call:
    """One call: from the trunk to the operators, or (with ``out``) from an agent's phone to the trunk."""

    def __init__(
        self, host: CallHost, invite: Request, route: RouteSettings, out: OutboundSide | None = None
    ) -> None:
        self.host = host
        self.invite = invite
        self.route = route
        #: the outbound side (agent, trunk, identity); None on inbound calls
        self.out = out
        #: who is on the A (calling) and B (called) side, and when the notice plays
        self.direction: Direction = OUTBOUND if out is not None else INBOUND
        #: the call's state and decisions (sans-I/O), and what carries out its effects
        self.machine = CallMachine(self.direction, protection_of(route))
        self.runner = CallRunner(self)
        #: a message the machine asked for that the call's task plays ("unavailable"), "" when none
        self.message_due = ""
        self.local_tag = new_tag()
        self.a: Dialog = Dialog.from_uas(invite, self.local_tag, host.via_host, host.contact)
        self.a_rtp: RtpEndpoint | None = None
        self.b_rtp: RtpEndpoint | None = None
        self.legs: list[OutLeg] = []
        self.leg: OutLeg | None = None  # the answered one
        #: set as the call leaves its live states (waiters wake up)
        self.ended = asyncio.Event()
        #: set once both sides are connected (the answered phone's media is taken from then on)
        self.bridged = asyncio.Event()
        self.sdp_version = random.randint(1, 1 << 30)
        self.sdp_session = random.randint(1, 1 << 30)
        self.on_hold = False
        #: a late offer (INVITE without SDP): set when the caller's answer came in the ACK
        self.late_answer: asyncio.Event | None = None if invite.body else asyncio.Event()
        settings = host.settings
        trusted = trusted_source(invite.source, settings.trunks, settings.inbound_networks)
        caller, withheld = inbound_caller(invite, trusted)
        self.meta = CallMeta(
            started_at=now(),
            caller=caller,
            dialled=dialled(invite, settings.trunks),
            call_ids=[invite.call_id],
            site=route.site,
        )
        if withheld:
            self.meta.extra.caller_withheld = True
        if out is not None:
            out.describe(self.meta)
        #: Akashi's SDP answer to the caller (the same in every 183 and the 200), once made
        self.answer_body: bytes | None = None
        self.spool: CallSpool | None = None
        #: the route's notice (None: no notice), and whether the answer must be a codec Akashi can play it in
        self.ann: AnnouncementSettings | None = None
        #: the caller's offer (a late offer's answer, from the ACK) and the call's codec, once checked
        self.offer: AudioSession
        self.codec: Codec
        self.notice_codec = False
        #: SRTP keys of the caller's leg (when it offered SRTP) and of the phones' (when the route asks)
        self.a_crypto: LegCrypto | None = None
        self.b_crypto: LegCrypto | None = None
        self.b_srtp = route.srtp == "sdes"
        #: why the call failed (stored with status ``failed``); "" while it has not
        self.failure = ""
        #: 100rel toward the caller, PRACKs toward the operators, session timers of both legs
        self.timers = CallTimers(self)
        #: live protection: the operator's key, warnings, the long-call guard, the board (issue 14)
        self.guard = CallGuard(self)

    @classmethod
    def outbound(cls, host: CallHost, invite: Request, agent: AgentSettings, trunk: TrunkSettings) -> Call:
        """An authenticated agent's call, placed on ``trunk``."""
        side = OutboundSide.of(host, invite, agent, trunk)
        return cls(host, invite, side.route(host.settings.outbound_announcement), side)

    # -- helpers --------------------------------------------------------------------------
    @property
    def a_side(self) -> str:
        """Who is on the A leg (sent the INVITE Akashi answers): caller, or operator outbound."""
        return self.direction.a_side

    @property
    def b_side(self) -> str:
        """Who is on the B leg (rung by Akashi): operator, or caller (the customer) outbound."""
        return self.direction.b_side

    @property
    def answered(self) -> bool:
        """Whether Akashi's 2xx went to the caller (a fact of the machine)."""
        return self.machine.caller_answered

    @property
    def ringing_unanswered(self) -> bool:
        """The call rings and the caller has no 2xx yet (an outbound call may relay early media)."""
        return self.at(CallState.RINGING) and not self.answered

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
        self.machine.answer_withdrawn()

    def on_timer(self, kind: TimerKind) -> None:
        """A timer of the call fired (its timers, the media watch): the machine decides what it ends."""
        self.runner.execute(self.machine.on_timer(kind))

    def hang_up(self) -> None:
        """Akashi ends the call (shutting down): BYE to whichever side was answered."""
        self.end("akashi")
        if self.answered:
            self.bye_caller()
        if self.leg is not None:
            self.leg.bye()

    def caller_name_addr(self) -> str:
        """The From of the rung legs: the caller's own (without tag) toward the operators' phones;
        outbound, the trunk's from_user@from_domain, or anonymous (184)."""
        if self.out is not None:
            return self.out.identity.from_
        na = parse_name_addr(self.invite.header("From"))
        disp = f"{na.display} " if na.display else ""
        return f"{disp}<{na.uri}>"

    def identity_headers(self) -> tuple[tuple[str, str], ...]:
        """P-Asserted-Identity / P-Preferred-Identity and Privacy of a trunk leg; none toward the phones."""
        return self.out.identity.headers if self.out is not None else ()

    def respond(self, status: int, reason: str | None = None, **kw: Any) -> None:
        """Answer the caller's INVITE."""
        resp = response_to(self.invite, status, reason, to_tag=self.local_tag, **kw)
        self.timers.respond_invite(resp)

    def answer_codecs(self, offer: AudioSession) -> list[Codec]:
        """The codecs of our answer (and of the offer to the phones): one Akashi can play the notice in
        when it must play one, else any (relayed as is)."""
        return choose_codecs(offer, relay_any=True, usable=can_encode if self.notice_codec else None)

    def needs_notice(self, ann: AnnouncementSettings | None) -> bool:
        """Whether Akashi plays the notice itself on this call (so the codec must be encodable); an
        outbound call only when outbound notices are on for its agent."""
        on = self.out is None or self.out.notice_on
        return on and ann is not None and ann.mode == "automatic"

    def answer_sdp(self) -> bytes:
        """Akashi's answer to the caller's offer: made once, then the same in every 183 and the 200."""
        if self.answer_body is None:
            assert self.a_rtp is not None
            offer = self.offer
            self.answer_body = self.our_sdp(self.a_rtp.port, offer, answer_direction(offer.direction))
        return self.answer_body

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

    @property
    def customer_rtp(self) -> RtpEndpoint | None:
        """The media port of the customer's side: the caller's inbound, the trunk's outbound."""
        return self.b_rtp if self.b_side == "caller" else self.a_rtp

    def save(self) -> None:
        """Write the call's metadata (on the spool's I/O thread)."""
        if self.spool is not None:
            self.spool.save()

    def missed(self, statuses: list[int]) -> None:
        """Nobody answered: a final response (or BYE after the notice) to the caller."""
        self.meta.status = "missed"
        self.meta.extra.ring_statuses = statuses
        code = final_status(statuses)
        self.meta.extra.final_status = code
        # not answered: the final response; answered for the notice: the "nobody can answer" message
        self.runner.execute(self.machine.on_response(LegsFailed(tuple(statuses), code)))

    def bye_caller(self, reason: int = 0) -> None:
        """Hang up the caller's leg; ``reason``: the SIP status that ended the call (``Reason`` header)."""
        extra = (
            [("Reason", f'SIP;cause={reason};text="{_REASONS.get(reason, "Call ended")}"')]
            if reason
            else None
        )
        req = self.a.new_request("BYE", extra=extra)
        self.host.sip.request(req, self.a.dest, lambda r: None)

    def on_request(self, req: Request, from_caller: bool, leg: OutLeg | None) -> None:
        """A request in one of our dialogs: the machine decides, the runner answers."""
        m = req.method
        # RFC 4028: a 422, or a pure refresh, is answered on its own leg before anything else
        refreshed = m in ("INVITE", "UPDATE") and self.timers.sessions.on_refresh(req, from_caller, leg)
        source: Source = "caller"
        if not from_caller:
            source = "bridged_leg" if leg is not None and leg is self.leg else "other_leg"
        if m == "INFO" and source == ("bridged_leg" if self.b_side == "operator" else "caller"):
            self.guard.info(req)  # the operator's DTMF (still forwarded to the other side below)
        event = InDialog(m, source, self.timers.answer_held, refreshed)
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
