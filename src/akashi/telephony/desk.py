"""The telephony service's side of the live board (issue 14): events out, board commands in.

One task per service (:func:`live_loop`) exchanges the queued :class:`~akashi.telephony.live.LiveEvent`
for the board's commands every half second, in a thread (the link may be a database); commands and
live detection's flags reach a call through its :class:`~akashi.telephony.guard.CallGuard` on the
event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Protocol

from akashi.telephony.call.machine import Protect
from akashi.telephony.guard import CallGuard
from akashi.telephony.live import LiveLink, NullLiveLink
from akashi.telephony.recorder import now
from akashi.telephony.sip.message import Request

log = logging.getLogger(__name__)

#: how often the board's commands are fetched (seconds)
EXCHANGE_S = 0.5


class LiveCall(Protocol):
    """A call as the desk sees it."""

    invite: Request
    guard: CallGuard


def live_ids(calls: Mapping[str, LiveCall]) -> list[str]:
    """The caller Call-IDs of the running calls (legs' dialogs are registered under their own ids too)."""
    return [cid for cid, c in calls.items() if c.invite.call_id == cid]


def command(calls: Mapping[str, LiveCall], call_id: str, action: str, by: str) -> bool:
    """A board action (``warn`` or ``end``) on a live call; False when there is no such call or it
    cannot take it now (not yet answered, already ending)."""
    call = calls.get(call_id)
    if call is None or action not in ("warn", "end"):
        return False
    return call.guard.protect(Protect("warn" if action == "warn" else "end", now(), by or "?"))


def flag(
    calls: Mapping[str, LiveCall],
    call_id: str,
    severity: str,
    text: str,
    at: float,
    categories: Sequence[str] = (),
) -> None:
    """A live detection result for a call (ignored when the call has ended meanwhile)."""
    call = calls.get(call_id)
    if call is not None:
        call.guard.flag(severity, text, at, categories)


def publish_state(call: LiveCall, kind: str) -> None:
    """``started`` or ``ended`` (with how it ended): the board's list of calls in progress follows."""
    meta = call.guard.call.meta
    detail = {"status": meta.status, "hangup_side": meta.hangup_side} if kind == "ended" else {}
    call.guard.publish(kind, now(), detail)


class LiveHost(Protocol):
    """The service as the loop sees it: its calls and its link (which may be replaced while it runs)."""

    @property
    def calls(self) -> Mapping[str, LiveCall]:
        """Running calls by Call-ID (legs' too)."""

    @property
    def live(self) -> LiveLink:
        """The board's link."""


async def live_loop(host: LiveHost) -> None:
    """Exchange events for board commands every :data:`EXCHANGE_S` seconds until cancelled."""
    while True:
        link, calls = host.live, host.calls
        if not isinstance(link, NullLiveLink):
            try:
                cmds = await asyncio.to_thread(link.exchange, live_ids(calls))
            except Exception:  # the board's database is away: calls go on, events wait in the queue
                log.warning("live board exchange failed", exc_info=True)
                cmds = []
            for c in cmds:
                if not command(calls, c.call_id, c.action, c.by):
                    log.info(
                        "board %s of call %s by %s not applied (call not live)", c.action, c.call_id, c.by
                    )
        await asyncio.sleep(EXCHANGE_S)
