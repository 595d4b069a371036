"""The operator side of a call: one outgoing INVITE per rung phone (UAC leg)."""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from akashi.telephony.call.host import ALLOW
from akashi.telephony.dialog import Dialog
from akashi.telephony.sessiontimer import invite_headers
from akashi.telephony.sip.build import new_branch, new_call_id, new_tag, request
from akashi.telephony.sip.digest import Credentials, DigestError
from akashi.telephony.sip.message import Request, Response
from akashi.telephony.sip.uri import parse_uri
from akashi.telephony.trunks import contact as trunk_contact

if TYPE_CHECKING:
    from akashi.telephony.call.host import CallHost

log = logging.getLogger(__name__)


class LegState(enum.Enum):
    """States of an outgoing leg."""

    CALLING = "calling"
    RINGING = "ringing"
    ANSWERED = "answered"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ENDED = "ended"


class LegSessions(Protocol):
    """What a leg asks of its call's session timers (``SessionTimers``)."""

    def leg_too_small(self, leg: OutLeg, resp: Response) -> bool:
        """422: True when the INVITE was sent again with the peer's Min-SE."""

    def leg_answered(self, leg: OutLeg, resp: Response) -> None:
        """The leg's 2xx: run the session timer it asked for."""


class LegTimers(Protocol):
    """What a leg asks of its call's 100rel handling (``CallTimers``) and session timers."""

    @property
    def sessions(self) -> LegSessions:
        """The session timer of each leg."""

    def leg_provisional(self, leg: OutLeg, resp: Response) -> bool:
        """PRACK a reliable 1xx; False when the 1xx is to be dropped."""


class LegOwner(Protocol):
    """The call a leg belongs to, as the leg sees it."""

    @property
    def host(self) -> CallHost:
        """The service."""

    @property
    def call_id(self) -> str:
        """The caller's Call-ID: the call's name in logs and the key its legs are registered under."""

    @property
    def timers(self) -> LegTimers:
        """100rel and session timers of the call's legs."""

    def caller_name_addr(self) -> str:
        """The caller's From (without tag) to show on the operator's phone."""

    def leg_auth_refused(self, reason: str) -> None:
        """A leg's digest challenge was not answered (kept with the call)."""

    def identity_headers(self) -> tuple[tuple[str, str], ...]:
        """P-Asserted-Identity/Privacy headers of the legs' INVITEs (a trunk leg's), else none."""


