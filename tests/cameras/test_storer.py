"""The shared segment storer: several cameras' segments in one batch, each its own object and ledger entry;
a database failure keeps every segment of the batch queued and leaves no ciphertext behind."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from akashi.cameras import records, storer
from akashi.cameras.records import CameraSpec
from akashi.cameras.spool import CameraSpool, SegmentMeta
from akashi.cameras.storer import SegmentStorer
from akashi.context import Akashi
from akashi.db import session_scope
from akashi.db.models import CameraSegment, EvidenceObject, LedgerEntry

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RETAIN = timedelta(days=30)


def _queued(ak: Akashi, name: str, n: int) -> tuple[CameraSpool, list[SegmentMeta]]:
    cam_id = records.ensure_camera(ak.engine, CameraSpec(name, "", "rtsp://h/x", 4.0, True, "config"))
    spool = CameraSpool(ak.settings.spool_path, cam_id)
    metas = []
    for i in range(n):
        start = T0 + timedelta(seconds=4 * i)
        meta = SegmentMeta(cam_id, name, "", start, start + timedelta(seconds=4), frames=60, codec="h264")
        spool.begin(meta).write_bytes(bytes([i]) * (3000 + i))
        spool.finish(meta)
        metas.append(meta)
    return spool, metas


def _counts(ak: Akashi) -> tuple[int, int, int]:
    with session_scope(ak.engine) as s:
        return (
            s.scalar(select(func.count()).select_from(CameraSegment)) or 0,
            s.scalar(select(func.count()).select_from(EvidenceObject)) or 0,
            s.scalar(select(func.count()).select_from(LedgerEntry)) or 0,
        )


async def test_segments_of_several_cameras_share_a_batch(sqlite_home: Path) -> None:
    with Akashi.open(sqlite_home) as ak, SegmentStorer(ak, window_s=1.0) as st:
        jobs = []
        for name in ("a", "b", "c"):
            spool, metas = _queued(ak, name, 2)
            jobs += [st.store(m, p, spool, RETAIN) for m, p in spool.pending()]
            assert len(metas) == 2
        done = await asyncio.gather(*jobs)
        assert len({d.object_id for d in done}) == 6
        assert max(st.batch_sizes) > 1  # handed over together: stored together
        assert _counts(ak) == (6, 6, 6)  # each its own object, ledger entry and segment row
        for name in ("a", "b", "c"):
            cam_id = records.ensure_camera(ak.engine, CameraSpec(name, "", "rtsp://h/x", 4.0, True, "config"))
            assert CameraSpool(ak.settings.spool_path, cam_id).pending() == []
        report = ak.store.verify()
        assert report.ok, report.problems
        data = b"".join(ak.store.iter_plaintext(done[0].object_id))
        assert data == bytes([0]) * 3000


async def test_a_database_failure_keeps_the_whole_batch_queued(
    sqlite_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: object) -> list[int]:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(storer, "add_segment_rows", refuse)
    with Akashi.open(sqlite_home) as ak, SegmentStorer(ak, window_s=1.0) as st:
        spool, _ = _queued(ak, "a", 3)
        results = await asyncio.gather(
            *[st.store(m, p, spool, RETAIN) for m, p in spool.pending()], return_exceptions=True
        )
        assert all(isinstance(r, RuntimeError) for r in results)
        assert _counts(ak) == (0, 0, 0)
        assert len(spool.pending()) == 3  # still queued, in order, for the retry
        assert [p for p in ak.settings.evidence_path.rglob("*") if p.is_file()] == []  # no ciphertext left
