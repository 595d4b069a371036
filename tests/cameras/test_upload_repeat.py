"""A segment stored just before a crash is not stored twice; fresh segments skip the lookup that finds it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from akashi.cameras import records
from akashi.cameras.records import CameraSpec
from akashi.cameras.spool import CameraSpool, SegmentMeta
from akashi.cameras.uploader import Uploader
from akashi.context import Akashi
from akashi.db import session_scope
from akashi.db.models import CameraSegment, EvidenceObject


def _segment(spool: CameraSpool, cam_id: int, start: datetime) -> SegmentMeta:
    meta = SegmentMeta(cam_id, "cam", "", start, start + timedelta(seconds=4), frames=60, codec="h264")
    spool.begin(meta).write_bytes(b"\0" * 4096)
    spool.finish(meta)
    return meta


def _counts(ak: Akashi) -> tuple[int, int]:
    with session_scope(ak.engine) as s:
        segs = s.scalar(select(func.count()).select_from(CameraSegment)) or 0
        objs = s.scalar(select(func.count()).select_from(EvidenceObject)) or 0
    return segs, objs


async def test_a_repeat_after_a_crash_is_not_stored_twice(
    sqlite_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups: list[str] = []
    real_exists = records.segment_exists

    def counting_exists(*args: Any) -> bool:
        lookups.append(str(args[2]))
        return real_exists(*args)

    monkeypatch.setattr(records, "segment_exists", counting_exists)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    with Akashi.open(sqlite_home) as ak:
        cam_id = records.ensure_camera(ak.engine, CameraSpec("cam", "", "rtsp://h/x", 4.0, True, "config"))
        spool = CameraSpool(ak.settings.spool_path, cam_id)
        first = Uploader(ak, cam_id, "cam", spool, lambda ev: None)
        first._loop = asyncio.get_running_loop()
        meta = _segment(spool, cam_id, t0)
        assert await first.drain()
        assert _counts(ak) == (1, 1)
        # The process died after storing it but before removing its queue entry: the entry is back.
        _segment(spool, cam_id, t0)
        fresh = Uploader(ak, cam_id, "cam", spool, lambda ev: None)
        fresh._loop = asyncio.get_running_loop()
        lookups.clear()
        assert await fresh.drain()
        assert lookups == [str(meta.started_at)]  # what was queued at start is looked up ...
        assert _counts(ak) == (1, 1)  # ... and found: not stored a second time
        assert spool.pending() == []
        # A segment this process closes afterwards cannot be in the store yet: no lookup.
        _segment(spool, cam_id, t0 + timedelta(seconds=4))
        assert await fresh.drain()
        assert lookups == [str(meta.started_at)]
        assert _counts(ak) == (2, 2)


async def test_a_failed_upload_is_looked_up_before_it_is_retried(
    sqlite_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups: list[str] = []
    real_exists = records.segment_exists
    real_uploaded = CameraSpool.uploaded
    fail = {"once": True}

    def counting_exists(*args: Any) -> bool:
        lookups.append(str(args[2]))
        return real_exists(*args)

    def flaky_uploaded(self: CameraSpool, meta: SegmentMeta) -> None:
        if fail.pop("once", False):
            raise OSError("disk went read-only")  # stored and recorded, queue entry not removed
        real_uploaded(self, meta)

    monkeypatch.setattr(records, "segment_exists", counting_exists)
    monkeypatch.setattr(CameraSpool, "uploaded", flaky_uploaded)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    with Akashi.open(sqlite_home) as ak:
        cam_id = records.ensure_camera(ak.engine, CameraSpec("cam", "", "rtsp://h/x", 4.0, True, "config"))
        spool = CameraSpool(ak.settings.spool_path, cam_id)
        up = Uploader(ak, cam_id, "cam", spool, lambda ev: None)
        up._loop = asyncio.get_running_loop()
        assert await up.drain()  # the first pass (nothing queued yet)
        meta = _segment(spool, cam_id, t0)
        assert not await up.drain()  # stored, but the queue entry stayed
        assert lookups == [] and _counts(ak) == (1, 1)
        assert await up.drain()  # the retry finds it stored and only clears the queue
        assert lookups == [str(meta.started_at)]
        assert _counts(ak) == (1, 1)
        assert spool.pending() == []
