"""Helpers of the access attack tests: a real HTTP client per user, audit rows, a counsel user."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import AuditEntry, User
from tests.web.conftest import PASSWORD, password_hash


@dataclass(frozen=True)
class Row:
    """One audit entry, flattened for assertions."""

    user: str
    action: str
    target_type: str
    target_id: str
    outcome: str
    detail: dict[str, Any]


def audit_rows(ak: Akashi, after: int = 0) -> list[Row]:
    """Audit entries with ``seq > after``, oldest first."""
    with session_scope(ak.engine) as s:
        return [
            Row(r.user_name, r.action, r.target_type, r.target_id, r.outcome, json.loads(r.detail or "{}"))
            for r in s.scalars(select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq))
        ]


def audit_head(ak: Akashi) -> int:
    """The newest audit sequence number (0 when empty)."""
    with session_scope(ak.engine) as s:
        return int(s.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1)) or 0)


def add_user(ak: Akashi, name: str, role: str) -> int:
    """A user with the shared test password and no sites."""
    with session_scope(ak.engine) as s:
        u = User(name=name, role=role, password_hash=password_hash(), display_name=name)
        s.add(u)
        s.flush()
        return u.id


@contextmanager
def login(base_url: str, name: str) -> Iterator[httpx.Client]:
    """An HTTP client logged in as ``name`` over the wire; the CSRF header is set for writes."""
    with httpx.Client(base_url=base_url, timeout=30) as c:
        r = c.post("/api/v1/auth/login", json={"name": name, "password": PASSWORD})
        assert r.status_code == 200, r.text
        c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        yield c
