"""Admission of new calls at the SIP edge: call limits, INVITE rate per source, inbound allow-list.

Sans-I/O: the service asks :meth:`CallLimits.admit` about each new INVITE (with the clock), tells
it when a call starts and ends, and sends what it answers. Everything here is bounded in memory:
a flood from many (spoofed) source addresses evicts the least recently seen buckets.
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

#: how many sources' rate buckets are kept (least recently seen evicted first)
MAX_SOURCES = 65536
#: Retry-After of a refusal because of concurrent calls: a call slot frees when a call ends
CALLS_RETRY_AFTER_S = 5
#: a refusal of one kind is logged at once, then summarised at most once per this many seconds
LOG_EVERY_S = 10.0


@dataclass(frozen=True)
class Refusal:
    """Why a new INVITE is refused: the SIP status, its Retry-After (0: none) and a log reason."""

    status: int
    retry_after_s: int
    kind: str
    reason: str

    @property
    def headers(self) -> list[tuple[str, str]]:
        """Headers of the refusal (Retry-After for 503, Warning with the reason)."""
        out = [("Retry-After", str(self.retry_after_s))] if self.retry_after_s else []
        return [*out, ("Warning", f'399 akashi "{self.reason}"')]


class CallLimits:
    """Concurrent calls (total, per source address), new INVITEs per second per source, inbound sources.

    ``rate`` INVITEs per second per source with bursts of up to ``burst`` (a token bucket).
    ``inbound_networks``: sources allowed to send calls that are routed inbound (empty: any).
    """

    def __init__(
        self,
        max_calls: int,
        max_calls_per_source: int,
        rate: float,
        burst: float | None = None,
        inbound_networks: Sequence[str | ipaddress.IPv4Network | ipaddress.IPv6Network] = (),
        max_sources: int = MAX_SOURCES,
    ) -> None:
        self.max_calls = max_calls
        self.max_calls_per_source = max_calls_per_source
        self.rate = rate
        self.burst = max(1.0, rate if burst is None else burst)
        self.inbound = [ipaddress.ip_network(n, strict=False) for n in inbound_networks]
        self.max_sources = max_sources
        #: source -> (tokens, time of the last update); most recently seen last
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        #: source -> calls running from it (a source leaves when its last call ends)
        self.active: dict[str, int] = {}
        self.total = 0
        #: refusals by kind, since start (for monitoring)
        self.refused: dict[str, int] = {"rate": 0, "calls": 0, "calls_per_source": 0, "inbound": 0}

    # -- admission ------------------------------------------------------------------------
    def admit(self, source: str, now: float, capacity: int | None = None) -> Refusal | None:
        """A new INVITE from ``source``: None to go on, else the refusal (counted).

        ``capacity``: how many more calls the media ports can take (None: not limited there).
        The rate is checked first, so that a flood never reaches anything that costs more.
        """
        wait = self._take(source, now)
        if wait > 0:
            return self._rate_refusal(wait)
        if self.total >= self.max_calls or (capacity is not None and capacity <= 0):
            return self._refuse(Refusal(503, CALLS_RETRY_AFTER_S, "calls", "too many calls"))
        if self.active.get(source, 0) >= self.max_calls_per_source:
            return self._refuse(
                Refusal(503, CALLS_RETRY_AFTER_S, "calls_per_source", "too many calls from this address")
            )
        return None

    def over_rate(self, source: str, now: float) -> Refusal | None:
        """Only the rate: the refusal (counted) when ``source`` has no INVITE left this second.

        None when it has one, which is then *not* taken: :meth:`admit` takes it for that INVITE.
        """
        tokens, last = self._buckets.get(source, (self.burst, now))
        if min(self.burst, tokens + max(0.0, now - last) * self.rate) >= 1.0:
            return None
        return self._rate_refusal(self._take(source, now))

    def _rate_refusal(self, wait: float) -> Refusal:
        return self._refuse(
            Refusal(503, max(1, math.ceil(wait)), "rate", "too many INVITEs from this address")
        )

    def inbound_allowed(self, source: str) -> Refusal | None:
        """None when ``source`` may send inbound calls (``sip.inbound_networks``), else a 403 (counted)."""
        if not self.inbound:
            return None
        try:
            addr = ipaddress.ip_address(source)
        except ValueError:
            addr = None
        if addr is not None and any(addr in net for net in self.inbound):
            return None
        return self._refuse(Refusal(403, 0, "inbound", "calls are not accepted from this address"))

    def _refuse(self, refusal: Refusal) -> Refusal:
        self.refused[refusal.kind] += 1
        return refusal

    def _take(self, source: str, now: float) -> float:
        """Take a token of ``source``'s bucket: 0.0, else the seconds until one is there."""
        tokens, last = self._buckets.pop(source, (self.burst, now))
        tokens = min(self.burst, tokens + max(0.0, now - last) * self.rate)
        if tokens >= 1.0:
            tokens -= 1.0
            wait = 0.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[source] = (tokens, now)
        while len(self._buckets) > self.max_sources:
            self._buckets.popitem(last=False)
        return wait

    # -- running calls ----------------------------------------------------------------------
    def started(self, source: str) -> None:
        """A call from ``source`` was admitted and runs."""
        self.total += 1
        self.active[source] = self.active.get(source, 0) + 1

    def finished(self, source: str) -> None:
        """A call from ``source`` ended (once per :meth:`started`)."""
        self.total = max(0, self.total - 1)
        n = self.active.get(source, 0) - 1
        if n > 0:
            self.active[source] = n
        else:
            self.active.pop(source, None)


class LogEvery:
    """At most one log line per ``every_s`` for a kind of event: the first at once, then a count."""

    def __init__(self, every_s: float = LOG_EVERY_S) -> None:
        self.every_s = every_s
        #: events since start
        self.total = 0
        self._last = -math.inf
        self._since = 0

    def note(self, now: float) -> int | None:
        """Count one event; how many events the line due now stands for, or None while none is due."""
        self.total += 1
        self._since += 1
        if now - self._last < self.every_s:
            return None
        count, self._since, self._last = self._since, 0, now
        return count


class RefusalLog:
    """Rate-limited logging of refusals: the first of a kind at once, then a summary per window.

    :meth:`note` returns the line to log, or None while the window's refusals are only counted;
    a flood of thousands of INVITEs per second so costs a log line every :data:`LOG_EVERY_S`.
    """

    def __init__(self, every_s: float = LOG_EVERY_S) -> None:
        self.every_s = every_s
        #: kind -> (time of the last line, refusals counted since, sources seen since (a few))
        self._state: dict[str, tuple[float, int, list[str]]] = {}

    def note(self, refusal: Refusal, source: str, now: float) -> str | None:
        """Count one refusal; the line to log now, if one is due."""
        last, count, sources = self._state.get(refusal.kind, (-math.inf, 0, []))
        count += 1
        if source not in sources and len(sources) < 5:
            sources.append(source)
        if now - last < self.every_s:
            self._state[refusal.kind] = (last, count, sources)
            return None
        self._state[refusal.kind] = (now, 0, [])
        return (
            f"INVITE を拒否しました ({refusal.status}): {_JA[refusal.kind]} / refused INVITE "
            f"({refusal.status} {refusal.kind}): {refusal.reason}; {count} since the last report, "
            f"from {', '.join(sources)}"
        )


_JA = {
    "rate": "同じアドレスからの INVITE が多すぎます",
    "calls": "同時通話数の上限です",
    "calls_per_source": "同じアドレスからの同時通話数の上限です",
    "inbound": "着信を受け付けないアドレスです",
    "overload": "過負荷のため新しい通話を受け付けません",
}
