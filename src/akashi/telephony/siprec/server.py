"""The recording server's door: which INVITEs are SIPREC sessions, and who may open one.

:meth:`SiprecServer.handles` is the service's whole hook: it takes the requests of running sessions
and new SIPREC INVITEs (``Require: siprec`` or a ``+sip.src`` Contact), and leaves everything else to
the B2BUA. A session is accepted only from ``sip.siprec_networks`` (empty, the default: none, 403,
audited like every refused INVITE), then passes the same call limits as any call.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from typing import TYPE_CHECKING, Protocol

from akashi.telephony.call.host import CallHost
from akashi.telephony.edge import LIMIT_TAG
from akashi.telephony.limits import LogEvery, Refusal
from akashi.telephony.sip.build import response_to
from akashi.telephony.siprec.body import is_siprec
from akashi.telephony.siprec.session import SiprecSession

if TYPE_CHECKING:
    from collections.abc import Sequence

    from akashi.config.telephony import AgentSettings
    from akashi.telephony.desk import Ended
    from akashi.telephony.edgeaudit import EdgeAudit
    from akashi.telephony.limits import CallLimits
    from akashi.telephony.sip.message import Request

log = logging.getLogger(__name__)

#: the refusal of a SIPREC INVITE from outside ``sip.siprec_networks`` (kind ``siprec`` in the audit log)
NOT_ALLOWED = Refusal(
    403, 0, "siprec", "SIPREC を受け付けないアドレスです (SIPREC sessions are not accepted from this address)"
)
#: option tags a SIPREC INVITE may require (anything else: 420)
REQUIRE_OK = frozenset({"siprec", "timer"})


class SiprecHost(CallHost, Protocol):
    """What SIPREC sessions need of the telephony service beyond a call's needs: its limits and refusals."""

    @property
    def limits(self) -> CallLimits:
        """Calls in all and per source (a SIPREC session counts as a call)."""

    @property
    def edge_audit(self) -> EdgeAudit:
        """Where refused requests are summarised for the audit log."""

    def refuse(self, req: Request, refusal: Refusal | None, *, stateless: bool = False) -> bool:
        """Send a limit's refusal; False when there is none."""

    def current_agents(self) -> Sequence[AgentSettings]:
        """The agents of the running configuration (it may change without a restart)."""

    @property
    def ended(self) -> Ended:
        """Calls and sessions ended a moment ago, for live flags that come after the end."""


class SiprecServer:
    """The SIPREC sessions of one telephony service (it owns their tasks; the service stops them)."""

    def __init__(self, svc: SiprecHost) -> None:
        self.svc = svc
        self.sessions: dict[str, SiprecSession] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self._refusals = LogEvery()

    def allowed(self, source: str) -> bool:
        """Whether ``source`` is inside ``sip.siprec_networks`` (never when the list is empty)."""
        try:
            addr = ipaddress.ip_address(source)
        except ValueError:
            return False
        return any(addr in net for net in self.svc.settings.siprec_networks)

    def handles(self, req: Request) -> bool:
        """Take ``req`` if it belongs to SIPREC (True), else leave it to the B2BUA (False)."""
        session = self.sessions.get(req.call_id)
        if session is not None:
            if not (req.method == "INVITE" and req.branch == session.invite.branch):
                session.on_request(req)
            return True
        if req.method != "INVITE" or not is_siprec(req):
            return False
        self._new(req)
        return True

    def _new(self, req: Request) -> None:
        svc = self.svc
        source = req.source[0] if req.source else "?"
        if not self.allowed(source):
            self._refuse(req, source)
            return
        if req.to_tag:
            svc.sip.respond(req, response_to(req, 481))  # an in-dialog request of no session here
            return
        unsupported = [t for t in req.get_all("Require") if t.strip().lower() not in REQUIRE_OK]
        if unsupported:
            svc.sip.respond(req, response_to(req, 420, extra=[("Unsupported", ", ".join(unsupported))]))
            return
        capacity = svc.ports.free_count // 2  # two RTP ports per session
        if svc.refuse(req, svc.limits.admit(source, time.monotonic(), capacity), stateless=True):
            return
        svc.sip.respond(req, response_to(req, 100))
        session = SiprecSession(svc, req, svc.current_agents, self._ended)
        svc.limits.started(source)
        self.sessions[req.call_id] = session
        task = asyncio.get_running_loop().create_task(session.run())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _refuse(self, req: Request, source: str) -> None:
        """403 without a transaction (a scanner's flood costs one datagram each), audited, logged rarely."""
        svc = self.svc
        svc.edge_audit.refused(NOT_ALLOWED.kind, source, NOT_ALLOWED.status)
        count = self._refusals.note(time.monotonic())
        if count is not None:
            log.warning(
                "SIPREC を拒否しました（%s は sip.siprec_networks の外）/ refused %d SIPREC INVITE(s), "
                "latest from %s: not in sip.siprec_networks",
                source, count, source,
            )  # fmt: skip
        resp = response_to(req, NOT_ALLOWED.status, to_tag=LIMIT_TAG, extra=NOT_ALLOWED.headers)
        svc.sip.respond_stateless(req, resp)

    def _ended(self, session: SiprecSession) -> None:
        if self.sessions.pop(session.call_id, None) is not None:
            self.svc.limits.finished(session.invite.source[0] if session.invite.source else "?")
            self.svc.ended.remember(session.call_id, session.meta)

    def hang_up(self) -> None:
        """End every session (the service is stopping): BYE to each SRC, recordings stored."""
        for s in list(self.sessions.values()):
            s.hang_up()
