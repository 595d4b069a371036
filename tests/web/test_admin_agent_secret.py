"""The admin page makes an agent's outbound secret and shows it once; short secrets are refused."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from akashi.config import load_settings
from akashi.db.base import session_scope
from akashi.db.models import AuditEntry
from akashi.web.app import create_app
from tests.web.conftest import Seeded, api_login, csrf_token

AGENTS = '\n[[agents]]\nname = "佐藤 花子"\nsip_user = "201"\nsite = "tokyo"\n'


@pytest.fixture
def client(seeded_sqlite: Seeded) -> Iterator[TestClient]:
    path = seeded_sqlite.ak.settings.home / "akashi.toml"
    path.write_text(path.read_text(encoding="utf-8") + AGENTS, encoding="utf-8")
    seeded_sqlite.ak.settings = load_settings(seeded_sqlite.ak.settings.home, environ={})
    with TestClient(create_app(seeded_sqlite.ak)) as c:
        yield c


def test_secret_made_shown_once_and_audited(client: TestClient, seeded_sqlite: Seeded) -> None:
    """The button makes a secret, the answer shows it (no-store), the admin page never shows it again."""
    api_login(client, "admin")
    page = client.get("/admin").text
    assert "未設定（発信できません）" in page or "not set (cannot call out)" in page
    r = client.post("/admin/agents/201/secret", data={"csrf_token": csrf_token(page)})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    secret = r.text.split('<code class="secret">')[1].split("</code>")[0]
    assert len(secret) == 20 and secret.isalnum()
    home = seeded_sqlite.ak.settings.home
    assert load_settings(home, environ={}).agents[0].password.get_secret_value() == secret
    again = client.get("/admin").text
    assert secret not in again and ("設定済み" in again or ">set<" in again)
    assert secret not in client.get("/api/v1/admin/config").text
    with session_scope(seeded_sqlite.ak.engine) as s:
        rows = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "agent_secret")))
        entries = [(e.user_name, e.target_id, e.outcome, json.loads(e.detail)) for e in rows]
    assert entries == [("admin", "201", "ok", {"name": "佐藤 花子"})]


def test_refusals_change_nothing(client: TestClient, seeded_sqlite: Seeded) -> None:
    """A manager, an unknown agent, a missing CSRF token, a short secret typed in: refused, file untouched."""
    path = seeded_sqlite.ak.settings.home / "akashi.toml"
    before = path.read_bytes()
    csrf = api_login(client, "boss_tokyo")
    assert client.post("/admin/agents/201/secret", data={"csrf_token": csrf}).status_code == 403
    csrf = api_login(client, "admin")
    assert client.post("/admin/agents/201/secret", data={}).status_code == 403
    r = client.post("/admin/agents/299/secret", data={"csrf_token": csrf})
    assert r.status_code == 400 and 'id="err-agent_secret-"' in r.text  # said on the admin page, in place
    body = {"agents": [{"name": "佐藤 花子", "sip_user": "201", "site": "tokyo", "password": "1234"}]}
    r = client.put("/api/v1/admin/agents", json=body, headers={"x-csrf-token": csrf})
    assert r.status_code == 400 and "201" in r.text and "12" in r.text and "1234" not in r.text
    assert path.read_bytes() == before
    with session_scope(seeded_sqlite.ak.engine) as s:
        denied = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "agent_secret")))
        assert [(e.user_name, e.outcome) for e in denied] == [("boss_tokyo", "denied")]
