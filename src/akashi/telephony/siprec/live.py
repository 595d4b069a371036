"""Live detection and the live board for SIPREC sessions (issue 14).

A SIPREC session is recorded, not relayed: Akashi cannot play a warning into it or end the parties'
call, but the supervisor sees it on the board like any call in progress, and the customer's stream goes
through live detection's tap, so abuse on a PBX's call is flagged as it happens.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from akashi.telephony.guard import customer_tap
from akashi.telephony.live import LiveEvent, LiveEventKind, flag_detail
from akashi.telephony.recorder import CallMeta, now

if TYPE_CHECKING:
    from akashi.config.telephony import RouteSettings
    from akashi.telephony.call.host import CallHost
    from akashi.telephony.media import RtpEndpoint
    from akashi.telephony.sdp import Codec

log = logging.getLogger(__name__)


class LiveSession(Protocol):
    """What of a SIPREC session the board and the tap need."""

    host: CallHost
    meta: CallMeta
    eps: list[RtpEndpoint]
    codecs: list[Codec]
    heard: bool

    @property
    def call_id(self) -> str:
        """The SRC's Call-ID."""


def publish(session: LiveSession, kind: LiveEventKind, detail: Mapping[str, str] | None = None) -> None:
    """Tell the board (non-blocking; a board that is away never stops the recording)."""
    m = session.meta
    event = LiveEvent(session.call_id, kind, now(), site=m.site, caller=m.caller, agent=m.agent,
                      direction=m.direction, detail=dict(detail or {}))  # fmt: skip
    try:
        session.host.live.publish(event)
    except Exception:
        log.exception("live event not published")


def start(session: LiveSession, route: RouteSettings | None) -> None:
    """The session is answered: on the board, and the customer's stream (the first port) to the tap."""
    publish(session, "started")
    publish(session, "answered")
    tap = session.host.live_tap
    codec = session.codecs[0].name.upper() if session.codecs else ""
    if tap is None or (route is not None and route.live is False) or codec not in ("PCMU", "PCMA"):
        return
    if not session.eps:
        return
    tap.begin(session.call_id, session.meta.site)
    session.eps[0].tap = customer_tap(tap, session.call_id, codec, session.eps[0])
    session.heard = True


def flag(session: LiveSession, severity: str, text: str, at: float, categories: Sequence[str] = ()) -> None:
    """A live detection result: on the board (a SIPREC call has no warning to play)."""
    publish(session, "flag", {**flag_detail(severity, text, at, categories), "by": "live"})


def end(session: LiveSession) -> None:
    """The session is over: the tap sends what was still being said; the board drops the call."""
    tap = session.host.live_tap
    if session.heard and tap is not None:
        try:
            tap.end(session.call_id)
        except Exception:  # live detection must never keep a call from being stored
            log.exception("live tap end failed")
    publish(session, "ended", {"status": session.meta.status, "hangup_side": session.meta.hangup_side})
