"""Attack: a stranger on the network tries to claim a fresh installation through ``/setup``.

The server runs in its own process (real uvicorn); the attacker uses curl and httpx as one would:
opening the page without the token, guessing tokens, replaying a used link, and racing two uses of
one link. Each try is refused with a clear message and leaves no user behind; refusals are audited.
"""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import httpx
from sqlalchemy import select

from akashi import firstrun
from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import AuditEntry, User
from tests.conftest import require_binary
from tests.security.webserve import WebServer

FORM = {"company": "乗っ取り株式会社", "username": "mallory", "password": "mallory-password-1",
        "password2": "mallory-password-1", "site_name": "evil"}  # fmt: skip


def _users(home: Path) -> list[str]:
    with Akashi.open(home) as ak, session_scope(ak.engine) as s:
        return sorted(s.scalars(select(User.name)))


def _denied(home: Path) -> int:
    with Akashi.open(home) as ak, session_scope(ak.engine) as s:
        rows = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "setup", AuditEntry.outcome == "denied")
        )
        return len(list(rows))


def test_a_stranger_cannot_claim_the_install(home: Path) -> None:
    curl = require_binary("curl")
    with Akashi.open(home) as ak:
        token = firstrun.issue_token(ak.engine)  # printed on the server's console only
    with WebServer(home) as srv:
        page = subprocess.run([curl, "-s", "--max-time", "10", f"{srv.url}/setup"], capture_output=True,
                              text=True, timeout=20, check=True).stdout  # fmt: skip
        assert "akashi setup-link" in page and 'name="password"' not in page
        with httpx.Client(base_url=srv.url, timeout=10) as web:
            guesses = ["", "a" * 200, token[:-1] + ("A" if token[-1] != "A" else "B"), "' OR 1=1 --"]
            for guess in guesses:
                r = web.post("/setup", data={**FORM, "token": guess})
                assert r.status_code == 403, (guess, r.status_code)
                assert "無効" in r.text or "akashi setup-link" in r.text
            assert _users(home) == []
            assert _denied(home) == len(guesses)

            # The owner uses the link; afterwards the same link (seen in a history or a log) is dead.
            assert web.post("/setup", data={**FORM, "username": "owner", "site_name": "tokyo", "token": token},
                            follow_redirects=False).status_code == 303  # fmt: skip
            web.cookies.clear()
            replay = web.post("/setup", data={**FORM, "token": token})
            assert replay.status_code == 409 and "セットアップは完了しています" in replay.text
            assert 'name="password"' not in web.get("/setup", params={"token": token}).text
    assert _users(home) == ["owner"]


def test_two_uses_of_one_link_at_once_make_one_admin(home: Path) -> None:
    with Akashi.open(home) as ak:
        token = firstrun.issue_token(ak.engine)
    statuses: list[int] = []
    start = threading.Barrier(2)

    def claim(name: str) -> None:
        with httpx.Client(base_url=srv.url, timeout=30) as web:
            start.wait(timeout=30)
            r = web.post("/setup", data={**FORM, "username": name, "token": token}, follow_redirects=False)
            statuses.append(r.status_code)

    with WebServer(home) as srv:
        threads = [threading.Thread(target=claim, args=(n,)) for n in ("first", "second")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert sorted(statuses) == [303, 409], statuses
    assert len(_users(home)) == 1
