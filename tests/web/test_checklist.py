"""The dashboard checklist: each step ticks itself from the installation's real state; only the keys
backup is a confirmation, which only an admin can give and which names the key it was made for."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from akashi import firstrun
from akashi.access import hash_password
from akashi.config import load_settings
from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import AuditEntry, Setting, User
from akashi.web.services.checklist import KEYS_BACKUP_KEY

STEPS = ("line", "phones", "notice", "camera", "signs", "storage", "keys")
PASSWORD = "correct-horse-battery"


@pytest.fixture
def admin(sqlite_home: Path) -> Iterator[tuple[Akashi, TestClient]]:
    """A set-up installation (through the setup page) with its admin logged in, plus a manager."""
    from akashi.web.app import create_app

    with Akashi.open(sqlite_home) as ak, TestClient(create_app(ak), base_url="http://testserver") as c:
        token = firstrun.issue_token(ak.engine)
        form = {"token": token, "company": "株式会社テスト", "username": "boss", "password": PASSWORD,
                "password2": PASSWORD, "site_name": "tokyo"}  # fmt: skip
        assert c.post("/setup", data=form, follow_redirects=False).status_code == 303
        with session_scope(ak.engine) as s:
            s.add(User(name="mgr", role="manager", password_hash=hash_password(PASSWORD)))
        yield ak, c


def _steps(c: TestClient) -> dict[str, bool]:
    html = c.get("/").text
    return {k: v == "true" for k, v in re.findall(r'id="step-(\w+)" data-done="(true|false)"', html)}


def _csrf(c: TestClient) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/").text)
    assert m
    return m.group(1)


def _reload(ak: Akashi, extra: str) -> None:
    cfg = ak.settings.home / "akashi.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + extra, encoding="utf-8")
    ak.settings = load_settings(ak.settings.home)


def test_each_step_follows_real_state(admin: tuple[Akashi, TestClient]) -> None:
    ak, c = admin
    assert _steps(c) == dict.fromkeys(STEPS, False)
    _reload(
        ak, '\n[sip]\nenabled = true\n[[sip.routes]]\nmatch = "0120000111"\nring = ["sip:100@127.0.0.1"]\n'
    )
    assert _steps(c)["line"] is True
    _reload(ak, '\n[[agents]]\nname = "tanaka"\nsip_user = "100"\n')
    assert _steps(c)["phones"] is True
    _reload(ak, '\n[announcements.default]\ntext = "この通話は品質向上のため録音します。"\n')
    assert _steps(c)["notice"] is False  # written, not yet heard
    preview = c.get("/api/v1/admin/announcements/default/preview")
    assert preview.status_code == 200 and preview.content[:4] == b"RIFF"
    assert _steps(c)["notice"] is True
    _reload(ak, '\n[[cameras]]\nname = "entrance"\nurl = "rtsp://127.0.0.1:8554/cam"\n')
    assert _steps(c)["camera"] is True
    pdf = c.get("/setup/signs/camera.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert c.get("/setup/signs/phone.pdf").content.startswith(b"%PDF")
    assert _steps(c)["signs"] is True
    _reload(ak, "\n[retention]\ncalls_days = 400\n")
    assert _steps(c)["storage"] is True
    assert _steps(c)["keys"] is False
    r = c.post("/setup/keys-backup", data={"csrf_token": _csrf(c)}, follow_redirects=False)
    assert r.status_code == 303
    assert 'id="checklist"' not in c.get("/").text  # every step done: the checklist goes away
    with session_scope(ak.engine) as s:
        actions = [a for (a,) in s.execute(select(AuditEntry.action).where(AuditEntry.user_name == "boss"))]
        assert {"signage_print", "keys_backup_confirm"} <= set(actions)
        # The confirmation was for this key: after a key change the step is open again.
        row = s.get(Setting, KEYS_BACKUP_KEY)
        assert row is not None
        row.value = {**row.value, "key_id": "0" * 16}
    assert _steps(c)["keys"] is False


def test_only_an_admin_confirms_or_prints_and_refusals_are_audited(admin: tuple[Akashi, TestClient]) -> None:
    ak, c = admin
    c.post("/logout", data={"csrf_token": _csrf(c)})
    assert c.post("/api/v1/auth/login", json={"name": "mgr", "password": PASSWORD}).status_code == 200
    assert 'id="checklist"' not in c.get("/").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/").text)
    assert csrf
    r = c.post("/setup/keys-backup", data={"csrf_token": csrf.group(1)}, follow_redirects=False)
    assert r.status_code == 403
    assert c.get("/setup/signs/camera.pdf").status_code == 403
    with session_scope(ak.engine) as s:
        assert s.get(Setting, KEYS_BACKUP_KEY) is None
        denied = {
            (a.action, a.outcome) for a in s.scalars(select(AuditEntry).where(AuditEntry.user_name == "mgr"))
        }
    assert {("keys_backup_confirm", "denied"), ("signage_print", "denied")} <= denied
    # Without the CSRF token even an admin's browser cannot be made to confirm.
    c.cookies.clear()
    assert c.post("/api/v1/auth/login", json={"name": "boss", "password": PASSWORD}).status_code == 200
    assert c.post("/setup/keys-backup", data={}, follow_redirects=False).status_code == 403
    with session_scope(ak.engine) as s:
        assert s.get(Setting, KEYS_BACKUP_KEY) is None
