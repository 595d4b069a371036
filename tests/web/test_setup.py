"""First run: the one-time setup link, the setup page (inline errors, TOTP with a QR code), and the
dashboard checklist computed from real state."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from akashi import firstrun
from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import AuditEntry, Setting, Site, User

GOOD = {
    "company": "株式会社テスト",
    "username": "boss",
    "display_name": "山田 太郎",
    "password": "correct-horse-battery",
    "password2": "correct-horse-battery",
    "site_name": "tokyo",
    "site_label": "東京本社",
}


@pytest.fixture
def fresh(sqlite_home: Path) -> Iterator[Akashi]:
    """An initialised installation with no user at all."""
    with Akashi.open(sqlite_home) as ak:
        yield ak


@pytest.fixture
def client(fresh: Akashi) -> Iterator[TestClient]:
    from akashi.web.app import create_app

    with TestClient(create_app(fresh), base_url="http://testserver") as c:
        yield c


def _users(ak: Akashi) -> list[str]:
    with session_scope(ak.engine) as s:
        return list(s.scalars(select(User.name)))


def _audit(ak: Akashi, action: str) -> list[tuple[str, str, str]]:
    with session_scope(ak.engine) as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq))
        return [(a.user_name, a.outcome, a.detail) for a in rows]


def _field_error(html: str, name: str) -> bool:
    return f'id="err-{name}"' in html


def test_without_token_the_page_only_says_how_to_get_one(client: TestClient, fresh: Akashi) -> None:
    firstrun.issue_token(fresh.engine)
    r = client.get("/setup")
    assert r.status_code == 200
    assert "akashi setup-link" in r.text and 'name="password"' not in r.text
    r = client.get("/setup", params={"token": "not-the-token"})
    assert r.status_code == 200 and 'id="bad-token"' in r.text and 'name="password"' not in r.text
    assert _users(fresh) == []


def test_setup_creates_admin_site_company_and_kills_the_token(client: TestClient, fresh: Akashi) -> None:
    token = firstrun.issue_token(fresh.engine)
    page = client.get("/setup", params={"token": token})
    assert page.status_code == 200 and 'name="password"' in page.text
    assert 'src="data:image/svg+xml' in page.text  # the QR code is made here, not by a service
    assert page.headers["referrer-policy"] == "no-referrer"
    with session_scope(fresh.engine) as s:  # only the hash is kept
        stored = json.dumps(s.get(Setting, firstrun.TOKEN_KEY).value)  # type: ignore[union-attr]
    assert token not in stored

    r = client.post("/setup", data={**GOOD, "token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/")
    with session_scope(fresh.engine) as s:
        user = s.scalar(select(User).where(User.name == "boss"))
        assert user is not None and user.role == "admin" and user.display_name == "山田 太郎"
        assert user.totp_secret is None
        site = s.scalar(select(Site).where(Site.name == "tokyo"))
        assert site is not None and site.label == "東京本社"
        assert firstrun.company_name(s) == "株式会社テスト"
        assert s.get(Setting, firstrun.TOKEN_KEY) is None
    assert [(u, o) for u, o, _ in _audit(fresh, "setup")] == [("boss", "ok")]

    home = client.get("/")  # logged in straight away; the checklist is on the dashboard
    assert home.status_code == 200 and 'id="checklist"' in home.text

    # The same link again, from a new browser: refused, nothing changes.
    client.cookies.clear()
    again = client.post("/setup", data={**GOOD, "username": "mallory", "token": token})
    assert again.status_code == 409 and 'id="setup-done"' in again.text
    assert client.get("/setup", params={"token": token}).text.count('id="setup-done"') == 1
    assert _users(fresh) == ["boss"]
    assert [o for _, o, _ in _audit(fresh, "setup")] == ["ok", "denied"]


def test_errors_are_shown_inline_and_input_is_kept(client: TestClient, fresh: Akashi) -> None:
    token = firstrun.issue_token(fresh.engine)
    bad = {**GOOD, "token": token, "password": "short", "password2": "short", "site_name": "東京 本社",
           "company": "株式会社テスト", "username": "bad name!"}  # fmt: skip
    r = client.post("/setup", data=bad)
    assert r.status_code == 400
    for name in ("password", "site_name", "username"):
        assert _field_error(r.text, name), name
    assert not _field_error(r.text, "company")
    assert (
        'value="株式会社テスト"' in r.text and 'value="東京 本社"' in r.text and 'value="bad name!"' in r.text
    )
    assert 'value="short"' not in r.text  # passwords are not echoed back
    mismatch = client.post("/setup", data={**GOOD, "token": token, "password2": "something-else"})
    assert mismatch.status_code == 400 and _field_error(mismatch.text, "password2")
    empty = client.post("/setup", data={**GOOD, "token": token, "company": "  "})
    assert empty.status_code == 400 and _field_error(empty.text, "company")
    assert _users(fresh) == []
    # The token is still good after the failed tries.
    assert client.post("/setup", data={**GOOD, "token": token}, follow_redirects=False).status_code == 303


def test_totp_enrolment_during_setup(client: TestClient, fresh: Akashi) -> None:
    token = firstrun.issue_token(fresh.engine)
    secret = pyotp.random_base32()
    form = {**GOOD, "token": token, "totp_on": "1", "totp_secret": secret}
    wrong = client.post(
        "/setup", data={**form, "totp_code": "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"}
    )
    assert wrong.status_code == 400 and _field_error(wrong.text, "totp_code")
    assert secret in wrong.text  # the same key stays on the page (the app already holds it)
    # A code typed without ticking the box still means "enrol": it is checked, not ignored.
    unticked = {k: v for k, v in form.items() if k != "totp_on"}
    assert _field_error(client.post("/setup", data={**unticked, "totp_code": "12345"}).text, "totp_code")
    ok = client.post("/setup", data={**form, "totp_code": pyotp.TOTP(secret).now()}, follow_redirects=False)
    assert ok.status_code == 303
    with session_scope(fresh.engine) as s:
        user = s.scalar(select(User).where(User.name == "boss"))
        assert user is not None and user.totp_secret and user.totp_secret.startswith("s1:")
        assert secret not in user.totp_secret


def test_a_new_link_replaces_the_old_one_and_none_once_users_exist(fresh: Akashi) -> None:
    first = firstrun.issue_token(fresh.engine)
    second = firstrun.issue_token(fresh.engine)
    with session_scope(fresh.engine) as s:
        assert not firstrun.token_ok(s, first) and firstrun.token_ok(s, second)
        s.add(User(name="x", role="admin", password_hash="-"))
    with pytest.raises(firstrun.SetupDone):
        firstrun.issue_token(fresh.engine)


def test_serve_prints_the_link_only_while_nobody_can_log_in(
    fresh: Akashi, capsys: pytest.CaptureFixture[str]
) -> None:
    from akashi.serve import announce_setup

    url = announce_setup(fresh)
    out = capsys.readouterr().out
    assert url and url in out and "初回セットアップ" in out and "/setup?token=" in url
    with session_scope(fresh.engine) as s:
        assert firstrun.token_ok(s, url.split("token=", 1)[1])
        s.add(User(name="x", role="admin", password_hash="-"))
    assert announce_setup(fresh) is None and capsys.readouterr().out == ""


def test_cli_setup_link_and_init_next_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    import akashi.cli.main  # noqa: F401  (registers the commands)
    from akashi.cli.apps import app

    monkeypatch.delenv("AKASHI_HOME", raising=False)
    home = tmp_path / "h"
    runner = CliRunner()
    init = runner.invoke(app, ["--home", str(home), "init"])
    assert init.exit_code == 0, init.output
    assert "akashi serve" in init.output and "setup-link" in init.output
    link = runner.invoke(app, ["--home", str(home), "setup-link"])
    assert link.exit_code == 0, link.output
    token = link.output.split("token=", 1)[1].split()[0]
    with Akashi.open(home) as ak, session_scope(ak.engine) as s:
        assert firstrun.token_ok(s, token)
        s.add(User(name="x", role="admin", password_hash="-"))
    refused = runner.invoke(app, ["--home", str(home), "setup-link"])
    assert refused.exit_code != 0 and isinstance(refused.exception, firstrun.SetupDone)
    again = runner.invoke(app, ["--home", str(home), "init"])
    assert "ログイン" in again.output and "setup-link" not in again.output
