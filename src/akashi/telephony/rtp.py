"""RTP fixed header (RFC 3550 5.1), sans-I/O; ``bytes(RtpPacket.parse(b)) == b``."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from akashi.errors import ProtocolError

_HDR = struct.Struct("!BBHII")


class RtpError(ProtocolError):
    """An RTP packet could not be parsed; the field is named."""

    def __init__(self, field_name: str, detail: str) -> None:
        self.field = field_name
        super().__init__(f"RTP の {field_name} が不正です: {detail}", f"invalid RTP {field_name}: {detail}")


@dataclass
class RtpPacket:
    """One RTP packet."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension: tuple[int, bytes] | None = None
    padding: int = 0

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """Parse a datagram."""
        if len(data) < 12:
            raise RtpError("header", f"{len(data)} bytes, need 12")
        b0, b1, seq, ts, ssrc = _HDR.unpack_from(data)
        if b0 >> 6 != 2:
            raise RtpError("version", str(b0 >> 6))
        cc = b0 & 0x0F
        pos = 12 + 4 * cc
        if len(data) < pos:
            raise RtpError("csrc", "truncated")
        csrc = struct.unpack_from(f"!{cc}I", data, 12) if cc else ()
        ext = None
        if b0 & 0x10:
            if len(data) < pos + 4:
                raise RtpError("extension", "truncated")
            prof, words = struct.unpack_from("!HH", data, pos)
            end = pos + 4 + 4 * words
            if len(data) < end:
                raise RtpError("extension", "truncated")
            ext = (prof, bytes(data[pos + 4 : end]))
            pos = end
        end = len(data)
        padding = 0
        if b0 & 0x20:
            padding = data[-1]
            if padding == 0 or pos + padding > len(data):
                raise RtpError("padding", str(padding))
            end -= padding
        return cls(b1 & 0x7F, seq, ts, ssrc, bytes(data[pos:end]), bool(b1 & 0x80), tuple(csrc), ext, padding)

    def __bytes__(self) -> bytes:
        b0 = 0x80 | (0x20 if self.padding else 0) | (0x10 if self.extension else 0) | len(self.csrc)
        out = _HDR.pack(
            b0, (0x80 if self.marker else 0) | self.payload_type, self.sequence, self.timestamp, self.ssrc
        )
        out += b"".join(struct.pack("!I", c) for c in self.csrc)
        if self.extension:
            prof, data = self.extension
            out += struct.pack("!HH", prof, len(data) // 4) + data
        out += self.payload
        if self.padding:
            out += bytes(self.padding - 1) + bytes([self.padding])
        return out


#: the largest RTP packet accepted: 200 ms of G.711 (the longest ptime) is 1,612 bytes
MAX_PACKET = 2048


def header_problem(data: bytes) -> str | None:
    """Why a datagram is not a well-formed RTP packet (a refusal reason), or None when it is.

    Reasons: ``truncated`` (shorter than its header, CSRC list or extension), ``too_long``,
    ``version`` (not 2) and ``padding`` (a padding count larger than the packet).
    """
    if len(data) > MAX_PACKET:
        return "too_long"
    try:
        RtpPacket.parse(data)
    except RtpError as exc:
        return {"version": "version", "padding": "padding"}.get(exc.field, "truncated")
    return None
