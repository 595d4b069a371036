"""One RTSP session of one camera, run in a worker thread: demux, stream copy, cut, close segments.

Blocking by nature (PyAV); the supervisor runs it with ``asyncio.to_thread`` and learns about closed
segments through a callback. Nothing here decodes video.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from fractions import Fraction
from typing import Any

import av
import av.container
import av.packet
import av.stream
import av.video.stream

from akashi.cameras.deadline import WATCHDOG, Deadline, find_timeout_field
from akashi.cameras.probe import probe_segment
from akashi.cameras.spool import CameraSpool, SegmentMeta
from akashi.cameras.timeline import Anchor, Cutter, StreamParams, parameter_sets
from akashi.cameras.urls import mask_text

log = logging.getLogger(__name__)

FMP4_OPTIONS = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}
# Audio codecs the MP4 muxer takes as they come.
MP4_AUDIO = {"aac", "mp3", "opus", "alac", "flac"}
# G.711 and friends (common on IP cameras) are not allowed in MP4 but are in QuickTime, which takes
# the same fragmented layout: such cameras get .mov segments, so their audio is kept bit-exact too.
# Any other audio codec is left out (never transcoded).
MOV_AUDIO = {"pcm_mulaw", "pcm_alaw", "adpcm_g726", "adpcm_g726le", "pcm_s16be", "pcm_s16le"}


def pick_container(audio_codec: str | None) -> str:
    """``"mov"`` when the audio needs QuickTime, else ``"mp4"``."""
    return "mov" if audio_codec in MOV_AUDIO else "mp4"


@dataclass(frozen=True)
class SessionConfig:
    """What one session needs to know."""

    camera_id: int
    camera: str
    site: str
    url: str
    segment_seconds: float
    socket_timeout_s: float


@dataclass
class SessionResult:
    """How a session ended. ``reason`` is safe to show (credentials masked)."""

    reason: str
    connected: bool
    segments: int
    first_start: datetime | None
    last_end: datetime | None


def open_input(url: str, timeout_s: float) -> av.container.InputContainer:
    """Open an RTSP URL over TCP with socket and read timeouts always set.

    FFmpeg's socket timeouts (``timeout``/``rw_timeout``) restart with every byte, so a camera that
    trickles a byte now and then would hold a session forever with no gap recorded; PyAV's read
    timeout bounds each packet read instead. It costs CPU (its interrupt callback takes the GIL on every
    network wait): recordings use :func:`open_watched`, which bounds reads at no cost per read.
    """
    us = str(int(timeout_s * 1_000_000))
    return av.open(
        url,
        options={"rtsp_transport": "tcp", "timeout": us, "rw_timeout": us},
        timeout=(timeout_s, timeout_s),
    )


#: ``fallback`` is set once this PyAV's container layout is known not to match :func:`find_timeout_field`.
_LAYOUT = {"fallback": False}


def open_watched(url: str, timeout_s: float) -> tuple[av.container.InputContainer, Deadline | None]:
    """:func:`open_input` whose packet reads are bounded by the shared watchdog instead of PyAV's read
    timeout (see :mod:`akashi.cameras.deadline`); falls back to PyAV's when that cannot be set up."""
    if not _LAYOUT["fallback"]:
        us = str(int(timeout_s * 1_000_000))
        opened_at = time.monotonic()
        container = av.open(
            url,
            options={"rtsp_transport": "tcp", "timeout": us, "rw_timeout": us},
            timeout=(float(timeout_s), None),
        )
        field = find_timeout_field(container, opened_at)
        if field is not None:
            deadline = Deadline(field, container, timeout_s)
            WATCHDOG.watch(deadline)
            return container, deadline
        container.close()
        _LAYOUT["fallback"] = True
        log.warning(
            "PyAV %s: read deadline not found in its container; using its read timeout", av.__version__
        )
    return open_input(url, timeout_s), None


