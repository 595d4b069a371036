"""An outbound call: an operator's phone -> Akashi -> the trunk, recorded like inbound calls.

The customer is the called party here: the left channel is what the customer said, the right
what the customer heard (the notice, when outbound notices are on, then the operator).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from akashi.config.telephony import AgentSettings, RouteSettings, TrunkSettings
from akashi.errors import ProtocolError
from akashi.telephony.authguard import AuthGuard, OutboundRefusal
from akashi.telephony.call import numbers
from akashi.telephony.call.host import CallHost
from akashi.telephony.dialplan import check_number
from akashi.telephony.identity import OutboundIdentity, outbound_identity, split_privacy_prefix
from akashi.telephony.legmedia import rekey
from akashi.telephony.recorder import now
from akashi.telephony.sdp import AudioSession, Codec, parse_sdp
from akashi.telephony.sip.build import response_to
from akashi.telephony.sip.digest import (
    NonceBook,
    challenges,
    check_authorization,
    parse_challenge,
)
from akashi.telephony.sip.grammar import split_hostport
from akashi.telephony.sip.uri import parse_name_addr
from akashi.telephony.srtp import SrtpRefused, sessions, take_answer

if TYPE_CHECKING:
    from akashi.telephony.media import RtpEndpoint
    from akashi.telephony.recorder import CallMeta
    from akashi.telephony.sip.message import Request, Response
    from akashi.telephony.srtp import LegCrypto

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


@dataclass
class OutboundSide:
    """The direction policy of an agent's outbound call: who places it, through which trunk and as whom.

    A call with an ``OutboundSide`` is the same :class:`~akashi.telephony.calls.Call` as an inbound one;
    its machine's :data:`~akashi.telephony.call.machine.OUTBOUND` direction puts the agent on the A leg
    and the customer (the trunk) on the B leg, and plays the notice once the customer answers.
    """

    agent: AgentSettings
    trunk: TrunkSettings
    #: the From, P-Asserted-Identity and Privacy the trunk sees: never the phone's own address
    identity: OutboundIdentity
    #: the number dialled, without a 184/186 prefix
    dialled: str
    #: the outbound notice is on for this agent (its own setting, else the global one)
    notice_on: bool
    #: the agent's phone was sent Akashi's SDP with a 183 (early media relayed)
    early_sdp: bool = False

    @classmethod
    def of(cls, host: CallHost, invite: Request, agent: AgentSettings, trunk: TrunkSettings) -> OutboundSide:
        """The outbound side of ``invite``, an authenticated agent's call placed on ``trunk``."""
        dialled, withheld = split_privacy_prefix(numbers.dialled(invite))  # 184/186 stripped
        identity = outbound_identity(trunk, agent.sip_user, host.host, withheld is True)
        own = agent.outbound_notice
        notice_on = host.settings.outbound_notice if own is None else own
        return cls(agent, trunk, identity, dialled, notice_on)

    def route(self, announcement: str) -> RouteSettings:
        """The call's route: the trunk, rung in parallel for up to :data:`OUTBOUND_RING_S`."""
        return RouteSettings(
            match=self.dialled or "*",
            ring=[trunk_uri(self.dialled, self.trunk)],
            site=self.agent.site,
            srtp=self.trunk.srtp,
            ring_timeout_s=int(OUTBOUND_RING_S),
            announcement=announcement,
        )

    def describe(self, meta: CallMeta) -> None:
        """What is stored of the call's direction: the agent calls the dialled number."""
        meta.direction = "out"
        meta.caller = self.agent.sip_user
        meta.dialled = self.dialled
        meta.agent = self.agent.name
        meta.agent_sip_user = self.agent.sip_user
        meta.site = self.agent.site
        if self.identity.withheld:
            meta.extra.caller_withheld = True


class EarlyCall(Protocol):
    """What relaying the trunk's early media to the agent's phone reads and changes of the call."""

    a_rtp: RtpEndpoint | None
    b_rtp: RtpEndpoint | None
    b_crypto: LegCrypto | None
    late_answer: asyncio.Event | None
    meta: CallMeta

    @property
    def host(self) -> CallHost:
        """The service."""

    @property
    def ringing_unanswered(self) -> bool:
        """The call rings and the agent's phone has no 2xx yet."""

    def respond(self, status: int, reason: str | None = None, **kw: Any) -> None:
        """Answer the agent's INVITE."""

    def answer_sdp(self) -> bytes:
        """Akashi's one SDP answer to the agent's offer."""

    def save(self) -> None:
        """Write the call's metadata."""


def relay_early(call: EarlyCall, side: OutboundSide, resp: Response) -> None:
    """The trunk rings (180) or plays something before an answer (183 with SDP: ringback, "this
    number is not in service"): the agent's phone is told the same, and hears and the call records
    the early media (the customer's channel), since it is part of what happened.

    Early media goes one way only, trunk to agent: nothing the agent says reaches the trunk before
    the answer. A trunk leg with SRTP gives its key in the 183 (taken here; the 200 may change it).
    A phone that made a late offer (its INVITE had no SDP) gets the 18x without media: Akashi's offer
    cannot go in an unreliable 183 (RFC 3261 13.2.1), but the early media is still recorded.
    """
    a, b = call.a_rtp, call.b_rtp
    if not call.ringing_unanswered or a is None or b is None:
        return
    sdp = None
    if resp.body and "sdp" in (resp.get("Content-Type") or "").lower():
        with contextlib.suppress(ProtocolError):
            sdp = parse_sdp(resp.body)
    if sdp is not None and sdp.port and b.reaches(sdp.address) and _early_keys(call, sdp):
        if resp.source is not None:
            b.signal_ip = resp.source[0]
        b.set_remote((sdp.address, sdp.port), sdp.codecs)
        if call.meta.extra.early_media_at is None:
            call.meta.extra.early_media_at = now()
            call.save()
        if call.late_answer is None:  # the phone's offer is answered in the 183: it hears the media
            b.peer = a  # a.forward stays off until the bridge: one way
            side.early_sdp = True
    status = resp.status if resp.status in (180, 181, 182, 183) else 183
    if side.early_sdp:
        body = call.answer_sdp()
        call.respond(status, contact=call.host.contact, body=body, content_type="application/sdp")
    else:
        call.respond(status)


def _early_keys(call: EarlyCall, sdp: AudioSession) -> bool:
    """An SRTP trunk's key from its 183 (True when the early media can be unprotected, or is plain).

    A 183 without a key for Akashi's offer carries no usable media: no early media (its 200 decides
    whether the call goes on, :func:`~akashi.telephony.legmedia.take_leg_answer`).
    """
    keys, b = call.b_crypto, call.b_rtp
    if keys is None or b is None:
        return True
    if b.srtp_rx is None:
        try:
            take_answer(keys, sdp, "trunk")
        except SrtpRefused:
            return False
        b.srtp_tx, b.srtp_rx = sessions(keys)
        return True
    return rekey(b, keys, sdp) is None  # a second 183 (another announcement) with a new key


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


def outbound_agent(svc: OutboundHost, req: Request, nonces: NonceBook) -> tuple[bool, AgentSettings | None]:
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
    if agent is None and svc.route_for(numbers.dialled(req, settings.trunks)) is not None:
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
        good = (
            bool(secret)
            and _username(cred) == user
            and check_authorization(
                cred, method="INVITE", password=secret, realm=settings.realm, request_uri=req.uri
            )
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
