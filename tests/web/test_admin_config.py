"""Admin edits of akashi.toml, the lexicon and cameras from the browser and the API."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from akashi.analysis.lexicon import load_lexicon
from akashi.config import load_settings
from akashi.config.writer import set_retention
from akashi.db.base import session_scope
from akashi.db.models import AuditEntry
from akashi.errors import ConfigError
from tests.web.conftest import Seeded, api_login, csrf_token

LEXICON = """# 編集した辞書
[[categories]]
name = "暴言"
kind = "word"
severity = 2.0
terms = ["ふざけるな", "馬鹿野郎"]

[[categories]]
name = "金銭要求"
terms = [{ term = "慰謝料を払え", weight = 1.5 }]
"""


def _toml(seeded: Seeded) -> Path:
    return seeded.ak.settings.home / "akashi.toml"


def _audits(seeded: Seeded, action: str) -> list[AuditEntry]:
    with session_scope(seeded.ak.engine) as s:
        rows = list(s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)))
        s.expunge_all()
        return rows


def test_notice_edit_persists_with_comments(client: TestClient, seeded_sqlite: Seeded) -> None:
    path = _toml(seeded_sqlite)
    path.write_text(
        path.read_text() + '\n# 告知の設定 / notices\n[announcements.default]\nmode = "automatic"\n'
    )
    seeded_sqlite.ak.settings = load_settings(seeded_sqlite.ak.settings.home)
    api_login(client, "admin")
    csrf = csrf_token(client.get("/admin").text)
    text = "お電話ありがとうございます。応対内容の確認のため、この通話は録音させていただきます。"
    r = client.post(
        "/admin/announcements/default",
        data={"mode": "operator", "text": text, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    raw = path.read_text()
    assert "# 告知の設定 / notices" in raw and "# Akashi configuration / 設定ファイル" in raw
    assert "# empty: SQLite in this folder" in raw  # inline comments stay too
    doc = tomllib.loads(raw)
    assert doc["announcements"]["default"] == {"mode": "operator", "text": text}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    page = client.get("/admin").text
    assert text in page and "再起動" in page
    (entry,) = _audits(seeded_sqlite, "config_change")
    assert entry.user_name == "admin" and entry.target_id == "announcements.default"
    # The API answers the notice guidance: a notice without a purpose is flagged.
    r = client.put(
        "/api/v1/admin/announcements/default",
        json={"mode": "automatic", "text": "この通話は録音します。"},
        headers={"x-csrf-token": csrf},
    )
    assert r.status_code == 200 and "no-purpose" in {m["code"] for m in r.json()["lint"]}
    assert "no-purpose" in {
        m["code"] for m in client.get("/api/v1/admin/config").json()["announcements"]["default"]["lint"]
    }


def test_invalid_values_write_nothing(client: TestClient, seeded_sqlite: Seeded) -> None:
    path = _toml(seeded_sqlite)
    before = path.read_bytes()
    csrf = api_login(client, "admin")
    h = {"x-csrf-token": csrf}
    bad_route = {"routes": [{"match": "0120", "ring": ["sip:a@127.0.0.1"], "announcement": "missing"}]}
    r = client.put("/api/v1/admin/routes", json=bad_route, headers=h)
    assert r.status_code == 400 and "missing" in r.json()["detail"]["en"]
    assert (
        client.put("/api/v1/admin/retention", json={"calls_days": 0, "camera_days": 5}, headers=h).status_code
        == 422
    )
    page_csrf = csrf_token(client.get("/admin").text)
    r = client.post(
        "/admin/announcements/default", data={"mode": "shout", "text": "x", "csrf_token": page_csrf}
    )
    assert r.status_code == 400
    assert path.read_bytes() == before
    # The writer itself validates the whole file before writing.
    with pytest.raises(ConfigError):
        set_retention(seeded_sqlite.ak.settings.home, calls_days=0, camera_days=5)
    assert path.read_bytes() == before
    assert not list(path.parent.glob(".akashi.toml.*"))  # no temporary file left behind
    # Valid routes and retention are written and read back.
    route = {"match": "0120000111", "ring": ["sip:op1@127.0.0.1:5070"], "site": "tokyo"}
    assert client.put("/api/v1/admin/routes", json={"routes": [route]}, headers=h).status_code == 204
    r = client.put("/api/v1/admin/retention", json={"calls_days": 400, "camera_days": 20}, headers=h)
    assert r.status_code == 204
    st = load_settings(seeded_sqlite.ak.settings.home)
    assert [x.match for x in st.sip.routes] == ["0120000111"] and st.sip.routes[0].site == "tokyo"
    assert st.retention.calls_days == 400 and st.camera_policy.retain_days == 20
    assert client.get("/api/v1/admin/config").json()["retention"] == {"calls_days": 400, "camera_days": 20}


def test_non_admin_refused_and_audited(client: TestClient, seeded_sqlite: Seeded) -> None:
    path = _toml(seeded_sqlite)
    before = path.read_bytes()
    csrf = api_login(client, "boss_tokyo")
    h = {"x-csrf-token": csrf}
    r = client.put("/api/v1/admin/announcements/default", json={"text": "録音します"}, headers=h)
    assert r.status_code == 403
    assert client.put("/api/v1/admin/lexicon", json={"text": LEXICON}, headers=h).status_code == 403
    r = client.post("/api/v1/admin/cameras", json={"name": "x", "url": "rtsp://u:p@h/s"}, headers=h)
    assert r.status_code == 403
    r = client.post("/admin/retention", data={"calls_days": "5", "camera_days": "5", "csrf_token": csrf})
    assert r.status_code == 403  # the page form too
    assert path.read_bytes() == before
    denied = [e for e in _audits(seeded_sqlite, "config_change") if e.outcome == "denied"]
    assert [e.user_name for e in denied] == ["boss_tokyo", "boss_tokyo"]
    assert [e.outcome for e in _audits(seeded_sqlite, "lexicon_change")] == ["denied"]
    assert [e.outcome for e in _audits(seeded_sqlite, "camera_add")] == ["denied"]
    # Without the CSRF token even an admin is refused.
    api_login(client, "admin")
    assert client.put("/api/v1/admin/retention", json={"calls_days": 9, "camera_days": 9}).status_code == 403
    assert path.read_bytes() == before


def test_lexicon_invalid_refused_valid_saved_and_used(client: TestClient, seeded_sqlite: Seeded) -> None:
    home = seeded_sqlite.ak.settings.home
    csrf = api_login(client, "admin")
    h = {"x-csrf-token": csrf}
    assert "[[categories]]" in client.get("/api/v1/admin/lexicon").json()["text"]  # the shipped default
    for bad in ("[[categories]\nname=", '[[categories]]\nname = "x"\nterms = []\n', "categories = [1]\n"):
        r = client.put("/api/v1/admin/lexicon", json={"text": bad}, headers=h)
        assert r.status_code == 400, (bad, r.text)
    assert not (home / "lexicon.toml").exists()
    assert load_settings(home).analysis.lexicon == ""
    r = client.put("/api/v1/admin/lexicon", json={"text": LEXICON}, headers=h)
    assert r.status_code == 200 and r.json()["categories"] == 2
    saved = home / "lexicon.toml"
    assert saved.read_text() == LEXICON and stat.S_IMODE(saved.stat().st_mode) == 0o600
    st = load_settings(home)
    assert Path(st.analysis.lexicon) == saved.resolve()
    lex = load_lexicon(st.analysis.lexicon)
    money = lex.category("金銭要求")
    assert money is not None and money.terms[0].text == "慰謝料を払え"
    cfg = client.get("/api/v1/admin/config").json()
    assert {c["name"] for c in cfg["lexicon"]} == {"暴言", "金銭要求"}
    assert client.get("/api/v1/admin/lexicon").json()["text"] == LEXICON
    (entry,) = [e for e in _audits(seeded_sqlite, "lexicon_change") if e.outcome == "ok"]
    assert json.loads(entry.detail) == {"categories": 2, "terms": 3}


def test_camera_add_and_remove(client: TestClient, seeded_sqlite: Seeded) -> None:
    from akashi.cameras.records import configured_cameras

    ak = seeded_sqlite.ak
    api_login(client, "admin")
    csrf = csrf_token(client.get("/admin").text)
    secret_url = "rtsp://camuser:s3cret-pw@192.0.2.10:554/stream1"
    r = client.post(
        "/admin/cameras",
        data={
            "name": "entrance",
            "url": secret_url,
            "site": "tokyo",
            "segment_seconds": "6",
            "csrf_token": csrf,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    (spec,) = [c for c in configured_cameras(ak.settings, ak.engine) if c.name == "entrance"]
    assert spec.url == secret_url and spec.site == "tokyo" and spec.segment_seconds == 6.0
    page = client.get("/admin").text
    assert "entrance" in page and "s3cret-pw" not in page and "192.0.2.10" not in page
    assert "s3cret-pw" not in client.get("/api/v1/admin/config").text
    r = client.post("/admin/cameras", data={"name": "bad", "url": "http://u:pw-xyz@h/", "csrf_token": csrf})
    assert r.status_code == 400 and "pw-xyz" not in r.text
    (entry,) = _audits(seeded_sqlite, "camera_add")
    assert entry.detail is not None and "s3cret" not in str(entry.detail)
    r = client.post("/admin/cameras/entrance/remove", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert "entrance" not in {c.name for c in configured_cameras(ak.settings, ak.engine)}
    assert [e.target_id for e in _audits(seeded_sqlite, "camera_remove")] == ["entrance"]
    r = client.delete("/api/v1/admin/cameras/entrance", headers={"x-csrf-token": csrf})
    assert r.status_code == 404


def test_agents_edited_password_kept_and_never_shown(client: TestClient, seeded_sqlite: Seeded) -> None:
    path = _toml(seeded_sqlite)
    csrf = api_login(client, "admin")
    h = {"x-csrf-token": csrf}
    body = {
        "agents": [{"name": "佐藤 花子", "sip_user": "201", "site": "tokyo", "password": "agent-secret-1"}]
    }
    assert client.put("/api/v1/admin/agents", json=body, headers=h).status_code == 204
    saved = tomllib.loads(path.read_text(encoding="utf-8"))["agents"]
    assert saved == [{"name": "佐藤 花子", "sip_user": "201", "site": "tokyo", "password": "agent-secret-1"}]
    # the page form: rename, add a second agent, leave the password blank (kept)
    page = client.get("/admin").text
    assert "agent-secret-1" not in page
    r = client.post(
        "/admin/agents",
        data={"name": ["佐藤 花子 (主任)", "鈴木 一郎", ""], "sip_user": ["201", "202", ""],
              "site": ["tokyo", "osaka", ""], "password": ["", "", ""], "csrf_token": csrf_token(page)},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303
    agents = load_settings(seeded_sqlite.ak.settings.home, environ={}).agents
    assert [(a.name, a.sip_user, a.site) for a in agents] == [
        ("佐藤 花子 (主任)", "201", "tokyo"),
        ("鈴木 一郎", "202", "osaka"),
    ]
    assert agents[0].password.get_secret_value() == "agent-secret-1"
    changes = [e for e in _audits(seeded_sqlite, "config_change") if e.target_id == "agents"]
    assert [e.outcome for e in changes] == ["ok", "ok"]
    assert all("agent-secret-1" not in e.detail for e in changes)
    # a duplicate SIP user is refused and nothing is written
    before = path.read_bytes()
    dup = {"agents": [{"name": "a", "sip_user": "201"}, {"name": "b", "sip_user": "201"}]}
    assert client.put("/api/v1/admin/agents", json=dup, headers=h).status_code == 400
    assert path.read_bytes() == before
    # operators and managers cannot
    csrf = api_login(client, "boss_tokyo")
    assert client.put("/api/v1/admin/agents", json=body, headers={"x-csrf-token": csrf}).status_code == 403
    assert path.read_bytes() == before
