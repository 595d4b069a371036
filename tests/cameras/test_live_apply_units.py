"""Why a camera is not recording, and since when: the rules of akashi.cameras.status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from akashi.cameras import records
from akashi.cameras.records import CameraSpec
from akashi.cameras.status import note_state, state_since, why_not_recording
from akashi.config.watch import restart_needed
from akashi.context import Akashi


@pytest.mark.parametrize(
    ("connected", "recorded", "reason", "state"),
    [
        (False, False, "接続できません / cannot connect: [Errno 111] Connection refused", "unreachable"),
        (False, False, "接続できません / cannot connect: Server returned 401 Unauthorized (authorization failed)", "auth_refused"),
        (False, False, "接続できません / cannot connect: Server returned 403 Forbidden (access denied)", "auth_refused"),
        (True, False, "応答なし / timeout: Immediate exit requested", "no_keyframe"),
        (True, False, "映像がありません / no video stream", "error"),
        (True, True, "ストリーム終了 / end of stream", "unreachable"),
        (True, True, "応答なし / timeout: Immediate exit requested", "unreachable"),
    ],
)  # fmt: skip
def test_why_not_recording(connected: bool, recorded: bool, reason: str, state: str) -> None:
    assert why_not_recording(connected, recorded, reason) == state


def test_one_outage_keeps_its_start(sqlite_home: Path) -> None:
    t0 = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    with Akashi.open(sqlite_home) as ak:
        cam = records.ensure_camera(ak.engine, CameraSpec("gate", "", "rtsp://h/s", 4.0, True, "config"))

        def since() -> datetime | None:
            from akashi.db import session_scope
            from akashi.db.models import Camera

            with session_scope(ak.engine) as s:
                row = s.get(Camera, cam)
                assert row is not None
                return state_since(row.extra)

        note_state(ak.engine, cam, "connecting", at=t0)
        assert since() == t0
        # retries that fail in other ways are the same outage: it still dates from the first
        note_state(ak.engine, cam, "unreachable", "refused", at=t0 + timedelta(seconds=5))
        note_state(ak.engine, cam, "auth_refused", "401", at=t0 + timedelta(seconds=9))
        assert since() == t0
        note_state(ak.engine, cam, "recording", at=t0 + timedelta(minutes=1))
        assert since() == t0 + timedelta(minutes=1)
        note_state(ak.engine, cam, "unreachable", "end of stream", at=t0 + timedelta(minutes=5))
        assert since() == t0 + timedelta(minutes=5)
        note_state(ak.engine, cam, "disabled", at=t0 + timedelta(minutes=6))
        assert since() == t0 + timedelta(minutes=6)


def test_restart_keys_and_secrets(sqlite_home: Path) -> None:
    with Akashi.open(sqlite_home) as ak:
        a = ak.settings
        b = a.model_copy(deep=True)
        b.sip.routes = []  # applied live: no restart
        b.retention.calls_days = 10
        assert restart_needed(a, b) == []
        b.web.listen = "0.0.0.0:9000"
        b.sip.listen = "0.0.0.0:5070"
        assert restart_needed(a, b) == ["web.listen", "sip.listen"]
