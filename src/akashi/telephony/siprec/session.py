"""One SIPREC recording session (RFC 7866): two streams in, one stereo call out.

The SRC (an SBC or PBX) offers two ``sendonly`` streams; Akashi answers ``recvonly`` on a port per
stream and records the customer's stream as the left channel and the operator's as the right (see
:mod:`.roles`), exactly as a call through the B2BUA is stored. Nothing is played: the PBX plays the
notice, and analysis checks it on the operator channel (``notice_mode = "siprec"``). Re-INVITEs pause
(``a=inactive``), resume (``sendonly``) or move streams; metadata updates (complete or partial) rename
the parties. The SRC's BYE ends the session and the call goes to the store like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import TYPE_CHECKING, Any

from akashi.callfacts import CodecFacts, SiprecFacts
from akashi.errors import ProtocolError
from akashi.telephony.dialog import Dialog
from akashi.telephony.recorder import CallMeta, CallSpool, now
from akashi.telephony.sdp import Codec, choose_codecs, is_g711
from akashi.telephony.sip.build import new_tag, response_to
from akashi.telephony.sip.message import Request
from akashi.telephony.siprec import SiprecError, live
from akashi.telephony.siprec.body import read_body
from akashi.telephony.siprec.metadata import Metadata, Participant
from akashi.telephony.siprec.roles import Roles, decide, national, number_of
from akashi.telephony.siprec.sdp import AnswerStream, OfferedStream, answer, answer_direction, parse_offer

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from akashi.config.telephony import AgentSettings, RouteSettings
    from akashi.telephony.call.host import CallHost
    from akashi.telephony.media import RtpEndpoint

log = logging.getLogger(__name__)

#: the call's notice mode: the PBX plays the notice; analysis looks for it on the operator channel
NOTICE_MODE = "siprec"
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO"
#: at most this many parties and pauses are kept with a call (an SRC's updates are untrusted input)
MAX_PARTIES = 32
MAX_PAUSES = 200


def _warning(exc: ProtocolError) -> str:
    clean = "".join(ch for ch in exc.en if ch.isprintable() and ch not in '"\\')[:160]
    return f'399 akashi "SIPREC を録音できません (cannot record: {clean})"'


def _session_expires(req: Request) -> int | None:
    """The interval of a request's Session-Expires (None: absent or unreadable, so no timer)."""
    value = (req.get("Session-Expires") or req.get("x") or "").split(";", 1)[0].strip()
    return int(value) if value.isdigit() and len(value) <= 9 else None


