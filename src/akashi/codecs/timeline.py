"""RTP packets on a wall-clock timeline, sans-I/O: the one segmenting rule of every recorded leg.

Within a segment (same SSRC, timestamps consistent with arrival within :data:`RESYNC_S`), a
packet's place is its RTP timestamp relative to the segment, and the segment starts at its least
delayed arrival: jitter moves nothing and a lost packet leaves a gap where it was. A new SSRC (the
notice player's stream followed by the operator's) or a timestamp jump starts a new segment.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

_HDR = struct.Struct("!BBHII")
#: a timestamp jump this far from the arrival clock starts a new segment (hold, SSRC reuse)
RESYNC_S = 0.5


def header_fields(data: bytes) -> tuple[int, int, int, int] | None:
    """(payload type, sequence, timestamp, ssrc) of a datagram, or None if it is not RTP.

    The hot path uses this: no object is built.
    """
    if len(data) < 12 or data[0] >> 6 != 2:
        return None
    _b0, b1, seq, ts, ssrc = _HDR.unpack_from(data)
    return b1 & 0x7F, seq, ts, ssrc


def payload_offset(data: bytes) -> int:
    """Offset of the payload in a datagram already known to be RTP (CSRC and extension skipped)."""
    pos = 12 + 4 * (data[0] & 0x0F)
    if data[0] & 0x10 and len(data) >= pos + 4:
        pos += 4 + 4 * int.from_bytes(data[pos + 2 : pos + 4], "big")
    return min(pos, len(data))


@dataclass
class Segment:
    """Packets of one stream: ``offset`` is the wall time (UTC s) of timestamp 0 of the segment."""

    ssrc: int
    offset: float
    #: (timestamp relative to the segment's first packet, may be negative; payload), arrival order
    packets: list[tuple[int, bytes]] = field(default_factory=list)


def segments(
    records: Iterable[tuple[float, bytes]], payload_type: int, clock_rate: int, resync_s: float = RESYNC_S
) -> list[Segment]:
    """Split ``(arrival, packet)`` records of one direction into segments; other payload types are skipped.

    Timestamps are unwrapped (a 32-bit wrap inside a segment is no jump).
    """
    out: list[Segment] = []
    cur_ssrc = -1
    base_ts = 0
    last_ext = 0
    cur_anchor = 0.0
    for t, pkt in records:
        f = header_fields(pkt)
        if f is None or f[0] != payload_type:
            continue
        _pt, _seq, ts, ssrc = f
        if ssrc == cur_ssrc:
            d = (ts - (last_ext + base_ts)) & 0xFFFFFFFF
            if d >= 0x80000000:
                d -= 0x100000000
            ext = last_ext + d
            est = t - ext / clock_rate
            if abs(est - cur_anchor) <= resync_s:
                last_ext = max(last_ext, ext)
                seg = out[-1]
                seg.packets.append((ext, pkt[payload_offset(pkt) :]))
                seg.offset = min(seg.offset, est)
                continue
        cur_ssrc, base_ts, last_ext, cur_anchor = ssrc, ts, 0, t
        out.append(Segment(ssrc, t, [(0, pkt[payload_offset(pkt) :])]))
    return out
