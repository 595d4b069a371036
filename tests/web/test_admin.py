"""Admin pages: notice preview audio, site and user forms, verification from the page."""

from __future__ import annotations

import time
import wave
from io import BytesIO

from fastapi.testclient import TestClient
from sqlalchemy import select

from akashi.db.base import session_scope
from akashi.db.models import User
from akashi.web.app import create_app
from tests.web.conftest import Seeded, api_login, csrf_token


def test_notice_preview_is_the_synthesised_notice(client: TestClient) -> None:
    api_login(client, "admin")
    r = client.get("/api/v1/admin/announcements/default/preview")
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    with wave.open(BytesIO(r.content)) as w:
        assert w.getframerate() == 8000 and w.getnframes() / 8000 > 1.5  # a spoken sentence
    assert client.get("/api/v1/admin/announcements/nope/preview").status_code == 404
    api_login(client, "boss_tokyo")
    assert client.get("/api/v1/admin/announcements/default/preview").status_code == 403


def test_admin_forms(client: TestClient) -> None:
    api_login(client, "admin")
    page = client.get("/admin").text
    assert "土下座" in page or "暴言" in page  # the lexicon in force is shown
    csrf = csrf_token(page)
    r = client.post(
        "/admin/sites", data={"name": "nagoya", "label": "名古屋", "csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    r = client.post(
        "/admin/users",
        data={
            "name": "kato",
            "password": "kato-password-1",
            "role": "manager",
            "sites": "nagoya",
            "csrf_token": csrf,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    users = {u["name"]: u for u in client.get("/api/v1/admin/users").json()}
    assert users["kato"]["sites"] == ["nagoya"] and users["kato"]["role"] == "manager"
    r = client.post("/admin/sites", data={"name": "x y", "label": "横浜", "csrf_token": csrf})
    assert r.status_code == 400 and 'class="field-error"' in r.text  # inline, with what was typed kept
    assert 'value="x y"' in r.text and 'value="横浜"' in r.text
    r = client.post("/admin/verify", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert "正常" in client.get("/admin/audit").text
    r = client.post("/admin/sites", data={"name": "kobe"})  # no CSRF token
    assert r.status_code == 403


def test_account_password_and_totp_enrolment(client: TestClient, seeded_sqlite: Seeded) -> None:
    import pyotp

    from tests.web.conftest import PASSWORD

    api_login(client, "boss_tokyo")
    page = client.get("/account").text
    csrf = csrf_token(page)
    secret = page.split('id="totp-secret">')[1].split("<", maxsplit=1)[0]
    r = client.post("/account/totp", data={"secret": secret, "code": "000000", "csrf_token": csrf})
    assert r.status_code == 400
    r = client.post(
        "/account/totp",
        data={"secret": secret, "code": pyotp.TOTP(secret).now(), "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    with session_scope(seeded_sqlite.ak.engine) as s:
        stored = s.scalars(select(User.totp_secret).where(User.name == "boss_tokyo")).one()
    assert stored is not None and stored.startswith("s1:") and secret not in stored  # sealed, never clear
    # a new login now needs the code
    with TestClient(create_app(seeded_sqlite.ak)) as other:
        r = other.post("/api/v1/auth/login", json={"name": "boss_tokyo", "password": PASSWORD})
        assert r.status_code == 401 and r.json()["detail"]["code"] == "totp_required"
        r = other.post(
            "/api/v1/auth/login",
            # the enrolment code is spent: the next one logs in
            json={
                "name": "boss_tokyo",
                "password": PASSWORD,
                "totp": pyotp.TOTP(secret).at(int(time.time()) + 30),
            },
        )
        assert r.status_code == 200
    r = client.post(
        "/account/password", data={"current": "wrong-one-xx", "new": "new-password-22", "csrf_token": csrf}
    )
    assert r.status_code == 400
    r = client.post(
        "/account/password",
        data={"current": PASSWORD, "new": "new-password-22", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert client.get("/api/v1/me").status_code == 200  # this session stays
