"""一時停止 / 再開 of a camera from the admin page and the API: admins only, CSRF-protected, audited, and
shown on the cameras page as paused by an administrator."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from akashi.cameras import records
from akashi.db.base import session_scope
from akashi.db.models import AuditEntry, Camera
from tests.web.conftest import Seeded, api_login, csrf_token


def _audits(seeded: Seeded, action: str) -> list[tuple[str, str, str]]:
    with session_scope(seeded.ak.engine) as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq))
        return [(e.user_name, e.outcome, e.target_id or "") for e in rows]


def _camera(seeded: Seeded) -> tuple[int, str, bool]:
    with session_scope(seeded.ak.engine) as s:
        cam = s.scalar(select(Camera).where(Camera.name == "entrance"))
        assert cam is not None
        return cam.id, cam.state, bool((cam.extra or {}).get("enabled"))


def test_pause_and_resume_from_the_admin_page(client: TestClient, seeded_sqlite: Seeded) -> None:
    ak = seeded_sqlite.ak
    records.add_camera(
        ak.settings, ak.engine, name="entrance", url="rtsp://u:p@192.0.2.1/s", site="tokyo", seconds=4
    )
    cam_id = _camera(seeded_sqlite)[0]

    # A manager sees no such control and is refused (audited) when posting anyway.
    csrf = api_login(client, "boss_tokyo")
    r = client.post("/admin/cameras/entrance/pause", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 403
    r = client.post("/api/v1/admin/cameras/entrance/pause", headers={"x-csrf-token": csrf})
    assert r.status_code == 403
    assert _audits(seeded_sqlite, "camera_pause") == [("boss_tokyo", "denied", "entrance")] * 2
    assert _camera(seeded_sqlite)[2]

    api_login(client, "admin")
    page = client.get("/admin").text
    assert 'action="/admin/cameras/entrance/pause"' in page and "一時停止" in page
    csrf = csrf_token(page)
    # Without the CSRF token the form is refused and nothing changes.
    assert client.post("/admin/cameras/entrance/pause", follow_redirects=False).status_code == 403
    assert _camera(seeded_sqlite)[2]

    r = client.post("/admin/cameras/entrance/pause", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/admin?saved=cameras")
    assert _camera(seeded_sqlite)[1:] == ("paused", False)
    assert _audits(seeded_sqlite, "camera_pause")[-1] == ("admin", "ok", str(cam_id))
    page = client.get("/admin").text
    assert 'action="/admin/cameras/entrance/resume"' in page and "停止中（管理者が一時停止）" in page
    tiles = client.get("/cameras").text
    assert "停止中（管理者が一時停止）" in tiles
    one = client.get(f"/cameras/{cam_id}").text
    assert "停止中（管理者が一時停止）" in one and "admin が一時停止" in one
    client.get("/lang/en")
    assert "paused by an administrator" in client.get("/cameras").text
    assert "Resume" in client.get("/admin").text

    r = client.post("/admin/cameras/entrance/resume", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert _camera(seeded_sqlite)[1:] == ("stopped", True)
    assert _audits(seeded_sqlite, "camera_resume") == [("admin", "ok", str(cam_id))]

    # The API does the same; an unknown camera is a 404.
    h = {"x-csrf-token": csrf}
    assert client.post("/api/v1/admin/cameras/entrance/pause", headers=h).status_code == 204
    assert not _camera(seeded_sqlite)[2]
    assert client.post("/api/v1/admin/cameras/entrance/resume", headers=h).status_code == 204
    assert _camera(seeded_sqlite)[2]
    assert client.post("/api/v1/admin/cameras/nowhere/pause", headers=h).status_code == 404
