"""An outbound call: an operator's phone -> Akashi -> the trunk, recorded like inbound calls.

The customer is the called party here: the left channel is what the customer said, the right
what the customer heard (the notice, when outbound notices are on, then the operator).
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from akashi.config.telephony import AgentSettings, AnnouncementSettings, RouteSettings, TrunkSettings
from akashi.errors import ProtocolError
from akashi.telephony.authguard import AuthGuard, OutboundRefusal
from akashi.telephony.call import numbers
from akashi.telephony.call.host import CallHost
from akashi.telephony.call.machine import OUTBOUND, LegAnswered
from akashi.telephony.call.state import CallState
from akashi.telephony.calls import InboundCall
from akashi.telephony.dialplan import check_number
from akashi.telephony.identity import outbound_identity, split_privacy_prefix
from akashi.telephony.legmedia import take_leg_answer
from akashi.telephony.legs import LegState
from akashi.telephony.media import RtpEndpoint
from akashi.telephony.recorder import now
from akashi.telephony.sdp import AudioSession, Codec, answer_direction
from akashi.telephony.sip.build import response_to
from akashi.telephony.sip.digest import NonceBook, challenges, check_authorization, parse_challenge
from akashi.telephony.sip.grammar import split_hostport
from akashi.telephony.sip.uri import parse_name_addr
from akashi.telephony.trunks import credentials

if TYPE_CHECKING:
    from akashi.telephony.sip.message import Request

log = logging.getLogger(__name__)

#: how long the trunk may ring before the operator's call is given up
OUTBOUND_RING_S = 120.0


class OutboundHost(CallHost, Protocol):
    """What deciding on an agent's outbound call needs of the service, besides what calls need."""

    @property
    def auth_guard(self) -> AuthGuard:
        """Digest failures per agent and source, and the locks they cause."""

    @property
    def report_refusal(self) -> Callable[[OutboundRefusal], None]:
        """Where refused outbound attempts go (the access layer audits them)."""

    def route_for(self, dialled: str) -> RouteSettings | None:
        """The inbound route of a dialled number."""


class OutboundCall(InboundCall):
    """One call from an agent's phone to the trunk."""

    direction = OUTBOUND
    a_side = OUTBOUND.a_side
    b_side = OUTBOUND.b_side

    def __init__(
        self, host: CallHost, invite: Request, agent: AgentSettings, trunk: TrunkSettings
    ) -> None:
        dialled, withheld = split_privacy_prefix(numbers.dialled(invite))  # 184/186 stripped
        route = RouteSettings(
            match=dialled or "*", ring=[trunk_uri(dialled, trunk)], site=agent.site, srtp=trunk.srtp
        )
        super().__init__(host, invite, route)
        self.agent = agent
        self.trunk = trunk
        self.meta.direction = "out"
        self.meta.caller = agent.sip_user
        self.meta.dialled = dialled
        self.meta.agent = agent.name
        self.meta.agent_sip_user = agent.sip_user
        self.meta.site = agent.site
        #: the From, P-Asserted-Identity and Privacy the trunk sees: never the phone's own address
        self.identity = outbound_identity(trunk, agent.sip_user, host.host, withheld is True)
        if self.identity.withheld:
            self.meta.extra.caller_withheld = True

    def caller_name_addr(self) -> str:
        """The From toward the trunk: the trunk's from_user@from_domain, or anonymous (184)."""
        return self.identity.from_

    def identity_headers(self) -> tuple[tuple[str, str], ...]:
        """P-Asserted-Identity / P-Preferred-Identity and Privacy of the trunk leg."""
        return self.identity.headers

    @property
    def customer_rtp(self) -> RtpEndpoint | None:
        """The customer is on the trunk side."""
        return self.b_rtp

    def notice_on(self) -> bool:
        """Outbound notice: the agent's own setting, else the global one."""
        own = self.agent.outbound_notice
        return self.host.settings.outbound_notice if own is None else own

    def needs_notice(self, ann: AnnouncementSettings | None) -> bool:
        """Only when outbound notices are on for this agent."""
        return super().needs_notice(ann) and self.notice_on()

    async def _run(self) -> None:
        announcement = self.host.settings.outbound_announcement
        ann = await self._prepare(announcement)
        if ann is False:
            return
        assert self.a_rtp is not None and self.b_rtp is not None and not isinstance(ann, bool)
        notice = self.notice_codec
        self.meta.notice_mode = "automatic" if notice else ""
        self.runner.execute(self.machine.on_offer(acceptable=True, notice=notice))  # Ringing
        if not self.at(CallState.RINGING):
            return  # the operator hung up while the media was prepared
        auth = credentials(self.trunk)  # sent only to the trunk's host (and realm)
        leg = await self._ring(list(self.route.ring), "parallel", OUTBOUND_RING_S, auth)
        if leg is None:
            return
        if self.over:
            if leg.state is LegState.ANSWERED:
                leg.bye()  # the customer answered as the operator hung up: never bridged
            return
        assert leg.answer is not None
        self.meta.answered_at = now()  # the customer answered: the recording starts here
        codec = self.codec
        ans = take_leg_answer(self, leg)  # its address, codecs and SRTP keys (SrtpRefused: the call fails)
        if ans is not None:
            codec = answered_codec(ans, self.codec)
        self._save()
        self.runner.execute(self.machine.on_response(LegAnswered()))  # Noticing (notice on), or Bridged
        if self.at(CallState.NOTICING):
            if not await self._play_notice(announcement, self.b_rtp, codec):
                leg.bye()
                return
            self.runner.execute(self.machine.on_media_event("notice_done"))  # Bridged
        if not self.at(CallState.BRIDGED):
            leg.bye()  # the operator hung up as the notice ended
            return
        offer = self.offer
        self._answer_caller(
            self.our_sdp(self.a_rtp.port, offer, answer_direction(offer.direction)), answered=False
        )
        self._bridge(leg)
        await self._watch_media()


