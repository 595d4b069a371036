"""The call's reliable provisionals (RFC 3262) and session timers (RFC 4028): the I/O half.

One :class:`CallTimers` per call owns every timer handle of both; the decisions come from the sans-I/O
:mod:`akashi.telephony.reliable` and :mod:`akashi.telephony.sessiontimer`. The call closes it when
it ends, which cancels everything still scheduled.

Each leg of the B2BUA keeps its own session timer: the caller's leg (Akashi answered its INVITE)
under the key :data:`CALLER`, an operator/trunk leg (Akashi sent the INVITE) under its
:class:`~akashi.telephony.legs.OutLeg`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import TYPE_CHECKING, Any, Protocol

from akashi.errors import ProtocolError
from akashi.telephony.call.facts import SessionEnd
from akashi.telephony.legs import LegState, OutLeg
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
from akashi.telephony.sdp import parse_sdp
from akashi.telephony.sessiontimer import (
    MAX_INTERVAL,
    Timer,
    parse_min_se,
    request_headers,
    session_expires,
    too_small,
    uac_timer,
    uas_timer,
)
from akashi.telephony.sip import transport
from akashi.telephony.sip.build import new_branch, response_to
from akashi.telephony.sip.message import Header, Request, Response, SipMessage
from akashi.telephony.sip.uri import parse_name_addr

if TYPE_CHECKING:
    from akashi.telephony.call.host import CallHost
    from akashi.telephony.dialog import Dialog
    from akashi.telephony.media import RtpEndpoint
    from akashi.telephony.recorder import CallMeta

log = logging.getLogger(__name__)

#: the key of the caller's leg (operator legs are keyed by their OutLeg)
CALLER = "caller"
Key = str | OutLeg
#: RFC 3261 T1/T2 of reliable provisionals (module attributes so that tests may shorten them)
T1 = transport.T1
T2 = transport.T2


def ack_wait_s() -> float:
    """How long a 2xx to the caller's INVITE waits for its ACK: 64*T1 (RFC 3261 13.3.1.4), 32 s."""
    return 64 * T1


def retry_delay(we_own_call_id: bool) -> float:
    """When to try a refresh again that failed otherwise than 408/481 (491 glare, 500...).

    RFC 3261 14.1: 2.1-4 s when our side made the Call-ID (operator legs), else 0-2 s (the caller's
    leg), so that two sides refreshing at once do not collide again.
    """
    return random.uniform(2.1, 4.0) if we_own_call_id else random.uniform(0.0, 2.0)


def refuse_invite(req: Request, min_se: int) -> Response | None:
    """A new INVITE's Session-Expires checked: 422 with Min-SE when too small, 400 when unreadable."""
    try:
        small = too_small(req, min_se)
    except ProtocolError:
        return response_to(req, 400, "Bad Session-Expires")
    if small:
        return response_to(req, 422, extra=[("Min-SE", str(min_se))])
    return None


class TimedCall(Protocol):
    """The call as its timers see it: its legs and media, and how it answers, hangs up and ends."""

    @property
    def host(self) -> CallHost:
        """The service."""

    @property
    def invite(self) -> Request:
        """The caller's INVITE."""

    @property
    def a(self) -> Dialog:
        """The caller's dialog."""

    @property
    def leg(self) -> OutLeg | None:
        """The answered operator (or trunk) leg."""

    @property
    def legs(self) -> list[OutLeg]:
        """Every leg rung."""

    @property
    def a_rtp(self) -> RtpEndpoint | None:
        """The caller's media port."""

    @property
    def b_rtp(self) -> RtpEndpoint | None:
        """The operators' media port."""

    @property
    def meta(self) -> CallMeta:
        """What is stored with the call."""

    @property
    def a_answered(self) -> bool:
        """Whether a 2xx answered the caller."""

    @property
    def over(self) -> bool:
        """Whether the call is ending or done."""

    def respond(self, status: int, reason: str | None = None, **kw: Any) -> None:
        """Answer the caller's INVITE."""

    def unanswer(self) -> None:
        """A 2xx to the caller that was held back is dropped: the caller was never answered."""

    def bye_caller(self, reason: int = 0) -> None:
        """Hang up the caller's leg."""

    def fail(self, reason: str, **details: object) -> None:
        """The call failed (stored as ``failed`` with the reason)."""

    def end(self, side: str) -> None:
        """The call is over; ``side`` hung up."""


