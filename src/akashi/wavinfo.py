"""Read the format of a WAV file (sans-I/O: parse the first bytes handed in)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from akashi.errors import ProtocolError

CODECS = {1: "PCM", 3: "FLOAT", 6: "PCMA", 7: "PCMU", 0xFFFE: "EXTENSIBLE"}


@dataclass(frozen=True)
class WavInfo:
    """Format facts of a WAV file."""

    format_code: int
    channels: int
    sample_rate: int
    bits: int
    data_offset: int
    data_size: int

    @property
    def codec(self) -> str:
        """PCM, PCMU (G.711 μ-law), PCMA (G.711 A-law), ..."""
        return CODECS.get(self.format_code, f"0x{self.format_code:04x}")

    @property
    def duration_s(self) -> float:
        """Length of the audio in seconds."""
        frame = self.channels * max(1, self.bits // 8)
        return self.data_size / frame / self.sample_rate if self.sample_rate else 0.0


def parse_wav_header(head: bytes, total_size: int | None = None) -> WavInfo:
    """Parse a RIFF/WAVE header from its first bytes (64 KiB is plenty)."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise ProtocolError(
            "WAV ファイルではありません (RIFF/WAVE ヘッダーがありません)",
            "not a WAV file: RIFF/WAVE header missing",
        )
    pos = 12
    fmt: tuple[int, int, int, int] | None = None
    while pos + 8 <= len(head):
        cid, size = head[pos : pos + 4], struct.unpack_from("<I", head, pos + 4)[0]
        body = pos + 8
        if cid == b"fmt ":
            if size < 16 or body + 16 > len(head):
                raise ProtocolError("WAV の fmt チャンクが短すぎます", "WAV fmt chunk too short")
            code, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", head, body)
            if code == 0xFFFE and size >= 40 and body + 26 <= len(head):
                code = struct.unpack_from("<H", head, body + 24)[0]
            fmt = (code, channels, rate, bits)
        elif cid == b"data":
            if fmt is None:
                raise ProtocolError(
                    "WAV の data チャンクが fmt より前にあります", "WAV data chunk before fmt chunk"
                )
            if size in (0, 0xFFFFFFFF) and total_size is not None:  # streamed/unfinished header
                size = total_size - body
            if total_size is not None:
                size = min(size, total_size - body)
            code, channels, rate, bits = fmt
            if channels < 1 or rate < 1:
                raise ProtocolError(
                    f"WAV のチャンネル数またはサンプルレートが不正です: {channels}/{rate}",
                    f"WAV channels or sample rate invalid: {channels}/{rate}",
                )
            return WavInfo(code, channels, rate, bits, body, size)
        pos = body + size + (size & 1)
    if fmt is None:
        raise ProtocolError("WAV の fmt チャンクが見つかりません", "WAV fmt chunk not found")
    raise ProtocolError("WAV の data チャンクが見つかりません", "WAV data chunk not found")
