"""Session timers (RFC 4028), sans-I/O: header parsing and who refreshes a leg, and when.

``refresher`` in ``Session-Expires`` names a role *of the transaction that carried it*: ``uac`` is
whoever sent the INVITE/UPDATE. :class:`Timer` turns that into "we refresh" or "the peer refreshes"
for the leg, so the layer above only needs :attr:`Timer.refresh_in` or :attr:`Timer.expire_in`.
"""

from __future__ import annotations

from dataclasses import dataclass

from akashi.errors import ProtocolError
from akashi.telephony.reliable import option_tags
from akashi.telephony.sip.message import SipMessage

#: the largest interval accepted (RFC 4028 does not bound it; a day is plenty)
MAX_INTERVAL = 86400


def _delta(value: str, field_name: str) -> int:
    v = value.strip()
    if not v.isdigit() or len(v) > 10 or not 1 <= int(v) <= 2**32 - 1:
        raise ProtocolError(f"{field_name} が不正です: {value!r}", f"invalid {field_name} {value!r}")
    return int(v)


@dataclass(frozen=True)
class SessionExpires:
    """A ``Session-Expires`` value: the interval in seconds and the refresher role (if named)."""

    interval: int
    refresher: str | None = None  # "uac", "uas" or None

    @classmethod
    def parse(cls, value: str) -> SessionExpires:
        """Parse ``"1800;refresher=uac"`` (other parameters are ignored, as RFC 4028 4 allows)."""
        head, *params = value.split(";")
        interval = _delta(head, "Session-Expires")
        refresher = None
        for p in params:
            k, _, v = p.partition("=")
            if k.strip().lower() == "refresher":
                r = v.strip().lower()
                if r not in ("uac", "uas"):
                    raise ProtocolError(
                        f"Session-Expires の refresher が不正です: {value!r}",
                        f"invalid Session-Expires refresher {value!r}",
                    )
                refresher = r
        return cls(interval, refresher)

    def __str__(self) -> str:
        return f"{self.interval};refresher={self.refresher}" if self.refresher else str(self.interval)


def parse_min_se(value: str) -> int:
    """A ``Min-SE`` value (parameters ignored)."""
    return _delta(value.split(";", maxsplit=1)[0], "Min-SE")


def session_expires(msg: SipMessage) -> SessionExpires | None:
    """The message's ``Session-Expires`` (compact form ``x``), or None."""
    v = msg.get("Session-Expires") or msg.get("x")
    return SessionExpires.parse(v) if v is not None else None


def too_small(req: SipMessage, min_se: int) -> bool:
    """RFC 4028 8.1: a request whose Session-Expires is below our Min-SE is refused with 422.

    A value that cannot be parsed raises :class:`ProtocolError` (answered 400 by the caller).
    """
    se = session_expires(req)
    return se is not None and se.interval < min_se


def supports_timer(msg: SipMessage) -> bool:
    """Whether the sender of ``msg`` implements session timers (``timer`` supported or required)."""
    return "timer" in option_tags(msg, "Supported") or "timer" in option_tags(msg, "Require")


@dataclass(frozen=True)
class Timer:
    """The session timer of one leg after a negotiation."""

    interval: int
    #: True: Akashi sends the refreshes on this leg; False: the peer must, or the leg expires
    we_refresh: bool
    #: the peer implements RFC 4028 (so a 2xx may carry ``Require: timer``)
    peer_supports: bool = False

    @property
    def refresh_in(self) -> float:
        """When Akashi refreshes, after the last refresh (RFC 4028 7.4/10: half the interval)."""
        return self.interval / 2

    @property
    def expire_in(self) -> float:
        """When a leg the peer refreshes is given up (RFC 4028 10: interval minus min(32, SE/3))."""
        return self.interval - min(32.0, self.interval / 3)

    def response_headers(self) -> list[tuple[str, str]]:
        """Headers of Akashi's 2xx to the request that negotiated this timer (Akashi is its UAS)."""
        role = "uas" if self.we_refresh else "uac"
        out = [("Session-Expires", f"{self.interval};refresher={role}")]
        if self.peer_supports:
            out.append(("Require", "timer"))
        return out


def uas_timer(req: SipMessage) -> Timer | None:
    """Akashi answers ``req`` (INVITE, re-INVITE or UPDATE): the timer to run, or None for none.

    A request without ``Session-Expires`` runs no timer (the RTP timeout still catches dead calls).
    The refresher is the one the request named; else the requester when it supports timers, else
    Akashi (RFC 4028 9: a UAC that does not support timers can never be the refresher).
    """
    se = session_expires(req)
    if se is None:
        return None
    supports = supports_timer(req)
    refresher = se.refresher or ("uac" if supports else "uas")
    if refresher == "uac" and not supports:
        refresher = "uas"
    return Timer(min(se.interval, MAX_INTERVAL), we_refresh=refresher == "uas", peer_supports=supports)


def uac_timer(resp: SipMessage) -> Timer | None:
    """Akashi sent the request ``resp`` answers (a 2xx): the timer to run, or None.

    RFC 4028 7.2: a 2xx without ``Session-Expires`` means no session expiration. Without a refresher
    parameter the UAC (Akashi) refreshes, which is always safe.
    """
    se = session_expires(resp)
    if se is None:
        return None
    return Timer(
        min(se.interval, MAX_INTERVAL),
        we_refresh=se.refresher != "uas",
        peer_supports=supports_timer(resp),
    )


def request_headers(interval: int, min_se: int, *, we_refresh: bool = True) -> list[tuple[str, str]]:
    """Headers of a request Akashi sends on a leg with (or asking for) a session timer.

    ``we_refresh`` keeps the roles of a running timer: Akashi, the UAC of this request, stays the
    refresher (``uac``), or the peer does (``uas``).
    """
    return [
        ("Supported", "timer"),
        ("Session-Expires", f"{interval};refresher={'uac' if we_refresh else 'uas'}"),
        ("Min-SE", str(min_se)),
    ]


def invite_headers(interval: int, min_se: int) -> list[tuple[str, str]]:
    """Headers of Akashi's initial INVITE on an operator/trunk leg: 100rel and timers offered.

    No refresher is named: the answering side chooses (RFC 4028 7.1), its 2xx tells.
    """
    return [("Supported", "100rel, timer"), ("Session-Expires", str(interval)), ("Min-SE", str(min_se))]