class OutLeg:
    """INVITE to one operator phone; answers arrive through :meth:`on_response`."""

    def __init__(
        self,
        call: LegOwner,
        target: str,
        dest: tuple[str, int],
        sdp: bytes,
        auth: Credentials | None = None,
        transport: str = "UDP",
    ) -> None:
        self.call = call
        self.target = target
        self.user = parse_uri(target).user
        svc = call.host
        contact = trunk_contact(svc, transport)
        self.identity = call.identity_headers()
        self.dialog = Dialog(
            call_id=new_call_id(svc.host),
            local=f"{call.caller_name_addr()};tag={new_tag()}",
            remote=f"<{target}>",
            remote_target=target,
            dest=dest,
            via_host=svc.via_host,
            contact=contact,
            transport=transport,
        )
        self.invite: Request = request(
            "INVITE",
            target,
            via=f"SIP/2.0/{transport} {svc.via_host};branch={new_branch()};rport",
            from_=self.dialog.local,
            to=self.dialog.remote,
            call_id=self.dialog.call_id,
            cseq=1,
            contact=contact,
            body=sdp,
            content_type="application/sdp",
            extra=[
                ("Allow", ALLOW),
                *invite_headers(svc.settings.session_expires_s, svc.settings.min_se_s),
                *self.identity,
            ],
        )
        self.auth = auth
        self.auth_tries = 0
        self.state = LegState.CALLING
        self.status = 0
        self.answer: Response | None = None
        self.done = asyncio.Event()
        self.provisional = asyncio.Event()
        #: told of each 180/183 (an outbound call relays them and their early media to the agent)
        self.on_early: Callable[[OutLeg, Response], None] | None = None

    def start(self) -> None:
        """Send the INVITE."""
        self.call.host.register_leg(self.dialog.call_id, self.call.call_id)
        self.call.host.sip.request(self.invite, self.dialog.dest, self.on_response)

    def on_response(self, resp: Response) -> None:
        """Responses of our INVITE."""
        if resp.status < 200:
            if resp.status > 100 and not self.call.timers.leg_provisional(self, resp):
                return  # a retransmitted or out-of-order reliable 1xx (RFC 3262)
            if resp.status > 100 and self.state is LegState.CALLING:
                self.state = LegState.RINGING
            self.provisional.set()
            if resp.status > 100 and self.on_early is not None and self.state is LegState.RINGING:
                self.on_early(self, resp)
            return
        if 200 <= resp.status < 300:
            self.dialog.update_from_response(resp)
            self._ack()
            if self.state in (LegState.CALLING, LegState.RINGING):
                self.state = LegState.ANSWERED
                self.answer = resp
                self.status = resp.status
                self.call.timers.sessions.leg_answered(self, resp)
                self.done.set()
            elif self.state in (LegState.CANCELLED, LegState.FAILED):
                # answered after we gave up on it (race with CANCEL): hang it up
                self.state = LegState.ENDED
                self.bye()
            return
        ringing = self.state in (LegState.CALLING, LegState.RINGING)
        if resp.status == 422 and ringing and self.call.timers.sessions.leg_too_small(self, resp):
            return  # asked again with the interval the phone accepts (RFC 4028 7.3)
        if resp.status in (401, 407) and self.auth_tries < 2 and ringing:
            self._retry_with_auth(resp)
            return
        self._fail(resp.status)

    def _fail(self, status: int) -> None:
        self.status = status
        if self.state in (LegState.CALLING, LegState.RINGING):
            self.state = LegState.FAILED
        self.done.set()

    def _retry_with_auth(self, resp: Response) -> None:
        """Answer a digest challenge of the trunk or a PBX: the same INVITE, next CSeq, with credentials.

        Every challenge of the response is read and the strongest answerable one answered; the
        credentials (a trunk's, or the route's ``ring_username``) go only to the host they are bound
        to (and realm, when set), and at most twice. A challenge that cannot be answered fails the
        leg at once, with the reason logged and kept in the call (the password is never logged).
        """
        self.auth_tries += 1
        hdr = "WWW-Authenticate" if resp.status == 401 else "Proxy-Authenticate"
        reply = "Authorization" if resp.status == 401 else "Proxy-Authorization"
        old = self.invite
        try:
            if self.auth is None:
                raise DigestError("no credentials for this destination")
            value = self.auth.answer(
                resp.get_each(hdr), method="INVITE", uri=old.uri, source=resp.source, sent_to=self.dialog.dest
            )
        except DigestError as exc:
            log.warning(
                "認証要求に応答しません（通話 %s、%d、%s）/ call %s: %d from %s not answered, leg failed: %s",
                self.call.call_id,
                resp.status,
                self.target,
                self.call.call_id,
                resp.status,
                self.target,
                exc.reason,
            )
            self.call.leg_auth_refused(exc.reason)
            self._fail(resp.status)
            return
        svc = self.call.host
        self.dialog.local_cseq += 1
        inv = request(
            "INVITE",
            old.uri,
            via=f"SIP/2.0/{self.dialog.transport} {svc.via_host};branch={new_branch()};rport",
            from_=self.dialog.local,
            to=self.dialog.remote,
            call_id=self.dialog.call_id,
            cseq=self.dialog.local_cseq,
            contact=self.dialog.contact,
            body=old.body,
            content_type="application/sdp",
            extra=[
                ("Allow", ALLOW),
                *invite_headers(svc.settings.session_expires_s, svc.settings.min_se_s),
                *self.identity,
                (reply, value),
            ],
        )
        self.invite = inv
        svc.sip.request(inv, self.dialog.dest, self.on_response)

    def _ack(self) -> None:
        ack = self.dialog.new_request("ACK", cseq=self.invite.cseq[0])
        self.call.host.sip.send(ack, self.dialog.dest)

    def cancel(self) -> None:
        """Stop ringing (CANCEL uses the INVITE's branch, RFC 3261 9.1)."""
        if self.state not in (LegState.CALLING, LegState.RINGING):
            return
        self.state = LegState.CANCELLED
        inv = self.invite
        c = Request(method="CANCEL", uri=inv.uri)
        c.add("Via", inv.vias[0])
        c.add("Max-Forwards", "70")
        c.add("From", inv.header("From"))
        c.add("To", inv.header("To"))
        c.add("Call-ID", inv.call_id)
        c.add("CSeq", f"{inv.cseq[0]} CANCEL")
        c.set_body(b"", None)
        self.call.host.sip.request(c, self.dialog.dest, lambda r: None)
        self.done.set()

    def bye(self) -> None:
        """Hang up an answered leg."""
        self.state = LegState.ENDED
        req = self.dialog.new_request("BYE")
        self.call.host.sip.request(req, self.dialog.dest, lambda r: None)
