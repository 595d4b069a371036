"""Cameras added, changed or removed while Akashi runs are recorded (or stopped) without a restart.

The proof runs the real thing: ``akashi serve --only web`` and ``akashi serve --only cameras`` as two
processes on one home (as on two hosts), a camera added through the web API, and the GStreamer RTSP
server as the camera. A camera that cannot record says why on its tile, and since when.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from akashi.cameras.service import CameraService
from akashi.context import Akashi
from akashi.db import session_scope
from akashi.db.models import Camera, CameraSegment, User
from tests.cameras.conftest import RtspServer, _gst_rtsp_available
from tests.cameras.helpers import EventLog, add_to_config, camera_toml
from tests.conftest import make_home, missing_peer
from tests.ports import free_port
from tests.web.conftest import PASSWORD, password_hash

pytestmark = pytest.mark.rtsp


def _serve(home: Path, roles: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "akashi.cli.main", "--home", str(home), "serve", "--only", roles],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _until(cond: Callable[[], Any], timeout: float, what: str, procs: list[subprocess.Popen[bytes]]) -> Any:
    """Poll another process's effect (in the database or over HTTP) until ``cond()`` is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        for p in procs:
            assert p.poll() is None, f"akashi serve exited with {p.returncode} while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def _camera(ak: Akashi, name: str) -> tuple[str, dict[str, Any], int] | None:
    """State, extra and segment count of a camera row."""
    with session_scope(ak.engine) as s:
        cam = s.scalar(select(Camera).where(Camera.name == name))
        if cam is None:
            return None
        n = s.scalar(select(func.count()).select_from(CameraSegment).where(CameraSegment.camera_id == cam.id))
        return cam.state, dict(cam.extra or {}), int(n or 0)


def _stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        return -9


