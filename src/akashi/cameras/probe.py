"""Read facts from recorded segments (PyAV demux only, no decoding)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import av

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentInfo:
    """What a segment file holds."""

    frames: int
    duration: float
    codec: str
    width: int
    height: int


def probe_segment(path: Path) -> SegmentInfo | None:
    """Count the video packets of an (f)MP4 file and measure their span; None if unreadable."""
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                return None
            vs = c.streams.video[0]
            tb = float(vs.time_base or 0)
            frames = 0
            first: int | None = None
            last: int | None = None
            last_dur = 0
            for pkt in c.demux(vs):
                if pkt.size == 0:
                    continue
                frames += 1
                ts = pkt.pts if pkt.pts is not None else pkt.dts
                if ts is None:
                    continue
                first = ts if first is None else min(first, ts)
                if last is None or ts >= last:
                    last = ts
                    last_dur = pkt.duration or 0
            duration = 0.0
            if first is not None and last is not None:
                if not last_dur and frames > 1:
                    last_dur = round((last - first) / (frames - 1))
                duration = (last - first + last_dur) * tb
            cc = vs.codec_context
            return SegmentInfo(frames, duration, cc.name, cc.width, cc.height)
    except (av.FFmpegError, OSError) as exc:
        log.warning("cannot read segment %s: %s", path, exc)
        return None
