"""Segments of one camera session: the per-packet logic shared by both readers (PyAV's and Akashi's own).

:class:`Session` takes timed packets, waits for the live edge, anchors stream time to the wall clock,
cuts fragmented MP4 segments at keyframes and hands closed ones to the spool. Nothing here reads the
network or decodes video.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from fractions import Fraction
from typing import Any

import av
import av.packet
import av.stream
import av.video.stream

from akashi.cameras.probe import probe_segment
from akashi.cameras.spool import CameraSpool, SegmentMeta
from akashi.cameras.timeline import Anchor, Cutter, StreamParams, parameter_sets
from akashi.cameras.urls import mask_text

log = logging.getLogger(__name__)

FMP4_OPTIONS = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}


@dataclass(frozen=True)
class SessionConfig:
    """What one session needs to know."""

    camera_id: int
    camera: str
    site: str
    url: str
    segment_seconds: float
    socket_timeout_s: float
    reader: str = "akashi"


@dataclass
class SessionResult:
    """How a session ended. ``reason`` is safe to show (credentials masked)."""

    reason: str
    connected: bool
    segments: int
    first_start: datetime | None
    last_end: datetime | None


def cannot_connect(exc: Exception, url: str) -> str:
    """The reason of a session that could not start (credentials masked)."""
    return "接続できません / cannot connect: " + mask_text(str(exc), url)


def ended_by(exc: Exception, url: str) -> str:
    """The reason of a session a read error ended: a timeout (a frozen camera; PyAV's read deadline
    raises ``ExitError``) or a stream error (credentials masked)."""
    msg = mask_text(str(exc), url)
    timed_out = isinstance(exc, av.ExitError | TimeoutError) or "timed out" in msg.lower()
    return ("応答なし / timeout: " if timed_out else "受信エラー / stream error: ") + msg


@dataclass(frozen=True)
class Input:
    """One input stream as the segments see it: its index, the stream its output copies, its time base."""

    index: int
    template: av.stream.Stream
    time_base: Fraction


class Segment:
    """An open output file and its counters."""

    def __init__(
        self,
        spool: CameraSpool,
        meta: SegmentMeta,
        inputs: list[Input],
        t0: float,
        fmt: str = "mp4",
    ) -> None:
        self.meta = meta
        self.t0 = t0
        self.path = spool.begin(meta)
        self.out = av.open(str(self.path), "w", format=fmt, options=FMP4_OPTIONS)
        # Per input stream: output stream, integer start offset in its time base, float time base.
        self.map: dict[int, tuple[Any, int, float]] = {}
        for s in inputs:
            o = self.out.add_stream_from_template(s.template)
            o.time_base = s.time_base  # the input's clock (a template probed from one picture has another)
            self.map[s.index] = (o, round(t0 / s.time_base), float(s.time_base))
        self.frames = 0
        self.dropped = 0
        self.last_dts: dict[int, int] = {}
        self.reprobe = False
        self.last_t = t0
        self.last_dur = 0.0

    def write(self, pkt: av.packet.Packet[Any], index: int, t: float, is_video: bool) -> None:
        """Mux one packet of input stream ``index`` (stream time ``t``) with timestamps rebased."""
        o, base, tb = self.map[index]
        pts, dts = pkt.pts, pkt.dts
        if pts is not None:
            pts -= base
            pkt.pts = pts
        if dts is not None:
            dts -= base
            pkt.dts = dts
        else:
            dts = pts or 0
        if dts < 0:
            return  # before this segment's first keyframe (audio): belongs to no file
        if dts <= self.last_dts.get(index, -1):
            self.dropped += 1  # a glitch in the camera's clock: the muxer refuses non-increasing DTS
            return
        self.last_dts[index] = dts
        pkt.stream = o
        self.out.mux_one(pkt)
        if is_video:
            self.frames += 1
            if t >= self.last_t:
                self.last_t = t
                duration = pkt.duration
                self.last_dur = duration * tb if duration else 0.0

    def close(self) -> None:
        self.out.close()


#: A video packet that arrives at least this fraction of its frame spacing after the previous one is
#: live; faster ones were buffered by the stream probe at open. The wall-clock anchor waits for the
#: first live one, so the buffered frames get their true (earlier) times.
LIVE_PACE = 0.5
#: Never hold more than this many packets back waiting for the live edge.
PREROLL_MAX = 400


class Session:
    """Per-packet logic of one session (the demux loop lives in :func:`run_session`)."""

    def __init__(
        self,
        cfg: SessionConfig,
        spool: CameraSpool,
        video: av.video.stream.VideoStream,
        streams: list[Input],
        fmt: str,
        audio_codec: str,
        on_open: Callable[[datetime], None],
        on_segment: Callable[[SegmentMeta], None],
        res: SessionResult,
    ) -> None:
        self.cfg, self.spool, self.video, self.streams = cfg, spool, video, streams
        self.fmt, self.audio_codec = fmt, audio_codec
        self.on_open, self.on_segment, self.res = on_open, on_segment, res
        self.cutter = Cutter(cfg.segment_seconds)
        self.anchor: Anchor | None = None
        self.seg: Segment | None = None
        self.sps = b""
        self.session_sps: bytes | None = None
        self.preroll: list[tuple[av.packet.Packet[Any], int, float, bool, float]] = []
        self.last_arrival: tuple[float, float] | None = None

    def feed(
        self, pkt: av.packet.Packet[Any], index: int, t: float, is_video: bool, age: float = 0.0
    ) -> None:
        """Take one timed packet of input stream ``index``; until the live edge is reached, packets
        are held and timed later. ``age``: how long ago it arrived, when the reader took it in a batch
        (seconds). Runs for every packet: kept free of allocations it can avoid."""
        if self.anchor is not None:
            self._handle(pkt, index, t, is_video, age)
            return
        now = time.monotonic() - age
        live = False
        if is_video:
            if self.last_arrival is not None:
                # Buffered packets come much faster than their frame spacing; live ones at it.
                gap_stream = t - self.last_arrival[1]
                live = gap_stream > 0 and now - self.last_arrival[0] >= LIVE_PACE * gap_stream
            self.last_arrival = (now, t)
        if not (live or len(self.preroll) >= PREROLL_MAX):
            self.preroll.append((pkt, index, t, is_video, age))
            return
        self.anchor = Anchor.now(t, age)  # this packet is live: it was captured about when it arrived
        held, self.preroll = self.preroll, []
        for item in held:
            self._handle(*item)
        self._handle(pkt, index, t, is_video, age)

    def _handle(self, pkt: av.packet.Packet[Any], index: int, t: float, is_video: bool, age: float) -> None:
        anchor = self.anchor
        assert anchor is not None
        if is_video:
            anchor.observe_s(t, time.time() - age)
            # Only a keyframe can start a segment: the stream's facts are read there alone.
            if pkt.is_keyframe:
                cc = self.video.codec_context
                self.sps = parameter_sets(bytes(pkt), cc.name) or self.sps  # in-band SPS: new resolution
                params = StreamParams(cc.name, cc.width, cc.height, self.sps)
                if self.cutter.feed(t, True, params):
                    self._cut(pkt, t, params)
        if self.seg is not None:
            self.seg.write(pkt, index, t, is_video)

    def _cut(self, pkt: av.packet.Packet[Any], t: float, params: StreamParams) -> None:
        anchor = self.anchor
        assert anchor is not None
        if self.seg is not None:
            shift = anchor.correct()  # camera clock drift: the closing segment absorbs it
            if shift:
                log.info("camera %s: clock drift %.3fs corrected", self.cfg.camera, shift)
            close_segment(self.seg, self.spool, anchor.wall(t), self.on_segment, self.res)
        else:
            self.on_open(anchor.wall(t))
            self.res.first_start = anchor.wall(t)
        cfg = self.cfg
        meta = SegmentMeta(
            cfg.camera_id, cfg.camera, cfg.site, anchor.wall(t), anchor.wall(t),
            codec=params.codec, width=params.width, height=params.height,
            extra={"container": self.fmt, "audio": self.audio_codec},
        )  # fmt: skip
        tb = self.streams[0].time_base  # the video's
        # Timestamps restart at the keyframe's decode time so no packet of it goes negative.
        t_dts = float(pkt.dts * tb) if pkt.dts is not None else t
        self.seg = Segment(self.spool, meta, self.streams, min(t, t_dts), self.fmt)
        # The stream's own facts date from the session start: re-read them from the file.
        self.session_sps = self.session_sps if self.session_sps is not None else self.sps
        self.seg.reprobe = self.sps != self.session_sps

    def finish(self, fps: float) -> None:
        """Close the open segment at its last frame's end."""
        if self.seg is not None and self.anchor is not None:
            end = self.anchor.wall(self.seg.last_t + (self.seg.last_dur or 1.0 / max(fps, 1.0)))
            close_segment(self.seg, self.spool, end, self.on_segment, self.res)
            self.seg = None


def close_segment(
    seg: Segment,
    spool: CameraSpool,
    end: datetime,
    on_segment: Callable[[SegmentMeta], None],
    res: SessionResult,
) -> None:
    try:
        seg.close()
    except (av.FFmpegError, OSError) as exc:
        log.warning("camera %s: closing segment: %s", seg.meta.camera, exc)
    if seg.frames == 0:
        spool.discard(seg.meta)
        return
    meta = replace(seg.meta, ended_at=end, frames=seg.frames)
    if seg.reprobe:
        info = probe_segment(seg.path)
        if info is not None:
            meta = replace(meta, codec=info.codec, width=info.width, height=info.height)
    spool.finish(meta)
    res.segments += 1
    res.last_end = end
    on_segment(meta)
