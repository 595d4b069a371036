"""Thumbnails: JPEGs every few seconds, decoding keyframes only (about 7x cheaper than every frame).

Thumbnails are made on demand from a segment's plaintext (which the caller obtained through the
access layer), so no unencrypted picture of the footage is ever left on disk.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

import av
import av.video.frame

from akashi.access.evidence import open_segment_media
from akashi.errors import ProtocolError

if TYPE_CHECKING:
    from akashi.access.principal import Principal
    from akashi.context import Akashi

DEFAULT_WIDTH = 320


@dataclass(frozen=True)
class Thumb:
    """One JPEG and its offset (seconds) from the start of the segment."""

    offset_s: float
    jpeg: bytes


def to_jpeg(frame: av.video.frame.VideoFrame, width: int = DEFAULT_WIDTH, quality: int = 5) -> bytes:
    """Scale a decoded frame to ``width`` (keeping the aspect, even height) and encode it as JPEG."""
    height = max(2, round(frame.height * width / max(frame.width, 1) / 2) * 2)
    small = frame.reformat(width=width, height=height, format="yuvj420p")
    enc = av.CodecContext.create("mjpeg", "w")
    enc.width, enc.height = width, height
    enc.pix_fmt = "yuvj420p"
    enc.time_base = Fraction(1, 25)
    enc.options = {"qmin": str(quality), "qmax": str(quality)}
    small.pts = 0
    packets = [*enc.encode(small), *enc.encode(None)]
    return b"".join(bytes(p) for p in packets)


def keyframe_thumbs(media: bytes, every_s: float, width: int = DEFAULT_WIDTH) -> list[Thumb]:
    """A JPEG of the first keyframe at or after each ``every_s`` mark of an (f)MP4 segment."""
    out: list[Thumb] = []
    try:
        with av.open(io.BytesIO(media), "r") as c:
            if not c.streams.video:
                return out
            vs = c.streams.video[0]
            vs.codec_context.skip_frame = "NONKEY"
            tb = float(vs.time_base or 0)
            start: float | None = None
            next_mark = 0.0
            for frame in c.decode(vs):
                if frame.pts is None:
                    continue
                t = frame.pts * tb
                start = t if start is None else start
                if t - start >= next_mark - 1e-6:
                    out.append(Thumb(round(t - start, 3), to_jpeg(frame, width)))
                    while next_mark <= t - start + 1e-6:
                        next_mark += every_s
    except av.FFmpegError as exc:
        raise ProtocolError(f"映像を読めません: {exc}", f"cannot read the segment: {exc}") from exc
    return out


def segment_thumbnails(
    ak: Akashi, principal: Principal, segment_id: int, *, client: str = "", width: int = DEFAULT_WIDTH
) -> list[Thumb]:
    """Thumbnails of one stored segment, every ``camera_policy.thumbnail_every_s`` (checked, audited)."""

    handle = open_segment_media(ak, principal, segment_id, action="play", client=client)
    data = b"".join(handle.iter())
    return keyframe_thumbs(data, ak.settings.camera_policy.thumbnail_every_s, width)
