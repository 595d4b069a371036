"""Media helpers for the web app, sans-I/O: HTTP Range parsing and waveform peaks from WAV bytes.

Peaks are computed server-side from the decoded audio so that the browser never needs the whole
recording to draw the waveform.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from akashi.codecs import g711
from akashi.errors import ProtocolError
from akashi.wavinfo import WavInfo, parse_wav_header


@dataclass(frozen=True)
class ByteRange:
    """An inclusive byte range ``start``..``end`` of a resource of ``size`` bytes."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        """Number of bytes in the range."""
        return self.end - self.start + 1

    def content_range(self) -> str:
        """The ``Content-Range`` header value."""
        return f"bytes {self.start}-{self.end}/{self.size}"


class RangeNotSatisfiable(ValueError):
    """The Range header cannot be served (416)."""


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """Parse a single-range ``Range`` header. ``None``: serve the whole resource (200).

    Multiple ranges are answered with the whole resource, as RFC 9110 allows.
    Raises :class:`RangeNotSatisfiable` when the range lies outside the resource.
    """
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        first_n = int(first) if first else None
        last_n = int(last) if last else None
    except ValueError:
        return None
    if first_n is None:
        if last_n is None:
            return None
        if last_n <= 0:
            raise RangeNotSatisfiable(header)
        start, end = max(0, size - last_n), size - 1
    else:
        start, end = first_n, last_n if last_n is not None else size - 1
    if start >= size:
        raise RangeNotSatisfiable(header)
    if start < 0 or end < start:
        return None
    return ByteRange(start, min(end, size - 1), size)


_ULAW = g711.ULAW_FLOAT
_ALAW = g711.ALAW_FLOAT


def decode_samples(fmt: WavInfo, data: bytes) -> npt.NDArray[np.float32]:
    """Decode WAV sample bytes to float32 of shape (frames, channels) in -1..1."""
    code = fmt.format_code
    if code == 7 and fmt.bits == 8:
        flat = _ULAW[np.frombuffer(data, dtype=np.uint8)]
    elif code == 6 and fmt.bits == 8:
        flat = _ALAW[np.frombuffer(data, dtype=np.uint8)]
    elif code == 1 and fmt.bits == 16:
        usable = len(data) - len(data) % 2
        flat = np.frombuffer(data[:usable], dtype="<i2").astype(np.float32) / 32768.0
    elif code == 1 and fmt.bits == 8:
        flat = (np.frombuffer(data, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif code == 3 and fmt.bits == 32:
        usable = len(data) - len(data) % 4
        flat = np.frombuffer(data[:usable], dtype="<f4").astype(np.float32)
    else:
        raise ProtocolError(
            f"未対応の WAV 形式です (codec={code}, bits={fmt.bits})",
            f"unsupported WAV format (codec={code}, bits={fmt.bits})",
        )
    frames = len(flat) // max(1, fmt.channels)
    return flat[: frames * fmt.channels].reshape(frames, fmt.channels)


def wav_peaks(chunks: Iterable[bytes], buckets: int = 800) -> dict[str, object]:
    """Peak amplitude per bucket and channel of a WAV stream, decoded chunk by chunk.

    Returns ``{"rate", "channels", "duration_s", "peaks": [[...channel 0], [...channel 1]]}``
    with values 0..1 rounded to three decimals. Memory stays bounded by one chunk.
    """
    it = iter(chunks)
    head = b""
    fmt: WavInfo | None = None
    for chunk in it:
        head += chunk
        try:
            fmt = parse_wav_header(head)
            break
        except ProtocolError:
            if len(head) > 1 << 20:
                raise
    if fmt is None:
        fmt = parse_wav_header(head)
    frame_bytes = max(1, fmt.channels * fmt.bits // 8)
    total = fmt.data_size // frame_bytes
    n = max(1, min(buckets, total))
    peaks = np.zeros((n, fmt.channels), dtype=np.float32)
    pending = head[fmt.data_offset :]
    remaining = fmt.data_size
    offset = 0

    def feed(raw: bytes) -> None:
        nonlocal offset
        if not raw:
            return
        samples = np.abs(decode_samples(fmt, raw))
        k = samples.shape[0]
        if k == 0:
            return
        ids = (np.arange(offset, offset + k, dtype=np.int64) * n) // max(1, total)
        ids = np.minimum(ids, n - 1)
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        block = np.maximum.reduceat(samples, starts, axis=0)
        where = ids[starts]
        peaks[where] = np.maximum(peaks[where], block)
        offset += k

    carry = b""
    for raw in itertools.chain([pending], it):
        piece = carry + raw[: max(0, remaining - len(carry))]
        usable = len(piece) - len(piece) % frame_bytes
        feed(piece[:usable])
        remaining -= usable
        carry = piece[usable:]
        if remaining <= len(carry):
            break
    return {
        "rate": fmt.sample_rate,
        "channels": fmt.channels,
        "duration_s": offset / fmt.sample_rate if fmt.sample_rate else 0.0,
        "peaks": [[round(float(v), 3) for v in peaks[: offset and n, ch]] for ch in range(fmt.channels)],
    }
