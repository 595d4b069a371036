"""The demo's place on the pages, without a browser: the checklist's button, what a running demo shows on
the dashboard and the call list (admins only), its log, the removal's message, and the login page of a
home where nobody can log in yet."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from akashi import firstrun
from akashi.access import hash_password
from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import User
from akashi.web.routes.demo import LOG_LINES, log_tail
from tests.web.conftest import PASSWORD


@pytest.fixture
def fresh(sqlite_home: Path) -> Iterator[tuple[Akashi, TestClient]]:
    """A home with nobody in it yet, and a client on its web app."""
    from akashi.web.app import create_app

    with Akashi.open(sqlite_home) as ak, TestClient(create_app(ak), base_url="http://testserver") as c:
        yield ak, c


def _set_up(ak: Akashi, c: TestClient) -> None:
    form = {"token": firstrun.issue_token(ak.engine), "company": "株式会社テスト", "username": "boss",
            "password": PASSWORD, "password2": PASSWORD, "site_name": "tokyo"}  # fmt: skip
    assert c.post("/setup", data=form, follow_redirects=False).status_code == 303


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m
    return m.group(1)


def test_login_page_of_an_empty_home_points_at_setup(fresh: tuple[Akashi, TestClient]) -> None:
    ak, c = fresh
    page = c.get("/login").text
    assert 'id="needs-setup"' in page and 'href="/setup"' in page and "初回セットアップ" in page
    c.get("/lang/en")
    assert "first-run setup" in c.get("/login").text
    _set_up(ak, c)
    c.cookies.clear()
    assert 'id="needs-setup"' not in c.get("/login").text


def test_running_demo_on_dashboard_and_list_for_admins_only(fresh: tuple[Akashi, TestClient]) -> None:
    ak, c = fresh
    _set_up(ak, c)
    home = ak.settings.home
    page = c.get("/").text
    assert 'id="demo-start"' in page and 'id="demo-running"' not in page and 'id="demo-log"' not in page
    assert 'id="demo-running"' not in c.get("/calls").text
    (home / "demo.pid").write_text(str(os.getpid()))  # a demo (this live process) is running
    (home / "demo.log").write_text(
        "SIP が無効なため、デモ用の受付をループバック（127.0.0.1:5999）だけで起動します\n通話 1/3 を発信\n",
        encoding="utf-8",
    )
    page = c.get("/").text
    assert 'id="demo-running"' in page and 'id="demo-start"' not in page
    assert 'id="demo-log" open' in page and "ループバック" in page
    assert 'id="demo-running"' in c.get("/calls").text
    with session_scope(ak.engine) as s:
        s.add(User(name="mgr", role="manager", password_hash=hash_password(PASSWORD)))
    c.cookies.clear()
    r = c.post("/login", data={"username": "mgr", "password": PASSWORD,
                               "csrf_token": _csrf(c.get("/login").text)}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    assert 'id="demo-running"' not in c.get("/calls").text  # the demo is the admin's business


def test_clearing_says_so_and_drops_the_log(fresh: tuple[Akashi, TestClient]) -> None:
    ak, c = fresh
    _set_up(ak, c)
    (ak.settings.home / "demo.log").write_text("デモが終わりました\n", encoding="utf-8")
    r = c.post("/setup/demo/clear", data={"csrf_token": _csrf(c.get("/").text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/?demo=cleared#checklist"
    page = c.get(r.headers["location"]).text
    assert 'id="demo-cleared"' in page and "台帳" in page and 'id="demo-log"' not in page
    assert not (ak.settings.home / "demo.log").exists()


def test_log_tail_keeps_the_last_whole_lines(tmp_path: Path) -> None:
    assert log_tail(tmp_path) == []
    lines = [f"通話 {i} を発信 / placing call {i}" for i in range(500)]
    (tmp_path / "demo.log").write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    assert log_tail(tmp_path) == lines[-LOG_LINES:]
    (tmp_path / "demo.log").write_text("一行\n", encoding="utf-8")
    assert log_tail(tmp_path) == ["一行"]
