"""The flood gate in front of the SIP parser.

Parsing a SIP message costs about 100 µs of the event loop that also relays every call's RTP. An
address flooding INVITEs past ``sip.invites_per_second_per_source`` gets its 503 from a glance at the
five header lines a response needs (the same answer the full path would give, without a
transaction), and the ACKs of those 503s are dropped unparsed. Everything else, and every INVITE of a
call Akashi already has, takes the normal path.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Container
from typing import TYPE_CHECKING, Any, Protocol

from akashi.telephony.sip.message import Header, Request, canonical
from akashi.telephony.sip.transport import Addr, SipUdp

if TYPE_CHECKING:
    from akashi.telephony.limits import CallLimits, Refusal

#: the To tag of Akashi's limit refusals: the ACK of such a 503 carries it
LIMIT_TAG = "limit"
_NEEDED = ("via", "from", "to", "call-id", "cseq")
_LIMIT_ACK = f";tag={LIMIT_TAG}".encode()


def head_fields(data: bytes) -> list[tuple[str, str]] | None:
    """The Via, From, To, Call-ID and CSeq lines of a request, or None when they cannot be read at a
    glance (folded or odd lines, missing fields, bytes a header value may not hold): then the parser
    decides."""
    end = data.find(b"\r\n\r\n")
    lines = (data if end < 0 else data[:end]).split(b"\r\n")[1:]
    out: list[tuple[str, str]] = []
    for raw in lines:
        if not raw or raw[:1] in b" \t" or b"\n" in raw or b"\r" in raw:
            return None
        name, colon, value = raw.partition(b":")
        if not colon:
            return None
        try:
            text = name.decode("ascii").strip()
            if canonical(text) in _NEEDED:
                out.append((text, value.decode("utf-8").strip()))
        except UnicodeDecodeError:
            return None
    if {canonical(k) for k, _v in out} != set(_NEEDED):
        return None
    return out


def call_id_of(fields: list[tuple[str, str]]) -> str:
    """The Call-ID among :func:`head_fields`."""
    return next(v for k, v in fields if canonical(k) == "call-id")


class GateHost(Protocol):
    """What the gate needs of the service: its calls' Call-IDs, its limits, and how it refuses."""

    @property
    def calls(self) -> Container[str]:
        """The Call-IDs of running calls (and of their legs)."""

    @property
    def limits(self) -> CallLimits:
        """The per-source and total limits."""

    def refuse(self, req: Request, refusal: Refusal | None, *, stateless: bool = False) -> bool:
        """Send a limit's refusal; False when there is none."""


class FloodGate:
    """Decides, before parsing, whether a UDP datagram is a flood's INVITE or the ACK of its 503."""

    def __init__(self, svc: GateHost) -> None:
        self.svc = svc
        #: ACKs of limit refusals dropped unparsed
        self.acks_dropped = 0

    def absorb(self, data: bytes, addr: Addr) -> bool:
        """True when the datagram was dealt with here (answered 503, or a dropped ACK of one)."""
        if data.startswith(b"ACK "):
            if _LIMIT_ACK in data:
                self.acks_dropped += 1  # no transaction waits for it: the 503 went without one
                return True
            return False
        if not data.startswith(b"INVITE "):
            return False
        fields = head_fields(data)
        if fields is None or call_id_of(fields) in self.svc.calls:
            return False  # unreadable at a glance, or a call of ours (a re-INVITE, a retransmission)
        refusal = self.svc.limits.over_rate(addr[0], time.monotonic())
        if refusal is None:
            return False
        req = Request(method="INVITE", uri="sip:invalid")
        req.headers = [Header(name, value) for name, value in fields]
        req.source = (addr[0], addr[1])
        self.svc.refuse(req, refusal, stateless=True)
        return True


class EdgeUdp(SipUdp):
    """The SIP UDP endpoint with the :class:`FloodGate` in front of its parser (streams go straight on)."""

    def __init__(self, *args: Any, gate: Callable[[bytes, Addr], bool], **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.gate = gate

    def datagram_received(self, data: bytes, addr: Addr, *, stream: bool = False, label: str = "TCP") -> None:
        """A datagram (or, with ``stream``, one message from a TCP/TLS connection)."""
        if not stream and self.gate(data, addr):
            return
        super().datagram_received(data, addr, stream=stream, label=label)
