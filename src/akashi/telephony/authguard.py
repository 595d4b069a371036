"""Lock an agent/source pair out after repeated digest failures (sans-I/O: the caller passes the clock).

Like the web login lockout: ``max_failures`` failed digest answers from one source address for one
SIP user within ``window_s`` lock that pair for ``lock_s``. Password guessing (``svcrack``) then gets
a refusal before it reaches the secret, while the agent's own phone elsewhere keeps working. The
table is bounded: past ``limit`` pairs, the ones seen least recently are forgotten first.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field


@dataclass
class _Pair:
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0


class AuthGuard:
    """Digest failures per (SIP user, source address), and the locks they cause."""

    def __init__(
        self, max_failures: int = 5, window_s: float = 600.0, lock_s: float = 900.0, limit: int = 10000
    ) -> None:
        if max_failures < 1 or window_s <= 0 or lock_s <= 0 or limit < 1:
            raise ValueError("AuthGuard needs max_failures >= 1 and positive window_s, lock_s and limit")
        self.max_failures = max_failures
        self.window_s = window_s
        self.lock_s = lock_s
        self.limit = limit
        self._pairs: OrderedDict[tuple[str, str], _Pair] = OrderedDict()
        self._said: dict[tuple[str, str, str], float] = {}

    def __len__(self) -> int:
        return len(self._pairs)

    def locked(self, user: str, source: str, now: float) -> float:
        """Seconds the pair stays locked (0.0: not locked)."""
        pair = self._pairs.get((user, source))
        if pair is None:
            return 0.0
        return max(0.0, pair.locked_until - now)

    def failure(self, user: str, source: str, now: float) -> bool:
        """Count a failed digest answer; True when this failure locks the pair (report it once)."""
        key = (user, source)
        pair = self._pairs.pop(key, None) or _Pair()
        self._pairs[key] = pair  # most recently seen last
        while len(self._pairs) > self.limit:
            self._pairs.popitem(last=False)
        if pair.locked_until > now:
            return False
        pair.failures = [t for t in pair.failures if now - t < self.window_s] + [now]
        if len(pair.failures) >= self.max_failures:
            pair.failures = []
            pair.locked_until = now + self.lock_s
            return True
        return False

    def success(self, user: str, source: str) -> None:
        """A right answer clears the pair's failures."""
        self._pairs.pop((user, source), None)

    def should_log(self, reason: str, user: str, source: str, now: float, every_s: float = 60.0) -> bool:
        """True at most once per ``every_s`` for one (reason, user, source): scanners send thousands."""
        key = (reason, user[:64], source)
        last = self._said.get(key)
        if last is not None and now - last < every_s:
            return False
        if len(self._said) >= self.limit:
            self._said.clear()
        self._said[key] = now
        return True


@dataclass(frozen=True)
class OutboundRefusal:
    """An outbound attempt refused at the SIP edge, handed to whoever audits it.

    Telephony never writes the database: the service calls a typed callback with this record and the
    access layer turns it into an audit entry. Never holds a secret.
    """

    #: ``dial_plan``, ``locked``, ``network`` or ``no_secret``
    reason: str
    #: the From user of the INVITE (the claimed agent)
    sip_user: str
    #: the agent's name when the From user is an agent, else ""
    agent: str
    #: ``host:port`` the INVITE came from
    source: str
    dialled: str
    trunk: str
    #: the number's class for ``dial_plan`` (international, premium...), else ""
    detail: str = ""
    #: the message sent in the Warning header (Japanese / English)
    message: str = ""
