"""Smaller page fixes of issue 11 item 10, and a forged form value that must come back inert."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from akashi.db.base import session_scope
from akashi.db.models import Site
from akashi.web.app import create_app
from tests.web.conftest import Seeded, api_login


def test_cameras_page_tells_an_admin_how_to_add_one(client: TestClient, seeded_sqlite: Seeded) -> None:
    api_login(client, "admin")
    page = client.get("/cameras").text
    assert 'id="camera-howto"' in page and 'href="/admin#cameras"' in page
    with TestClient(create_app(seeded_sqlite.ak)) as boss:
        api_login(boss, "boss_tokyo")
        page = boss.get("/cameras").text
        assert 'id="camera-howto"' not in page and "管理者が行います" in page


def test_manager_opening_admin_is_told_who_may(client: TestClient) -> None:
    api_login(client, "boss_tokyo")
    r = client.get("/admin")
    assert r.status_code == 403 and "管理画面は管理者だけが開けます" in r.text
    assert "監査ログを閲覧する権限がありません" not in r.text  # not the auditor's message
    api_login(client, "auditor")
    r = client.get("/admin", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/audit"


def test_favicon_without_a_session(client: TestClient) -> None:
    r = client.get("/favicon.ico")
    assert (
        r.status_code == 200 and r.headers["content-type"] == "image/x-icon" and r.content[:4] == b"\0\0\1\0"
    )


def test_forged_values_come_back_escaped_and_nothing_saved(client: TestClient, seeded_sqlite: Seeded) -> None:
    """A forged form (curl-style) with markup in every kept field: shown as text, no site created."""
    api_login(client, "admin")
    page = client.get("/admin").text
    csrf = page.split('name="csrf_token" value="')[1].split('"', 1)[0]
    evil = '"><script>alert(1)</script>'
    with session_scope(seeded_sqlite.ak.engine) as s:
        before = s.scalar(select(func.count()).select_from(Site))
    r = client.post("/admin/sites", data={"name": evil, "label": evil, "csrf_token": csrf})
    assert r.status_code == 400
    assert "<script>alert(1)</script>" not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    with session_scope(seeded_sqlite.ak.engine) as s:
        assert s.scalar(select(func.count()).select_from(Site)) == before
    r = client.post("/admin/lexicon", data={"text": "[[x\n" + evil, "csrf_token": csrf})
    assert r.status_code == 400 and "<script>alert(1)</script>" not in r.text
