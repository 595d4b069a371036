"""Attack: people who are not admins try the checklist's demo button and its clean-up, over real HTTP.

The server runs in its own process (real uvicorn); the attacker uses curl and httpx. Starting the
demo (which spawns a process and writes calls) and removing demo data (which deletes evidence) are
for admins only: an anonymous request, an operator, a manager, an auditor and an admin without the
CSRF token are each refused with a clear answer, nothing is started or deleted, and each logged-in
refusal is audited. A second demo while one runs is refused too.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import Call, EvidenceObject
from tests.conftest import require_binary
from tests.security.access_helpers import audit_head, audit_rows, login
from tests.security.webserve import WebServer
from tests.web.conftest import PASSWORD, Seeded, seed


@pytest.fixture
def demo_home(sqlite_home: Path, tmp_path: Path) -> Iterator[tuple[Path, Seeded]]:
    """A seeded home whose Osaka call is marked as demo data."""
    with Akashi.open(sqlite_home) as ak:
        seeded = seed(ak, tmp_path)
        with session_scope(ak.engine) as s:
            s.execute(update(Call).where(Call.id == seeded.calls["osaka_call"]).values(demo=True))
        yield sqlite_home, seeded


def _state(home: Path) -> tuple[list[int], list[str]]:
    """Ids of the calls, and states of their stored objects."""
    with Akashi.open(home) as ak, session_scope(ak.engine) as s:
        calls = sorted(s.scalars(select(Call.id)))
        states = sorted(s.scalars(select(EvidenceObject.state)))
    return calls, states


def _nothing_started(home: Path) -> None:
    assert not (home / "demo.log").exists()
    assert not (home / "demo.pid").exists()


def test_anonymous_curl_cannot_start_or_clear(demo_home: tuple[Path, Seeded]) -> None:
    home, _seeded = demo_home
    curl = require_binary("curl")
    before = _state(home)
    with WebServer(home) as web:
        for path in ("/setup/demo", "/setup/demo/clear"):
            out = subprocess.run(
                [curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", f"{web.url}{path}"],
                capture_output=True, text=True, timeout=30, check=True,
            )  # fmt: skip
            assert out.stdout in ("401", "303", "302"), (path, out.stdout)
    assert _state(home) == before
    _nothing_started(home)


@pytest.mark.parametrize("role_user", ["op_tanaka", "boss_tokyo", "auditor"])
def test_non_admins_are_refused_and_audited(demo_home: tuple[Path, Seeded], role_user: str) -> None:
    home, seeded = demo_home
    before = _state(home)
    with Akashi.open(home) as ak:
        head = audit_head(ak)
    with WebServer(home) as web, login(web.url, role_user) as c:
        r = c.post("/setup/demo", follow_redirects=False)
        assert r.status_code == 403
        assert "管理者" in r.text
        r = c.post("/setup/demo/clear", follow_redirects=False)
        assert r.status_code == 403
    assert _state(home) == before  # the demo call and its recording are still there
    assert seeded.calls["osaka_call"] in before[0]
    _nothing_started(home)
    with Akashi.open(home) as ak:
        denied = [(r.action, r.outcome) for r in audit_rows(ak, head) if r.user == role_user]
    assert ("demo_start", "denied") in denied
    assert ("demo_clear", "denied") in denied


def test_admin_without_csrf_token_is_refused(demo_home: tuple[Path, Seeded]) -> None:
    """A page on another site that makes an admin's browser post the form (no CSRF token)."""
    home, _seeded = demo_home
    before = _state(home)
    with WebServer(home) as web, httpx.Client(base_url=web.url, timeout=30) as c:
        r = c.post("/api/v1/auth/login", json={"name": "admin", "password": PASSWORD})
        assert r.status_code == 200
        for path in ("/setup/demo", "/setup/demo/clear"):
            r = c.post(path, follow_redirects=False, headers={"Origin": "https://evil.example"})
            assert r.status_code == 403, (path, r.status_code)
    assert _state(home) == before
    _nothing_started(home)


def test_second_demo_is_refused_while_one_runs(demo_home: tuple[Path, Seeded]) -> None:
    home, _seeded = demo_home
    # a running demo: this test's own (live) process holds the demo's pid file
    (home / "demo.pid").write_text(str(os.getpid()))
    before = _state(home)
    with WebServer(home) as web, login(web.url, "admin") as c:
        r = c.post("/setup/demo", follow_redirects=False)
        assert r.status_code in (400, 409), r.status_code
        assert "実行中" in r.text
        r = c.post("/setup/demo/clear", follow_redirects=False)
        assert r.status_code in (400, 409)
    assert _state(home) == before
    assert not (home / "demo.log").exists()


def test_admin_clear_removes_only_demo_data_with_tombstones(demo_home: tuple[Path, Seeded]) -> None:
    home, seeded = demo_home
    demo_call = seeded.calls["osaka_call"]
    with WebServer(home) as web, login(web.url, "admin") as c:
        r = c.post("/setup/demo/clear", follow_redirects=False)
        assert r.status_code == 303
    calls, states = _state(home)
    assert demo_call not in calls
    assert sorted(calls) == sorted(v for k, v in seeded.calls.items() if k != "osaka_call")
    assert states.count("deleted") == 1 and states.count("stored") == 2
    with Akashi.open(home) as ak:
        rows = audit_rows(ak)
        assert any(
            r.action == "demo_clear" and r.user == "admin" and r.detail["calls"] == [demo_call] for r in rows
        )
        report = ak.store.verify()
        assert report.ok, str(report)


@pytest.mark.tts
@pytest.mark.slow
def test_admin_button_starts_the_demo_through_the_cli(demo_home: tuple[Path, Seeded]) -> None:
    """The positive path: an admin's form post starts ``akashi demo``; its call is stored as demo data."""
    import importlib.util
    import time

    from tests.conftest import missing_peer

    if importlib.util.find_spec("pyopenjtalk") is None:
        missing_peer("pyopenjtalk-plus (the demo's offline Japanese TTS)")
    home, seeded = demo_home
    with WebServer(home) as web, login(web.url, "admin") as c:
        r = c.post("/setup/demo", data={"calls": "40"}, follow_redirects=False)
        assert r.status_code == 422  # out of bounds: refused, nothing started
        _nothing_started(home)
        r = c.post("/setup/demo", data={"calls": "1", "duration": "5"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/calls"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            log = (home / "demo.log").read_text(errors="replace") if (home / "demo.log").exists() else ""
            if "デモが終わりました" in log or "エラー" in log:
                break
            time.sleep(0.5)
    assert "デモが終わりました" in log, log
    assert "SIP が無効" in log  # it said it opened a loopback listener of its own
    with Akashi.open(home) as ak, session_scope(ak.engine) as s:
        made = select(Call).where(Call.demo.is_(True), Call.id.not_in(list(seeded.calls.values())))
        demo_calls = list(s.scalars(made))
        assert len(demo_calls) == 1 and demo_calls[0].notice_mode == "automatic", demo_calls
        assert demo_calls[0].status == "completed" and demo_calls[0].bridged_at is not None
        assert [r.action for r in audit_rows(ak) if r.user == "admin"].count("demo_start") == 1
