"""An outbound call: an operator's phone -> Akashi -> the trunk, recorded like inbound calls.

The customer is the called party here: the left channel is what the customer said, the right
what the customer heard (the notice, when outbound notices are on, then the operator).
"""

from __future__ import annotations

import ipaddress
import time
from typing import TYPE_CHECKING

from akashi.config.telephony import AgentSettings, AnnouncementSettings, RouteSettings, TrunkSettings
from akashi.telephony.calls import CallState, InboundCall, _dialled, _user
from akashi.telephony.legmedia import take_leg_answer
from akashi.telephony.media import RtpEndpoint
from akashi.telephony.recorder import now
from akashi.telephony.sdp import AudioSession, Codec, answer_direction
from akashi.telephony.sip.build import response_to
from akashi.telephony.sip.digest import NonceBook, challenges, check_authorization
from akashi.telephony.sip.message import split_hostport
from akashi.telephony.sip.uri import parse_name_addr
from akashi.telephony.trunks import credentials

if TYPE_CHECKING:
    from akashi.telephony.service import TelephonyService
    from akashi.telephony.sip.message import Request

#: how long the trunk may ring before the operator's call is given up
OUTBOUND_RING_S = 120.0


class OutboundCall(InboundCall):
    """One call from an agent's phone to the trunk."""

    a_side = "operator"
    b_side = "caller"

    def __init__(
        self, svc: TelephonyService, invite: Request, agent: AgentSettings, trunk: TrunkSettings
    ) -> None:
        dialled = _dialled(invite)
        route = RouteSettings(
            match=dialled or "*", ring=[trunk_uri(dialled, trunk)], site=agent.site, srtp=trunk.srtp
        )
        super().__init__(svc, invite, route)
        self.agent = agent
        self.trunk = trunk
        self.meta.direction = "out"
        self.meta.caller = agent.sip_user
        self.meta.dialled = dialled
        self.meta.agent = agent.name
        self.meta.agent_sip_user = agent.sip_user
        self.meta.site = agent.site

    @property
    def customer_rtp(self) -> RtpEndpoint | None:
        """The customer is on the trunk side."""
        return self.b_rtp

    def notice_on(self) -> bool:
        """Outbound notice: the agent's own setting, else the global one."""
        own = self.agent.outbound_notice
        return self.svc.settings.outbound_notice if own is None else own

    def needs_notice(self, ann: AnnouncementSettings | None) -> bool:
        """Only when outbound notices are on for this agent."""
        return super().needs_notice(ann) and self.notice_on()

    async def _run(self) -> None:
        announcement = self.svc.settings.outbound_announcement
        ann = await self._prepare(announcement)
        if ann is False:
            return
        assert self.a_rtp is not None and self.b_rtp is not None and not isinstance(ann, bool)
        notice = self.notice_codec
        self.meta.notice_mode = "automatic" if notice else ""
        self.state = CallState.RINGING
        auth = credentials(self.trunk)  # sent only to the trunk's host (and realm)
        leg = await self._ring(list(self.route.ring), "parallel", OUTBOUND_RING_S, auth)
        if leg is None:
            return
        assert leg.answer is not None
        self.meta.answered_at = now()  # the customer answered: the recording starts here
        codec = self.codec
        ans = take_leg_answer(self, leg)  # its address, codecs and SRTP keys (SrtpRefused: the call fails)
        if ans is not None:
            codec = answered_codec(ans, self.codec)
        self._save()
        if notice and not await self._play_notice(announcement, self.b_rtp, codec):
            leg.bye()
            return
        offer = self.offer
        self._answer_caller(
            self._our_sdp(self.a_rtp.port, offer, answer_direction(offer.direction)), answered=False
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


def outbound_agent(
    svc: TelephonyService, req: Request, nonces: NonceBook
) -> tuple[bool, AgentSettings | None]:
    """Whether an INVITE is an agent's outbound call, and the agent once it is authenticated.

    ``(False, None)``: not an outbound call (from the trunk, or from no agent's phone): route it
    inbound. ``(True, None)``: answered here (407 digest challenge, or 403 from outside
    ``sip.agent_networks`` for agents without a password). ``(True, agent)``: place the call.
    """
    settings = svc.settings
    if not settings.trunks or _from_trunk(settings.trunks, req.source):
        return False, None
    agent = svc.agent_for(_user(parse_name_addr(req.header("From")).uri))
    if agent is None:
        return False, None
    password = agent.password.get_secret_value()
    if password:
        cred = req.get("Proxy-Authorization")
        good = cred is not None and check_authorization(
            cred, method="INVITE", password=password, realm=settings.realm, request_uri=req.uri
        )
        # a right password on an expired, unknown or already-counted nonce (a replay) is stale
        if not (good and cred is not None and nonces.use(cred, time.monotonic())):
            stale = ", stale=true" if good else ""
            nonce = nonces.issue(time.monotonic())
            offered = challenges(settings.realm, nonce, stale=bool(stale), algorithms=settings.digest_algorithms)
            offers = [("Proxy-Authenticate", c) for c in offered]  # SHA-256 first, then MD5 (RFC 8760)
            svc.sip.respond(req, response_to(req, 407, to_tag="auth", extra=offers))
            return True, None
    elif not _in_networks(req.source, settings.agent_networks):
        svc.sip.respond(req, response_to(req, 403, to_tag="auth"))
        return True, None
    return True, agent


def _from_trunk(trunks: list[TrunkSettings], source: tuple[str, int] | None) -> bool:
    if source is None:
        return False
    for t in trunks:
        host, port = split_hostport(t.host, "trunk host")
        if host == source[0] and (port is None or port == source[1]):
            return True
    return False


def _in_networks(source: tuple[str, int] | None, networks: list[str]) -> bool:
    if source is None:
        return False
    try:
        addr = ipaddress.ip_address(source[0])
    except ValueError:
        return False
    return any(addr in ipaddress.ip_network(n, strict=False) for n in networks)