class CallTimers:
    """100rel toward the caller, PRACKs toward the operators, and one session timer per leg."""

    def __init__(self, call: TimedCall) -> None:
        self.call = call
        s = call.host.settings
        self.min_se = s.min_se_s
        self.interval = s.session_expires_s
        inv = call.invite
        self.reliable = ReliableUas(inv.cseq[0], T1, T2) if wants_100rel(inv) else None
        self.provisional: Response | None = None
        self.held_2xx: Response | None = None
        self.queued_1xx: list[Response] = []
        self._prov: asyncio.TimerHandle | None = None
        try:
            self.caller_timer = uas_timer(inv)
        except ProtocolError:
            self.caller_timer = None
        #: running session timers and their next event, per leg
        self.timers: dict[Key, Timer] = {}
        self._handles: dict[Key, asyncio.TimerHandle] = {}
        #: Akashi's current SDP on each leg (what a re-INVITE refresh offers again, unchanged)
        self.sdp: dict[Key, bytes] = {}
        self._pracks: dict[OutLeg, tuple[PrackTracker, list[Request]]] = {}
        self._retried_422: set[OutLeg] = set()
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
        for h in self._handles.values():
            h.cancel()
        self._handles.clear()
        self.timers.clear()

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
            t = self.caller_timer
            if t is not None:
                for k, v in t.response_headers():
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
        if resp.body:
            self.sdp[CALLER] = resp.body
        self.call.host.sip.respond(self.call.invite, resp)
        self._arm(CALLER, self.caller_timer)
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
        call.bye_caller()
        for leg in call.legs:
            if leg.state is LegState.ANSWERED:
                leg.bye()
            elif leg.state in (LegState.CALLING, LegState.RINGING):
                leg.cancel()
        self.close()
        call.end("timeout")

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
        call.respond(504)  # drops a held 2xx and hangs up the operator who answered it
        call.meta.status = "missed"
        call.end("akashi")

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
        tag = parse_name_addr(resp.header("To")).param("tag") or ""
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

    def leg_too_small(self, leg: OutLeg, resp: Response) -> bool:
        """422 from an operator leg: the INVITE again with the peer's Min-SE (RFC 4028 7.3), once."""
        old = leg.invite
        try:
            min_se = parse_min_se(resp.header("Min-SE"))
            cur = session_expires(old)
        except ProtocolError:
            return False
        if leg in self._retried_422 or min_se > MAX_INTERVAL or (cur is not None and min_se <= cur.interval):
            return False
        self._retried_422.add(leg)
        leg.dialog.local_cseq += 1
        inv = Request(method="INVITE", uri=old.uri)
        inv.headers = [Header(h.name, h.value) for h in old.headers]
        inv.body = old.body
        svc = self.call.host
        inv.set("Via", f"SIP/2.0/{leg.dialog.transport} {svc.via_host};branch={new_branch()};rport")
        inv.set("CSeq", f"{leg.dialog.local_cseq} INVITE")
        inv.set("Session-Expires", str(min_se))
        inv.set("Min-SE", str(min_se))
        leg.invite = inv
        svc.sip.request(inv, leg.dialog.dest, leg.on_response)
        return True

    def leg_answered(self, leg: OutLeg, resp: Response) -> None:
        """An operator leg's 2xx: run the timer it asked for (RFC 4028 7.2)."""
        self.sdp[leg] = leg.invite.body
        try:
            self._arm(leg, uac_timer(resp))
        except ProtocolError:
            self._arm(leg, None)

    # -- refreshes the peers send (Akashi is UAS of the re-INVITE / UPDATE) ------------------
    def _key(self, from_caller: bool, leg: OutLeg | None) -> Key | None:
        return CALLER if from_caller else (leg or self.call.leg)

    def on_refresh(self, req: Request, from_caller: bool, leg: OutLeg | None) -> bool:
        """A re-INVITE/UPDATE: True when answered here (422, or a body-less UPDATE: a pure refresh)."""
        key = self._key(from_caller, leg)
        if key is None:
            return False
        sip = self.call.host.sip
        try:
            small = too_small(req, self.min_se)
        except ProtocolError:
            sip.respond(req, response_to(req, 400, "Bad Session-Expires"))
            return True
        if small:
            sip.respond(req, response_to(req, 422, extra=[("Min-SE", str(self.min_se))]))
            return True
        if req.method == "UPDATE" and not req.body:
            sip.respond(req, response_to(req, 200, extra=self.answering(req, from_caller, leg)))
            return True
        return False

    def answering(
        self, req: Request, from_caller: bool, leg: OutLeg | None = None, body: bytes = b""
    ) -> list[tuple[str, str]]:
        """Akashi sends a 2xx to a refresh on a leg: re-arm that leg's timer; the headers to add."""
        key = self._key(from_caller, leg)
        if key is None or self.closed:
            return []
        if body:
            self.sdp[key] = body
        try:
            t = uas_timer(req)
        except ProtocolError:
            t = None
        self._arm(key, t)
        return t.response_headers() if t is not None else []

    # -- requests Akashi passes on to a leg (Akashi is UAC) --------------------------------
    def forwarding(self, to_caller: bool, body: bytes) -> list[tuple[str, str]]:
        """Headers of a re-INVITE/UPDATE passed on to a leg: it refreshes that leg's timer too."""
        key = self._key(to_caller, None)
        if key is None:
            return []
        if body:
            self.sdp[key] = body
        t = self.timers.get(key)
        return request_headers(t.interval, self.min_se, we_refresh=t.we_refresh) if t is not None else []

    def forwarded(self, to_caller: bool, resp: Response) -> None:
        """The 2xx of a request passed on to a leg: that leg's timer as the answer sets it."""
        key = self._key(to_caller, None)
        if key is not None and key in self.timers and 200 <= resp.status < 300:
            self._refreshed(key, resp)

    def answer_sdp(self, from_caller: bool, body: bytes) -> None:
        """Akashi answered an offer from a leg with ``body``: its current SDP there."""
        key = self._key(from_caller, None)
        if key is not None and body:
            self.sdp[key] = body

    # -- the timers ---------------------------------------------------------------------
    def _arm(self, key: Key, t: Timer | None) -> None:
        old = self._handles.pop(key, None)
        if old is not None:
            old.cancel()
        if t is None or self.closed:
            self.timers.pop(key, None)
            return
        self.timers[key] = t
        if t.we_refresh:
            self._handles[key] = self._loop.call_later(t.refresh_in, self._send_refresh, key)
        else:
            self._handles[key] = self._loop.call_later(t.expire_in, self._expired, key)

    def _dialog(self, key: Key) -> Dialog:
        return self.call.a if key == CALLER else key.dialog  # type: ignore[union-attr]

    def _send_refresh(self, key: Key) -> None:
        """Akashi is the refresher: UPDATE without body where the peer allows it, else a re-INVITE."""
        t = self.timers.get(key)
        if self.closed or t is None:
            return
        self._handles.pop(key, None)
        call = self.call
        peer: SipMessage | None = key.answer if isinstance(key, OutLeg) else call.invite
        allow = {m.upper() for m in peer.get_all("Allow")} if peer is not None else set()
        dialog = self._dialog(key)
        headers = request_headers(t.interval, self.min_se)
        sdp = self.sdp.get(key, b"")
        if "UPDATE" in allow or not sdp:
            req = dialog.new_request("UPDATE", extra=headers)
        else:
            # Akashi's SDP of this leg, unchanged (same o= version): a refresh, not a new offer
            req = dialog.new_request("INVITE", body=sdp, content_type="application/sdp", extra=headers)
        call.host.sip.request(req, dialog.dest, lambda r: self._refresh_answered(key, req, r))

    def _refresh_answered(self, key: Key, req: Request, resp: Response) -> None:
        if self.closed or resp.status < 200:
            return
        sip = self.call.host.sip
        dialog = self._dialog(key)
        if req.method == "INVITE" and resp.status < 300:
            sip.send(dialog.new_request("ACK", cseq=req.cseq[0]), dialog.dest)
            rtp = self.call.a_rtp if key == CALLER else self.call.b_rtp
            if resp.body and rtp is not None:
                with contextlib.suppress(ProtocolError):
                    ans = parse_sdp(resp.body)
                    rtp.set_remote((ans.address, ans.port))
        if 200 <= resp.status < 300:
            self._refreshed(key, resp)
        elif resp.status in (408, 481):
            self._end(key, resp.status)  # RFC 4028 10: the session is gone
        elif key in self.timers and key not in self._handles:
            log.info("session refresh of %s answered %d; trying again", self.call.invite.call_id, resp.status)
            delay = retry_delay(isinstance(key, OutLeg))
            self._handles[key] = self._loop.call_later(delay, self._send_refresh, key)

    def _refreshed(self, key: Key, resp: Response) -> None:
        old = self.timers.get(key)
        try:
            t = uac_timer(resp)
        except ProtocolError:
            t = None
        # a 2xx without Session-Expires ends the timer by RFC 4028; one Akashi refreshes keeps going
        self._arm(key, t if t is not None else old if old is not None and old.we_refresh else None)

    def _expired(self, key: Key) -> None:
        """The peer was the refresher and no refresh came: the session is over (RFC 4028 10)."""
        self._handles.pop(key, None)
        if not self.closed and key in self.timers:
            self._end(key, 0)

    def _end(self, key: Key, status: int) -> None:
        call = self.call
        t = self.timers.get(key)
        info = SessionEnd(
            leg="caller" if key == CALLER else "operator",
            interval_s=t.interval if t is not None else None,
            refresh_status=status or None,
        )
        call.meta.extra.session_expired = info
        log.info("session of call %s expired on the %s leg", call.invite.call_id, info.leg)
        if call.a_answered:
            call.bye_caller()
        for leg in {call.leg, key if isinstance(key, OutLeg) else None}:
            if leg is not None and leg.state is LegState.ANSWERED:
                leg.bye()
        self.close()
        call.end("timeout")
