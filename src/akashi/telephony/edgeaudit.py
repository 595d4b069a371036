"""Audit of refusals at the SIP and RTP edge, summarised so that a flood writes a bounded number of entries.

Refused INVITEs (rate, call limits, ``sip.inbound_networks``, a dialled number that is not one) and
RTP refused during a call are refusals an auditor must see, but a flood sends thousands a second and
each audit entry is a database transaction. So the first refusal of a kind from a source address is
audited at once, and later ones are counted and audited as one entry per ``every_s`` (a minute) that
carries how many refusals it stands for. Past ``max_sources`` addresses in the table (a spoofed
flood), new addresses of a kind share one summary under the source ``*``. RTP refusals are one entry
per call, when the call ends.

:class:`RefusalSummary` decides (sans-I/O, the caller passes the clock); :class:`EdgeAudit` hands the
resulting :class:`EdgeRefusal` records to the service's ``report_refusal`` callback (the access layer
writes them; telephony has no database) and runs the timer that audits a window's remainder when the
flood stops.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from akashi.callfacts import CallFacts

log = logging.getLogger(__name__)

#: one audit entry per (kind, source address) per this many seconds at most
AUDIT_EVERY_S = 60.0
#: how many (kind, source) pairs are summarised separately; more share the source ``*``
MAX_SOURCES = 256
#: the source under which refusals from addresses past :data:`MAX_SOURCES` are summarised
MANY = "*"
#: refused dialled numbers kept as examples in one entry (attacker's text, shortened)
SAMPLES = 3
SAMPLE_LEN = 80

#: what each kind of refusal is, in Japanese and English (the entry's message)
MESSAGES = {
    "rate": "同じアドレスからの INVITE が多すぎます / too many INVITEs from this address",
    "calls": "同時通話数の上限です / too many calls",
    "calls_per_source": "同じアドレスからの同時通話数の上限です / too many calls from this address",
    "inbound": "着信を受け付けないアドレスです / calls are not accepted from this address",
    "overload": "過負荷のため新しい通話を受け付けません / server overloaded, new calls refused",
    "number": "番号ではありません / the dialled number is not a phone number",
    "siprec": "SIPREC を受け付けないアドレスです / SIPREC sessions are not accepted from this address",
    "rtp": "想定外の RTP を拒否しました / refused RTP that was not the call's",
}


@dataclass(frozen=True)
class EdgeRefusal:
    """Refusals at the edge that one audit entry stands for. Never holds a secret.

    ``kind``: ``rate``, ``calls``, ``calls_per_source``, ``inbound`` (INVITEs answered 503 or 403),
    ``overload`` (503 while the process is overloaded, akashi.telephony.admission),
    ``number`` (484) or ``rtp`` (packets refused during one call).
    """

    kind: str
    #: the IP address the refusals came from (``*``: many addresses; for ``rtp`` the caller's signalling)
    source: str
    #: how many refusals this entry stands for (at least 1)
    count: int
    #: the SIP status they were answered with (0 for RTP, which is dropped)
    status: int
    #: seconds between the first and the last refusal summarised
    span_s: float = 0.0
    #: for ``rtp``: the SIP Call-ID of the call; else ""
    call: str = ""
    #: what the entry adds: refused numbers (shortened), RTP counts by side and reason, sources...
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        """What was refused, in Japanese and English."""
        return MESSAGES.get(self.kind, self.kind)


@dataclass
class _Window:
    last: float  # when the last entry of this pair was due (monotonic)
    pending: int = 0  # refusals counted since
    first: float = 0.0  # the first of those
    latest: float = 0.0  # the last of those
    status: int = 0
    samples: list[str] = field(default_factory=list)


class RefusalSummary:
    """Which refusals become audit entries now: the first of a (kind, source) at once, then one per window."""

    def __init__(self, every_s: float = AUDIT_EVERY_S, max_sources: int = MAX_SOURCES) -> None:
        if every_s <= 0 or max_sources < 1:
            raise ValueError("RefusalSummary needs a positive every_s and max_sources")
        self.every_s = every_s
        self.max_sources = max_sources
        self._windows: dict[tuple[str, str], _Window] = {}
        self._pruned = -math.inf

    def __len__(self) -> int:
        return len(self._windows)

    @property
    def pending(self) -> int:
        """Refusals counted and not yet in an entry."""
        return sum(w.pending for w in self._windows.values())

    def note(self, kind: str, source: str, status: int, now: float, sample: str = "") -> EdgeRefusal | None:
        """Count one refusal; the entry due now (the first of its pair, or a window's summary), else None."""
        key = (kind, source)
        w = self._windows.get(key)
        if w is None:
            if len(self._windows) >= self.max_sources and now - self._pruned >= 1.0:
                self._pruned = now  # at most once a second: a spoofed flood brings a new address each time
                self._forget_idle(now)
            if len(self._windows) >= self.max_sources:
                key = (kind, MANY)
                w = self._windows.get(key)
            if w is None:
                w = self._windows[key] = _Window(last=-math.inf)
        if not w.pending:
            w.first = now
        w.pending += 1
        w.latest = now
        w.status = status
        if sample and len(w.samples) < SAMPLES:
            w.samples.append(sample[:SAMPLE_LEN])
        if now - w.last < self.every_s:
            return None
        return self._emit(key, w, now)

    def due(self, now: float) -> list[EdgeRefusal]:
        """The summaries of windows that have ended with refusals pending; idle pairs are forgotten."""
        out: list[EdgeRefusal] = []
        for key, w in list(self._windows.items()):
            if now - w.last < self.every_s:
                continue
            if w.pending:
                out.append(self._emit(key, w, now))
        self._forget_idle(now)
        return out

    def _forget_idle(self, now: float) -> None:
        """Forget pairs quiet for a whole window: their next refusal is audited at once."""
        for key in [k for k, w in self._windows.items() if not w.pending and now - w.last >= self.every_s]:
            del self._windows[key]

    def drain(self, now: float) -> list[EdgeRefusal]:
        """Every pending summary, window ended or not (the service stops)."""
        out = [self._emit(key, w, now) for key, w in self._windows.items() if w.pending]
        self._windows.clear()
        return out

    def next_due(self) -> float | None:
        """When the earliest pending summary falls due (monotonic), None when nothing is pending."""
        times = [w.last + self.every_s for w in self._windows.values() if w.pending]
        return min(times) if times else None

    def _emit(self, key: tuple[str, str], w: _Window, now: float) -> EdgeRefusal:
        kind, source = key
        detail: dict[str, Any] = {"window_s": self.every_s}
        if w.samples:
            detail["numbers"] = list(w.samples)
        r = EdgeRefusal(kind, source, w.pending, w.status, round(max(0.0, w.latest - w.first), 3), "", detail)
        w.last, w.pending, w.samples = now, 0, []
        return r


def media_refusal(call_id: str, source: str, facts: CallFacts) -> EdgeRefusal | None:
    """The one entry of a call's refused RTP, from the call's facts, None when none was.

    ``facts.rtp_refused``: side -> reason -> packets; ``facts.rtp_refused_from``: side -> the
    first few ``host:port`` they came from.
    """
    refused = facts.rtp_refused or {}
    total = sum(n for by_reason in refused.values() for n in by_reason.values())
    if total <= 0:
        return None
    detail = {
        "refused": {side: dict(r) for side, r in refused.items()},
        "from": {side: list(a) for side, a in (facts.rtp_refused_from or {}).items()},
    }
    return EdgeRefusal("rtp", source, total, 0, 0.0, call_id, detail)


def log_line(entry: EdgeRefusal) -> str:
    """The log line of an entry (Japanese, then English): what, from where, how many since the last."""
    ja, _, en = entry.message.partition(" / ")
    numbers = entry.detail.get("numbers") or []
    if entry.kind == "number":
        en = f"{numbers[0]!r} is not a phone number" if numbers else en
    return (
        f"INVITE を拒否しました ({entry.status}): {ja}（{entry.count} 件）/ INVITE from {entry.source} "
        f"refused ({entry.status}): {en} ({entry.count} since the last report)"
    )


class EdgeAudit:
    """Hands summarised edge refusals to ``report`` (the service's ``report_refusal``), with its timer.

    The timer runs only while summaries are pending, so that the last minute of a flood is audited
    even when nothing follows it; :meth:`close` audits whatever is left when the service stops.
    Entries of the kinds in ``log_kinds`` are also the kind's log lines (rate-limited alike); the
    other kinds have their own log (:class:`akashi.telephony.limits.RefusalLog`).
    """

    def __init__(
        self,
        report: Callable[[EdgeRefusal], None],
        every_s: float = AUDIT_EVERY_S,
        max_sources: int = MAX_SOURCES,
        clock: Callable[[], float] = time.monotonic,
        log_kinds: frozenset[str] = frozenset({"number"}),
    ) -> None:
        self.report = report
        self.log_kinds = log_kinds
        self.clock = clock
        self.summary = RefusalSummary(every_s, max_sources)
        #: entries handed to ``report`` since start
        self.entries = 0
        self._timer: asyncio.TimerHandle | None = None

    def refused(self, kind: str, source: str, status: int, sample: str = "") -> EdgeRefusal | None:
        """Count one refused INVITE; the entry audited now, if one was due (its count says how many)."""
        entry = self.summary.note(kind, source, status, self.clock(), sample)
        if entry is not None:
            self._send(entry)
        self._arm()
        return entry

    def media(self, entry: EdgeRefusal | None) -> None:
        """Audit a call's refused RTP (see :func:`media_refusal`); nothing when there was none."""
        if entry is not None:
            self._send(entry)

    def sweep(self) -> list[EdgeRefusal]:
        """Audit the summaries whose window has ended (the timer calls this)."""
        self._timer = None
        out = self.summary.due(self.clock())
        for entry in out:
            self._send(entry)
        self._arm()
        return out

    def close(self) -> list[EdgeRefusal]:
        """Stop the timer and audit every pending summary."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        out = self.summary.drain(self.clock())
        for entry in out:
            self._send(entry)
        return out

    def _send(self, entry: EdgeRefusal) -> None:
        self.entries += 1
        if entry.kind in self.log_kinds:
            log.warning(log_line(entry))
        self.report(entry)

    def _arm(self) -> None:
        if self._timer is not None:
            return
        at = self.summary.next_due()
        if at is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a unit test, a tool): the caller sweeps or closes
        self._timer = loop.call_later(max(0.0, at - self.clock()) + 0.01, self.sweep)
