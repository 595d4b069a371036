"""Outages of a real RTSP server: stopped, frozen (SIGSTOP), and a recorder killed with SIGKILL."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from akashi.cameras.service import CameraService
from akashi.cameras.spool import CameraSpool
from akashi.context import Akashi
from tests.cameras.conftest import RtspServer
from tests.cameras.helpers import EventLog, add_to_config, camera_toml
from tests.cameras.test_ingest import check_playable, gaps_of, segments_of

pytestmark = pytest.mark.rtsp

#: each outage: long enough for several failed reconnects (backoff capped at 1 s) and, when frozen, for the
#: 2 s socket timeout to notice (errors come ~2x the timeout after data stops)
OUTAGE_S = 10.0
RESUME_WITHIN_S = 5.0


def assert_tiled(ak: Akashi, name: str) -> None:
    """Between consecutive segments there is either nothing, or exactly one gap filling the hole."""
    segs = segments_of(ak, name)
    gaps = [g for g in gaps_of(ak, name) if g.ended_at is not None]
    for a, b in itertools.pairwise(segs):
        hole = (b.started_at - a.ended_at).total_seconds()
        assert hole > -0.01, f"segments overlap: {a.id} {b.id}"
        inside = [g for g in gaps if a.ended_at <= g.started_at and g.ended_at <= b.started_at]
        if hole < 0.05:
            assert inside == []
        else:
            assert len(inside) == 1, f"hole of {hole:.2f}s between segments {a.id} and {b.id} not one gap"
            assert inside[0].started_at == a.ended_at and inside[0].ended_at == b.started_at


async def test_stopped_and_frozen_server_become_gaps(
    sqlite_home: Path, rtsp_server: RtspServer, tmp_path: Path
) -> None:
    add_to_config(
        sqlite_home,
        camera_toml(
            [("cam", "", rtsp_server.url("cam0"))], seconds=2.0, socket_timeout_s=2.0, reconnect_max_s=1.0
        ),
    )
    events = EventLog()
    with Akashi.open(sqlite_home) as ak:
        async with CameraService(ak, [events]):
            await events.wait_count("segment_stored", "cam", 2, timeout=60)

            # 1. The server goes away for OUTAGE_S.
            rtsp_server.stop()
            await events.wait_count("disconnected", "cam", 1, timeout=15)
            await asyncio.sleep(OUTAGE_S)  # the outage itself is wall-clock time
            rtsp_server.start()
            back = time.monotonic()
            await events.wait_count("connected", "cam", 2, timeout=30)
            resumed_after = events.mono[-1] - back
            assert resumed_after < RESUME_WITHIN_S, resumed_after
            stored = events.count("segment_stored", "cam")
            await events.wait_count("segment_stored", "cam", stored + 2, timeout=30)

            # 2. The server hangs (SIGSTOP): the socket timeout must notice it.
            rtsp_server.freeze()
            frozen = time.monotonic()
            await events.wait_count("disconnected", "cam", 2, timeout=20)
            await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - frozen)))
            rtsp_server.thaw()
            back = time.monotonic()
            await events.wait_count("connected", "cam", 3, timeout=30)
            resumed_after = events.mono[-1] - back
            assert resumed_after < RESUME_WITHIN_S, resumed_after
            stored = events.count("segment_stored", "cam")
            await events.wait_count("segment_stored", "cam", stored + 2, timeout=30)

        closed = [g for g in gaps_of(ak, "cam") if g.ended_at is not None]
        assert len(closed) == 2, [(g.started_at, g.ended_at, g.reason) for g in gaps_of(ak, "cam")]
        for gap in closed:
            assert gap.ended_at is not None
            length = (gap.ended_at - gap.started_at).total_seconds()
            assert OUTAGE_S - 2 <= length <= OUTAGE_S + RESUME_WITHIN_S + 5, (length, gap.reason)
        assert "timeout" in closed[1].reason or "応答なし" in closed[1].reason, closed[1].reason
        assert_tiled(ak, "cam")
        for seg in segments_of(ak, "cam"):
            check_playable(ak, seg, tmp_path)


def _akashi(home: Path, *args: str) -> list[str]:
    return ["timeout", "120", sys.executable, "-m", "akashi.cli.main", "--home", str(home), *args]


async def test_killed_recorder_keeps_last_segment(
    sqlite_home: Path, rtsp_server: RtspServer, tmp_path: Path
) -> None:
    # Long segments: the one being written when the process dies holds several seconds of footage.
    add_to_config(sqlite_home, camera_toml([("cam", "", rtsp_server.url("cam1"))], seconds=30.0))
    env = {**os.environ, "AKASHI_HOME": str(sqlite_home)}
    # No `timeout` wrapper here: SIGKILL must reach the recorder itself, not a wrapper that would
    # leave it running as an orphan (the finally block bounds its lifetime).
    proc = subprocess.Popen(
        _akashi(sqlite_home, "cameras", "run")[2:], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        with Akashi.open(sqlite_home) as ak:
            spool = CameraSpool(ak.settings.spool_path, 1)
        deadline = time.monotonic() + 60
        # A subprocess cannot signal us: watch its spool for a partial segment holding a few fragments.
        while not any(p.stat().st_size > 80_000 for p in spool.rec.glob("*.mp4")):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "no segment being written"
            await asyncio.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert list(spool.rec.glob("*.mp4")), "the killed process left its partial segment"
    subprocess.run(_akashi(sqlite_home, "cameras", "run", "--seconds", "4"), env=env, check=True, timeout=120)
    with Akashi.open(sqlite_home) as ak:
        segs = segments_of(ak, "cam")
        assert segs, "recovered segment was not stored"
        first = segs[0]
        assert first.object_id is not None
        assert ak.store.object_info(first.object_id).meta["recovered"] is True
        dur = check_playable(ak, first, tmp_path)
        assert dur >= 2.0  # several complete fragments (one per 1 s GOP) survived the kill
        gaps = gaps_of(ak, "cam")
        assert any(g.started_at == first.ended_at for g in gaps), "downtime after the kill is not a gap"
        assert not list(spool.rec.glob("*.mp4"))