def answered_codec(answer: AudioSession, offered: Codec) -> Codec:
    """The offered codec as the trunk answered it: its payload type and fmtp (what it receives)."""
    for c in answer.codecs:
        if not c.is_dtmf and c.name.upper() == offered.name.upper() and c.rate == offered.rate:
            fmtp = c.fmtp if c.name.upper() == "OPUS" else offered.fmtp
            return Codec(c.pt, offered.name, c.rate, fmtp, offered.channels)
    return offered


def trunk_uri(number: str, trunk: TrunkSettings) -> str:
    """The Request-URI of a call to ``number`` through ``trunk``."""
    host = trunk.host if trunk.host.startswith("[") or trunk.host.count(":") <= 1 else f"[{trunk.host}]"
    params = f";transport={trunk.transport}" if trunk.transport != "udp" else ""
    return f"sip:{number}@{host}{params}"


#: the Warning of a refusal while an agent/source pair is locked
LOCKED = (
    '399 akashi "認証の失敗が続いたため一時的に発信できません / '
    'locked after repeated authentication failures; try again later"'
)
#: the Warning of a call from outside ``sip.agent_networks``
OUTSIDE = '399 akashi "この場所からは発信できません / not allowed to call out from this address"'
#: the Warning to an agent without a secret (only inside an explicit ``sip.agent_networks``)
NOT_ENROLLED = (
    '399 akashi "この担当者には発信用のパスワードがありません / '
    'no outbound secret is set for this agent (akashi agent secret)"'
)
#: at most one log line per (reason, user, address) in this many seconds: scanners send thousands
LOG_EVERY_S = 60.0


