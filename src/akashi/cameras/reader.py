"""Akashi's own RTSP reader: one camera's RTSP session over TCP, read in batches, in the camera's thread.

FFmpeg's RTSP demuxer (under PyAV) reads an interleaved stream a frame header and a packet at a time,
with a poll before each read: about 2,200 system calls a second for a 1080p camera, most of a copy's
CPU. This reader lets the kernel gather up to 0.2 s of stream (:data:`PACE_S`) and takes it in one read,
then cuts frames, RTP packets and access units in Python (:mod:`~akashi.cameras.rtsp`,
:mod:`~akashi.cameras.depacket`). It carries H.264 and H.265 video; a camera whose stream it does not
carry (audio to keep, another codec, B-frames, rtsps) raises :class:`Unsupported` and is read by PyAV.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

from akashi.cameras.depacket import AccessUnit, Depacketizer, sdp_parameter_sets
from akashi.cameras.rtsp import (
    Media,
    Response,
    RtspError,
    authorization,
    parse_sdp,
    parse_url,
    request,
    session_id,
    take_frame,
    take_response,
)

#: Codecs of the SDP this reader carries, as FFmpeg names them.
VIDEO_CODECS = {"H264": "h264", "H265": "hevc"}
#: RTP audio that the PyAV path would keep (see ``recorder.MP4_AUDIO``/``MOV_AUDIO``): such a camera
#: goes to PyAV rather than lose its sound.
KEPT_AUDIO = {"MPEG4-GENERIC", "MP4A-LATM", "PCMU", "PCMA", "G726-32", "G726-16", "G726-24", "G726-40",
              "L16", "OPUS"}  # fmt: skip
#: A read that brings less than this waits :data:`PACE_S` before the next, so the kernel gathers more.
#: 0.1 s left the storer behind at 100 cameras on 2 cores (each read takes the GIL); 0.2 s did not.
BATCH_BYTES = 1 << 17
PACE_S = 0.2
CHUNK = 1 << 18


class Unsupported(Exception):
    """This camera's stream needs PyAV (the message says why)."""


@dataclass(frozen=True)
class Opened:
    """What PLAY started: the video's codec, its SDP parameter sets (Annex-B) and clock rate."""

    codec: str
    parameter_sets: bytes
    clock_rate: int


