"""The account page answers in place: the refusal beside its field, what was typed kept, a clear saved line."""

from __future__ import annotations

from collections.abc import Iterator

import pyotp
import pytest
from fastapi.testclient import TestClient

from akashi.web.app import create_app
from tests.web.conftest import PASSWORD, Seeded, api_login, csrf_token


@pytest.fixture
def client(seeded_sqlite: Seeded) -> Iterator[TestClient]:
    with TestClient(create_app(seeded_sqlite.ak), base_url="http://testserver") as c:
        yield c


def test_password_refusals_sit_beside_their_field(client: TestClient) -> None:
    api_login(client, "boss_tokyo")
    csrf = csrf_token(client.get("/account").text)

    r = client.post(
        "/account/password", data={"current": "wrong-one-xx", "new": "new-password-22", "csrf_token": csrf}
    )
    assert r.status_code == 400
    assert 'id="err-password-current"' in r.text and "現在のパスワードが違います" in r.text
    assert 'aria-describedby="err-password-current"' in r.text
    assert "err-password-new" not in r.text
    assert "wrong-one-xx" not in r.text and "new-password-22" not in r.text  # passwords never come back

    r = client.post("/account/password", data={"current": PASSWORD, "new": "short", "csrf_token": csrf})
    assert r.status_code == 400 and 'id="err-password-new"' in r.text and "10 文字以上" in r.text
    r = client.post("/account/password", data={"current": PASSWORD, "new": PASSWORD, "csrf_token": csrf})
    assert r.status_code == 400 and "今と同じです" in r.text

    r = client.post(
        "/account/password", data={"current": PASSWORD, "new": "new-password-22", "csrf_token": csrf}
    )
    assert r.status_code == 200 and str(r.url).endswith("/account?done=password")
    assert 'id="done"' in r.text and "パスワードを変更しました" in r.text
    client.cookies.set("akashi_lang", "en")
    assert "Your password was changed" in client.get("/account?done=password").text
    assert 'id="done"' not in client.get("/account?done=<script>").text  # an unknown value says nothing


def test_totp_code_refused_keeps_the_secret_and_the_code(client: TestClient) -> None:
    api_login(client, "boss_tokyo")
    page = client.get("/account").text
    csrf = csrf_token(page)
    secret = page.split('id="totp-secret">')[1].split("<", maxsplit=1)[0]

    r = client.post("/account/totp", data={"secret": secret, "code": "000000", "csrf_token": csrf})
    assert r.status_code == 400
    assert 'id="err-totp-code"' in r.text and "確認コードが合いません" in r.text
    assert f'id="totp-secret">{secret}<' in r.text  # the same secret: the app need not be set up again
    assert 'value="000000"' in r.text

    r = client.post(
        "/account/totp", data={"secret": secret, "code": pyotp.TOTP(secret).now(), "csrf_token": csrf}
    )
    assert r.status_code == 200 and "二段階認証を有効にしました" in r.text

    r = client.post("/account/totp/remove", data={"current": "wrong-one-xx", "csrf_token": csrf})
    assert r.status_code == 400 and 'id="err-totp_remove-current"' in r.text
    r = client.post("/account/totp/remove", data={"current": PASSWORD, "csrf_token": csrf})
    assert r.status_code == 200 and "二段階認証を解除しました" in r.text
