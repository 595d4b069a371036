"""Incident grants for counsel: dates, who may grant, expiry and revocation, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from akashi.access import Principal, load_principal
from akashi.access.grants import grant_incident, list_grants, parse_until, revoke_grants
from akashi.context import Akashi
from akashi.db import session_scope
from akashi.db.models import Call, Incident, IncidentItem, Site, User
from akashi.errors import AccessDenied, AkashiError, NotFoundError


def test_until_a_date_means_through_that_japanese_day() -> None:
    assert parse_until("2027-01-31") == datetime(2027, 1, 31, 15, 0, tzinfo=UTC)
    assert parse_until("2027-01-31T09:30") == datetime(2027, 1, 31, 0, 30, tzinfo=UTC)
    assert parse_until("2027-01-31T09:30+00:00") == datetime(2027, 1, 31, 9, 30, tzinfo=UTC)
    for bad in ("2027-02-30", "9999-12-31", "31/01/2027", "0001-01-01T00:00"):
        with pytest.raises(AkashiError):
            parse_until(bad)


def _world(ak: Akashi) -> tuple[int, int, int]:
    """A Tokyo incident with one call, another Tokyo call, a counsel user and a Tokyo manager."""
    with session_scope(ak.engine) as s:
        tokyo, osaka = Site(name="tokyo"), Site(name="osaka")
        s.add_all([tokyo, osaka])
        s.flush()
        t = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
        c1, c2 = (Call(started_at=t, direction="in", site_id=tokyo.id) for _ in range(2))
        s.add_all([c1, c2])
        s.flush()
        inc = Incident(title="件", site_id=tokyo.id)
        s.add(inc)
        s.flush()
        s.add(IncidentItem(incident_id=inc.id, call_id=c1.id))
        s.add(User(name="bengoshi", role="counsel", password_hash="x"))
        mgr = User(name="mgr", role="manager", password_hash="x")
        mgr.sites = [tokyo]
        other = User(name="mgr_osaka", role="manager", password_hash="x")
        other.sites = [osaka]
        s.add_all([mgr, other, User(name="op", role="operator", password_hash="x")])
        return inc.id, c1.id, c2.id


def _counsel(ak: Akashi) -> Principal:
    with session_scope(ak.engine) as s:
        return load_principal(s, "bengoshi")


def test_grant_expiry_and_revocation(akashi: Akashi) -> None:
    inc, granted, other = _world(akashi)
    assert _counsel(akashi).granted_calls == frozenset()
    soon = datetime.now(UTC) + timedelta(days=1)
    with session_scope(akashi.engine) as s:
        mgr = load_principal(s, "mgr")
        for who in ("op", "mgr_osaka"):
            with pytest.raises(AccessDenied):
                grant_incident(s, load_principal(s, who), inc, "bengoshi", soon, "test")
        with pytest.raises(AkashiError):
            grant_incident(s, mgr, inc, "op", soon, "test")  # not a counsel user
        with pytest.raises(AkashiError):
            grant_incident(s, mgr, inc, "bengoshi", datetime.now(UTC) - timedelta(hours=1), "test")
        with pytest.raises(AkashiError):
            grant_incident(s, mgr, inc, "bengoshi", datetime.now(UTC) + timedelta(days=5 * 365), "test")
        with pytest.raises(NotFoundError):
            grant_incident(s, mgr, inc + 100, "bengoshi", soon, "test")
        grant_incident(s, mgr, inc, "bengoshi", soon, "test")
    p = _counsel(akashi)
    assert (p.incident_ids, p.granted_calls, p.site_ids) == (
        frozenset({inc}),
        frozenset({granted}),
        frozenset(),
    )
    with session_scope(akashi.engine) as s:
        calls = {c.id: c for c in s.scalars(select(Call))}
        assert p.may_view_call(calls[granted]) and not p.may_view_call(calls[other])
        assert set(s.scalars(select(Call.id).where(p.calls_clause()))) == {granted}
        assert p.can_play and p.can_export and p.can_read_content and not p.can_audit
        revoked = revoke_grants(s, load_principal(s, "mgr"), inc, "bengoshi", "test")
        assert revoked == 1
    assert _counsel(akashi).granted_calls == frozenset()
    with session_scope(akashi.engine) as s:
        [g] = list_grants(s, load_principal(s, "mgr"), inc)
        assert (g.user, g.active, g.revoked_by) == ("bengoshi", False, "mgr")
        assert list_grants(s, load_principal(s, "mgr_osaka"), inc) == []
        assert list_grants(s, _counsel(akashi), inc) == []
