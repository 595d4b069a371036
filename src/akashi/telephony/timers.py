"""The call's reliable provisionals (RFC 3262) and the ACK of its answer: the I/O half.

One :class:`CallTimers` per call owns every timer handle of the caller's INVITE transaction (its
reliable 1xx, the held 2xx, the wait for the ACK) and the PRACKs of the rung legs; the decisions
come from the sans-I/O :mod:`akashi.telephony.reliable`. Session timers of both legs (RFC 4028)
live in :mod:`akashi.telephony.legtimers` (``timers.sessions``). A PRACK or ACK that never comes
reaches the call as its machine's ``prack_timeout`` / ``ack_timeout`` timer: the machine decides
what ends. The call closes it when it ends, which cancels everything still scheduled.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, Protocol

from akashi.errors import ProtocolError
from akashi.telephony.legs import LegState, OutLeg
from akashi.telephony.legtimers import SessionCall, SessionTimers
from akashi.telephony.reliable import (
    SUPPORTED,
    PrackResult,
    PrackTracker,
    Provisional,
    RAck,
    ReliableUas,
    option_tags,
    parse_rseq,
    wants_100rel,
)
from akashi.telephony.sip import transport
from akashi.telephony.sip.build import response_to
from akashi.telephony.sip.message import Request, Response

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

#: RFC 3261 T1/T2 of reliable provisionals (module attributes so that tests may shorten them)
T1 = transport.T1
T2 = transport.T2


def ack_wait_s() -> float:
    """How long a 2xx to the caller's INVITE waits for its ACK: 64*T1 (RFC 3261 13.3.1.4), 32 s."""
    return 64 * T1


class TimedCall(SessionCall, Protocol):
    """The call as its timers see it: its legs, and how it answers and fails."""

    @property
    def legs(self) -> list[OutLeg]:
        """Every leg rung."""

    def respond(self, status: int, reason: str | None = None, **kw: Any) -> None:
        """Answer the caller's INVITE."""

    def unanswer(self) -> None:
        """A 2xx to the caller that was held back is dropped: the caller was never answered."""

    def fail(self, reason: str, **details: object) -> None:
        """The call failed (stored as ``failed`` with the reason)."""

    @property
    def over(self) -> bool:
        """Whether the call is ending or done."""


