"""Where calls get their RTP ports: the :class:`MediaPorts` interface, and :class:`PortPool`, the ports
this process binds itself (:class:`~akashi.telephony.mediapool.MediaWorkers` is the other, in media
worker processes)."""

from __future__ import annotations

import asyncio
import random
from typing import Protocol

from akashi.errors import AkashiError
from akashi.telephony.limits import Refusal
from akashi.telephony.media import RtpEndpoint, RtpEndpoint6


def no_ipv6() -> AkashiError:
    """The error of an IPv6 offer when Akashi has no IPv6 address for media."""
    return AkashiError(
        "IPv6 のアドレスが設定されていません（sip.ipv6_address）",
        "no IPv6 address for media (sip.ipv6_address)",
    )


def no_port() -> AkashiError:
    """The error when every RTP port is taken."""
    return AkashiError("RTP ポートが足りません", "no free RTP port in sip.rtp_ports")


class MediaPorts(Protocol):
    """Where calls get their RTP ports: :class:`PortPool` in this process, or media worker processes."""

    @property
    def has_ipv6(self) -> bool:  # pragma: no cover - interface
        """Whether Akashi has an IPv6 address for media (``sip.ipv6_address``)."""
        ...

    @property
    def free_count(self) -> int:  # pragma: no cover - interface
        """Ports left to open."""
        ...

    async def open(
        self, *, ipv6: bool = False, near: RtpEndpoint | None = None
    ) -> RtpEndpoint:  # pragma: no cover
        """A bound port; ``near``: one that must be able to relay to it (the call's other leg)."""
        ...

    def admit(self) -> Refusal | None:  # pragma: no cover - interface
        """None when the media plane can take a new call, else the refusal (503)."""
        ...

    async def synced(self) -> None:  # pragma: no cover - interface
        """Return once the relay does what call control last set (a packet after it is handled so)."""
        ...


class PortPool:
    """Even RTP ports from ``sip.rtp_ports``, bound on demand (on ``host6`` for IPv6 peers)."""

    def __init__(self, host: str, ports: str, host6: str = "") -> None:
        lo, hi = (int(p) for p in ports.split("-"))
        self.host = host
        self.host6 = host6
        self.free = list(range(lo + (lo & 1), hi, 2))
        random.shuffle(self.free)
        self.used: set[int] = set()

    @property
    def has_ipv6(self) -> bool:
        """Whether Akashi has an IPv6 address for media (``sip.ipv6_address``)."""
        return bool(self.host6)

    @property
    def free_count(self) -> int:
        """Ports left to open."""
        return len(self.free)

    def admit(self) -> Refusal | None:
        """Always None: this process's own load is checked by the service's admission control."""
        return None

    async def synced(self) -> None:
        """At once: this process's endpoints relay as call control sets them, with no message between."""

    async def open(self, *, ipv6: bool = False, near: RtpEndpoint | None = None) -> RtpEndpoint:
        """Bind a free port (on the IPv6 address with ``ipv6``); every port here can relay to any other."""
        if ipv6 and not self.host6:
            raise no_ipv6()
        loop = asyncio.get_running_loop()
        cls = RtpEndpoint6 if ipv6 else RtpEndpoint
        host = self.host6 if ipv6 else self.host
        for _ in range(min(64, len(self.free))):
            port = self.free.pop(0)
            try:
                _tr, ep = await loop.create_datagram_endpoint(
                    lambda port=port: cls(port),  # type: ignore[misc]
                    local_addr=(host, port),
                )
            except OSError:
                self.free.append(port)
                continue
            self.used.add(port)
            ep.on_close = self._release
            return ep
        raise no_port()

    def _release(self, port: int) -> None:
        if port in self.used:
            self.used.discard(port)
            self.free.append(port)