@pytest.fixture
def two_processes(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Akashi, list[subprocess.Popen[bytes]]]]:
    """``akashi serve --only web`` and ``--only cameras`` on one home with an admin user."""
    monkeypatch.delenv("AKASHI_HOME", raising=False)
    home = make_home(
        tmp_path / "home", sqlite_url, extra_toml=camera_toml([], socket_timeout_s=2.0, reconnect_max_s=1.0)
    )
    ak = Akashi.open(home)
    with session_scope(ak.engine) as s:
        s.add(User(name="admin", role="admin", password_hash=password_hash(), display_name="admin"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AKASHI_")}
    env |= {"AKASHI_WEB__LISTEN": f"127.0.0.1:{port}", "AKASHI_ANALYSIS__ENABLED": "false"}
    procs = [
        _serve(home, "cameras", env, tmp_path / "cameras.log"),
        _serve(home, "web", env, tmp_path / "web.log"),
    ]
    try:
        yield f"http://127.0.0.1:{port}", ak, procs
    finally:
        codes = [_stop(p) for p in procs]
        ak.close()
        logs = {n: (tmp_path / f"{n}.log").read_text(errors="replace") for n in ("cameras", "web")}
        assert codes == [0, 0], (codes, logs)
        assert "Traceback" not in logs["cameras"] + logs["web"], logs


def test_camera_added_in_the_web_records_without_restart(
    two_processes: tuple[str, Akashi, list[subprocess.Popen[bytes]]], rtsp_server: RtspServer
) -> None:
    base, ak, procs = two_processes
    with httpx.Client(base_url=base, timeout=10) as web:
        _until(lambda: _up(web), 60, "the web process", procs)
        r = web.post("/api/v1/auth/login", json={"name": "admin", "password": PASSWORD})
        assert r.status_code == 200, r.text
        h = {"x-csrf-token": r.json()["csrf_token"]}
        # The cameras process started with no camera at all; these arrive while it runs.
        closed = free_port()
        wrong = rtsp_server.url("cam1").replace(rtsp_server.password, "not-the-password")
        for name, url in [
            ("lobby", rtsp_server.url("cam0")),
            ("backdoor", wrong),
            ("garage", f"rtsp://127.0.0.1:{closed}/stream"),
        ]:
            r = web.post(
                "/api/v1/admin/cameras", json={"name": name, "url": url, "segment_seconds": 2}, headers=h
            )
            assert r.status_code == 204, r.text

        _until(lambda: (c := _camera(ak, "lobby")) and c[2] >= 2, 90, "segments of the new camera", procs)
        backdoor = _until(
            lambda: (c := _camera(ak, "backdoor")) and c[0] == "auth_refused" and c, 60, "auth refused", procs
        )
        garage = _until(
            lambda: (c := _camera(ak, "garage")) and c[0] == "unreachable" and c, 60, "unreachable", procs
        )
        assert (
            "not-the-password" not in backdoor[1]["state_detail"]
        )  # the reason never shows the URL's secret
        assert backdoor[1]["state_since"] and garage[1]["state_since"]

        # The tiles say why, and since when (JST with the zone); the camera page too.
        page = web.get("/cameras").text
        assert "録画中" in page and "認証が拒否されました" in page and "接続できません" in page
        assert page.count(" JST から") >= 2
        assert "not-the-password" not in page
        with session_scope(ak.engine) as s:
            garage_id = s.scalar(select(Camera.id).where(Camera.name == "garage"))
        one = web.get(f"/cameras/{garage_id}").text
        assert 'id="cam-state"' in one and "から接続できません" in one
        web.cookies.set("akashi_lang", "en")
        assert "unreachable since " in web.get(f"/cameras/{garage_id}").text

        # Removed in the web: the recorder stops (its footage stays), still without a restart.
        assert web.delete("/api/v1/admin/cameras/lobby", headers=h).status_code == 204
        lobby = _until(
            lambda: (c := _camera(ak, "lobby")) and c[0] == "removed" and c, 60, "lobby stopped", procs
        )
        assert lobby[2] >= 2


def _up(web: httpx.Client) -> bool:
    try:
        return web.get("/login").status_code == 200
    except httpx.TransportError:
        return False


async def test_config_cameras_follow_akashi_toml(sqlite_home: Path, rtsp_server: RtspServer) -> None:
    """A camera written into akashi.toml while the service runs starts; disabled there, it stops and says so."""
    events = EventLog()
    with Akashi.open(sqlite_home) as ak:
        async with CameraService(ak, [events]) as svc:
            add_to_config(sqlite_home, camera_toml([("hall", "", rtsp_server.url("cam2"))], seconds=2.0))
            await events.wait_count("segment_stored", "hall", 1, timeout=60)
            state = await asyncio.to_thread(_camera, ak, "hall")
            assert state is not None and state[0] == "recording"

            text = (sqlite_home / "akashi.toml").read_text()
            (sqlite_home / "akashi.toml").write_text(
                text.replace("segment_seconds = 2.0", "segment_seconds = 2.0\nenabled = false")
            )
            deadline = time.monotonic() + 30
            while True:
                svc.reconciled.clear()  # before looking: a round that ends meanwhile is not missed
                state = await asyncio.to_thread(_camera, ak, "hall")
                if "hall" not in svc.supervisors and state is not None and state[0] == "disabled":
                    break
                assert time.monotonic() < deadline, state
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(svc.reconciled.wait(), 5)
        state = await asyncio.to_thread(_camera, ak, "hall")
        assert state is not None and state[0] == "disabled" and state[1]["state_since"]


@pytest.fixture
def keyframeless_server(h264_file: Path, tmp_path: Path) -> Iterator[RtspServer]:
    """The RTSP server playing the test pattern with every IDR picture removed: it connects, sends
    packets, and never a frame a segment could start with (a camera with a broken encoder setting)."""
    if not _gst_rtsp_available():
        missing_peer("GStreamer RTSP server for /usr/bin/python3 (gir1.2-gst-rtsp-server-1.0, python3-gi)")
    media = tmp_path / "no-idr.mkv"
    subprocess.run(
        ["timeout", "120", "ffmpeg", "-loglevel", "error", "-y", "-i", str(h264_file), "-c", "copy",
         "-bsf:v", "filter_units=remove_types=5", str(media)],
        check=True,
    )  # fmt: skip
    srv = RtspServer(media, ["dark"])
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


async def test_camera_without_keyframes_says_so(sqlite_home: Path, keyframeless_server: RtspServer) -> None:
    add_to_config(
        sqlite_home,
        camera_toml([("dark", "", keyframeless_server.url("dark"))], seconds=2.0, socket_timeout_s=2.0),
    )
    events = EventLog()
    with Akashi.open(sqlite_home) as ak:
        async with CameraService(ak, [events]):
            deadline = time.monotonic() + 60
            while (state := await asyncio.to_thread(_camera, ak, "dark")) is None or state[
                0
            ] != "no_keyframe":
                assert time.monotonic() < deadline, state
                await asyncio.sleep(0.5)  # the state lives in the database: no event to wait on
        assert state[1]["state_since"] and "keyframe" in state[1]["state_detail"]
        assert events.count("segment_closed", "dark") == 0
