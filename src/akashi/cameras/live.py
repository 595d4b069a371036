"""Live view for the web UI: the camera's stream remuxed (never transcoded) to fragmented MP4.

The browser feeds the bytes to Media Source Extensions (``video/mp4; codecs="avc1..."``): the first
chunk is the init segment (``ftyp`` + ``moov``), then one ``moof`` + ``mdat`` per GOP. Each viewer
opens its own RTSP session; the recorder is never slowed down by a viewer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import av
from sqlalchemy import select

from akashi.access.audit import audit, audit_now
from akashi.cameras.recorder import open_input
from akashi.cameras.records import configured_cameras
from akashi.cameras.threads import in_own_thread
from akashi.cameras.urls import mask_text
from akashi.db import session_scope
from akashi.db.models import Camera
from akashi.errors import AccessDenied, NotFoundError, ProtocolError

if TYPE_CHECKING:
    from akashi.access.principal import Principal
    from akashi.context import Akashi

log = logging.getLogger(__name__)

LIVE_OPTIONS = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}
_END = b""
#: Bytes that may wait for one viewer (a few GOPs of a 1080p camera). A viewer further behind is
#: closed: dropping fMP4 fragments would break its decoder anyway, and the memory stays bounded.
VIEWER_BUFFER_BYTES = 16 * 1024 * 1024


@dataclass
class LiveStats:
    """Counters of the live view in this process."""

    slow_viewers_closed: int = 0


STATS = LiveStats()


def mse_mime(init: bytes) -> str:
    """The MIME type with codecs a browser's ``MediaSource.addSourceBuffer`` needs, from the init segment.

    H.264: ``avc1.PPCCLL`` from the ``avcC`` box (profile, constraints, level). H.265: the ``hvcC``
    profile and level (``hvc1.P.4.LNN.B0``, the common Main-profile form). Raises ``ProtocolError``
    when the init segment holds neither.
    """
    i = init.find(b"avcC")
    if i >= 0 and len(init) >= i + 8:
        profile, compat, level = init[i + 5], init[i + 6], init[i + 7]
        return f'video/mp4; codecs="avc1.{profile:02X}{compat:02X}{level:02X}"'
    i = init.find(b"hvcC")
    if i >= 0 and len(init) >= i + 17:
        profile_idc = init[i + 5] & 0x1F
        tier = "H" if init[i + 5] & 0x20 else "L"
        level = init[i + 16]
        return f'video/mp4; codecs="hvc1.{profile_idc}.4.{tier}{level}.B0"'
    raise ProtocolError(
        "初期化セグメントに avcC/hvcC がありません", "init segment has no avcC/hvcC box (not H.264/H.265)"
    )


class ViewerBuffer:
    """The bytes waiting for one viewer, at most ``limit`` of them (used on the event loop only).

    When the viewer falls further behind, what waits is dropped, the stream ends for that viewer
    (``overflowed``), the camera reader is told to stop and :data:`STATS` counts it.
    """

    def __init__(self, camera: str, limit: int, stop: threading.Event) -> None:
        self.camera = camera
        self.limit = limit
        self.stop = stop
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.pending = 0
        self.overflowed = False

    def offer(self, data: bytes) -> None:
        """Queue a chunk from the camera reader, or close the viewer when it is too far behind."""
        if self.overflowed:
            return
        if data is not _END and self.pending + len(data) > self.limit:
            self.overflowed = True
            STATS.slow_viewers_closed += 1
            log.warning(
                "live %s: viewer %d bytes behind (limit %d), closed", self.camera, self.pending, self.limit
            )
            self.stop.set()
            while not self.queue.empty():
                self.queue.get_nowait()
            self.pending = 0
            self.queue.put_nowait(_END)
            return
        self.pending += len(data)
        self.queue.put_nowait(data)

    async def get(self) -> bytes:
        """The next chunk; :data:`_END` when the stream is over."""
        chunk = await self.queue.get()
        self.pending -= len(chunk)
        return chunk


class _Sink:
    """A write-only file for the muxer that hands every write to the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, buffer: ViewerBuffer) -> None:
        self.loop = loop
        self.buffer = buffer

    def write(self, data: bytes) -> int:
        if data:
            self.loop.call_soon_threadsafe(self.buffer.offer, bytes(data))
        return len(data)

    def flush(self) -> None:
        """Nothing buffered here."""


