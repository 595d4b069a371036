"""The telephony service's side of the live board (issue 14): events out, board commands in.

One task per service (:func:`live_loop`) exchanges the queued :class:`~akashi.telephony.live.LiveEvent`
for the board's commands every half second, in a thread (the link may be a database); commands and
live detection's flags reach a call through its :class:`~akashi.telephony.guard.CallGuard` on the
event loop. A flag that comes after its call has ended goes to the board by :class:`Ended`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Protocol

from akashi.telephony.call.machine import Protect
from akashi.telephony.guard import CallGuard
from akashi.telephony.live import LiveEvent, LiveLink, NullLiveLink, flag_detail
from akashi.telephony.recorder import CallMeta, now
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
    """A live detection result for a running call (see :class:`Ended` for one that has ended meanwhile)."""
    call = calls.get(call_id)
    if call is not None:
        call.guard.flag(severity, text, at, categories)


def publish_state(call: LiveCall, kind: str) -> None:
    """``started`` or ``ended`` (with how it ended): the board's list of calls in progress follows."""
    meta = call.guard.call.meta
    detail = {"status": meta.status, "hangup_side": meta.hangup_side} if kind == "ended" else {}
    call.guard.publish(kind, now(), detail)


#: How long after its end a call's live flags still go to the board (seconds).
LATE_FLAG_S = 600.0
#: Ended calls remembered for late flags, at most (the oldest is forgotten first).
LATE_CALLS = 1024


class Ended:
    """Calls and SIPREC sessions that ended a moment ago, for live detection's flags that come after the end.

    Live recognition runs behind the call: on a loaded 2-core machine a flag came 20-30 s after the words,
    when a short call could be over. Such a flag can no longer ask for a warning, but it still goes to the
    board, marked ``after_end = "1"``: a severe one opens the incident that holds the recording and the
    site's camera footage around the call (:mod:`akashi.access.incidents_live`), as it would have during
    the call. The stored call's timeline is closed by then; post-call analysis flags its words there.
    """

    def __init__(
        self, keep_s: float = LATE_FLAG_S, most: int = LATE_CALLS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.keep_s, self.most, self.clock = keep_s, most, clock
        self._calls: OrderedDict[str, tuple[float, LiveEvent]] = OrderedDict()

    def remember(self, call_id: str, meta: CallMeta) -> None:
        """Remember a call (or a SIPREC session) as it ends: who and where, for the board."""
        self._calls[call_id] = (
            self.clock(),
            LiveEvent(call_id, "flag", 0.0, meta.site, meta.caller, meta.agent, meta.direction),
        )
        self._calls.move_to_end(call_id)
        self._forget()

    def _forget(self) -> None:
        oldest = self.clock() - self.keep_s
        while self._calls and (len(self._calls) > self.most or next(iter(self._calls.values()))[0] < oldest):
            self._calls.popitem(last=False)

    def flag(
        self,
        link: LiveLink,
        call_id: str,
        severity: str,
        text: str,
        at: float,
        categories: Sequence[str] = (),
    ) -> bool:
        """Publish a live flag of a call that ended within :data:`LATE_FLAG_S`; False for any other call."""
        self._forget()
        got = self._calls.get(call_id)
        if got is None:
            return False
        detail = {**flag_detail(severity, text, at, categories), "after_end": "1"}
        log.info("call %s: flag after the call ended %s", call_id, detail)
        try:
            link.publish(replace(got[1], at=now(), detail=detail))
        except Exception:  # the board is down: the evidence is stored either way
            log.exception("live event not published")
        return True


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
