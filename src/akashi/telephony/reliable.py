"""Reliable provisional responses (RFC 3262, 100rel / PRACK), sans-I/O.

Both directions of a B2BUA leg are here as small state machines that decide and never send:

* :class:`ReliableUas` - Akashi answers an INVITE: numbers its reliable 1xx (``RSeq``), says when to
  retransmit and when to give up (64*T1 without PRACK: 504), matches the PRACK's ``RAck``, and holds a
  2xx back until the last reliable provisional was acknowledged.
* :class:`PrackTracker` - Akashi sent an INVITE: decides, per early dialog (To tag), whether a reliable
  1xx is new (PRACK it), a retransmission (PRACK again) or out of order (ignore it).
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass, field

from akashi.errors import ProtocolError
from akashi.telephony.sip.message import SipMessage

#: the option tags Akashi implements (``Supported``; a ``Require`` of anything else gets 420)
OPTION_TAGS = ("100rel", "timer")
SUPPORTED = ", ".join(OPTION_TAGS)
#: RFC 3262 7.1: RSeq is 1..2**31-1
MAX_RSEQ = 2**31 - 1


def option_tags(msg: SipMessage, header: str) -> set[str]:
    """The option tags of ``Supported`` / ``Require`` (lower case; compact ``k`` accepted)."""
    return {t.strip().lower() for t in msg.get_all(header) if t.strip()}


def wants_100rel(invite: SipMessage) -> bool:
    """Whether Akashi sends its provisional responses to this INVITE reliably: only when required.

    ``Supported: 100rel`` alone would allow it, but then a lost PRACK turns a call that would have
    been answered into a 504 (and the 2xx waits for the PRACK): Akashi's 180 carries no SDP, so a
    reliable one gains the caller little. A ``Require: 100rel`` gets it.
    """
    return "100rel" in option_tags(invite, "Require")


def parse_rseq(value: str) -> int:
    """An ``RSeq`` value (RFC 3262 7.1)."""
    v = value.strip()
    if not v.isdigit() or len(v) > 10 or not 1 <= int(v) <= MAX_RSEQ:
        raise ProtocolError(f"RSeq が不正です: {value!r}", f"invalid RSeq {value!r}")
    return int(v)


@dataclass(frozen=True)
class RAck:
    """An ``RAck`` value (RFC 3262 7.2): response number, CSeq number and method of the 1xx."""

    rseq: int
    cseq: int
    method: str

    @classmethod
    def parse(cls, value: str) -> RAck:
        """Parse ``"1 314159 INVITE"``."""
        parts = value.split()
        if len(parts) != 3 or not parts[1].isdigit() or len(parts[1]) > 10 or not parts[2].isalpha():
            raise ProtocolError(f"RAck が不正です: {value!r}", f"invalid RAck {value!r}")
        return cls(parse_rseq(parts[0]), int(parts[1]), parts[2].upper())

    def __str__(self) -> str:
        return f"{self.rseq} {self.cseq} {self.method}"


class PrackResult(enum.Enum):
    """What a PRACK did to the reliable provisional state."""

    ACKED = "acked"  # it acknowledged the outstanding 1xx: answer 200
    NO_MATCH = "no_match"  # nothing outstanding with that RAck: answer 481


@dataclass
class ReliableUas:
    """The UAS side of one INVITE transaction's reliable provisionals.

    ``t1``/``t2`` are the RFC 3261 timers: a provisional is resent at ``t1`` then doubling up to ``t2``
    until PRACKed; after ``64*t1`` without PRACK the INVITE is to be rejected with 504.
    """

    cseq: int
    t1: float = 0.5
    t2: float = 4.0
    #: the RSeq of the next reliable provisional
    next_rseq: int = field(default_factory=lambda: secrets.randbelow(2**20) + 1)
    #: RSeq of the provisional waiting for its PRACK (None: nothing outstanding)
    outstanding: int | None = None
    interval: float = 0.0
    waited: float = 0.0
    #: a final response is held back until the outstanding provisional is PRACKed
    finished: bool = False

    def send(self) -> int:
        """A new reliable provisional goes out: its RSeq (only one may be outstanding, RFC 3262 3)."""
        if self.outstanding is not None:
            raise ProtocolError(
                "確認待ちの暫定応答があります", "a reliable provisional response is still unacknowledged"
            )
        rseq = self.next_rseq
        self.next_rseq = rseq + 1 if rseq < MAX_RSEQ else 1
        self.outstanding = rseq
        self.interval = self.t1
        self.waited = 0.0
        return rseq

    def retransmit_after(self) -> float | None:
        """Seconds until the next retransmission of the outstanding 1xx; None when it is time to give up.

        Each call advances the schedule: the caller resends once the returned delay has passed.
        """
        if self.outstanding is None or self.finished:
            return None
        if self.waited >= 64 * self.t1:
            return None
        delay = min(self.interval, 64 * self.t1 - self.waited)
        self.waited += delay
        self.interval = min(self.interval * 2, self.t2)
        return delay

    @property
    def timed_out(self) -> bool:
        """No PRACK came within 64*T1 of the provisional."""
        return self.outstanding is not None and not self.finished and self.waited >= 64 * self.t1

    def on_prack(self, rack: RAck) -> PrackResult:
        """A PRACK arrived: does its RAck match the outstanding provisional of our INVITE?"""
        if (
            self.outstanding is not None
            and not self.finished
            and rack.rseq == self.outstanding
            and rack.cseq == self.cseq
            and rack.method == "INVITE"
        ):
            self.outstanding = None
            return PrackResult.ACKED
        return PrackResult.NO_MATCH

    def may_send_2xx(self) -> bool:
        """Whether a 2xx may go now (RFC 3262 3: not before the reliable 1xx is PRACKed)."""
        return self.outstanding is None

    def finish(self) -> None:
        """A final response went: nothing more is retransmitted or acknowledged."""
        self.finished = True


class Provisional(enum.Enum):
    """What to do with a reliable provisional response Akashi received as UAC."""

    PRACK = "prack"  # a new one, in order: send a PRACK
    REPRACK = "reprack"  # the one just PRACKed again (the PRACK or its 200 was lost): PRACK again
    IGNORE = "ignore"  # out of order: drop it (RFC 3262 4)


@dataclass
class PrackTracker:
    """The UAC side: the last RSeq seen per early dialog (the provisional's To tag)."""

    last: dict[str, int] = field(default_factory=dict)

    def on_provisional(self, to_tag: str, rseq: int) -> Provisional:
        """Classify one reliable 1xx of our INVITE."""
        prev = self.last.get(to_tag)
        if prev is None or rseq == (prev + 1 if prev < MAX_RSEQ else 1):
            self.last[to_tag] = rseq
            return Provisional.PRACK
        if rseq == prev:
            return Provisional.REPRACK
        return Provisional.IGNORE
