"""The call as its helpers see it: ringing, forwarding and the legs' media.

:mod:`akashi.telephony.ringing`, :mod:`akashi.telephony.forward` and
:mod:`akashi.telephony.legmedia` take a :class:`CallView`, never the call class, so the call
imports them and nothing imports the call back.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol

from akashi.telephony.legs import LegOwner
from akashi.telephony.timers import TimedCall

if TYPE_CHECKING:
    from akashi.telephony.media import RtpEndpoint
    from akashi.telephony.sdp import AudioSession, Codec
    from akashi.telephony.srtp import LegCrypto
    from akashi.telephony.timers import CallTimers


class CallView(LegOwner, TimedCall, Protocol):
    """What ringing, forwarding and leg media read and change of a call."""

    #: the caller's offer (or, for a late offer, its answer from the ACK)
    offer: AudioSession
    #: SRTP keys of the caller's leg and of the phones' (None: plain RTP)
    a_crypto: LegCrypto | None
    b_crypto: LegCrypto | None
    #: a re-INVITE put the call on hold (the RTP timeout does not count then)
    on_hold: bool
    #: the o= version of Akashi's SDP toward the caller
    sdp_version: int

    @property
    def timers(self) -> CallTimers:
        """100rel and session timers of the call."""

    @property
    def b_srtp(self) -> bool:
        """Whether the phones (or the trunk) are offered SRTP."""

    @property
    def b_side(self) -> str:
        """Who is on the B side (``operator``, or ``caller`` on outbound calls)."""

    @property
    def sdp_session(self) -> int:
        """The o= session id of Akashi's SDP toward the caller."""

    @property
    def ended(self) -> asyncio.Event:
        """Set when the call is over."""

    def answer_codecs(self, offer: AudioSession) -> list[Codec]:
        """The codecs of Akashi's answer (and of the offer to the phones)."""

    def media_address(self, ep: RtpEndpoint | None) -> str:
        """The address Akashi writes in the SDP of a media port."""

    def our_sdp(self, port: int, offer: AudioSession, direction: str) -> bytes:
        """Akashi's SDP toward the caller (a new o= version)."""

    def missed(self, statuses: list[int]) -> None:
        """Nobody answered: the caller is told (final response, or BYE after the notice)."""
