"""Session timers of a call's legs (RFC 4028): the I/O half.

Each leg of the B2BUA keeps its own session timer: the caller's leg (Akashi answered its INVITE)
under the key :data:`CALLER`, an operator/trunk leg (Akashi sent the INVITE) under its
:class:`~akashi.telephony.legs.OutLeg`. The decisions come from the sans-I/O
:mod:`akashi.telephony.sessiontimer`; a session that expires (or whose refresh gets 408/481) reaches
the call as its machine's ``session_expired`` timer, and the machine decides what it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import TYPE_CHECKING, Protocol

from akashi.errors import ProtocolError
from akashi.telephony.call.facts import SessionEnd
from akashi.telephony.legs import LegState, OutLeg
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
from akashi.telephony.sip.build import new_branch, response_to
from akashi.telephony.sip.message import Header, Request, Response, SipMessage

if TYPE_CHECKING:
    from akashi.telephony.call.host import CallHost
    from akashi.telephony.call.machine import TimerKind
    from akashi.telephony.dialog import Dialog
    from akashi.telephony.media import RtpEndpoint
    from akashi.telephony.recorder import CallMeta

log = logging.getLogger(__name__)

#: the key of the caller's leg (operator legs are keyed by their OutLeg)
CALLER = "caller"
Key = str | OutLeg


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


class SessionCall(Protocol):
    """The call as its session timers see it."""

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
    def a_rtp(self) -> RtpEndpoint | None:
        """The caller's media port."""

    @property
    def b_rtp(self) -> RtpEndpoint | None:
        """The operators' media port."""

    @property
    def meta(self) -> CallMeta:
        """What is stored with the call."""

    def on_timer(self, kind: TimerKind) -> None:
        """A timer of the call fired: its machine decides what it ends."""


class SessionTimers:
    """One session timer per leg of a call; :meth:`close` cancels them all."""

    def __init__(self, call: SessionCall) -> None:
        self.call = call
        s = call.host.settings
        self.min_se = s.min_se_s
        self.interval = s.session_expires_s
        try:
            self.caller_timer = uas_timer(call.invite)
        except ProtocolError:
            self.caller_timer = None
        #: running session timers and their next event, per leg
        self.timers: dict[Key, Timer] = {}
        self._handles: dict[Key, asyncio.TimerHandle] = {}
        #: Akashi's current SDP on each leg (what a re-INVITE refresh offers again, unchanged)
        self.sdp: dict[Key, bytes] = {}
        self._retried_422: set[OutLeg] = set()
        self.closed = False

    @property
    def _loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    def close(self) -> None:
        """The call ended: cancel every session timer."""
        self.closed = True
        for h in self._handles.values():
            h.cancel()
        self._handles.clear()
        self.timers.clear()

    # -- the caller's leg (Akashi is UAS) ------------------------------------------------------
    def caller_headers(self) -> list[tuple[str, str]]:
        """Session-Expires (and Require: timer) of Akashi's 2xx to the caller's INVITE."""
        t = self.caller_timer
        return t.response_headers() if t is not None else []

    def caller_answered(self, resp: Response) -> None:
        """The 2xx went to the caller: its leg's timer runs (its SDP is what a refresh offers again)."""
        if resp.body:
            self.sdp[CALLER] = resp.body
        self._arm(CALLER, self.caller_timer)

    # -- operator / trunk legs (Akashi is UAC) ---------------------------------------------------
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
        host = self.call.host
        inv.set("Via", f"SIP/2.0/{leg.dialog.transport} {host.via_host};branch={new_branch()};rport")
        inv.set("CSeq", f"{leg.dialog.local_cseq} INVITE")
        inv.set("Session-Expires", str(min_se))
        inv.set("Min-SE", str(min_se))
        leg.invite = inv
        host.sip.request(inv, leg.dialog.dest, leg.on_response)
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
        if isinstance(key, OutLeg) and key is not call.leg and key.state is LegState.ANSWERED:
            key.bye()  # a leg answered but never bridged: the machine's BYEs are the call's legs
        self.close()
        call.on_timer("session_expired")  # BYE to the caller (once answered) and the bridged leg
