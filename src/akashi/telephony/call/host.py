"""What a call (and its legs, timers and registrations) needs of the telephony service.

:class:`CallHost` is the whole interface: the service implements it, and nothing below the service
imports the service itself, so call control has no import cycle with it.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from akashi.config.telephony import AgentSettings, SipSettings
    from akashi.telephony.announce import Announcements
    from akashi.telephony.limits import LogEvery
    from akashi.telephony.live import LiveLink
    from akashi.telephony.portpool import MediaPorts
    from akashi.telephony.recorder import CallMeta, CallSpool
    from akashi.telephony.sip.message import Request
    from akashi.telephony.sip.transport import SipUdp

#: the methods Akashi allows in its dialogs (the ``Allow`` header)
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO, PRACK"


class LiveTap(Protocol):
    """Live detection's ear on the customer side: O(1), never blocks (it queues)."""

    def begin(self, call_id: str, site: str = "") -> None:
        """A live call starts being heard (its site goes with its utterances)."""

    def audio(self, call_id: str, side: str, pcm16: bytes, t: float) -> None:
        """20 ms or so of the customer's audio as 16-bit PCM (8 kHz), received at ``t`` (UTC seconds)."""

    def end(self, call_id: str) -> None:
        """The call ended: what it was still saying is sent."""


class FinishedCall(Protocol):
    """A call that is over, as the service releases and stores it."""

    @property
    def invite(self) -> Request:
        """The caller's INVITE."""

    @property
    def meta(self) -> CallMeta:
        """What is stored with the call."""

    @property
    def spool(self) -> CallSpool | None:
        """Its recording (None when it was refused before one was opened)."""

    @property
    def dialog_ids(self) -> list[str]:
        """The Call-IDs of all its dialogs: the caller's, then each rung leg's."""


class CallHost(Protocol):
    """The service as a call sees it: transport, media ports, notices, addresses, lookups, the spool."""

    @property
    def settings(self) -> SipSettings:
        """The ``[sip]`` settings."""

    @property
    def sip(self) -> SipUdp:
        """The SIP transport (UDP, TCP and TLS connections)."""

    @property
    def ports(self) -> MediaPorts:
        """The RTP ports: this process's pool, or the media workers'."""

    @property
    def notices(self) -> Announcements:
        """Notices, the "nobody can answer" message and ringback, per codec."""

    @property
    def host(self) -> str:
        """The address advertised in Contact, Via and SDP."""

    @property
    def media_address(self) -> str:
        """The address written in Akashi's SDP."""

    @property
    def via_host(self) -> str:
        """``host:port`` for Via."""

    @property
    def contact(self) -> str:
        """Akashi's Contact."""

    @property
    def tls_port(self) -> int:
        """The SIP-over-TLS port (0 without TLS)."""

    @property
    def unacked(self) -> LogEvery:
        """Calls ended because their 2xx was never ACKed (counted, logged at most every few seconds)."""

    @property
    def live(self) -> LiveLink:
        """Where live events go (the board); a null link when nothing is wired."""

    @property
    def live_tap(self) -> LiveTap | None:
        """Live detection's tap of the customer's audio (None: no live detection here)."""

    def agent_for(self, sip_user: str) -> AgentSettings | None:
        """The agent whose phone is ``sip_user``."""

    def resolve(self, uri: str) -> Awaitable[tuple[str, int] | None]:
        """Where to send a request for a SIP URI."""

    def register_leg(self, call_id: str, owner: str) -> None:
        """Route requests of the dialog ``call_id`` (an operator or trunk leg) to the call ``owner``."""

    def open_spool(self, meta: CallMeta) -> CallSpool:
        """A spool folder for a new call."""

    def call_finished(self, call: FinishedCall) -> None:
        """The call is over: release its dialogs and admission, store its recording."""