class _Segment:
    """An open output file and its counters."""

    def __init__(
        self,
        spool: CameraSpool,
        meta: SegmentMeta,
        inputs: list[av.stream.Stream],
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
            o = self.out.add_stream_from_template(s)
            tb = s.time_base or Fraction(1, 90000)
            self.map[s.index] = (o, round(t0 / tb), float(tb))
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


class _Session:
    """Per-packet logic of one session (the demux loop lives in :func:`run_session`)."""

    def __init__(
        self,
        cfg: SessionConfig,
        spool: CameraSpool,
        video: av.video.stream.VideoStream,
        streams: list[av.stream.Stream],
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
        self.seg: _Segment | None = None
        self.sps = b""
        self.session_sps: bytes | None = None
        self.preroll: list[tuple[av.packet.Packet[Any], int, float, bool]] = []
        self.last_arrival: tuple[float, float] | None = None

    def feed(self, pkt: av.packet.Packet[Any], index: int, t: float, is_video: bool) -> None:
        """Take one timed packet of input stream ``index``; until the live edge is reached, packets
        are held and timed later. Runs for every packet: kept free of allocations it can avoid."""
        if self.anchor is not None:
            self._handle(pkt, index, t, is_video)
            return
        now = time.monotonic()
        live = False
        if is_video:
            if self.last_arrival is not None:
                # Buffered packets come much faster than their frame spacing; live ones at it.
                gap_stream = t - self.last_arrival[1]
                live = gap_stream > 0 and now - self.last_arrival[0] >= LIVE_PACE * gap_stream
            self.last_arrival = (now, t)
        if not (live or len(self.preroll) >= PREROLL_MAX):
            self.preroll.append((pkt, index, t, is_video))
            return
        self.anchor = Anchor.now(t)  # this packet is live: it was captured about now
        held, self.preroll = self.preroll, []
        for item in held:
            self._handle(*item)
        self._handle(pkt, index, t, is_video)

    def _handle(self, pkt: av.packet.Packet[Any], index: int, t: float, is_video: bool) -> None:
        anchor = self.anchor
        assert anchor is not None
        if is_video:
            anchor.observe_s(t, time.time())
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
            _close(self.seg, self.spool, anchor.wall(t), self.on_segment, self.res)
        else:
            self.on_open(anchor.wall(t))
            self.res.first_start = anchor.wall(t)
        cfg = self.cfg
        meta = SegmentMeta(
            cfg.camera_id, cfg.camera, cfg.site, anchor.wall(t), anchor.wall(t),
            codec=params.codec, width=params.width, height=params.height,
            extra={"container": self.fmt, "audio": self.audio_codec},
        )  # fmt: skip
        tb = pkt.stream.time_base or Fraction(1, 90000)
        # Timestamps restart at the keyframe's decode time so no packet of it goes negative.
        t_dts = float(pkt.dts * tb) if pkt.dts is not None else t
        self.seg = _Segment(self.spool, meta, self.streams, min(t, t_dts), self.fmt)
        # The stream's own facts date from the session start: re-read them from the file.
        self.session_sps = self.session_sps if self.session_sps is not None else self.sps
        self.seg.reprobe = self.sps != self.session_sps

    def finish(self, fps: float) -> None:
        """Close the open segment at its last frame's end."""
        if self.seg is not None and self.anchor is not None:
            end = self.anchor.wall(self.seg.last_t + (self.seg.last_dur or 1.0 / max(fps, 1.0)))
            _close(self.seg, self.spool, end, self.on_segment, self.res)
            self.seg = None


def run_session(
    cfg: SessionConfig,
    spool: CameraSpool,
    stop: threading.Event,
    on_open: Callable[[datetime], None],
    on_segment: Callable[[SegmentMeta], None],
) -> SessionResult:
    """Record from ``cfg.url`` until the stream ends, fails, times out or ``stop`` is set.

    ``on_open`` is called with the wall-clock time of the first recorded packet, ``on_segment``
    with each closed segment (already in the spool's ready queue). Never raises for stream faults.
    """
    res = SessionResult("", False, 0, None, None)
    try:
        container, deadline = open_watched(cfg.url, cfg.socket_timeout_s)
    except (av.FFmpegError, OSError) as exc:
        res.reason = "接続できません / cannot connect: " + mask_text(str(exc), cfg.url)
        return res
    res.connected = True
    session: _Session | None = None
    fps = 15.0
    try:
        if not container.streams.video:
            res.reason = "映像がありません / no video stream"
            return res
        video = container.streams.video[0]
        audio = [a for a in container.streams.audio if a.codec_context.name in MP4_AUDIO | MOV_AUDIO][:1]
        audio_codec = audio[0].codec_context.name if audio else ""
        streams: list[av.stream.Stream] = [video, *audio]
        vtb = video.time_base or Fraction(1, 90000)
        # Seconds per tick of each stream, as a float: no Fraction arithmetic per packet.
        tbs = {s.index: float(s.time_base or vtb) for s in streams}
        vindex = video.index
        fps = float(video.guessed_rate or video.average_rate or 15)
        session = _Session(
            cfg,
            spool,
            video,
            streams,
            pick_container(audio_codec or None),
            audio_codec,
            on_open,
            on_segment,
            res,
        )
        res.reason = "ストリーム終了 / end of stream"
        alive = deadline.alive if deadline is not None else _ignore
        monotonic = time.monotonic
        for pkt in container.demux(streams):
            alive(monotonic())
            if stop.is_set():
                res.reason = "停止 / stopped"
                break
            if pkt.size == 0:
                continue
            ts = pkt.pts
            if ts is None:
                ts = pkt.dts
                if ts is None:
                    continue  # the first packets of an RTSP session may carry no time
            index = pkt.stream_index
            session.feed(pkt, index, ts * tbs[index], index == vindex)
    except (av.FFmpegError, OSError) as exc:
        msg = mask_text(str(exc), cfg.url)
        # ExitError: the read deadline (or PyAV's read timeout) interrupted a blocked read (a frozen camera).
        timed_out = isinstance(exc, av.ExitError | TimeoutError) or "timed out" in msg.lower()
        res.reason = ("応答なし / timeout: " if timed_out else "受信エラー / stream error: ") + msg
    finally:
        if deadline is not None:
            WATCHDOG.cancel(deadline)
        if session is not None:
            session.finish(fps)
        container.close()
    return res


def _ignore(_now: float) -> None:
    """No deadline to feed (PyAV's own read timeout bounds the reads)."""


def _close(
    seg: _Segment,
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