class RtspReader:
    """Connect, DESCRIBE, SETUP the video, PLAY; then :meth:`batches` yields its access units."""

    def __init__(self, url: str, timeout_s: float) -> None:
        if not url.startswith("rtsp://"):
            raise Unsupported("rtsps")
        self.url = parse_url(url)
        self.timeout_s = timeout_s
        self.sock: socket.socket | None = None
        self.buf = bytearray()
        self.chunk = bytearray(CHUNK)
        self.cseq = 0
        self.challenge = ""
        self.nc = 0
        self.session = ""
        self.keepalive_s = 30.0
        self.channel = 0
        self.codec = ""
        self.dep: Depacketizer | None = None

    # --- control -------------------------------------------------------------------------------
    def open(self) -> Opened:
        """Start the session; :class:`RtspError` or :class:`OSError` when the camera refuses or fails."""
        # SO_RCVBUF is left alone: setting it would stop the kernel growing the buffer for a fast camera.
        self.sock = socket.create_connection((self.url.host, self.url.port), timeout=self.timeout_s)
        resp = self._call("DESCRIBE", self.url.url, {"Accept": "application/sdp"})
        base = resp.header("content-base") or resp.header("content-location") or self.url.url
        media = parse_sdp(resp.body.decode("utf-8", "replace"), base)
        video = self._pick(media)
        self.codec = VIDEO_CODECS[video.codec]
        setup = self._call("SETUP", video.control, {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"})
        self.session, timeout = session_id(setup)
        self.keepalive_s = max(1.0, min(timeout / 2, 25.0))
        transport = setup.header("transport")
        if "interleaved=" in transport:
            self.channel = int(transport.split("interleaved=")[1].split("-")[0].split(";")[0])
        self._call("PLAY", base, {"Range": "npt=0.000-"})
        return Opened(self.codec, sdp_parameter_sets(self.codec, video.fmtp), video.clock_rate)

    def _pick(self, media: list[Media]) -> Media:
        videos = [m for m in media if m.kind == "video"]
        if not videos:
            raise RtspError("映像がありません / no video stream")
        video = videos[0]
        if video.codec not in VIDEO_CODECS:
            raise Unsupported(f"video codec {video.codec}")
        if video.fmtp.get("packetization-mode", "1") not in ("0", "1"):
            raise Unsupported("H.264 interleaved packetization")
        if any(m.kind == "audio" and m.codec in KEPT_AUDIO for m in media):
            raise Unsupported("audio")
        return video

    def _headers(self, method: str, uri: str, extra: dict[str, str]) -> dict[str, str]:
        headers = dict(extra)
        if self.session:
            headers["Session"] = self.session
        if self.challenge:
            self.nc += 1
            auth = authorization(self.challenge, method, uri, self.url.user, self.url.password, self.nc)
            if auth:
                headers["Authorization"] = auth
        return headers

    def _call(self, method: str, uri: str, extra: dict[str, str]) -> Response:
        for attempt in range(2):
            self._ask(method, uri, extra)
            resp = self._response()
            challenge = resp.header("www-authenticate")
            if resp.status == 401 and attempt == 0 and self.url.user and challenge != self.challenge:
                self.challenge, self.nc = challenge, 0  # the first challenge, or a new (stale) nonce
                if authorization(challenge, method, uri, self.url.user, self.url.password):
                    continue
            if 300 <= resp.status < 400:
                raise Unsupported(f"redirect {resp.status}")
            if resp.status != 200:
                raise RtspError(f"Server returned {resp.status} {resp.reason} ({method})")
            return resp
        raise RtspError(f"Server returned 401 Unauthorized (authorization failed, {method})")

    def _ask(self, method: str, uri: str, extra: dict[str, str] | None = None) -> None:
        """Send one request (its CSeq, session and answer to the camera's challenge added)."""
        assert self.sock is not None
        self.cseq += 1
        self.sock.sendall(request(method, uri, self.cseq, self._headers(method, uri, extra or {})))

    def _response(self) -> Response:
        """The next RTSP response (interleaved frames before it are skipped)."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            while self.buf[:1] == b"$":
                frame = take_frame(self.buf, 0)
                if frame is None:
                    break
                del self.buf[: frame[2]]
            if self.buf and self.buf[:1] != b"$":
                resp = take_response(self.buf)
                if resp is not None:
                    return resp
            if time.monotonic() > deadline:
                raise TimeoutError("RTSP の応答がありません / no RTSP response")
            self._fill()

    def _fill(self) -> int:
        assert self.sock is not None
        n = self.sock.recv_into(self.chunk)
        if n == 0:
            raise ConnectionError("カメラが接続を閉じました / the camera closed the connection")
        self.buf += memoryview(self.chunk)[:n]
        return n

    def close(self) -> None:
        """TEARDOWN (best effort) and close the socket."""
        if self.sock is None:
            return
        try:
            if self.session:
                self.sock.settimeout(1.0)
                self._ask("TEARDOWN", self.url.url)
        except OSError:
            pass
        self.sock.close()
        self.sock = None

    # --- media ---------------------------------------------------------------------------------
    def batches(self) -> Iterator[list[AccessUnit]]:
        """The video's access units, a read's worth at a time (the newest last, arrived just now); ends
        by raising (timeout, closed, RTSP error)."""
        dep = self.dep = Depacketizer(self.codec)
        channel, buf = self.channel, self.buf
        last_video = time.monotonic()
        next_keepalive = last_video + self.keepalive_s
        while True:
            got: list[AccessUnit] = []
            pos = _cut(buf, channel, dep, got)
            del buf[:pos]
            if buf.startswith(b"RTSP/"):
                resp = take_response(buf)  # a keep-alive's answer (the rest comes with the next read)
                if resp is not None and resp.status == 454:
                    raise RtspError("Server returned 454 Session Not Found")
            now = time.monotonic()
            if got:
                last_video = now
                yield got
            elif now - last_video > self.timeout_s:
                raise TimeoutError(
                    f"{self.timeout_s:g} 秒間映像がありません / no video for {self.timeout_s:g} s"
                )
            if now >= next_keepalive:
                self._ask("OPTIONS", self.url.url)
                next_keepalive = now + self.keepalive_s
            if self._fill() < BATCH_BYTES:
                time.sleep(PACE_S)


def _cut(buf: bytearray, channel: int, dep: Depacketizer, got: list[AccessUnit]) -> int:
    """Feed the whole interleaved frames at the front of ``buf`` to ``dep``; returns how far it read."""
    pos, size = 0, len(buf)
    push = dep.push
    while pos + 4 <= size:
        if buf[pos] == 0x24:  # '$': an interleaved frame
            end = pos + 4 + ((buf[pos + 2] << 8) | buf[pos + 3])
            if end > size:
                break
            if buf[pos + 1] == channel:
                push(buf, pos + 4, end, got)
            pos = end
        elif buf.startswith(b"RTSP/", pos):
            break  # a keep-alive's answer: the caller reads it
        else:  # not in step with the framing: find the next frame
            nxt = buf.find(b"$", pos + 1)
            pos = size if nxt < 0 else nxt
    return pos
