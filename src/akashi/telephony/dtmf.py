"""DTMF from a phone, sans-I/O: RFC 4733 telephone-event payloads and SIP INFO bodies.

:class:`TelephoneEvent` parses one 4-byte event block and round-trips exactly
(``bytes(TelephoneEvent.parse(b)) == b``). A phone repeats an event's packets while the key is held
and sends its end packet three times (RFC 4733 2.5.1.4): :class:`KeyDetector` turns that stream into
one key per press, keyed on the event's RTP timestamp. :func:`info_key` reads the key of a SIP INFO
(``application/dtmf-relay`` and ``application/dtmf``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from akashi.errors import ProtocolError

#: RFC 4733 3.2: event codes 0-15 are the DTMF keys
KEYS = "0123456789*#ABCD"
_BLOCK = struct.Struct("!BBH")


class DtmfError(ProtocolError):
    """A telephone-event payload or a DTMF INFO body could not be parsed; the field is named."""

    def __init__(self, field_name: str, detail: str) -> None:
        self.field = field_name
        super().__init__(f"DTMF の {field_name} が不正です: {detail}", f"invalid DTMF {field_name}: {detail}")


@dataclass(frozen=True)
class TelephoneEvent:
    """One RFC 4733 event block: the event code, end bit, reserved bit, volume and duration."""

    event: int
    end: bool = False
    volume: int = 0
    duration: int = 0
    reserved: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.event <= 255:
            raise DtmfError("event", str(self.event))
        if not 0 <= self.volume <= 63:
            raise DtmfError("volume", str(self.volume))
        if not 0 <= self.duration <= 0xFFFF:
            raise DtmfError("duration", str(self.duration))

    @classmethod
    def parse(cls, data: bytes) -> TelephoneEvent:
        """The event of a 4-byte payload (the first block of a longer one: see :func:`parse_events`)."""
        if len(data) != 4:
            raise DtmfError("payload", f"{len(data)} bytes, need 4")
        event, flags, duration = _BLOCK.unpack(data)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration, bool(flags & 0x40))

    def __bytes__(self) -> bytes:
        flags = (0x80 if self.end else 0) | (0x40 if self.reserved else 0) | self.volume
        return _BLOCK.pack(self.event, flags, self.duration)

    @property
    def key(self) -> str | None:
        """The DTMF key (``0``-``9``, ``*``, ``#``, ``A``-``D``), None for another event (flash...)."""
        return KEYS[self.event] if self.event < len(KEYS) else None


def parse_events(payload: bytes) -> list[TelephoneEvent]:
    """Every event block of a payload (RFC 4733 2.5.1.5 allows several: redundancy); at least one."""
    if not payload or len(payload) % 4:
        raise DtmfError("payload", f"{len(payload)} bytes, need a multiple of 4")
    return [TelephoneEvent.parse(payload[i : i + 4]) for i in range(0, len(payload), 4)]


class KeyDetector:
    """One key per press from a stream of RTP telephone-event packets.

    An event is named by its RTP timestamp, the same in every packet of one press from start to end
    (RFC 4733 2.5.1.2). The key is reported with the first packet of a new event, so a key still held
    (a soft-phone's console holds the last key until the next one) counts at once, and the repeated
    updates and end packets of the same press are ignored; a press whose first packets were lost
    counts at whichever of its packets arrives first.
    """

    def __init__(self) -> None:
        self._reported: int | None = None  # timestamp of the last press reported

    def feed(self, timestamp: int, payload: bytes) -> list[str]:
        """The key this packet starts (none, or one); raises :class:`DtmfError` on a bad payload."""
        ev = parse_events(payload)[-1]  # the last block is the newest (redundant ones come first)
        if timestamp == self._reported or ev.key is None:
            return []
        self._reported = timestamp
        return [ev.key]


def info_key(content_type: str, body: bytes) -> str:
    """The key of a SIP INFO DTMF body: ``application/dtmf-relay`` (``Signal=5``) or ``application/dtmf``."""
    ctype = content_type.split(";", 1)[0].strip().lower()
    try:
        text = body.decode("ascii").strip()
    except UnicodeDecodeError as exc:
        raise DtmfError("body", "not ASCII") from exc
    if ctype == "application/dtmf-relay":
        signal = None
        for line in text.splitlines():
            name, sep, value = line.partition("=")
            if sep and name.strip().lower() == "signal":
                signal = value.strip()
        if signal is None:
            raise DtmfError("Signal", "missing")
        text = signal
    elif ctype != "application/dtmf":
        raise DtmfError("Content-Type", ctype or "missing")
    return _key_of(text)


def _key_of(text: str) -> str:
    """A key written as itself (``5``, ``*``, ``#``, ``a``) or as its RFC 4733 code (``10`` for ``*``)."""
    t = text.upper()
    if len(t) == 1 and t in KEYS:
        return t
    if t.isdigit() and int(t) < len(KEYS):
        return KEYS[int(t)]
    raise DtmfError("Signal", repr(text[:20]))
