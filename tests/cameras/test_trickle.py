"""A camera (or a link, or a device posing as the camera) that trickles bytes must not hold a session.

FFmpeg's socket timeouts restart with every byte, so a stream slowed to one byte every half second never
trips them; the recorder must still give up within its read timeout, record the outage as a gap and
reconnect. The attack runs through a raw-socket proxy in front of the real GStreamer RTSP server.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from akashi.cameras.service import CameraService
from akashi.context import Akashi
from tests.cameras.conftest import RtspServer
from tests.cameras.helpers import EventLog, add_to_config, camera_toml
from tests.cameras.test_ingest import gaps_of

pytestmark = pytest.mark.rtsp

TRICKLE_GAP_S = 0.5


class TrickleProxy:
    """Forwards TCP to ``upstream``; once :attr:`trickle` is set, the server's bytes go one at a time."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.trickle = threading.Event()
        self.closed = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.5)
        self.port = int(self.sock.getsockname()[1])
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, from_server: bool) -> None:
        try:
            while not self.closed.is_set():
                slow = from_server and self.trickle.is_set()
                data = src.recv(1 if slow else 65536)
                if not data:
                    break
                dst.sendall(data)
                if slow:
                    time.sleep(TRICKLE_GAP_S)
        except OSError:
            pass
        finally:
            src.close()
            dst.close()

    def close(self) -> None:
        self.closed.set()
        self.sock.close()
        self.thread.join(5)


async def test_a_trickling_camera_is_cut_off_and_becomes_a_gap(
    sqlite_home: Path, rtsp_server: RtspServer
) -> None:
    proxy = TrickleProxy(rtsp_server.port)
    url = rtsp_server.url("cam1").replace(f":{rtsp_server.port}/", f":{proxy.port}/")
    add_to_config(
        sqlite_home,
        camera_toml([("cam", "", url)], seconds=2.0, socket_timeout_s=2.0, reconnect_max_s=1.0),
    )
    events = EventLog()
    try:
        with Akashi.open(sqlite_home) as ak:
            async with CameraService(ak, [events]):
                try:
                    await events.wait_count("segment_stored", "cam", 2, timeout=60)
                    proxy.trickle.set()  # from now on: one byte every half second, never silent for 2 s
                    await events.wait_count("disconnected", "cam", 1, timeout=20)
                    proxy.trickle.clear()  # the link recovers: a new session records again
                    await events.wait_count("connected", "cam", 2, timeout=30)
                    stored = events.count("segment_stored", "cam")
                    await events.wait_count("segment_stored", "cam", stored + 1, timeout=60)
                except BaseException:
                    proxy.close()  # a session stuck in the trickle ends with its socket, not never
                    raise
            reasons = [e.detail for e in events.events if e.kind == "disconnected"]
            assert "timeout" in reasons[0] or "応答なし" in reasons[0], reasons
            closed = [g for g in gaps_of(ak, "cam") if g.ended_at is not None]
            assert closed, "the trickled time was not recorded as a gap"
    finally:
        proxy.close()