def _pump(url: str, timeout_s: float, sink: _Sink, stop: threading.Event) -> str:
    """Demux the camera and mux fMP4 into ``sink`` until ``stop``; returns why it ended."""
    try:
        src = open_input(url, timeout_s)
    except (av.FFmpegError, OSError) as exc:
        return mask_text(str(exc), url)
    try:
        if not src.streams.video:
            return "no video"
        vs = src.streams.video[0]
        with av.open(sink, "w", format="mp4", options=LIVE_OPTIONS) as out:
            ovs = out.add_stream_from_template(vs)
            base: int | None = None
            for pkt in src.demux(vs):
                if stop.is_set():
                    return "closed"
                if pkt.dts is None or pkt.size == 0:
                    continue
                if base is None:
                    if not pkt.is_keyframe:
                        continue  # a player needs a keyframe first
                    base = pkt.dts
                pkt.dts -= base
                if pkt.pts is not None:
                    pkt.pts -= base
                pkt.stream = ovs
                out.mux(pkt)
        return "end of stream"
    except (av.FFmpegError, OSError) as exc:
        return mask_text(str(exc), url)
    finally:
        src.close()


async def live_fmp4(
    ak: Akashi, camera: str, *, buffer_bytes: int = VIEWER_BUFFER_BYTES
) -> AsyncIterator[bytes]:
    """Yield fMP4 bytes of ``camera``'s live stream until the consumer stops iterating.

    At most ``buffer_bytes`` wait for a slow consumer; past that its stream ends (see
    :class:`ViewerBuffer`). No permission check here: web routes go through :func:`open_live`.
    """
    specs = {c.name: c for c in await asyncio.to_thread(configured_cameras, ak.settings, ak.engine)}
    spec = specs.get(camera)
    if spec is None:
        raise NotFoundError(f"カメラ {camera} はありません", f"no camera {camera}")
    loop = asyncio.get_running_loop()
    stop = threading.Event()
    buffer = ViewerBuffer(camera, buffer_bytes, stop)

    def run() -> None:
        try:
            _pump(spec.url, ak.settings.camera_policy.socket_timeout_s, _Sink(loop, buffer), stop)
        finally:
            loop.call_soon_threadsafe(buffer.offer, _END)

    worker = asyncio.ensure_future(in_own_thread(f"live {camera}", run))
    try:
        while True:
            chunk = await buffer.get()
            if chunk is _END:
                break
            yield chunk
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await worker


async def open_live(
    ak: Akashi, principal: Principal, camera: str, *, client: str = ""
) -> AsyncIterator[bytes]:
    """Permission check and audit entry, then :func:`live_fmp4`."""

    def check() -> None:
        with session_scope(ak.engine) as s:
            cam = s.scalar(select(Camera).where(Camera.name == camera))
            if cam is None:
                raise NotFoundError(f"カメラ {camera} はありません", f"no camera {camera}")
            if not principal.may_view_camera(cam) or not principal.can_play:
                audit_now(
                    ak.engine, user=principal.name, action="live", target_type="camera", target_id=cam.id,
                    outcome="denied", client=client, detail={"reason": "out_of_scope"},
                )  # fmt: skip
                raise AccessDenied(
                    "このカメラを見る権限がありません（記録されました）",
                    f"not permitted to watch camera {camera}; the attempt has been audited",
                )
            audit(
                s, user=principal.name, action="live", target_type="camera", target_id=cam.id, client=client
            )

    await asyncio.to_thread(check)
    async for chunk in live_fmp4(ak, camera):
        yield chunk
