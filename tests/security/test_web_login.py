"""Password guessing on the web login, tried with httpx over a real socket.

An address gets ``web.login_attempts_per_minute`` password checks; past that 429 and no argon2 hash.
An unknown user, a wrong password and a locked account get the same answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from akashi.access.passwords import verify_password
from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import AuditEntry, User
from akashi.web.throttle import MAX_ADDRESSES, LoginThrottle, address_key
from tests.conftest import make_home
from tests.security.webserve import WebServer, set_web
from tests.web.conftest import PASSWORD, Seeded, seed

LIMIT = 8


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Seeded, WebServer]]:
    """A seeded home allowing :data:`LIMIT` login attempts a minute, served in its own process."""
    home = make_home(tmp_path / "home", f"sqlite:///{tmp_path / 'akashi.db'}")
    set_web(home, login_attempts_per_minute=LIMIT)
    with Akashi.open(home) as ak:
        seeded = seed(ak, tmp_path)
        with WebServer(home) as srv:
            yield seeded, srv


def _api(c: httpx.Client, name: str, password: str) -> httpx.Response:
    return c.post("/api/v1/auth/login", json={"name": name, "password": password})


def test_guessing_is_throttled_before_hashing_and_accounts_are_not_revealed(
    world: tuple[Seeded, WebServer],
) -> None:
    seeded, srv = world
    with httpx.Client(base_url=srv.url, timeout=30) as c:
        for _ in range(5):  # web.lockout_after: op_tanaka is locked after these
            assert _api(c, "op_tanaka", "wrong-password!").status_code == 401
        unknown = _api(c, "no_such_user", "wrong-password!")
        locked = _api(c, "op_tanaka", PASSWORD)  # the right password, but locked
        wrong = _api(c, "boss_tokyo", "wrong-password!")  # attempt LIMIT: still checked
        assert unknown.status_code == locked.status_code == wrong.status_code == 401
        assert unknown.json() == locked.json() == wrong.json()
        assert "lock" in locked.json()["detail"]["en"]  # the one message covers every reason

        # over the limit: 429 with Retry-After, even for the right password; nothing is checked
        for password in ("wrong-password!", PASSWORD):
            r = _api(c, "boss_tokyo", password)
            assert r.status_code == 429, r.text
            assert 1 <= int(r.headers["retry-after"]) <= 61
            assert r.json()["detail"]["code"] == "throttled" and "多すぎます" in r.json()["detail"]["ja"]
        # the page form shares the throttle
        page = c.get("/login")
        token = page.cookies.get("akashi_prelogin") or c.cookies.get("akashi_prelogin")
        r = c.post("/login", data={"username": "boss_tokyo", "password": PASSWORD, "csrf_token": token})
        assert r.status_code == 429 and "多すぎます" in r.text and "akashi_session" not in r.cookies

    with session_scope(seeded.ak.engine) as s:
        boss = s.scalar(select(User).where(User.name == "boss_tokyo"))
        assert boss is not None and boss.failed_logins == 1  # only the attempt within the limit was checked
        denials = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "login", AuditEntry.outcome == "denied")
        ).all()
    reasons = [(d.user_name, json.loads(d.detail or "{}").get("reason")) for d in denials]
    assert reasons.count(("boss_tokyo", "throttled")) == 1  # the first refusal is audited, not the flood
    assert ("op_tanaka", "locked") in reasons and ("no_such_user", "unknown_user") in reasons


def test_throttled_attempts_cost_no_hash(
    sqlite_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counted in-process: past the limit, no password is hashed; a locked account is hashed like others."""
    set_web(sqlite_home, login_attempts_per_minute=3, lockout_after=2)
    hashes: list[str] = []

    def counting(stored: str | None, password: str) -> bool:
        hashes.append(password)
        return verify_password(stored, password)

    monkeypatch.setattr("akashi.access.principal.verify_password", counting)
    from akashi.web.app import create_app

    with Akashi.open(sqlite_home) as ak:
        seed(ak, tmp_path)
        with TestClient(create_app(ak)) as c:
            for _ in range(2):
                assert _api_tc(c, "op_suzuki", "nope-nope-nope").status_code == 401
            assert _api_tc(c, "op_suzuki", PASSWORD).status_code == 401  # locked: hashed all the same
            assert len(hashes) == 3
            for _ in range(5):
                assert _api_tc(c, "op_suzuki", PASSWORD).status_code == 429
            assert len(hashes) == 3


def _api_tc(c: TestClient, name: str, password: str) -> Any:
    return c.post("/api/v1/auth/login", json={"name": name, "password": password})


def test_successful_logins_give_their_slot_back(sqlite_home: Path, tmp_path: Path) -> None:
    """People who log in correctly are never throttled by their own logins."""
    set_web(sqlite_home, login_attempts_per_minute=2)
    from akashi.web.app import create_app

    with Akashi.open(sqlite_home) as ak:
        seed(ak, tmp_path)
        with TestClient(create_app(ak)) as c:
            for _ in range(4):
                assert _api_tc(c, "admin", PASSWORD).status_code == 200


class Clock:
    """A hand-moved monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_window_slides_and_refusals_are_marked_once() -> None:
    clock = Clock()
    t = LoginThrottle(3, clock=clock)
    assert all(t.attempt("192.0.2.7").allowed for _ in range(3))
    first, second = t.attempt("192.0.2.7"), t.attempt("192.0.2.7")
    assert not first.allowed and first.first_refusal and not second.first_refusal
    assert first.retry_after_s == 61 and t.refused == 2
    assert t.attempt("192.0.2.8").allowed  # another address is not affected
    clock.now += 59.5
    assert not t.attempt("192.0.2.7").allowed
    clock.now += 0.5  # the first three attempts are a minute old now
    assert t.attempt("192.0.2.7").allowed


def test_ipv6_counts_per_64_and_the_book_is_bounded() -> None:
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"
    t = LoginThrottle(1, clock=Clock(), max_addresses=100)
    assert t.attempt("2001:db8:1:2::1").allowed and not t.attempt("2001:db8:1:2::2").allowed
    for i in range(1000):  # a flood of addresses cannot grow the book past its bound
        t.attempt(f"10.0.{i // 256}.{i % 256}")
    assert len(t) == 100 and MAX_ADDRESSES >= 1000
