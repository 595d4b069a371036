"""Camera retention: footage inside open incidents survives retention until released; manual holds stay."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from akashi.cameras import records
from akashi.cameras.records import CameraSpec
from akashi.cameras.retention import HOLD_ACTOR, apply_camera_holds
from akashi.cameras.spool import SegmentMeta
from akashi.context import Akashi
from akashi.db import session_scope
from akashi.db.models import Call, EvidenceObject, Incident, IncidentItem

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _store_segments(ak: Akashi, cam_id: int, name: str, n: int) -> list[str]:
    """Put ``n`` 4-second segments (small payloads) through the store and the segment table."""
    oids = []
    for i in range(n):
        start = T0 + timedelta(seconds=4 * i)
        meta = SegmentMeta(
            cam_id, name, "tokyo", start, start + timedelta(seconds=4), frames=60, codec="h264"
        )
        res = ak.store.put(
            io.BytesIO(f"segment {i}".encode()), kind="camera_segment", media_type="video/mp4",
            site="tokyo", retain_until=meta.ended_at + timedelta(days=30),
        )  # fmt: skip
        records.add_segment(ak.engine, meta, res.object_id, res.sha256, res.size)
        oids.append(res.object_id)
    return oids


def _states(ak: Akashi, oids: list[str]) -> list[str]:
    with session_scope(ak.engine) as s:
        return [s.get(EvidenceObject, o).state for o in oids]  # type: ignore[union-attr]


def test_incident_keeps_footage_until_released(home: Path) -> None:
    with Akashi.open(home) as ak:
        spec = CameraSpec("受付", "tokyo", "rtsp://h/x", 4.0, True, "config")
        cam_id = records.ensure_camera(ak.engine, spec)
        lobby_id = records.ensure_camera(
            ak.engine, CameraSpec("lobby", "tokyo", "rtsp://h/y", 4.0, True, "config")
        )
        oids = _store_segments(ak, cam_id, "受付", 10)  # 09:00:00 .. 09:00:40
        lobby = _store_segments(ak, lobby_id, "lobby", 3)
        site_id = records.site_id(ak.engine, "tokyo")
        with session_scope(ak.engine) as s:
            inc = Incident(title="カスハラ 1月5日", site_id=site_id)
            s.add(inc)
            s.flush()
            # Segments 2..4 (09:00:08-09:00:20) are marked on the camera.
            s.add(IncidentItem(incident_id=inc.id, camera_id=cam_id, started_at=T0 + timedelta(seconds=9),
                               ended_at=T0 + timedelta(seconds=19)))  # fmt: skip
            call = Call(started_at=T0 + timedelta(minutes=10), ended_at=T0 + timedelta(minutes=11),
                        direction="in", site_id=site_id)  # fmt: skip
            s.add(call)
            s.flush()
            # A call 10 minutes later: with a 2-minute margin it reaches no footage of 09:00.
            s.add(IncidentItem(incident_id=inc.id, call_id=call.id))
            inc_id = inc.id
        ak.store.hold(oids[0], reason="訴訟", actor="admin")  # a person's legal hold

        report = apply_camera_holds(ak)
        assert sorted(report.held) == sorted(oids[2:5])
        assert apply_camera_holds(ak).held == []  # idempotent

        deleted = ak.store.apply_retention(T0 + timedelta(days=31))
        assert set(deleted) == set(oids[1:2] + oids[5:] + lobby)
        assert _states(ak, oids[2:5]) == ["stored"] * 3 and _states(ak, oids[:1]) == ["stored"]

        with session_scope(ak.engine) as s:
            for item in s.scalars(select(IncidentItem).where(IncidentItem.incident_id == inc_id)):
                item.released = True
        report = apply_camera_holds(ak)
        assert sorted(report.released) == sorted(oids[2:5])  # never the person's hold
        assert HOLD_ACTOR not in str(report.held)
        deleted = ak.store.apply_retention(T0 + timedelta(days=31))
        assert sorted(deleted) == sorted(oids[2:5])
        assert _states(ak, oids[:1]) == ["stored"]


def test_call_in_incident_holds_same_site_cameras(home: Path) -> None:
    with Akashi.open(home) as ak:
        cam_id = records.ensure_camera(
            ak.engine, CameraSpec("受付", "tokyo", "rtsp://h/x", 4.0, True, "config")
        )
        other = records.ensure_camera(
            ak.engine, CameraSpec("osaka1", "osaka", "rtsp://h/z", 4.0, True, "config")
        )
        oids = _store_segments(ak, cam_id, "受付", 3)
        far = _store_segments(ak, other, "osaka1", 3)
        with session_scope(ak.engine) as s:
            site_id = records.site_id(ak.engine, "tokyo")
            inc = Incident(title="call", site_id=site_id, status="open")
            call = Call(started_at=T0 + timedelta(seconds=100), ended_at=T0 + timedelta(seconds=200),
                        direction="in", site_id=site_id)  # fmt: skip
            s.add_all([inc, call])
            s.flush()
            s.add(IncidentItem(incident_id=inc.id, call_id=call.id))
        report = apply_camera_holds(ak)
        # The 2-minute margin before the call reaches 09:00:00-12 of the call's site only.
        assert sorted(report.held) == sorted(oids)
        assert not set(report.held) & set(far)


def test_mark_and_unmark_from_the_cli(sqlite_home: Path) -> None:
    import json
    import subprocess
    import sys

    def cli(*args: str) -> str:
        r = subprocess.run(
            ["timeout", "60", sys.executable, "-m", "akashi.cli.main", "--home", str(sqlite_home), *args],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        return r.stdout

    with Akashi.open(sqlite_home) as ak:
        cam_id = records.ensure_camera(
            ak.engine, CameraSpec("受付", "tokyo", "rtsp://h/x", 4.0, True, "config")
        )
        oids = _store_segments(ak, cam_id, "受付", 5)  # 09:00:00 .. 09:00:20 UTC = 18:00 JST
    out = json.loads(
        cli("cameras", "mark", "受付", "--from", "2026-01-05T18:00:05", "--to", "2026-01-05T18:00:11",
            "--title", "暴言", "--json")
    )  # fmt: skip
    assert out["held"] == 2  # 09:00:04-08 and 09:00:08-12 (times without a zone are JST)
    with Akashi.open(sqlite_home) as ak, session_scope(ak.engine) as s:
        held = [s.get(EvidenceObject, o).legal_hold for o in oids]  # type: ignore[union-attr]
        assert held == [False, True, True, False, False]
        assert s.get(Incident, out["incident"]).title == "暴言"  # type: ignore[union-attr]
    assert "released: 1 range(s), 2 segment(s)" in cli(
        "cameras", "unmark", "--incident", str(out["incident"])
    )
    with Akashi.open(sqlite_home) as ak, session_scope(ak.engine) as s:
        assert not any(s.get(EvidenceObject, o).legal_hold for o in oids)  # type: ignore[union-attr]
