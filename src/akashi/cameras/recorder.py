"""One RTSP session of one camera, run in a worker thread: read, stream copy, cut, close segments.

Blocking by nature; the supervisor runs it in its own thread and learns about closed segments through a
callback. Akashi's own reader (:mod:`akashi.cameras.native`) takes the cameras it carries; the rest are
demuxed by PyAV here. Nothing here decodes video.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from fractions import Fraction

import av
import av.container

from akashi.cameras import native
from akashi.cameras.deadline import WATCHDOG, Deadline, find_timeout_field
from akashi.cameras.segmenter import Input, Session, SessionConfig, SessionResult, cannot_connect, ended_by
from akashi.cameras.spool import CameraSpool, SegmentMeta

__all__ = ["SessionConfig", "SessionResult", "run_session"]

log = logging.getLogger(__name__)

# Audio codecs the MP4 muxer takes as they come.
MP4_AUDIO = {"aac", "mp3", "opus", "alac", "flac"}
# G.711 and friends (common on IP cameras) are not allowed in MP4 but are in QuickTime, which takes
# the same fragmented layout: such cameras get .mov segments, so their audio is kept bit-exact too.
# Any other audio codec is left out (never transcoded).
MOV_AUDIO = {"pcm_mulaw", "pcm_alaw", "adpcm_g726", "adpcm_g726le", "pcm_s16be", "pcm_s16le"}


def pick_container(audio_codec: str | None) -> str:
    """``"mov"`` when the audio needs QuickTime, else ``"mp4"``."""
    return "mov" if audio_codec in MOV_AUDIO else "mp4"


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
    if cfg.reader == "akashi":
        result = native.run_native(cfg, spool, stop, on_open, on_segment)
        if result is not None:
            return result
    return run_pyav(cfg, spool, stop, on_open, on_segment)


def run_pyav(
    cfg: SessionConfig,
    spool: CameraSpool,
    stop: threading.Event,
    on_open: Callable[[datetime], None],
    on_segment: Callable[[SegmentMeta], None],
) -> SessionResult:
    """:func:`run_session` through PyAV's RTSP demuxer (FFmpeg's)."""
    res = SessionResult("", False, 0, None, None)
    try:
        container, deadline = open_watched(cfg.url, cfg.socket_timeout_s)
    except (av.FFmpegError, OSError) as exc:
        res.reason = cannot_connect(exc, cfg.url)
        return res
    res.connected = True
    session: Session | None = None
    fps = 15.0
    try:
        if not container.streams.video:
            res.reason = "映像がありません / no video stream"
            return res
        video = container.streams.video[0]
        audio = [a for a in container.streams.audio if a.codec_context.name in MP4_AUDIO | MOV_AUDIO][:1]
        audio_codec = audio[0].codec_context.name if audio else ""
        streams = [video, *audio]
        vtb = video.time_base or Fraction(1, 90000)
        # Seconds per tick of each stream, as a float: no Fraction arithmetic per packet.
        tbs = {s.index: float(s.time_base or vtb) for s in streams}
        vindex = video.index
        fps = float(video.guessed_rate or video.average_rate or 15)
        session = Session(
            cfg,
            spool,
            video,
            [Input(s.index, s, s.time_base or vtb) for s in streams],
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
        res.reason = ended_by(exc, cfg.url)
    finally:
        if deadline is not None:
            WATCHDOG.cancel(deadline)
        if session is not None:
            session.finish(fps)
        container.close()
    return res


def _ignore(_now: float) -> None:
    """No deadline to feed (PyAV's own read timeout bounds the reads)."""
