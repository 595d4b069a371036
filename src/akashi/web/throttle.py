"""Per-address login throttle: guessing passwords must not burn the server's CPU and memory.

Every password check costs an argon2id hash (64 MiB, tens of milliseconds). An address gets
``web.login_attempts_per_minute`` attempts in any 60 seconds; beyond that the login routes answer
429 with ``Retry-After`` and hash nothing. A slot is taken *before* hashing (so parallel requests
cannot slip past the count) and given back when the login succeeds, so people who log in
correctly are never throttled by their own logins.

The book is in memory, per web process, and bounded: IPv6 addresses count per /64 (one host
usually owns a whole /64), and at most :data:`MAX_ADDRESSES` addresses are tracked (the least
recently seen is forgotten first). Behind a reverse proxy every request comes from the proxy's
address: raise the limit there, or throttle at the proxy.
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

WINDOW_S = 60.0
MAX_ADDRESSES = 10_000


def address_key(host: str) -> str:
    """The throttle key of a client address: IPv4 as is, IPv6 by its /64, anything else as given."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass(frozen=True)
class Verdict:
    """The answer to one attempt: allowed, or refused with the seconds until a slot frees."""

    allowed: bool
    retry_after_s: int = 0
    first_refusal: bool = False  # the first refusal of this address since it was last allowed


class LoginThrottle:
    """A sliding window of attempts per address (sans-I/O: the clock is injected)."""

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = MAX_ADDRESSES,
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.per_minute = per_minute
        self.clock = clock
        self.max_addresses = max_addresses
        self._book: OrderedDict[str, deque[float]] = OrderedDict()
        self._refusing: set[str] = set()
        self.refused = 0  # attempts refused since start (for logs and tests)

    def attempt(self, host: str) -> Verdict:
        """Take a slot for one password check from ``host``, or refuse it."""
        key = address_key(host)
        now = self.clock()
        times = self._book.get(key)
        if times is None:
            times = deque()
            self._book[key] = times
            while len(self._book) > self.max_addresses:
                old, _ = self._book.popitem(last=False)
                self._refusing.discard(old)
        self._book.move_to_end(key)
        while times and now - times[0] >= WINDOW_S:
            times.popleft()
        if len(times) >= self.per_minute:
            self.refused += 1
            first = key not in self._refusing
            self._refusing.add(key)
            return Verdict(False, max(1, int(WINDOW_S - (now - times[0])) + 1), first)
        self._refusing.discard(key)
        times.append(now)
        return Verdict(True)

    def succeeded(self, host: str) -> None:
        """Give back the newest slot of ``host``: a correct password is not guessing."""
        times = self._book.get(address_key(host))
        if times:
            times.pop()

    def __len__(self) -> int:
        """Addresses tracked now."""
        return len(self._book)


def get_login_throttle(request: Request) -> LoginThrottle:
    """The throttle of this web application (made by ``create_app``)."""
    throttle = request.app.state.login_throttle
    assert isinstance(throttle, LoginThrottle)
    return throttle


LoginThrottleDep = Annotated[LoginThrottle, Depends(get_login_throttle)]
