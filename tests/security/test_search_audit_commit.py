"""A search's audit entry is committed before its results leave, through the web page, the API and the CLI.

Read right after each response (real HTTP: uvicorn and httpx) or right after the real ``akashi``
command exits, the newest audit entry is that search with its filters, with no waiting. When the
entry cannot be committed, the search fails and no result leaves: the database refusing the commit
is played by a ``before_commit`` hook that refuses any transaction holding a search entry.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

import akashi.cli.main  # noqa: F401  (registers the whole command tree)
from akashi.cli.apps import app as cli
from akashi.db.models import AuditEntry
from tests.cli.test_end_to_end import run
from tests.security.access_helpers import Row, audit_head, audit_rows, login
from tests.web import conftest as web_fixtures
from tests.web.conftest import Seeded, api_login

# the web tests' fixtures: a seeded SQLite installation and uvicorn serving it on a free port
seeded_sqlite = web_fixtures.seeded_sqlite
server = web_fixtures.server

TANAKA = "03-1234-5678"  # the caller of the seeded call that the searches below find


def newest(seeded: Seeded, mark: int) -> Row:
    """The newest committed audit entry after ``mark``, read at once."""
    rows = audit_rows(seeded.ak, mark)
    assert rows, "no audit entry committed"
    return rows[-1]


def test_each_search_is_in_the_audit_log_when_its_response_arrives(
    server: str, seeded_sqlite: Seeded
) -> None:
    home = seeded_sqlite.ak.settings.home
    with login(server, "boss_tokyo") as boss:
        mark = audit_head(seeded_sqlite.ak)
        for i in range(5):  # each time, not by luck once
            api = boss.get("/api/v1/calls", params={"number": "1234", "q": "土下座", "offset": str(i)})
            assert api.status_code == 200
            last = newest(seeded_sqlite, mark)
            assert (last.user, last.action, last.detail["via"], last.detail["offset"]) == (
                "boss_tokyo", "search", "api", i,
            )  # fmt: skip
            assert last.detail["filters"] == {"number": "1234", "text": "土下座"}
            mark = audit_head(seeded_sqlite.ak)
            page = boss.get("/calls", params={"number": "8765", "agent": "suzuki", "page": str(i + 1)})
            assert page.status_code == 200
            last = newest(seeded_sqlite, mark)
            assert (last.action, last.detail["via"], last.detail["filters"]) == (
                "search", "web", {"number": "8765", "agent": "suzuki"},
            )  # fmt: skip
            mark = audit_head(seeded_sqlite.ak)
    out = run(home, "calls", "search", "--number", "5555", "--as", "boss_osaka", "--json")
    assert json.loads(out.stdout)["total"] == 1
    last = newest(seeded_sqlite, mark)
    assert (last.user, last.detail["via"], last.detail["filters"]) == (
        "boss_osaka",
        "cli",
        {"number": "5555"},
    )


@contextmanager
def audit_commit_refused() -> Iterator[list[str]]:
    """The database refuses to commit any transaction that holds a search's audit entry."""
    refused: list[str] = []

    def flushed(session: Session, _ctx: Any) -> None:
        if any(isinstance(o, AuditEntry) and o.action == "search" for o in session.new):
            session.info["test_search_entry"] = True

    def committing(session: Session) -> None:
        if session.info.pop("test_search_entry", False):
            refused.append("search")
            raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    def rolled_back(session: Session, _previous: Any) -> None:
        session.info.pop("test_search_entry", None)

    event.listen(Session, "after_flush", flushed)
    event.listen(Session, "before_commit", committing)
    event.listen(Session, "after_soft_rollback", rolled_back)
    try:
        yield refused
    finally:
        event.remove(Session, "after_soft_rollback", rolled_back)
        event.remove(Session, "before_commit", committing)
        event.remove(Session, "after_flush", flushed)


def test_a_search_whose_audit_entry_cannot_be_committed_returns_nothing(seeded_sqlite: Seeded) -> None:
    from akashi.web.app import create_app

    home = seeded_sqlite.ak.settings.home
    with TestClient(
        create_app(seeded_sqlite.ak), base_url="http://testserver", raise_server_exceptions=False
    ) as client:
        api_login(client, "boss_tokyo")
        assert TANAKA in client.get("/api/v1/calls", params={"number": "1234"}).text  # it is there to find
        mark = audit_head(seeded_sqlite.ak)
        with audit_commit_refused() as refused:
            api = client.get("/api/v1/calls", params={"number": "1234"})
            page = client.get("/calls", params={"number": "1234"})
            res = CliRunner().invoke(
                cli, ["--home", str(home), "calls", "search", "--number", "1234", "--json"]
            )
        assert refused == ["search"] * 3
        assert api.status_code == 500 and TANAKA not in api.text
        assert page.status_code == 500 and TANAKA not in page.text
        assert res.exit_code != 0 and TANAKA not in res.output and '"total"' not in res.output
    assert [r for r in audit_rows(seeded_sqlite.ak, mark) if r.action == "search"] == []
