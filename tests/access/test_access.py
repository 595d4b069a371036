"""Roles, sites and the audit trail: refusals are audited and change nothing else."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from akashi.access import Principal, authenticate, hash_password, open_call_media, verify_audit
from akashi.access.evidence import check_call
from akashi.context import Akashi
from akashi.db import session_scope
from akashi.db.models import Agent, AuditEntry, Call, Site, User, UserSite
from akashi.db.queries import CallQuery, search_calls
from akashi.errors import AccessDenied, NotFoundError

PW = "correct horse battery"


@pytest.fixture
def world(akashi: Akashi) -> dict[str, Any]:
    """Two sites, two operators, a manager per site, an auditor, an admin; one call per operator."""
    with session_scope(akashi.engine) as s:
        tokyo, osaka = Site(name="tokyo"), Site(name="osaka")
        s.add_all([tokyo, osaka])
        s.flush()
        a1 = Agent(name="佐藤 花子", sip_user="201", site_id=tokyo.id)
        a2 = Agent(name="鈴木 一郎", sip_user="202", site_id=tokyo.id)
        a3 = Agent(name="田中 次郎", sip_user="301", site_id=osaka.id)
        s.add_all([a1, a2, a3])
        s.flush()
        users = {
            "admin": User(name="admin", role="admin", password_hash=hash_password(PW)),
            "mgr_tokyo": User(name="mgr_tokyo", role="manager", password_hash=hash_password(PW)),
            "op1": User(name="op1", role="operator", password_hash=hash_password(PW), agent_id=a1.id),
            "op2": User(name="op2", role="operator", password_hash=hash_password(PW), agent_id=a2.id),
            "aud": User(name="aud", role="auditor", password_hash=hash_password(PW)),
        }
        s.add_all(users.values())
        s.flush()
        s.add(UserSite(user_id=users["mgr_tokyo"].id, site_id=tokyo.id))
        t = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
        calls = {}
        for key, agent, site in (("c1", a1, tokyo), ("c2", a2, tokyo), ("c3", a3, osaka)):
            c = Call(
                started_at=t,
                direction="in",
                caller="0312345678",
                agent_id=agent.id,
                agent_name=agent.name,
                site_id=site.id,
            )
            s.add(c)
            s.flush()
            calls[key] = c.id
    with session_scope(akashi.engine) as s:
        principals = {n: Principal.of(s.scalars(sa.select(User).where(User.name == n)).one()) for n in users}
    return {"calls": calls, "p": principals}


def audit_rows(ak: Akashi) -> list[AuditEntry]:
    with session_scope(ak.engine) as s:
        return list(s.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq)))


def test_login_ok_wrong_password_unknown_user(akashi: Akashi, world: dict[str, Any]) -> None:
    with session_scope(akashi.engine) as s:
        assert authenticate(s, "op1", PW, "127.0.0.1").name == "op1"
    with session_scope(akashi.engine) as s, pytest.raises(AccessDenied):
        authenticate(s, "op1", "wrong password!", "127.0.0.1")
    with session_scope(akashi.engine) as s, pytest.raises(AccessDenied):
        authenticate(s, "nobody", PW, "127.0.0.1")
    outcomes = [(r.user_name, r.action, r.outcome) for r in audit_rows(akashi)]
    assert outcomes == [("op1", "login", "ok"), ("op1", "login", "denied"), ("nobody", "login", "denied")]


def test_lockout_after_repeated_failures(akashi: Akashi, world: dict[str, Any]) -> None:
    for _ in range(5):
        with session_scope(akashi.engine) as s, pytest.raises(AccessDenied):
            authenticate(s, "op2", "nope nope nope", "10.0.0.9")
    with session_scope(akashi.engine) as s, pytest.raises(AccessDenied, match="locked"):
        authenticate(s, "op2", PW, "10.0.0.9")  # even the right password waits
    with session_scope(akashi.engine) as s:
        assert s.scalars(sa.select(User).where(User.name == "op2")).one().locked_until is not None


def test_operator_sees_only_own_calls(akashi: Akashi, world: dict[str, Any]) -> None:
    p, calls = world["p"], world["calls"]
    with session_scope(akashi.engine) as s:
        rows, total = search_calls(s, p["op1"], CallQuery())
        assert [c.id for c in rows] == [calls["c1"]] and total == 1
        rows, total = search_calls(s, p["mgr_tokyo"], CallQuery())
        assert {c.id for c in rows} == {calls["c1"], calls["c2"]}
        rows, total = search_calls(s, p["admin"], CallQuery())
        assert total == 3


def test_operator_opening_another_operators_call_is_refused_and_audited(
    akashi: Akashi, world: dict[str, Any]
) -> None:
    p, calls = world["p"], world["calls"]
    before = len(audit_rows(akashi))
    with pytest.raises(AccessDenied):
        open_call_media(akashi, p["op1"], calls["c2"], action="play", client="192.0.2.7")
    rows = audit_rows(akashi)
    assert len(rows) == before + 1
    last = rows[-1]
    assert (last.user_name, last.action, last.target_id, last.outcome, last.client) == (
        "op1",
        "play",
        str(calls["c2"]),
        "denied",
        "192.0.2.7",
    )


def test_manager_of_other_site_refused(akashi: Akashi, world: dict[str, Any]) -> None:
    p, calls = world["p"], world["calls"]
    with session_scope(akashi.engine) as s, pytest.raises(AccessDenied):
        check_call(akashi, s, p["mgr_tokyo"], calls["c3"], "play", "cli")
    assert audit_rows(akashi)[-1].outcome == "denied"


def test_roles_media_and_export(akashi: Akashi, world: dict[str, Any]) -> None:
    p, calls = world["p"], world["calls"]
    with session_scope(akashi.engine) as s:
        with pytest.raises(AccessDenied):
            check_call(akashi, s, p["aud"], calls["c1"], "play", "cli")  # auditor: no media
        with pytest.raises(AccessDenied):
            check_call(akashi, s, p["op1"], calls["c1"], "export", "cli")  # operator: no export
        assert check_call(akashi, s, p["mgr_tokyo"], calls["c1"], "export", "cli").id == calls["c1"]
        with pytest.raises(NotFoundError):
            check_call(akashi, s, p["admin"], 999999, "play", "cli")
    with session_scope(akashi.engine) as s:
        assert verify_audit(s) == []


def test_no_media_is_not_found(akashi: Akashi, world: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        open_call_media(akashi, world["p"]["admin"], world["calls"]["c1"])
