"""Pausing and resuming a camera: a web/CLI camera keeps the switch in its row, a config camera in
akashi.toml; a running camera service stops and starts it, and the camera says it was paused, by whom."""

from __future__ import annotations

import asyncio
import contextlib
import time
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from akashi.cameras import records
from akashi.cameras.pause import PAUSED_REASON, note_paused, set_paused
from akashi.cameras.service import CameraService
from akashi.cameras.supervisor import GAP_DOWN
from akashi.config import load_settings
from akashi.context import Akashi
from akashi.db import session_scope, utcnow
from akashi.db.models import Camera, CameraGap
from akashi.errors import NotFoundError
from tests.cameras.conftest import RtspServer
from tests.cameras.helpers import EventLog, add_to_config, camera_toml


def _row(ak: Akashi, name: str) -> tuple[str, dict[str, Any]]:
    with session_scope(ak.engine) as s:
        cam = s.scalar(select(Camera).where(Camera.name == name))
        assert cam is not None
        return cam.state, dict(cam.extra or {})


def _enabled(ak: Akashi, name: str) -> bool:
    (spec,) = [c for c in records.configured_cameras(ak.settings, ak.engine) if c.name == name]
    return spec.enabled


def test_db_camera_paused_and_resumed(sqlite_home: Path) -> None:
    with Akashi.open(sqlite_home) as ak:
        records.add_camera(ak.settings, ak.engine, name="lobby", url="rtsp://h/x", site="", seconds=4.0)
        done = set_paused(ak.settings, ak.engine, "lobby", True, "kanri")
        assert done.source == "db" and done.changed and done.settings is None
        state, extra = _row(ak, "lobby")
        assert not _enabled(ak, "lobby")
        assert state == "paused" and extra["paused"]["by"] == "kanri" and "kanri" in extra["state_detail"]
        again = set_paused(ak.settings, ak.engine, "lobby", True, "other")
        assert not again.changed and _row(ak, "lobby")[1]["paused"]["by"] == "kanri"  # who paused it stays
        assert set_paused(ak.settings, ak.engine, "lobby", False, "kanri").changed
        state, extra = _row(ak, "lobby")
        assert _enabled(ak, "lobby") and state == "stopped" and "paused" not in extra
        with pytest.raises(NotFoundError):
            set_paused(ak.settings, ak.engine, "nowhere", True, "kanri")


def test_config_camera_paused_in_akashi_toml(sqlite_home: Path) -> None:
    add_to_config(sqlite_home, "# 受付のカメラ\n" + camera_toml([("hall", "", "rtsp://h/x")]))
    with Akashi.open(sqlite_home) as ak:
        done = set_paused(ak.settings, ak.engine, "hall", True, "kanri")
        assert done.source == "config" and done.settings is not None
        text = (sqlite_home / "akashi.toml").read_text()
        assert "# 受付のカメラ" in text  # comments stay
        assert tomllib.loads(text)["cameras"][0]["enabled"] is False
        assert not load_settings(sqlite_home).cameras[0].enabled
        assert _row(ak, "hall")[0] == "paused"
        ak.settings = load_settings(sqlite_home)
        set_paused(ak.settings, ak.engine, "hall", False, "kanri")
        assert load_settings(sqlite_home).cameras[0].enabled


def test_stopped_recorder_gap_says_paused(sqlite_home: Path) -> None:
    """The gap a paused camera's stop opened reads "paused by an administrator"; an outage's is kept."""
    with Akashi.open(sqlite_home) as ak:
        cam_id = records.add_camera(
            ak.settings, ak.engine, name="gate", url="rtsp://h/x", site="", seconds=4.0
        )
        earlier = records.add_gap(
            ak.engine, cam_id, utcnow() - timedelta(hours=1), utcnow(), "応答なし / timeout"
        )
        assert not note_paused(ak.engine, cam_id)  # not paused: nothing to say
        set_paused(ak.settings, ak.engine, "gate", True, "kanri")
        gap = records.open_gap(ak.engine, cam_id, utcnow(), GAP_DOWN)
        assert note_paused(ak.engine, cam_id)
        with session_scope(ak.engine) as s:
            reasons = {g.id: g.reason for g in s.scalars(select(CameraGap))}
        assert reasons == {earlier: "応答なし / timeout", gap: PAUSED_REASON}


@pytest.mark.rtsp
async def test_running_service_stops_and_starts_a_paused_camera(
    sqlite_home: Path, rtsp_server: RtspServer
) -> None:
    events = EventLog()
    with Akashi.open(sqlite_home) as ak:
        records.add_camera(
            ak.settings, ak.engine, name="door", url=rtsp_server.url("cam0"), site="", seconds=2.0
        )
        async with CameraService(ak, [events]) as svc:
            await events.wait_count("segment_stored", "door", 1, timeout=90)
            await asyncio.to_thread(set_paused, ak.settings, ak.engine, "door", True, "kanri")
            svc.wake()
            await _until(
                svc, lambda: "door" not in svc.supervisors and _row(ak, "door")[0] == "paused", "paused"
            )
            state, extra = await asyncio.to_thread(_row, ak, "door")
            assert "kanri" in extra["state_detail"]
            with session_scope(ak.engine) as s:
                last = s.scalars(select(CameraGap).order_by(CameraGap.started_at.desc())).first()
                assert last is not None and last.reason == PAUSED_REASON and last.ended_at is None
            stored = events.count("segment_stored", "door")

            await asyncio.to_thread(set_paused, ak.settings, ak.engine, "door", False, "kanri")
            svc.wake()
            await events.wait_count("segment_stored", "door", stored + 1, timeout=90)
            state, extra = await asyncio.to_thread(_row, ak, "door")
            assert "door" in svc.supervisors and state == "recording" and "paused" not in extra
            with session_scope(ak.engine) as s:
                gap = s.scalars(select(CameraGap).where(CameraGap.reason == PAUSED_REASON)).one()
                assert gap.ended_at is not None  # footage resumed: the paused stretch is closed


async def _until(svc: CameraService, cond: Any, what: str, timeout: float = 60) -> None:
    """Wait for ``cond()`` (database state), woken by each reconcile round of the service."""
    deadline = time.monotonic() + timeout
    while True:
        svc.reconciled.clear()  # before looking: a round that ends meanwhile is not missed
        if await asyncio.to_thread(cond):
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(svc.reconciled.wait(), 5)


@pytest.mark.rtsp
async def test_config_camera_paused_through_akashi_toml(sqlite_home: Path, rtsp_server: RtspServer) -> None:
    """A camera of akashi.toml: the pause rewrites its enabled, the service's file watch stops it."""
    add_to_config(sqlite_home, camera_toml([("hall", "", rtsp_server.url("cam1"))], seconds=2.0))
    events = EventLog()
    with Akashi.open(sqlite_home) as ak:
        async with CameraService(ak, [events]) as svc:
            await events.wait_count("segment_stored", "hall", 1, timeout=90)
            await asyncio.to_thread(set_paused, ak.settings, ak.engine, "hall", True, "kanri")
            await _until(
                svc, lambda: "hall" not in svc.supervisors and _row(ak, "hall")[0] == "paused", "paused"
            )
            stored = events.count("segment_stored", "hall")
            await asyncio.to_thread(set_paused, load_settings(sqlite_home), ak.engine, "hall", False, "kanri")
            await events.wait_count("segment_stored", "hall", stored + 1, timeout=90)
            assert (await asyncio.to_thread(_row, ak, "hall"))[0] == "recording"
