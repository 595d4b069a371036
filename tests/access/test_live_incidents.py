"""Call to camera: a protection event on a live call opens a held incident with the site's camera range."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from akashi.access.incidents_live import LIVE_ACTOR, live_holds
from akashi.access.live import LiveStore
from akashi.calloutcome import CallOutcome
from akashi.cameras import records
from akashi.cameras.records import CameraSpec
from akashi.cameras.spool import SegmentMeta
from akashi.context import Akashi
from akashi.db import session_scope
from akashi.db.models import Call, EvidenceObject, Incident, IncidentItem
from akashi.ingest import ingest_call
from akashi.telephony.live import LiveEvent
from tests.access.test_live import Clock
from tests.web.conftest import stereo_wav

T0 = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
CALLER = "090-1111-2222"


def _segment(ak: Akashi, cam_id: int, name: str, start: datetime) -> str:
    meta = SegmentMeta(cam_id, name, "tokyo", start, start + timedelta(seconds=4), frames=60, codec="h264")
    res = ak.store.put(
        io.BytesIO(b"segment " + start.isoformat().encode()),
        kind="camera_segment",
        media_type="video/mp4",
        site="tokyo",
        retain_until=meta.ended_at + timedelta(days=30),
    )
    records.add_segment(ak.engine, meta, res.object_id, res.sha256, res.size)
    return res.object_id


def _held(ak: Akashi, oids: list[str]) -> list[bool]:
    with session_scope(ak.engine) as s:
        return [bool(s.get(EvidenceObject, o).legal_hold) for o in oids]  # type: ignore[union-attr]


def test_severe_flag_opens_held_incident_with_camera_range_and_call(akashi: Akashi, tmp_path: Path) -> None:
    ak = akashi
    cam = records.ensure_camera(ak.engine, CameraSpec("受付", "tokyo", "rtsp://h/x", 4.0, True, "config"))
    offsets = (-7, -4, 0, 4, 7)  # minutes from the flag
    segs = [_segment(ak, cam, "受付", T0 + timedelta(minutes=m)) for m in offsets]
    earlier = ingest_call(
        ak,
        None,
        CallOutcome(started_at=T0 - timedelta(days=3), direction="in", caller="09011112222", site="tokyo"),
    )
    clock = Clock(T0.timestamp() + 1)
    store = LiveStore(ak.engine, after_incident=lambda: live_holds(ak), clock=clock)
    start = T0.timestamp() - 60
    store.publish(LiveEvent("sip-1", "started", start, site="tokyo", caller=CALLER, agent="sato"))
    store.publish(
        LiveEvent("sip-1", "flag", T0.timestamp() - 30, detail={"severity": "mild", "text": "困ります"})
    )
    store.exchange(["sip-1"])
    with session_scope(ak.engine) as s:
        assert s.scalars(select(Incident)).all() == []  # a mild flag opens nothing
    store.publish(
        LiveEvent("sip-1", "flag", T0.timestamp(), detail={"severity": "severe", "text": "土下座しろ"})
    )
    store.exchange(["sip-1"])

    with session_scope(ak.engine) as s:
        inc = s.scalars(select(Incident)).one()
        assert inc.legal_hold and inc.status == "open" and inc.created_by == LIVE_ACTOR
        assert "土下座しろ" in inc.notes and "sip-1" in inc.notes
        assert f"#{earlier}" in inc.notes  # the repeat caller's earlier call
        items = s.scalars(select(IncidentItem).where(IncidentItem.incident_id == inc.id)).all()
        assert [(i.camera_id, i.started_at, i.ended_at) for i in items] == [
            (cam, T0 - timedelta(minutes=5), T0 + timedelta(minutes=5))
        ]
        inc_id = inc.id
    assert _held(ak, segs) == [False, True, True, True, False]

    # The call ends; ingest stores it with its Call-ID; the next link pass adds it and holds its recording.
    store.publish(LiveEvent("sip-1", "ended", T0.timestamp() + 90))
    store.exchange([])
    stored = ingest_call(
        ak,
        stereo_wav(tmp_path / "call.wav", seconds=1.0),
        CallOutcome(
            started_at=datetime.fromtimestamp(start, UTC),
            direction="in",
            caller=CALLER,
            site="tokyo",
            call_ids=("sip-1", "sip-1-b"),
        ),
        transcribe=False,
    )
    clock.t += 10
    store.exchange([])
    with session_scope(ak.engine) as s:
        linked = s.scalars(select(IncidentItem.call_id).where(IncidentItem.incident_id == inc_id)).all()
        assert stored in linked
        call = s.get(Call, stored)
        assert call is not None and call.media_object_id is not None
        media = call.media_object_id
    assert _held(ak, [media]) == [True]

    # The same caller again, the operator presses the protection key: the open incident grows.
    store.publish(
        LiveEvent("sip-2", "started", T0.timestamp() + 600, site="tokyo", caller="+81 90 1111 2222")
    )
    store.publish(LiveEvent("sip-2", "key", T0.timestamp() + 660, detail={"press": "1"}))
    store.exchange(["sip-2"])
    with session_scope(ak.engine) as s:
        inc = s.scalars(select(Incident)).one()
        assert "sip-2" in inc.notes and "保護キー" in inc.notes
        ranges = s.execute(
            select(IncidentItem.started_at, IncidentItem.ended_at).where(
                IncidentItem.incident_id == inc_id, IncidentItem.camera_id == cam
            )
        ).all()
        assert sorted(ranges) == [
            (T0 - timedelta(minutes=5), T0 + timedelta(minutes=5)),
            (T0 + timedelta(minutes=6), T0 + timedelta(minutes=16)),
        ]
    assert _held(ak, segs) == [False, True, True, True, True]


def test_severe_flag_after_the_call_ended_still_opens_the_held_incident(
    akashi: Akashi, tmp_path: Path
) -> None:
    """Live recognition runs behind the call: a severe flag that comes after the hang-up (``after_end``)
    holds the call and the cameras around it as one during the call would."""
    ak = akashi
    cam = records.ensure_camera(ak.engine, CameraSpec("受付", "tokyo", "rtsp://h/x", 4.0, True, "config"))
    segs = [_segment(ak, cam, "受付", T0 + timedelta(minutes=m)) for m in (-7, -1, 7)]
    clock = Clock(T0.timestamp() + 1)
    store = LiveStore(ak.engine, after_incident=lambda: live_holds(ak), clock=clock)
    store.publish(LiveEvent("sip-9", "started", T0.timestamp() - 60, site="tokyo", caller=CALLER))
    store.publish(LiveEvent("sip-9", "ended", T0.timestamp() - 5))
    store.exchange([])
    store.publish(
        LiveEvent(
            "sip-9",
            "flag",
            T0.timestamp(),
            site="tokyo",
            caller=CALLER,
            detail={"severity": "severe", "text": "殺すぞ", "after_end": "1"},
        )
    )
    store.exchange([])
    stored = ingest_call(
        ak,
        stereo_wav(tmp_path / "call.wav", seconds=1.0),
        CallOutcome(
            started_at=T0 - timedelta(seconds=60),
            direction="in",
            caller=CALLER,
            site="tokyo",
            call_ids=("sip-9",),
        ),
        transcribe=False,
    )
    clock.t += 10
    store.exchange([])
    with session_scope(ak.engine) as s:
        inc = s.scalars(select(Incident)).one()
        assert inc.legal_hold and "殺すぞ" in inc.notes and "sip-9" in inc.notes
        items = s.scalars(select(IncidentItem).where(IncidentItem.incident_id == inc.id)).all()
        assert {i.call_id for i in items if i.call_id} == {stored}
        call = s.get(Call, stored)
        assert call is not None and call.media_object_id is not None
        media = call.media_object_id
    assert _held(ak, [*segs, media]) == [False, True, False, True]
