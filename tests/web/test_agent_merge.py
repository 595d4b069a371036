"""Agent naming: a ring group's number ("202") auto-created as an agent takes the configured name, and the
admin renames or merges auto-created agents (web page and CLI), audited; merging moves the calls."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from akashi.calloutcome import CallOutcome
from akashi.db.base import session_scope
from akashi.db.models import Agent, AuditEntry, Call, User
from akashi.ingest import ingest_call
from tests.cli.test_end_to_end import run
from tests.web.conftest import Seeded, api_login, csrf_token, stereo_wav


def _call(seeded: Seeded, tmp: Path, agent: str, sip_user: str, minutes: int = 10) -> int:
    """A call answered on ``sip_user`` (``agent``: the name telephony knew, '' for none)."""
    return ingest_call(
        seeded.ak,
        stereo_wav(tmp / f"c{minutes}.wav", 1.0),
        CallOutcome(
            started_at=datetime.now(UTC) - timedelta(minutes=minutes),
            direction="in",
            caller="0312345678",
            dialled="0501234567",
            agent=agent,
            agent_sip_user=sip_user,
            site="tokyo",
            codec="pcm16",
        ),
        transcribe=False,
    )


def _agents(seeded: Seeded) -> dict[str, str | None]:
    with session_scope(seeded.ak.engine) as s:
        return {a.name: a.sip_user for a in s.scalars(select(Agent))}


def _call_agent(seeded: Seeded, call_id: int) -> tuple[str, str | None]:
    with session_scope(seeded.ak.engine) as s:
        call = s.get(Call, call_id)
        assert call is not None
        agent = s.get(Agent, call.agent_id) if call.agent_id else None
        return call.agent_name, agent.sip_user if agent else None


def _audit(seeded: Seeded, action: str) -> list[tuple[str, dict[str, object]]]:
    with session_scope(seeded.ak.engine) as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq))
        return [(e.user_name, json.loads(e.detail)) for e in rows]


def test_auto_agent_takes_the_configured_name(seeded_sqlite: Seeded, tmp_path: Path) -> None:
    """202 answered unconfigured is agent "202"; once configured as 鈴木 一郎 the agent and its old call say so."""
    first = _call(seeded_sqlite, tmp_path, "", "202", 30)
    assert _agents(seeded_sqlite)["202"] == "202" and _call_agent(seeded_sqlite, first) == ("202", "202")
    second = _call(seeded_sqlite, tmp_path, "鈴木 一郎", "202", 20)
    agents = _agents(seeded_sqlite)
    assert "202" not in agents and agents["鈴木 一郎"] == "202"
    assert _call_agent(seeded_sqlite, first) == ("鈴木 一郎", "202") == _call_agent(seeded_sqlite, second)
    assert _audit(seeded_sqlite, "agent_rename") == [
        ("telephony", {"from": "202", "to": "鈴木 一郎", "sip_user": "202", "why": "configured"})
    ]
    # an agent someone named keeps its name: the admin decides
    _call(seeded_sqlite, tmp_path, "Suzuki", "202", 10)
    assert _agents(seeded_sqlite)["鈴木 一郎"] == "202" and "Suzuki" not in _agents(seeded_sqlite)


def test_auto_agent_merges_into_the_named_one_without_a_phone(seeded_sqlite: Seeded, tmp_path: Path) -> None:
    """The seeded agent "suzuki" (a user's, no phone): 202's auto agent is merged into it, calls and all."""
    first = _call(seeded_sqlite, tmp_path, "", "202", 30)
    _call(seeded_sqlite, tmp_path, "suzuki", "202", 20)
    assert "202" not in _agents(seeded_sqlite) and _agents(seeded_sqlite)["suzuki"] == "202"
    assert _call_agent(seeded_sqlite, first) == ("suzuki", "202")
    (who, detail), *_ = _audit(seeded_sqlite, "agent_merge")
    assert who == "telephony" and detail["from"] == "202" and detail["into"] == "suzuki"


def _id(seeded: Seeded, name: str) -> int:
    with session_scope(seeded.ak.engine) as s:
        agent = s.scalar(select(Agent).where(Agent.name == name))
        assert agent is not None
        return agent.id


def test_admin_renames_and_merges_on_the_page(
    client: TestClient, seeded_sqlite: Seeded, tmp_path: Path
) -> None:
    """The page lists "202" as auto; rename it, then merge it into tanaka: calls and the user move, audited."""
    call = _call(seeded_sqlite, tmp_path, "", "202")
    api_login(client, "admin")
    assert 'href="/admin/agents"' in client.get("/admin").text
    page = client.get("/admin/agents")
    assert page.status_code == 200 and "自動" in page.text and 'id="agent-' in page.text
    csrf = csrf_token(page.text)
    auto = _id(seeded_sqlite, "202")
    taken = client.post(f"/admin/agents/{auto}/rename", data={"csrf_token": csrf, "name": "tanaka"})
    assert taken.status_code == 400 and "既にいます" in taken.text  # a name in use: merge instead
    r = client.post(
        f"/admin/agents/{auto}/rename", data={"csrf_token": csrf, "name": "代表 202"}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/admin/agents?done=renamed"
    assert _call_agent(seeded_sqlite, call) == ("代表 202", "202")
    with session_scope(seeded_sqlite.ak.engine) as s:  # a user linked to the auto agent moves with it
        u = s.scalar(select(User).where(User.name == "op_suzuki"))
        assert u is not None
        u.agent_id = auto
    tanaka = _id(seeded_sqlite, "tanaka")
    r = client.post(
        f"/admin/agents/{auto}/merge",
        data={"csrf_token": csrf, "target": str(tanaka)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "代表 202" not in _agents(seeded_sqlite) and _agents(seeded_sqlite)["tanaka"] == "202"
    assert _call_agent(seeded_sqlite, call) == ("tanaka", "202")
    with session_scope(seeded_sqlite.ak.engine) as s:
        u = s.scalar(select(User).where(User.name == "op_suzuki"))
        assert u is not None and u.agent_id == tanaka
    assert [who for who, _d in _audit(seeded_sqlite, "agent_rename")] == ["admin"]
    (who, detail), *_ = _audit(seeded_sqlite, "agent_merge")
    assert who == "admin" and detail == {
        "from": "代表 202", "from_sip_user": "202", "into": "tanaka", "calls": 1, "users": 1,
    }  # fmt: skip
    assert "担当者統合" in client.get("/admin/audit").text


def test_only_admins_withcsrf_token(client: TestClient, seeded_sqlite: Seeded, tmp_path: Path) -> None:
    """A manager is refused (403); a POST without the CSRF token changes nothing; login is required."""
    _call(seeded_sqlite, tmp_path, "", "202")
    auto = _id(seeded_sqlite, "202")
    assert client.get("/admin/agents", follow_redirects=False).status_code in (303, 401)
    csrf = api_login(client, "boss_tokyo")
    assert client.get("/admin/agents").status_code == 403
    r = client.post(f"/admin/agents/{auto}/rename", data={"csrf_token": csrf, "name": "x"})
    assert r.status_code == 403
    api_login(client, "admin")
    assert client.post(f"/admin/agents/{auto}/rename", data={"name": "x"}).status_code in (400, 403)
    assert _agents(seeded_sqlite)["202"] == "202"


def test_cli_lists_renames_and_merges(seeded_sqlite: Seeded, tmp_path: Path) -> None:
    """``akashi agent list|rename|merge``: the auto agent first, then renamed, then merged into sato (audited as cli)."""
    call = _call(seeded_sqlite, tmp_path, "", "202")
    home = seeded_sqlite.ak.settings.home
    listed = json.loads(run(home, "agent", "list", "--json").stdout)
    assert listed[0]["name"] == "202" and listed[0]["auto"] is True and listed[0]["calls"] == 1
    run(home, "agent", "rename", "202", "受付 202")
    run(home, "agent", "merge", "受付 202", "sato")
    assert _call_agent(seeded_sqlite, call) == ("sato", "202")
    assert [who for who, _d in _audit(seeded_sqlite, "agent_merge")] == ["cli"]
    assert run(home, "agent", "merge", "nobody", "sato", check=False).returncode != 0


@pytest.mark.browser
def test_agents_page_in_chromium_at_390_px(
    seeded_sqlite: Seeded, server: str, browser: object, tmp_path: Path
) -> None:
    """The page fits a phone, has no CSP violation or console error, and a merge done there moves the call."""
    from tests.web.test_pages_browser import Watched

    call = _call(seeded_sqlite, tmp_path, "", "202")
    w = Watched(browser, 390)
    w.login(server, "admin")
    w.visit(f"{server}/admin/agents", "admin-agents")
    auto = _id(seeded_sqlite, "202")
    card = w.page.locator(f"#agent-{auto}")
    card.locator("select[name=target]").select_option(label="tanaka")
    card.locator("form[action$='/merge'] button").click()
    w.page.wait_for_url(f"{server}/admin/agents?done=merged")
    assert w.problems == [], w.problems
    assert _call_agent(seeded_sqlite, call) == ("tanaka", "202")
