"""Admin forms answer in place (issue 11 item 4): the refusal beside its field, the input kept, a saved line.

Also the admin's reset of a user's password and TOTP (item 10), and what refused forms must not change.
"""

from __future__ import annotations

import html
import json

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select

from akashi.config import load_settings
from akashi.db.base import session_scope
from akashi.db.models import Agent, AuditEntry, User
from akashi.web.app import create_app
from tests.web.conftest import PASSWORD, Seeded, api_login, csrf_token

BAD_LEXICON = """[[categories]]
name = "暴言"
kind = "word"
terms = ["ふざけるな", "土下座"

[[categories]]
name = "金銭要求"
kind = "demand"
terms = ["慰謝料を払え"]
"""


def _errors(page: str) -> list[str]:
    return [
        html.unescape(x.split(">", 1)[1].split("</p>", 1)[0]) for x in page.split('class="field-error"')[1:]
    ]


def test_user_for_an_unknown_site_is_refused_beside_the_field_with_the_input_kept(
    client: TestClient, seeded_sqlite: Seeded
) -> None:
    api_login(client, "admin")
    csrf = csrf_token(client.get("/admin").text)
    form = {"name": "kimura", "display_name": "木村 花子", "password": "kimura-password-1", "role": "manager",
            "sites": "tokyo,nagano", "agent": "kimura_a", "csrf_token": csrf}  # fmt: skip
    r = client.post("/admin/users", data=form, follow_redirects=False)
    assert r.status_code == 400
    page = r.text
    assert "拠点がありません: nagano" in _errors(page)[0]
    assert 'value="kimura"' in page and 'value="木村 花子"' in page and 'value="tokyo,nagano"' in page
    assert 'value="manager" selected' in page
    assert "kimura-password-1" not in page  # a password is never echoed
    assert 'aria-invalid="true" aria-describedby="err-users-sites"' in page
    with session_scope(seeded_sqlite.ak.engine) as s:  # nothing half-made: no user, no agent
        assert s.scalar(select(User).where(User.name == "kimura")) is None
        assert s.scalar(select(Agent).where(Agent.name == "kimura_a")) is None
    form["sites"] = "tokyo"
    r = client.post("/admin/users", data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin?saved=users#users"
    assert "保存しました" in client.get(r.headers["location"]).text


def test_lexicon_typo_is_shown_with_its_line_and_the_edit_kept(
    client: TestClient, seeded_sqlite: Seeded
) -> None:
    home = seeded_sqlite.ak.settings.home
    api_login(client, "admin")
    csrf = csrf_token(client.get("/admin").text)
    r = client.post("/admin/lexicon", data={"text": BAD_LEXICON, "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 400
    assert BAD_LEXICON + "</textarea>" in html.unescape(r.text)  # the whole edit comes back
    (message,) = _errors(r.text)
    assert "行目" in message
    assert 'class="at-fault"' in r.text
    assert not (home / "lexicon.toml").exists() and load_settings(home).analysis.lexicon == ""
    shape = BAD_LEXICON.replace('"土下座"\n', '"土下座"]\n').replace('kind = "demand"', 'kind = "money"')
    r = client.post("/admin/lexicon", data={"text": shape, "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 400 and "（6 行目）" in _errors(r.text)[0]  # the second category's first line
    assert "6: [[categories]]" in html.unescape(r.text)
    good = shape.replace('kind = "money"', 'kind = "demand"')
    r = client.post("/admin/lexicon", data={"text": good, "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and (home / "lexicon.toml").read_text() == good


def test_routes_retention_notice_and_camera_refusals_keep_what_was_typed(client: TestClient) -> None:
    api_login(client, "admin")
    csrf = csrf_token(client.get("/admin").text)
    routes = {"match": ["0312345678", ""], "ring": ["sip:a@192.0.2.1", ""], "site": ["tokyo", ""],
              "announcement": ["default", "default"], "strategy": ["sequential", "parallel"],
              "ring_timeout_s": ["abc", "30"], "csrf_token": csrf}  # fmt: skip
    r = client.post("/admin/routes", data=routes, follow_redirects=False)
    assert r.status_code == 400 and 'value="0312345678"' in r.text and 'value="sip:a@192.0.2.1"' in r.text
    assert 'class="at-fault"' in r.text and "ring_timeout_s" in _errors(r.text)[0]
    r = client.post("/admin/retention", data={"calls_days": "0", "camera_days": "30", "csrf_token": csrf})
    assert r.status_code == 400 and 'value="0"' in r.text and "calls_days" in _errors(r.text)[0]
    r = client.post("/admin/announcements", data={"name": "夜 間", "mode": "operator", "text": "録音します",
                                                  "csrf_token": csrf})  # fmt: skip
    assert r.status_code == 400 and "録音します</textarea>" in r.text and 'value="夜 間"' in r.text
    secret = "rtsp://u:pw-kept-nowhere@192.0.2.9/s"
    r = client.post("/admin/cameras", data={"name": "gate", "url": secret, "segment_seconds": "99",
                                            "csrf_token": csrf})  # fmt: skip
    assert r.status_code == 400 and 'value="gate"' in r.text and "pw-kept-nowhere" not in r.text
    r = client.post("/admin/retention", data={"calls_days": "400", "camera_days": "30", "csrf_token": csrf},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and "保存しました" in client.get(r.headers["location"]).text


def test_saved_parameter_is_never_echoed(client: TestClient) -> None:
    api_login(client, "admin")
    page = client.get("/admin?saved=<script>x</script>").text
    assert "<script>x" not in page and "保存しました" not in page


def test_admin_resets_password_and_totp_audited_and_the_user_logged_out(
    client: TestClient, seeded_sqlite: Seeded
) -> None:
    ak = seeded_sqlite.ak
    uid = seeded_sqlite.users["boss_tokyo"]
    with TestClient(create_app(ak)) as victim:
        api_login(victim, "boss_tokyo")
        with session_scope(ak.engine) as s:  # enrolled in TOTP since (a lost phone, say)
            u = s.get(User, uid)
            assert u is not None
            u.totp_secret = "sealed-secret"
        api_login(client, "admin")
        csrf = csrf_token(client.get("/admin").text)
        r = client.post(f"/admin/users/{uid}/reset", data={"password": "short", "csrf_token": csrf})
        assert r.status_code == 400 and "10 文字以上" in _errors(r.text)[0]
        r = client.post(f"/admin/users/{uid}/reset", data={"password": "brand-new-pass-9", "totp": "on",
                                                          "csrf_token": csrf}, follow_redirects=False)  # fmt: skip
        assert r.status_code == 303
        assert victim.get("/api/v1/calls").status_code == 401  # logged out everywhere
    with session_scope(ak.engine) as s:
        u = s.get(User, uid)
        assert u is not None and u.totp_secret is None
        (entry,) = s.scalars(select(AuditEntry).where(AuditEntry.action == "user_reset"))
        assert entry.user_name == "admin" and json.loads(str(entry.detail)) == {
            "password": True,
            "totp": True,
        }
        assert "brand-new-pass-9" not in str(entry.detail)
    with TestClient(create_app(ak)) as again:
        api_login(again, "boss_tokyo", "brand-new-pass-9")
        assert again.get("/api/v1/calls").status_code == 200


def test_reset_attacks_other_roles_and_no_csrf_change_nothing(seeded_sqlite: Seeded, server: str) -> None:
    """A manager (or a forged cross-site form without the token) tries to reset the admin's password."""
    ak = seeded_sqlite.ak
    target = seeded_sqlite.users["admin"]
    with session_scope(ak.engine) as s:
        before = s.get(User, target)
        assert before is not None
        hash_before = before.password_hash
    with httpx.Client(base_url=server) as web:
        r = web.post("/api/v1/auth/login", json={"name": "boss_tokyo", "password": PASSWORD})
        assert r.status_code == 200, r.text
        csrf = r.json()["csrf_token"]
        r = web.post(f"/admin/users/{target}/reset", data={"password": "attacker-pass-1", "csrf_token": csrf})
        assert r.status_code == 403
        r = web.get("/admin")
        assert r.status_code == 403 and "管理者" in r.text  # the manager is told who may open it
    with httpx.Client(base_url=server) as web:
        r = web.post("/api/v1/auth/login", json={"name": "admin", "password": PASSWORD})
        r = web.post(f"/admin/users/{target}/reset", data={"password": "attacker-pass-1"})  # no token
        assert r.status_code == 403
    with session_scope(ak.engine) as s:
        after = s.get(User, target)
        assert after is not None and after.password_hash == hash_before
        assert s.scalar(select(AuditEntry).where(AuditEntry.action == "user_reset")) is None
