"""``akashi cameras pause NAME`` / ``resume NAME``: the admin page's switch from the command line (audited)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from akashi.context import Akashi
from akashi.db import session_scope
from akashi.db.models import AuditEntry
from tests.cli.test_end_to_end import run


def test_cameras_pause_and_resume(sqlite_home: Path) -> None:
    home = sqlite_home
    run(home, "cameras", "add", "lobby", "--url", "rtsp://u:p@192.0.2.1/s")
    run(home, "user", "add", "kanri", "--role", "manager", "--password-stdin", stdin="a-long-password\n")
    assert "一時停止しました / paused: lobby" in run(home, "cameras", "pause", "lobby").stdout
    (row,) = json.loads(run(home, "cameras", "list", "--json").stdout)
    assert (row["enabled"], row["state"]) == (False, "paused")
    refused = run(home, "cameras", "resume", "lobby", "--as-user", "kanri", check=False)
    assert refused.returncode != 0 and "admins" in refused.stderr
    assert "再開しました / resumed: lobby" in run(home, "cameras", "resume", "lobby").stdout
    (row,) = json.loads(run(home, "cameras", "list", "--json").stdout)
    assert row["enabled"] is True and row["state"] != "paused"
    assert run(home, "cameras", "pause", "nowhere", check=False).returncode != 0
    with Akashi.open(home) as ak, session_scope(ak.engine) as s:
        got = [
            (e.action, e.user_name, e.outcome)
            for e in s.scalars(
                select(AuditEntry).where(AuditEntry.action.like("camera_%")).order_by(AuditEntry.seq)
            )
        ]
    assert got == [
        ("camera_pause", "cli", "ok"),
        ("camera_resume", "kanri", "denied"),
        ("camera_resume", "cli", "ok"),
    ]
