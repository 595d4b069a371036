"""Sans-I/O RTP depacketizing of H.264 (RFC 6184) and H.265 (RFC 7798) into whole access units.

Each access unit comes out in Annex-B form (start codes, as FFmpeg's RTSP demuxer gives it) with its
RTP timestamp extended past the 32-bit wrap and a keyframe flag (an IDR picture; for H.265 any
random-access picture). An access unit that lost a packet is dropped whole and counted: the muxer
gets no torn frames.
"""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass

_RTP = struct.Struct(">BBHI")

START = b"\x00\x00\x00\x01"
#: Largest picture taken (bytes): a camera whose fragments never end must not grow memory without
#: bound. A 4K keyframe at a high bit rate is a few megabytes.
MAX_UNIT = 16 << 20


@dataclass(frozen=True)
class AccessUnit:
    """One picture: Annex-B bytes, 90 kHz timestamp (extended), keyframe flag."""

    data: bytes
    ts: int
    keyframe: bool


def sdp_parameter_sets(codec: str, fmtp: dict[str, str]) -> bytes:
    """The parameter sets an SDP's fmtp carries, as Annex-B (empty when it has none or they are bad)."""
    keys = ("sprop-parameter-sets",) if codec == "h264" else ("sprop-vps", "sprop-sps", "sprop-pps")
    out = b""
    for key in keys:
        for item in fmtp.get(key, "").split(","):
            if item.strip():
                try:
                    nal = base64.b64decode(item.strip() + "=" * (-len(item.strip()) % 4), validate=True)
                except (binascii.Error, ValueError):
                    return b""
                out += START + nal if nal else b""
    return out


class Depacketizer:
    """RTP packets of one H.264 or H.265 stream in, whole access units out."""

    def __init__(self, codec: str) -> None:
        if codec not in ("h264", "hevc"):
            raise ValueError(codec)
        self.hevc = codec == "hevc"
        self._payload = self._hevc if self.hevc else self._h264
        self.nals: list[bytes] = []
        self.fu: list[bytes | bytearray] | None = None
        self.ts: int | None = None  # this access unit's 32-bit RTP timestamp
        self.ext = 0  # the extended timestamp of the last one
        self.last32: int | None = None
        self.next_seq: int | None = None
        self.damaged = False
        self.size = 0  # bytes of payload taken for this unit so far
        self.key = False
        self.vcl = False  # a picture's slice is among ``nals`` (else they are headers for the next one)
        self.dropped = 0  # access units dropped for a missing or broken packet

    def push(self, buf: bytes | bytearray, start: int, end: int, out: list[AccessUnit]) -> None:
        """One RTP packet at ``buf[start:end]``; appends to ``out`` the access units it completes (a new
        timestamp ends the one before, a marker its own). A malformed packet marks the unit damaged."""
        if end - start < 12:
            self.damaged = True
            return
        b0, b1, seq, ts = _RTP.unpack_from(buf, start)
        if b0 >> 6 != 2:
            self.damaged = True  # not RTP: the sequence number tells nothing (the next packet shows a gap)
            return
        at = start + 12 + 4 * (b0 & 0x0F)
        if b0 & 0x10 and at + 4 <= end:  # header extension
            at += 4 + 4 * ((buf[at + 2] << 8) | buf[at + 3])
        if b0 & 0x20:  # padding
            end -= buf[end - 1]
        gap = self.next_seq is not None and seq != self.next_seq
        self.next_seq = (seq + 1) & 0xFFFF
        if gap:
            self.damaged = True  # lost or reordered: this unit is not whole
            self.fu = None
        if self.ts is not None and ts != self.ts:
            if self.nals or self.fu is not None or self.damaged:
                self._emit(out)  # the previous unit ended without a marker
            if gap:
                self.damaged = True  # what was lost may have been this unit's first packets
        self.ts = ts
        self.size += end - at
        if self.size > MAX_UNIT:  # too big to be a picture: drop it, and what comes until it ends
            if self.nals or self.fu is not None:
                self.dropped += 1
            self.nals, self.fu, self.vcl, self.damaged = [], None, False, True
        elif at < end:  # an empty payload (padding only) carries nothing
            self._payload(buf, at, end, buf[at])
        if b1 & 0x80:  # marker
            self._emit(out)

    def _nal(self, nal: bytes) -> None:
        if not nal:
            return
        t = (nal[0] >> 1) & 0x3F if self.hevc else nal[0] & 0x1F
        if (16 <= t <= 21) if self.hevc else t == 5:
            self.key = True
        if t < 32 if self.hevc else 1 <= t <= 5:
            self.vcl = True
        self.nals.append(nal)

    def _h264(self, p: bytes | bytearray, at: int, end: int, p0: int) -> None:
        t = p0 & 0x1F
        if t == 28:  # FU-A: most packets of a picture
            if at + 2 > end:
                self.damaged = True
                return
            fu = p[at + 1]
            self._fragment(fu, bytes(((p0 & 0xE0) | (fu & 0x1F),)), p[at + 2 : end])
        elif t == 24:  # STAP-A
            self._aggregate(p, at + 1, end)
        elif 1 <= t <= 23:
            self._nal(bytes(p[at:end]))
        else:
            self.damaged = True  # STAP-B, MTAP, FU-B: not in packetization mode 0/1

    def _hevc(self, p: bytes | bytearray, at: int, end: int, p0: int) -> None:
        if end - at < 3:
            self.damaged = True
            return
        t = (p0 >> 1) & 0x3F
        if t == 48:  # aggregation packet
            self._aggregate(p, at + 2, end)
        elif t == 49:  # fragmentation unit
            fu = p[at + 2]
            self._fragment(fu, bytes(((p0 & 0x81) | ((fu & 0x3F) << 1), p[at + 1])), p[at + 3 : end])
        elif t < 48:
            self._nal(bytes(p[at:end]))
        else:
            self.damaged = True  # PACI and reserved types

    def _aggregate(self, p: bytes | bytearray, at: int, end: int) -> None:
        while at + 2 <= end:
            size = (p[at] << 8) | p[at + 1]
            if at + 2 + size > end:
                self.damaged = True
                return
            self._nal(bytes(p[at + 2 : at + 2 + size]))
            at += 2 + size

    def _fragment(self, fu: int, head: bytes, body: bytes | bytearray) -> None:
        if fu & 0x80:  # start
            self.fu = [head, body]
        elif self.fu is None:
            self.damaged = True  # a middle or end without its start
            return
        else:
            self.fu.append(body)
        if fu & 0x40:  # end
            self._nal(b"".join(self.fu))
            self.fu = None

    def _emit(self, out: list[AccessUnit]) -> None:
        nals, damaged, key, ts = self.nals, self.damaged or self.fu is not None, self.key, self.ts
        had = bool(nals) or self.fu is not None
        self.fu, self.damaged, self.key = None, False, False
        if not damaged and not self.vcl:
            return  # parameter sets or SEI sent apart (their own timestamp or marker): they go with the next picture
        self.nals, self.vcl, self.size = [], False, 0
        if damaged and had:
            self.dropped += 1
        if damaged or ts is None or not nals:
            return
        if self.last32 is None:
            self.ext = ts
        else:
            delta = (ts - self.last32) & 0xFFFFFFFF
            self.ext += delta - (1 << 32) if delta >= 1 << 31 else delta
        self.last32 = ts
        out.append(AccessUnit(START + START.join(nals), self.ext, key))
