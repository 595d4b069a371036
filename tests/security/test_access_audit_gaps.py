"""Issue 10 item 13: refusals outside media access, CLI holds, cached thumbnails and searches are
audited. Each attack goes over real HTTP (uvicorn + httpx) or through the real ``akashi`` command."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from akashi.db.base import session_scope
from akashi.db.models import Call, EvidenceObject, Incident
from tests.cli.test_end_to_end import run
from tests.security.access_helpers import audit_head, audit_rows, login
from tests.web import conftest as web_fixtures
from tests.web.conftest import Seeded

# the web tests' fixtures: a seeded SQLite installation and uvicorn serving it on a free port
seeded_sqlite = web_fixtures.seeded_sqlite
server = web_fixtures.server


def _held(seeded: Seeded, call_id: int) -> bool:
    with session_scope(seeded.ak.engine) as s:
        call = s.get(Call, call_id)
        assert call is not None and call.media_object_id is not None
        obj = s.get(EvidenceObject, call.media_object_id)
        assert obj is not None
        return obj.legal_hold


def test_operator_releasing_a_hold_is_refused_and_audited(server: str, seeded_sqlite: Seeded) -> None:
    cid = seeded_sqlite.calls["tanaka_call"]
    with login(server, "boss_tokyo") as boss:
        assert (
            boss.post(f"/api/v1/calls/{cid}/hold", json={"hold": True, "reason": "苦情"}).status_code == 204
        )
    assert _held(seeded_sqlite, cid)
    mark = audit_head(seeded_sqlite.ak)
    with login(server, "op_tanaka") as op:  # the call is op_tanaka's own: scope passes, the role does not
        r = op.post(f"/api/v1/calls/{cid}/hold", json={"hold": False, "reason": "消したい"})
        assert r.status_code == 403 and "ホールド" in r.json()["detail"]["ja"]
        page = op.post(
            f"/calls/{cid}/hold",
            data={"hold": "off", "reason": "x", "csrf_token": op.headers["X-CSRF-Token"]},
        )
        assert page.status_code == 403
    assert _held(seeded_sqlite, cid)  # nothing else changed
    denied = [r for r in audit_rows(seeded_sqlite.ak, mark) if r.outcome == "denied"]
    assert [(r.user, r.action, r.target_id, r.detail["reason"]) for r in denied] == [
        ("op_tanaka", "release", str(cid), "role_operator_no_hold")
    ] * 2


def test_auditor_editing_and_manager_of_another_site_opening_an_incident_are_audited(
    server: str, seeded_sqlite: Seeded
) -> None:
    with login(server, "boss_tokyo") as boss:
        inc = boss.post("/api/v1/incidents", json={"title": "東京の件", "site": "tokyo"}).json()["id"]
    mark = audit_head(seeded_sqlite.ak)
    with login(server, "auditor") as aud:
        r = aud.patch(f"/api/v1/incidents/{inc}", json={"status": "closed", "notes": "改ざん"})
        assert r.status_code == 403
        assert aud.post("/api/v1/incidents", json={"title": "x"}).status_code == 403
    with login(server, "boss_osaka") as osaka:
        assert osaka.get(f"/api/v1/incidents/{inc}").status_code == 404
        assert osaka.get(f"/incidents/{inc}").status_code == 404
        assert osaka.patch(f"/api/v1/incidents/{inc}", json={"status": "closed"}).status_code == 404
        assert osaka.get("/api/v1/incidents/999999").status_code == 404  # no such incident: nothing to audit
    with session_scope(seeded_sqlite.ak.engine) as s:
        row = s.get(Incident, inc)
        assert row is not None and row.status == "open" and row.notes == ""
    denied = [
        (r.user, r.action, r.target_type, r.target_id, r.detail["reason"])
        for r in audit_rows(seeded_sqlite.ak, mark)
        if r.outcome == "denied"
    ]
    assert denied == [
        ("auditor", "incident_update", "incident", str(inc), "role_auditor_read_only"),
        ("auditor", "incident_create", "incident", "", "role_auditor_read_only"),
        ("boss_osaka", "view", "incident", str(inc), "out_of_scope"),
        ("boss_osaka", "view", "incident", str(inc), "out_of_scope"),
        ("boss_osaka", "incident_update", "incident", str(inc), "out_of_scope"),
    ]


def test_searches_are_audited_with_their_filters(server: str, seeded_sqlite: Seeded) -> None:
    home = seeded_sqlite.ak.settings.home
    mark = audit_head(seeded_sqlite.ak)
    with login(server, "boss_tokyo") as boss:
        api = boss.get("/api/v1/calls", params={"number": "1234", "q": "土下座", "from": "2026-01-01"})
        assert api.status_code == 200 and api.json()["total"] == 1
        assert boss.get("/calls", params={"number": "8765", "agent": "suzuki"}).status_code == 200
    out = run(home, "calls", "search", "--number", "0606", "--text", "返金", "--as", "boss_osaka", "--json")
    assert '"total": 0' in out.stdout
    searches = [r for r in audit_rows(seeded_sqlite.ak, mark) if r.action == "search"]
    assert [(r.user, r.outcome, r.detail["via"], r.detail["filters"]) for r in searches] == [
        (
            "boss_tokyo",
            "ok",
            "api",
            {"number": "1234", "text": "土下座", "from": "2026-01-01T00:00:00+09:00"},
        ),
        ("boss_tokyo", "ok", "web", {"number": "8765", "agent": "suzuki"}),
        ("boss_osaka", "ok", "cli", {"number": "0606", "text": "返金"}),
    ]
    assert [r.detail["results"] for r in searches] == [1, 1, 0]


def test_cli_hold_add_and_release_are_audited(seeded_sqlite: Seeded) -> None:
    home: Path = seeded_sqlite.ak.settings.home
    cid = seeded_sqlite.calls["suzuki_call"]
    mark = audit_head(seeded_sqlite.ak)
    run(home, "hold", "add", str(cid), "--reason", "訴訟予告", "--as", "boss_tokyo")
    assert _held(seeded_sqlite, cid)
    refused = run(home, "hold", "release", str(cid), "--reason", "消去", "--as", "op_suzuki", check=False)
    assert refused.returncode == 3 and "ホールド" in refused.stderr
    assert _held(seeded_sqlite, cid)
    run(home, "hold", "release", str(cid), "--reason", "和解")
    assert not _held(seeded_sqlite, cid)
    rows = [r for r in audit_rows(seeded_sqlite.ak, mark) if r.target_type == "call"]
    assert [(r.user, r.action, r.outcome, r.detail["reason"]) for r in rows] == [
        ("boss_tokyo", "hold", "ok", "訴訟予告"),
        ("op_suzuki", "release", "denied", "role_operator_no_hold"),
        ("cli", "release", "ok", "和解"),
    ]
    with session_scope(seeded_sqlite.ak.engine) as s:
        call = s.get(Call, cid)
        assert call is not None
        obj = s.scalar(select(EvidenceObject).where(EvidenceObject.id == call.media_object_id))
        assert obj is not None and obj.state == "stored"


def test_thumbnails_from_the_cache_are_audited(server: str, seeded_sqlite: Seeded, tmp_path: Path) -> None:
    from akashi.web.routes import api_misc
    from tests.web.test_cameras import add_camera

    cam = add_camera(seeded_sqlite, tmp_path)
    api_misc._THUMBS.clear()  # the cache is per process: start from a cold one
    mark = audit_head(seeded_sqlite.ak)
    with login(server, "boss_tokyo") as boss:
        first = boss.get(f"/api/v1/cameras/{cam}/thumbnail")
        second = boss.get(f"/api/v1/cameras/{cam}/thumbnail")
        assert first.status_code == second.status_code == 200 and first.content == second.content
    with login(server, "auditor") as aud:  # a cached frame is still footage
        assert aud.get(f"/api/v1/cameras/{cam}/thumbnail").status_code == 403
    with login(server, "boss_osaka") as osaka:
        assert osaka.get(f"/api/v1/cameras/{cam}/thumbnail").status_code == 404
    rows = [(r.user, r.action, r.target_type, r.outcome) for r in audit_rows(seeded_sqlite.ak, mark)]
    plays = [r for r in audit_rows(seeded_sqlite.ak, mark) if r.target_type == "camera_segment"]
    assert [(r.user, r.action, r.outcome, r.detail.get("cached")) for r in plays] == [
        ("boss_tokyo", "play", "ok", None),
        ("boss_tokyo", "play", "ok", True),
    ]
    assert ("auditor", "play", "camera", "denied") in rows
    assert ("boss_osaka", "view", "camera", "denied") in rows


def test_administration_refusals_are_audited(server: str, seeded_sqlite: Seeded) -> None:
    mark = audit_head(seeded_sqlite.ak)
    with login(server, "boss_tokyo") as boss:
        r = boss.post("/api/v1/admin/users", json={"name": "eve", "password": "x" * 16, "role": "admin"})
        assert r.status_code == 403
        assert boss.get("/api/v1/admin/audit").status_code == 403
        assert boss.get("/admin").status_code == 403
    with login(server, "auditor") as aud:
        assert aud.get("/api/v1/admin/audit").status_code == 200  # allowed: no refusal entry
        assert aud.patch("/api/v1/admin/users/1", json={"role": "auditor"}).status_code == 403
    with login(server, "admin") as admin:
        users = {u["name"]: u["role"] for u in admin.get("/api/v1/admin/users").json()}
        assert "eve" not in users and users["admin"] == "admin"
    denied = [
        (r.user, r.action, r.target_id) for r in audit_rows(seeded_sqlite.ak, mark) if r.outcome == "denied"
    ]
    assert denied == [
        ("boss_tokyo", "admin", "POST /api/v1/admin/users"),
        ("boss_tokyo", "admin", "GET /api/v1/admin/audit"),
        ("boss_tokyo", "admin", "GET /admin"),
        ("auditor", "admin", "PATCH /api/v1/admin/users/1"),
    ]