class SiprecSession:
    """One recording session from an SRC, from its INVITE to its BYE."""

    def __init__(
        self,
        host: CallHost,
        invite: Request,
        agents: Callable[[], Sequence[AgentSettings]],
        on_end: Callable[[SiprecSession], None] | None = None,
    ) -> None:
        self.host = host
        self.invite = invite
        #: the configured agents (read at each decision: the configuration reloads while running)
        self.agents = agents
        self.on_end = on_end
        self.local_tag = new_tag()
        self.dialog = Dialog.from_uas(invite, self.local_tag, host.via_host, host.contact)
        self.ended = asyncio.Event()
        self.answered = False
        self.hangup_side = ""
        self.metadata: Metadata | None = None
        self.offer: list[OfferedStream] = []
        #: the recorded streams' offer indexes: customer (left), operator (right)
        self.index: tuple[int, int] = (0, 1)
        self.eps: list[RtpEndpoint] = []
        self.codecs: list[Codec] = []
        #: the SRC's media is IPv6 (Akashi's ports and SDP then use ``sip.ipv6_address``)
        self.v6 = False
        self.roles: Roles | None = None
        self.spool: CallSpool | None = None
        self.sdp_session = random.randint(1, 1 << 30)
        self.sdp_version = self.sdp_session
        self.paused_since: float | None = None
        self.pauses: list[list[float]] = []
        self.updates = 0
        #: every participant seen, by id (names change with metadata updates; transfers add parties)
        self.seen: dict[str, dict[str, str]] = {}
        self.meta = CallMeta(started_at=now(), call_ids=[invite.call_id], notice_mode=NOTICE_MODE)
        #: the customer's stream goes to live detection's tap (:mod:`akashi.telephony.siprec.live`)
        self.heard = False

    # -- what the service asks of a call --------------------------------------------------
    @property
    def call_id(self) -> str:
        """The SRC's Call-ID (the session's name in logs)."""
        return self.invite.call_id

    @property
    def dialog_ids(self) -> list[str]:
        """The session has one dialog."""
        return [self.invite.call_id]

    def respond(self, req: Request, status: int, **kw: Any) -> None:
        """Answer a request of this session's dialog."""
        self.host.sip.respond(req, response_to(req, status, to_tag=self.local_tag, **kw))

    def hang_up(self, side: str = "akashi") -> None:
        """Akashi ends the session (shutting down, media stopped): BYE to the SRC."""
        if self.ended.is_set():
            return
        self.hangup_side = self.hangup_side or side
        if self.answered:
            self.host.sip.request(self.dialog.new_request("BYE"), self.dialog.dest, lambda _r: None)
        self.ended.set()

    # -- the session ----------------------------------------------------------------------
    async def run(self) -> None:
        """The whole session: answer, record until BYE, hand the call to the store."""
        try:
            if await self._start():
                await self._watch_media()
        except Exception:
            log.exception("SIPREC session %s failed", self.call_id)
            self.meta.status = "failed"
            if not self.answered:
                with contextlib.suppress(Exception):
                    self.respond(self.invite, 500)
            self.hang_up()
        finally:
            await self._finish()

    async def _start(self) -> bool:
        """Check the offer, open the ports and the spool, answer; False when refused."""
        if self._too_short(self.invite):
            return False
        try:
            body = read_body(self.invite)
            if not body.sdp:
                raise SiprecError("SDP", "the INVITE has no SDP offer")
            self.offer = parse_offer(body.sdp)
            self.metadata = body.metadata
            self.index = self._recorded()
            self.codecs = self._codecs()
            self.v6 = any(
                ":" in a.address for a in (self.offer[i].audio for i in self.index) if a is not None
            )
            if self.v6 and not self.host.ports.has_ipv6:
                raise SiprecError("SDP", "IPv6 media needs sip.ipv6_address")
        except ProtocolError as exc:
            log.warning("SIPREC session %s refused: %s", self.call_id, exc.en)
            self.respond(self.invite, 488, extra=[("Warning", _warning(exc))])
            return False
        labels = [self._label(i) for i in self.index]
        agents = [a.sip_user for a in self.agents()]
        routes = [r.match for r in self.host.settings.routes]
        self.roles = decide(self.metadata, labels, agents, routes)
        if self.roles.customer_label != labels[0]:
            self.index = (self.index[1], self.index[0])
        self._describe()
        src = self.invite.source[0] if self.invite.source else None
        for i in self.index:
            ep = await self.host.ports.open(ipv6=self.v6)
            ep.label = f"{self.call_id} siprec {self._label(i)}"
            ep.signal_ip = src
            ep.forward = False
            self.eps.append(ep)
        self.spool = self.host.open_spool(self.meta)
        self._apply(self.offer)
        self.respond(
            self.invite, 200, contact=self.host.contact, body=self._answer(), content_type="application/sdp",
            extra=[("Allow", ALLOW), *self._timer(self.invite)],
        )  # fmt: skip
        self.answered = True
        self.meta.answered_at = self.meta.bridged_at = now()
        self.meta.status = "completed"
        self._save()
        live.start(self, self._route(self.meta.dialled if self.meta.direction == "in" else self.meta.caller))
        return True

    def _too_short(self, req: Request) -> bool:
        """RFC 4028: a Session-Expires below ``sip.min_se_s`` is answered 422 with our Min-SE."""
        delta = _session_expires(req)
        if delta is None or delta >= self.host.settings.min_se_s:
            return False
        self.respond(req, 422, extra=[("Min-SE", str(self.host.settings.min_se_s))])
        return True

    def _timer(self, req: Request) -> list[tuple[str, str]]:
        """The 2xx's session timer (RFC 4028): the SRC asked for one, so the SRC refreshes it."""
        delta = _session_expires(req)
        return [] if delta is None else [("Session-Expires", f"{delta};refresher=uac"), ("Require", "timer")]

    def _label(self, i: int) -> str:
        return self.offer[i].label or str(i + 1)

    def _recorded(self) -> tuple[int, int]:
        """The two audio streams recorded (the first two offered with a port)."""
        audio = [s.index for s in self.offer if s.audio is not None and s.audio.port]
        if len(audio) < 2:
            raise SiprecError(
                "SDP", "two audio streams are needed (one per party): set the SRC to separate streams"
            )
        return audio[0], audio[1]

    def _codecs(self) -> list[Codec]:
        """One codec for both streams (one stereo file): the first G.711 (else other) codec of the first."""
        first, second = (self.offer[i].audio for i in self.index)
        assert first is not None and second is not None
        codecs = choose_codecs(first, relay_any=True)
        if not codecs:
            raise SiprecError("SDP", "no audio codec offered")
        c = codecs[0]
        other = second.codec(c.pt)
        if other is None or other.name.upper() != c.name.upper() or other.rate != c.rate:
            raise SiprecError("SDP", f"both streams must offer {c.name}/{c.rate} as payload type {c.pt}")
        self.meta.codec, self.meta.payload_type = c.name, c.pt
        if not is_g711(c):
            self.meta.extra.codec = CodecFacts(name=c.name, rate=c.rate, fmtp=c.fmtp)
        return codecs

    def _apply(self, offer: list[OfferedStream]) -> None:
        """Each recorded port listens to its stream's address; it records unless the SRC paused it."""
        assert self.spool is not None
        sinks = (self.spool.caller, self.spool.heard)
        paused = True
        for ep, i, sink in zip(self.eps, self.index, sinks, strict=True):
            audio = offer[i].audio
            if audio is None:
                continue
            ep.set_remote((audio.address, audio.port) if audio.port else None, self.codecs)
            active = audio.direction in ("sendonly", "sendrecv") and bool(audio.port)
            ep.record_in = sink if active else None
            paused = paused and not active
        t = now()
        if paused and self.paused_since is None:
            self.paused_since = t
        elif not paused and self.paused_since is not None:
            if len(self.pauses) < MAX_PAUSES:
                self.pauses.append([self.paused_since, t])
            self.paused_since = None

    def _answer(self) -> bytes:
        self.sdp_version += 1
        ours = []
        for s in self.offer:
            if s.index in self.index and s.audio is not None and s.audio.port:  # port 0: a stream removed
                ep = self.eps[self.index.index(s.index)]
                ours.append(AnswerStream(ep.port, tuple(self.codecs), answer_direction(s.audio.direction)))
            else:
                ours.append(AnswerStream(0))
        address = self.host.settings.ipv6_address if self.v6 else self.host.media_address
        return answer(self.offer, ours, address, (self.sdp_session, self.sdp_version))

    def _describe(self) -> None:
        """Numbers, names, agent and site of the call from the metadata and the configuration."""
        roles = self.roles
        assert roles is not None
        cust, op = roles.customer, roles.operator
        cust_no = number_of(cust.aor) if cust else ""
        op_no = number_of(op.aor) if op else ""
        m = self.meta
        m.direction = "in" if roles.inbound else "out"
        m.caller, m.dialled = (cust_no, op_no) if roles.inbound else (op_no, cust_no)
        route = self._route(op_no)
        m.site = route.site if route is not None else ""
        self._operator(op)
        for p in (self.metadata.participants if self.metadata else ())[:MAX_PARTIES]:
            self.seen[p.id] = {
                "aor": p.aor,
                "name": p.name,
                "number": number_of(p.aor),
                "role": self._role(p),
            }
        self._facts(route)

    def _role(self, p: Participant) -> str:
        roles = self.roles
        if roles is None:
            return ""
        if roles.customer is not None and p.id == roles.customer.id:
            return "customer"
        if roles.operator is not None and p.id == roles.operator.id:
            return "operator"
        return ""

    def _route(self, number: str) -> RouteSettings | None:
        routes = self.host.settings.routes
        hit = next((r for r in routes if number and national(r.match) == national(number)), None)
        return hit or next((r for r in routes if r.match == "*"), None)

    def _facts(self, route: RouteSettings | None = None) -> None:
        roles = self.roles
        assert roles is not None
        cust, op = roles.customer, roles.operator
        self.meta.extra.siprec = SiprecFacts(
            src=self.invite.source[0] if self.invite.source else "",
            basis=roles.basis,
            labels={"customer": roles.customer_label, "operator": roles.operator_label},
            customer_name=cust.name if cust else "",
            operator_name=op.name if op else "",
            participants=[dict(p) for p in self.seen.values()],
            session_ids=[s.id for s in self.metadata.sessions] if self.metadata else [],
            pauses=[list(p) for p in self.pauses],
            metadata_updates=self.updates,
        )
        if route is not None:
            self.meta.extra.announcement = route.announcement

    # -- requests within the session ------------------------------------------------------
    def on_request(self, req: Request) -> None:
        """A request of the session's dialog."""
        m = req.method
        if m == "ACK":
            self.host.sip.ack_received(req.call_id, req.cseq[0])
        elif m == "BYE":
            self.respond(req, 200)
            self.hangup_side = self.hangup_side or "caller"
            self.ended.set()
        elif m == "CANCEL":
            self.respond(req, 200)
            if not self.answered:
                self.respond(self.invite, 487)
                self.hangup_side = "caller"
                self.ended.set()
        elif m in ("INVITE", "UPDATE"):
            self._update(req)
        elif m in ("OPTIONS", "INFO"):
            self.respond(req, 200, extra=[("Allow", ALLOW)])
        else:
            self.respond(req, 405, extra=[("Allow", ALLOW)])

    def _update(self, req: Request) -> None:
        """A re-INVITE or UPDATE: new metadata (merged), new SDP (pause, resume, moved streams)."""
        if not self.answered or self.ended.is_set():
            self.respond(req, 491 if req.method == "INVITE" else 500, extra=[("Retry-After", "1")])
            return
        if self._too_short(req):
            return
        try:
            body = read_body(req)
            offer = parse_offer(body.sdp) if body.sdp else None
            if offer is not None and (
                len(offer) < len(self.offer) or any(offer[i].audio is None for i in self.index)
            ):
                raise SiprecError("SDP", "a re-offer must keep both recorded streams")
        except ProtocolError as exc:
            self.respond(req, 488, extra=[("Warning", _warning(exc))])
            return
        if body.metadata is not None:
            self.updates += 1
            old = self.metadata or Metadata()
            self.metadata = old.merge(body.metadata)
            self._renamed()
        if offer is not None:
            self.offer = offer
            self._apply(offer)
        self._facts()
        self._save()
        timer = self._timer(req)  # a refresh (RFC 4028) is a re-INVITE or UPDATE like any other
        if req.method == "INVITE" or offer is not None:
            self.respond(
                req, 200, contact=self.host.contact, body=self._answer(), content_type="application/sdp",
                extra=timer,
            )  # fmt: skip
        else:
            self.respond(req, 200, extra=timer)

    def _renamed(self) -> None:
        """Metadata changed: who sends each recorded stream now (a transfer brings another agent)."""
        meta, roles = self.metadata, self.roles
        assert meta is not None and roles is not None
        for p in meta.participants:
            if p.id not in self.seen and len(self.seen) >= MAX_PARTIES:
                continue  # an SRC naming ever more parties must not grow the stored call without end
            self.seen.setdefault(p.id, {})
            self.seen[p.id].update(aor=p.aor, name=p.name, number=number_of(p.aor))
            if p.left:
                self.seen[p.id]["left"] = "true"  # its role stays: who was on the call, and when it ended
        cust = meta.sender_of(roles.customer_label) or roles.customer
        op = meta.sender_of(roles.operator_label) or roles.operator
        self.roles = Roles(roles.customer_label, roles.operator_label, cust, op, roles.basis, roles.inbound)
        for who in (cust, op):
            if who is not None and who.id in self.seen:
                self.seen[who.id]["role"] = self._role(who)
        if op is not None and op is not roles.operator:
            self._operator(op)

    def _operator(self, op: Participant | None) -> None:
        """The call's agent: the configured agent of the operator's number, else the metadata's name."""
        number = number_of(op.aor) if op is not None else ""
        agent = next((a for a in self.agents() if number and national(a.sip_user) == national(number)), None)
        m = self.meta
        if agent is not None:
            m.agent, m.agent_sip_user, m.site = agent.name, agent.sip_user, agent.site or m.site
        elif op is not None:
            m.agent, m.agent_sip_user = op.name or number, number

    def _save(self) -> None:
        if self.spool is not None:
            self.spool.save()

    async def _watch_media(self) -> None:
        """Wait for the end; a session whose streams stopped (not paused) ends after ``rtp_timeout_s``."""
        limit = self.host.settings.rtp_timeout_s
        while not self.ended.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.ended.wait(), timeout=min(1.0, limit))
            if self.ended.is_set() or self.paused_since is not None:
                continue
            if time.time() - max(ep.last_rx for ep in self.eps) > limit:
                self.meta.extra.rtp_timeout_s = limit
                self.hang_up("timeout")

    async def _finish(self) -> None:
        for ep in self.eps:
            ep.close()
        for ep in self.eps:  # a media worker sends the last counters (refusals) as it lets the port go
            await ep.closed_fully()
        sides = list(zip(("customer", "operator"), self.eps, strict=False))
        refused = {side: dict(ep.refused) for side, ep in sides if ep.refused}
        if refused:  # RTP from elsewhere than the SRC's streams: kept with the call and audited
            self.meta.extra.rtp_refused = refused
            self.meta.extra.rtp_refused_from = {side: ep.refused_sources for side, ep in sides if ep.refused}
        if self.paused_since is not None:
            self.pauses.append([self.paused_since, now()])
            self.paused_since = None
        self.meta.ended_at = now()
        self.meta.hangup_side = self.hangup_side or "akashi"
        if self.roles is not None:
            self._facts()
        if not self.answered and self.meta.status == "interrupted":
            self.meta.status = "missed"  # ended (CANCEL) before it was answered
        self.meta.finished = True
        self.ended.set()
        if self.answered:
            live.end(self)
        self.host.call_finished(self)
        if self.on_end is not None:
            self.on_end(self)
