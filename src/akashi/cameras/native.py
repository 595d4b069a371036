"""A camera session read by Akashi's own RTSP reader, cut into segments by the shared :class:`Session`.

The reader (:mod:`akashi.cameras.reader`) gives whole access units; each becomes one PyAV packet for
the fragmented-MP4 muxer, as FFmpeg's RTSP demuxer would have given it. The output stream copies a
template opened from the first keyframe (parameter sets from the SDP or in band), so the segment
files are the same as PyAV's path writes. ``run_native`` returns ``None`` when the camera's stream is
one for PyAV (see :class:`~akashi.cameras.reader.Unsupported`); a camera found to send B-frames is
remembered and read by PyAV from its next session on. A read takes a batch of pictures at once: each is
handed over with its age (the newest arrived just now), so the wall-clock anchor is not late by the batching.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from fractions import Fraction

import av
import av.container
import av.video.stream

from akashi.cameras.depacket import AccessUnit
from akashi.cameras.reader import Opened, RtspReader, Unsupported
from akashi.cameras.rtsp import RtspError
from akashi.cameras.segmenter import Input, Session, SessionConfig, SessionResult, cannot_connect, ended_by
from akashi.cameras.spool import CameraSpool, SegmentMeta
from akashi.cameras.timeline import parameter_sets

log = logging.getLogger(__name__)

#: First keyframes whose picture size cannot be read before the camera is handed to PyAV.
BAD_KEYFRAMES = 3
#: Camera URLs whose streams turned out to need PyAV (audio, B-frames, ...): read by PyAV from then on
#: (until the process restarts; a changed URL is asked again).
PYAV_ONLY: set[str] = set()


def open_template(opened: Opened, au: AccessUnit) -> av.container.InputContainer:
    """A one-frame input whose video stream the segments copy (picture size, parameter sets)."""
    data = au.data if parameter_sets(au.data, opened.codec) else opened.parameter_sets + au.data
    container = av.open(io.BytesIO(data), "r", format=opened.codec)
    video = container.streams.video[0] if container.streams.video else None
    if video is None or not video.codec_context.width:
        container.close()
        raise Unsupported("picture size not found in the first keyframe")
    return container


def run_native(
    cfg: SessionConfig,
    spool: CameraSpool,
    stop: threading.Event,
    on_open: Callable[[datetime], None],
    on_segment: Callable[[SegmentMeta], None],
) -> SessionResult | None:
    """Record like :func:`~akashi.cameras.recorder.run_session`; ``None``: read this camera with PyAV."""
    if cfg.url in PYAV_ONLY:
        return None
    res = SessionResult("", False, 0, None, None)
    try:
        reader = RtspReader(cfg.url, cfg.socket_timeout_s)
    except Unsupported:
        return None
    except RtspError as exc:
        res.reason = cannot_connect(exc, cfg.url)
        return res
    try:
        opened = reader.open()
    except Unsupported as exc:
        reader.close()
        PYAV_ONLY.add(cfg.url)  # its stream will not change: later sessions go to PyAV without asking
        log.info("camera %s: read by PyAV (%s)", cfg.camera, exc)
        return None
    except (RtspError, OSError) as exc:
        reader.close()
        res.reason = cannot_connect(exc, cfg.url)
        return res
    res.connected = True
    log.debug("camera %s: read by Akashi's RTSP reader (%s)", cfg.camera, opened.codec)
    return _record(cfg, spool, stop, on_open, on_segment, reader, opened, res)


class _Copier:
    """One session's access units into the segmenter, as PyAV packets."""

    def __init__(self, make: Callable[[av.video.stream.VideoStream], Session], opened: Opened) -> None:
        self.make, self.opened = make, opened
        self.tb = Fraction(1, opened.clock_rate or 90000)
        self.tbf = float(self.tb)
        self.session: Session | None = None
        self.template: av.container.InputContainer | None = None
        self.last_ts: int | None = None
        self.spacing = 0  # the smallest step between pictures seen (clock ticks)
        self.bad_keyframes = 0

    def take(self, au: AccessUnit, age: float) -> None:
        if self.session is None:
            if not au.keyframe:
                return  # a segment starts at a keyframe: nothing before the first is kept
            try:
                self.template = open_template(self.opened, au)
            except (Unsupported, av.FFmpegError) as exc:
                self.bad_keyframes += 1  # a damaged keyframe: wait for the next, but not for ever
                if self.bad_keyframes >= BAD_KEYFRAMES:
                    raise Unsupported(f"{BAD_KEYFRAMES} keyframes unreadable: {exc}") from None
                return
            self.session = self.make(self.template.streams.video[0])
        if self.last_ts is not None:
            step = au.ts - self.last_ts
            if step < 0:
                raise Unsupported("B-frames (presentation times go back; RTP does not carry decode order)")
            self.spacing = step if not self.spacing or 0 < step < self.spacing else self.spacing
        self.last_ts = au.ts
        pkt = av.Packet(au.data)
        pkt.pts = pkt.dts = au.ts
        pkt.time_base = self.tb
        pkt.is_keyframe = au.keyframe
        self.session.feed(pkt, 0, au.ts * self.tbf, True, age)

    def close(self) -> None:
        if self.session is not None:
            self.session.finish(1.0 / (self.spacing * self.tbf) if self.spacing else 15.0)
        if self.template is not None:
            self.template.close()


def _record(
    cfg: SessionConfig,
    spool: CameraSpool,
    stop: threading.Event,
    on_open: Callable[[datetime], None],
    on_segment: Callable[[SegmentMeta], None],
    reader: RtspReader,
    opened: Opened,
    res: SessionResult,
) -> SessionResult:
    def make(video: av.video.stream.VideoStream) -> Session:
        return Session(cfg, spool, video, [Input(0, video, copier.tb)], "mp4", "", on_open, on_segment, res)

    copier = _Copier(make, opened)
    res.reason = "ストリーム終了 / end of stream"
    try:
        for batch in reader.batches():
            if stop.is_set():
                res.reason = "停止 / stopped"
                break
            newest = batch[-1].ts
            for au in batch:
                # One read took the batch: the newest arrived just now, the others at their spacing before.
                copier.take(au, max(0.0, (newest - au.ts) * copier.tbf))
    except Unsupported as exc:
        PYAV_ONLY.add(cfg.url)
        log.info("camera %s: read by PyAV from the next session: %s", cfg.camera, exc)
        res.reason = f"読み取り方式を切り替えて再接続します / reconnecting with the other RTSP reader: {exc}"
    except (RtspError, av.FFmpegError, OSError) as exc:
        res.reason = ended_by(exc, cfg.url)
    finally:
        copier.close()
        reader.close()
        if reader.dep is not None and reader.dep.dropped:
            log.info("camera %s: %d picture(s) lost in transit", cfg.camera, reader.dep.dropped)
    return res
