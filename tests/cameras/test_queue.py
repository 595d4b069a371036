"""The local segment queue: the store failing, uploads resuming in order, pruning and the alert."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from akashi.cameras import records
from akashi.cameras.events import CameraEvent
from akashi.cameras.records import CameraSpec
from akashi.cameras.service import CameraService
from akashi.cameras.spool import CameraSpool, SegmentMeta
from akashi.cameras.uploader import Uploader
from akashi.context import Akashi
from akashi.db import session_scope
from akashi.db.models import Camera, EvidenceObject
from tests.cameras.conftest import RtspServer
from tests.cameras.helpers import EventLog, add_to_config, camera_toml
from tests.cameras.test_ingest import segments_of


@pytest.mark.rtsp
async def test_store_down_queues_in_order_and_loses_nothing(
    sqlite_home: Path, rtsp_server: RtspServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AKASHI_STORE__RETRY_INTERVAL_S", "0.5")
    add_to_config(sqlite_home, camera_toml([("cam", "", rtsp_server.url("cam2"))], seconds=1.0))
    events = EventLog()
    with Akashi.open(sqlite_home) as ak:
        staging = ak.store.backend.staging_dir
        async with CameraService(ak, [events]):
            await events.wait_count("segment_stored", "cam", 1, timeout=60)
            # The evidence volume goes away: its staging folder is no longer a folder.
            shutil.rmtree(staging)
            staging.write_bytes(b"")
            closed = events.count("segment_closed", "cam")
            await events.wait_count("segment_closed", "cam", closed + 4, timeout=30)
            assert events.count("upload_failed", "cam") >= 1
            stored_while_down = events.count("segment_stored", "cam")
            spool = CameraSpool(ak.settings.spool_path, 1)
            assert len(spool.pending()) >= 3
            # The volume is back: the queue drains, oldest first.
            staging.unlink()
            staging.mkdir()
            await events.wait_for(
                lambda: (
                    events.count("segment_stored", "cam")
                    >= events.count("segment_closed", "cam")
                    >= closed + 4
                ),
                timeout=30,
                what="queue drained",
            )
            assert stored_while_down <= 2  # at most the one in flight when the volume went
        segs = segments_of(ak, "cam")
        assert len(segs) == events.count("segment_closed", "cam")
        assert spool.pending() == []
        with session_scope(ak.engine) as s:
            created = [s.get(EvidenceObject, g.object_id).created_at for g in segs]  # type: ignore[union-attr]
        assert created == sorted(created), "segments were not stored in recording order"


def _fake_segment(spool: CameraSpool, start: datetime, size: int) -> SegmentMeta:
    meta = SegmentMeta(1, "cam", "", start, start + timedelta(seconds=4), frames=60, codec="h264")
    path = spool.begin(meta)
    path.write_bytes(b"\0" * size)
    spool.finish(meta)
    return meta


def test_uploaded_plaintext_is_removed_and_queue_over_limit_alerts(tmp_path: Path) -> None:
    spool = CameraSpool(tmp_path, 1)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    metas = [_fake_segment(spool, t0 + timedelta(seconds=4 * i), 1000) for i in range(6)]
    for m in metas[:4]:
        spool.uploaded(m)
    # stored segments leave no plaintext behind; the two not yet stored stay queued
    assert not list(spool.done.glob("*.mp4"))
    assert len(spool.pending()) == 2 and 2000 <= spool.size() < 3000  # media + queue entries
    assert spool.prune(3500) is True
    assert spool.prune(1500) is False  # over the limit with segments not yet stored: an alert
    assert len(spool.pending()) == 2  # never dropped


async def test_queue_over_limit_raises_alert(sqlite_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AKASHI_CAMERA_POLICY__LOCAL_MAX_MB", "16")
    with Akashi.open(sqlite_home) as ak:
        cam_id = records.ensure_camera(ak.engine, CameraSpec("cam", "", "rtsp://h/x", 4.0, True, "config"))
        spool = CameraSpool(ak.settings.spool_path, cam_id)
        got: list[CameraEvent] = []
        up = Uploader(ak, cam_id, "cam", spool, got.append)
        up._loop = asyncio.get_running_loop()
        t0 = datetime(2026, 1, 1, tzinfo=UTC)
        for i in range(3):
            _fake_segment(spool, t0 + timedelta(seconds=4 * i), 6 * 1024 * 1024)
        await asyncio.to_thread(up._check_space)
        await asyncio.sleep(0)  # let the event posted from the worker thread run
        assert [e.kind for e in got] == ["alert"]
        with session_scope(ak.engine) as s:
            cam = s.scalar(select(Camera).where(Camera.id == cam_id))
            assert cam is not None and cam.state == "alert" and "上限" in cam.extra["alert"]
        assert len(spool.pending()) == 3  # nothing not yet stored is ever dropped
