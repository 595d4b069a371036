"""Property-based API tests from the published OpenAPI schema (schemathesis).

Every operation is called twice per generated case: without a session (must be refused unless the
route is public) and as a logged-in admin (must never answer 5xx; bodies must match the schema).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy import update

from akashi.access.sessions import COOKIE
from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import User
from akashi.web.app import PUBLIC_PATHS, create_app
from tests.conftest import make_home
from tests.security.webserve import set_web
from tests.web.conftest import PASSWORD, seed


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One seeded SQLite installation for the whole module (seeding per case would dominate)."""
    tmp = tmp_path_factory.mktemp("fuzz")
    home = make_home(tmp / "home", f"sqlite:///{tmp / 'akashi.db'}")
    set_web(home, login_attempts_per_minute=10_000)  # the fuzzer logs in far more often than people do
    with Akashi.open(home) as ak:
        seed(ak, tmp)
        yield create_app(ak)


@pytest.fixture(scope="module")
def api_schema(fuzz_app: Any) -> Any:
    """The schema as the app publishes it."""
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", fuzz_app)


_SESSION: dict[str, str] = {}


def _admin_session(app: Any) -> tuple[str, str]:
    """A live admin session; a new one when a generated case disabled the admin or changed its password."""
    if _SESSION:
        with TestClient(app) as c:
            c.cookies.set(COOKIE, _SESSION["token"])
            r = c.get("/api/v1/me")
            if r.status_code == 200 and r.json()["role"] == "admin":
                return _SESSION["token"], _SESSION["csrf"]
    ak = app.state.akashi
    from akashi.access import hash_password

    with session_scope(ak.engine) as s:
        s.execute(
            update(User)
            .where(User.name == "admin")
            .values(
                disabled=False,
                failed_logins=0,
                locked_until=None,
                role="admin",
                password_hash=hash_password(PASSWORD),
            )
        )
    with TestClient(app) as c:
        r = c.post("/api/v1/auth/login", json={"name": "admin", "password": PASSWORD})
        assert r.status_code == 200, r.text
        _SESSION.update(token=str(c.cookies[COOKIE]), csrf=str(r.json()["csrf_token"]))
        return _SESSION["token"], _SESSION["csrf"]


def _check(case: Any, app: Any) -> int:
    anon = case.call()
    if case.path not in PUBLIC_PATHS:
        assert anon.status_code == 401, (case.method, case.path, anon.status_code)
    token, csrf = _admin_session(app)
    response = case.call_and_validate(
        headers={"X-CSRF-Token": csrf},
        cookies={COOKIE: token},
        checks=[not_a_server_error, response_schema_conformance],
    )
    return int(response.status_code)


def test_api_schema(api_schema: Any, fuzz_app: Any) -> None:
    """No route is reachable without a session; with one, no 5xx and responses match the schema."""
    operations = 0
    statuses: Counter[int] = Counter()
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case: Any) -> None:
            code = _check(case, fuzz_app)
            statuses[code] += 1
            if code == 401:
                assert case.path == "/api/v1/auth/login", case.path  # only a wrong password is refused

        run()
        operations += 1
    assert operations >= 20
    # the authenticated calls really got through (not all refused)
    assert statuses[200] >= 20 and statuses[201] > 0, statuses


def test_schema_is_published_and_lists_the_main_operations(api_schema: Any, tmp_path: Path) -> None:
    """The OpenAPI document names the routes people script against."""
    raw = api_schema.raw_schema
    paths = set(raw["paths"])
    assert {
        "/api/v1/calls",
        "/api/v1/calls/{call_id}",
        "/api/v1/calls/{call_id}/media",
        "/api/v1/calls/{call_id}/export",
        "/api/v1/incidents",
        "/api/v1/admin/audit",
    } <= paths
    del tmp_path