class CallTimers:
    """100rel toward the caller, the ACK of its 2xx, PRACKs toward the operators; ``sessions``: the
    session timer of each leg."""

    def __init__(self, call: TimedCall) -> None:
        self.call = call
        #: one session timer per leg (RFC 4028)
        self.sessions = SessionTimers(call)
        inv = call.invite
        self.reliable = ReliableUas(inv.cseq[0], T1, T2) if wants_100rel(inv) else None
        self.provisional: Response | None = None
        self.held_2xx: Response | None = None
        self.queued_1xx: list[Response] = []
        self._prov: asyncio.TimerHandle | None = None
        self._pracks: dict[OutLeg, tuple[PrackTracker, list[Request]]] = {}
        #: the ACK of the 2xx to the caller: its deadline while it is awaited, and whether it came
        self._ack_wait: asyncio.TimerHandle | None = None
        self.acked = False
        self.closed = False

    @property
    def _loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    def close(self) -> None:
        """The call ended: cancel every timer."""
        self.closed = True
        if self._prov is not None:
            self._prov.cancel()
        if self._ack_wait is not None:
            self._ack_wait.cancel()
            self._ack_wait = None
        self.sessions.close()

    # -- responses to the caller's INVITE (Akashi is UAS) -----------------------------------
    def respond_invite(self, resp: Response) -> None:
        """Send a response to the caller's INVITE: reliably, held back, or with timer headers."""
        call = self.call
        if resp.status > 100 and resp.get("Supported") is None:
            resp.add("Supported", SUPPORTED)
        rel = self.reliable
        if 100 < resp.status < 200 and rel is not None and not rel.finished and rel.outstanding is not None:
            self.queued_1xx.append(resp)  # RFC 3262 3: one unacknowledged reliable 1xx at a time
            return
        if 100 < resp.status < 200 and rel is not None and not rel.finished:
            resp.add("Require", "100rel")
            resp.add("RSeq", str(rel.send()))
            if resp.get("Contact") is None:
                resp.add("Contact", call.host.contact)  # a reliable 1xx makes an early dialog
            self.provisional = resp
            call.host.sip.respond(call.invite, resp)
            self._schedule_provisional()
            return
        if 200 <= resp.status < 300:
            for k, v in self.sessions.caller_headers():
                resp.add(k, v)
            if rel is not None and not rel.may_send_2xx():
                self.held_2xx = resp  # RFC 3262 3: not before the reliable 1xx is PRACKed
                return
            self._send_2xx(resp)
            return
        if resp.status >= 200:
            if self.held_2xx is not None:
                self._drop_held()
            self._finish_reliable()
        call.host.sip.respond(call.invite, resp)

    def _drop_held(self) -> None:
        """A final error replaces a 2xx still waiting for its PRACK: the caller was never answered."""
        call = self.call
        self.held_2xx = None
        call.unanswer()
        if call.leg is not None and call.leg.state is LegState.ANSWERED:
            call.leg.bye()

    @property
    def answer_held(self) -> bool:
        """A 2xx to the caller waits for the PRACK of the reliable 1xx (not sent yet)."""
        return self.held_2xx is not None

    def _send_2xx(self, resp: Response) -> None:
        self._finish_reliable()
        self.call.host.sip.respond(self.call.invite, resp)
        self.sessions.caller_answered(resp)
        if self._ack_wait is None and not self.acked and not self.closed:
            self._ack_wait = self._loop.call_later(ack_wait_s(), self._ack_timeout)

    # -- the ACK of the 2xx (RFC 3261 13.3.1.4) ---------------------------------------------
    def on_ack(self, req: Request) -> None:
        """An ACK from the caller: the one of its INVITE (same CSeq) confirms the answer."""
        if req.cseq[0] != self.call.invite.cseq[0]:
            return  # the ACK of a re-INVITE's 2xx
        self.acked = True
        if self._ack_wait is not None:
            self._ack_wait.cancel()
            self._ack_wait = None

    def _ack_timeout(self) -> None:
        """The 2xx was resent for 64*T1 and no ACK came: the session ends (BYE both legs), a failed call.

        Without this, every unacknowledged answer (late offer with no ACK: about 400 bytes sent by
        anyone) held two RTP ports and a call until restart.
        """
        self._ack_wait = None
        call = self.call
        if self.closed or self.acked or call.over:
            return
        wait = ack_wait_s()
        inv = call.invite
        # the transaction stops resending the 2xx: the ACK is not coming any more
        call.host.sip.ack_received(inv.call_id, inv.cseq[0])
        count = call.host.unacked.note(time.monotonic())
        if count is not None:  # a stream of them (an attack) costs a line every few seconds
            log.warning(
                "200 OK に %.0f 秒 ACK がなく通話を終了します (%d 件) / no ACK for the 200 OK within %.0f s: "
                "ending call %s from %s (%d such calls since the last report)",
                wait, count, wait, inv.call_id, inv.source[0] if inv.source else "?", count,
            )  # fmt: skip
        call.fail("ack_timeout", after_s=wait)
        self.close()
        # BYE to the caller and the bridged leg; legs still ringing are cancelled as ringing ends
        call.on_timer("ack_timeout")

    def _finish_reliable(self) -> None:
        if self.reliable is not None:
            self.reliable.finish()
        self.held_2xx = None
        self.queued_1xx.clear()
        if self._prov is not None:
            self._prov.cancel()
            self._prov = None

    def _schedule_provisional(self) -> None:
        assert self.reliable is not None
        delay = self.reliable.retransmit_after()
        if delay is not None and not self.closed:
            self._prov = self._loop.call_later(delay, self._resend_provisional)

    def _resend_provisional(self) -> None:
        rel = self.reliable
        if self.closed or rel is None or rel.outstanding is None or rel.finished:
            return
        if rel.timed_out:
            self._prack_timeout()
            return
        call = self.call
        if self.provisional is not None and not call.host.sip.reliable(call.a.dest):
            call.host.sip.respond(call.invite, self.provisional)
        self._schedule_provisional()

    def _prack_timeout(self) -> None:
        """RFC 3262 3: no PRACK within 64*T1: the INVITE is rejected with 504; a missed call."""
        call = self.call
        call.meta.extra.prack_timeout = True
        # 504 to the INVITE (which drops a held 2xx and hangs up the operator who answered it): missed
        call.on_timer("prack_timeout")

    def on_prack(self, req: Request, from_caller: bool) -> None:
        """A PRACK: 200 when it acknowledges our outstanding 1xx (then the held 2xx goes), else 481."""
        sip = self.call.host.sip
        try:
            rack = RAck.parse(req.header("RAck"))
        except ProtocolError:
            sip.respond(req, response_to(req, 400, "Bad RAck"))
            return
        if not from_caller or self.reliable is None or self.reliable.on_prack(rack) is not PrackResult.ACKED:
            sip.respond(req, response_to(req, 481))
            return
        if self._prov is not None:
            self._prov.cancel()
            self._prov = None
        sip.respond(req, response_to(req, 200))
        if self.queued_1xx:
            self.respond_invite(self.queued_1xx.pop(0))
        elif self.held_2xx is not None:
            self._send_2xx(self.held_2xx)

    # -- provisional responses of our INVITEs (Akashi is UAC) ---------------------------
    def leg_provisional(self, leg: OutLeg, resp: Response) -> bool:
        """PRACK a reliable 1xx of an operator leg; False when the 1xx is to be dropped."""
        rseq_v = resp.get("RSeq")
        if "100rel" not in option_tags(resp, "Require") or rseq_v is None:
            return True
        try:
            rseq = parse_rseq(rseq_v)
        except ProtocolError:
            return False
        tag = resp.to_tag
        tracker, sent = self._pracks.setdefault(leg, (PrackTracker(), []))
        action = tracker.on_provisional(tag, rseq)
        sip = self.call.host.sip
        if action is Provisional.PRACK:
            # the PRACK belongs to the early dialog of this provisional (its To tag, Contact, routes)
            leg.dialog.update_from_response(resp)
            prack = leg.dialog.new_request("PRACK", extra=[("RAck", str(RAck(rseq, resp.cseq[0], "INVITE")))])
            sent[:] = [prack]
            sip.request(prack, leg.dialog.dest, lambda r: None)
            return True
        if action is Provisional.REPRACK and sent:
            sip.send(sent[0], leg.dialog.dest)  # the same PRACK again: its server transaction answers
        return False