def outbound_agent(
    svc: OutboundHost, req: Request, nonces: NonceBook
) -> tuple[bool, AgentSettings | None]:
    """Whether an INVITE is an agent's outbound call, and the agent once it is authenticated.

    ``(False, None)``: not an outbound call (from a trunk, or from someone who is not an agent
    calling a number an inbound route takes): route it inbound. ``(True, None)``: answered here:
    407 digest challenge, or 403 with a ``Warning`` (outside ``sip.agent_networks``, locked after
    repeated failures, a number the trunk's dial plan refuses). ``(True, agent)``: place the call.

    Every outbound call is authenticated with the agent's digest secret; the From user and the digest
    username must both be the agent. A From user that is no agent gets exactly the answers an agent
    gets (a scanner cannot tell which extensions exist), and can never authenticate.
    """
    settings = svc.settings
    if not settings.trunks or _from_trunk(settings.trunks, req.source):
        return False, None
    user = numbers.uri_user(parse_name_addr(req.header("From")).uri)
    agent = svc.agent_for(user)
    if agent is None and svc.route_for(numbers.dialled(req)) is not None:
        return False, None
    trunk = settings.trunks[0]
    ip = req.source[0] if req.source else ""
    where = f"{ip}:{req.source[1]}" if req.source else "?"

    def refuse(
        reason: str, warning: str, *, audit: bool = True, detail: str = "", message: str = ""
    ) -> tuple[bool, None]:
        svc.sip.respond(req, response_to(req, 403, to_tag="auth", extra=[("Warning", warning)]))
        if not audit:  # a repeat of a refusal already logged and audited within the minute
            return True, None
        svc.report_refusal(
            OutboundRefusal(
                reason=reason,
                sip_user=user,
                agent=agent.name if agent else "",
                source=where,
                dialled=numbers.dialled(req),
                trunk=trunk.name,
                detail=detail,
                message=message or warning.split('"', 1)[1].rstrip('"'),
            )
        )
        return True, None

    guard = svc.auth_guard
    if settings.agent_networks and not _in_networks(req.source, settings.agent_networks):
        first = guard.should_log("network", user, ip, time.monotonic(), LOG_EVERY_S)
        if first:
            log.warning(
                "発信を拒否: %s は sip.agent_networks の外です / outbound refused: %s (From %s) is outside "
                "sip.agent_networks", where, where, user,
            )  # fmt: skip
        return refuse("network", OUTSIDE, audit=first)
    if guard.locked(user, ip, time.monotonic()):
        return refuse("locked", LOCKED, audit=False)  # logged and audited when the lock began
    secret = agent.password.get_secret_value() if agent is not None else ""
    if agent is not None and not secret:
        first = guard.should_log("no_secret", user, ip, time.monotonic(), LOG_EVERY_S)
        if first:
            log.warning(
                "発信を拒否: 担当者 %s にパスワードがありません / outbound refused: agent %s has no secret "
                "(akashi agent secret %s)", user, user, user,
            )  # fmt: skip
        if settings.agent_networks:  # an explicitly trusted network: say why
            return refuse("no_secret", NOT_ENROLLED, audit=first)
    cred = req.get("Proxy-Authorization")
    good = False
    if cred is not None:
        good = bool(secret) and _username(cred) == user and check_authorization(
            cred, method="INVITE", password=secret, realm=settings.realm, request_uri=req.uri
        )
        if not good and guard.failure(user, ip, time.monotonic()):
            log.warning(
                "%s から %s への認証失敗が %d 回続いたため %d 秒ロックします / digest failures for %s from %s: "
                "locked for %d s",
                ip, user, guard.max_failures, guard.lock_s, user, ip, guard.lock_s,
            )  # fmt: skip
            return refuse("locked", LOCKED)
    # a right password on an expired, unknown or already-counted nonce (a replay) is stale
    if not (good and cred is not None and nonces.use(cred, time.monotonic())):
        _challenge(svc, req, nonces, stale=good)
        return True, None
    assert agent is not None
    guard.success(user, ip)
    dialled = split_privacy_prefix(numbers.dialled(req))[0]  # 184/186: the number after it is checked
    refusal = check_number(dialled, trunk)
    if refusal is not None:
        log.warning(
            "発信を拒否: %s（%s）が %s に発信（%s）/ outbound refused: agent %s (%s) from %s dialled %s "
            "through trunk %s: %s",
            agent.name, user, dialled, refusal.ja, agent.name, user, where, dialled, trunk.name, refusal.en,
        )  # fmt: skip
        return refuse("dial_plan", refusal.warning(), detail=refusal.reason, message=refusal.message)
    return True, agent


def _challenge(svc: OutboundHost, req: Request, nonces: NonceBook, *, stale: bool) -> None:
    nonce = nonces.issue(time.monotonic())
    realm = svc.settings.realm
    extra = ", stale=true" if stale else ""
    # SHA-256 first, then MD5 (RFC 8760): each phone answers the strongest it knows
    offered = challenges(realm, nonce, stale=bool(extra), algorithms=svc.settings.digest_algorithms)
    offers = [("Proxy-Authenticate", c) for c in offered]
    svc.sip.respond(req, response_to(req, 407, to_tag="auth", extra=offers))


def _username(cred: str) -> str:
    try:
        return parse_challenge(cred).get("username", "")
    except ProtocolError:
        return ""


def _from_trunk(trunks: list[TrunkSettings], source: tuple[str, int] | None) -> bool:
    if source is None:
        return False
    for t in trunks:
        host, port = split_hostport(t.host, "trunk host")
        if host == source[0] and (port is None or port == source[1]):
            return True
    return False


def _in_networks(
    source: tuple[str, int] | None, networks: Sequence[str | ipaddress.IPv4Network | ipaddress.IPv6Network]
) -> bool:
    if source is None:
        return False
    try:
        addr = ipaddress.ip_address(source[0])
    except ValueError:
        return False
    return any(addr in ipaddress.ip_network(n, strict=False) for n in networks)
