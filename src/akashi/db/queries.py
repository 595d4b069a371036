"""Queries over calls shared by the CLI and the web UI."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlalchemy import ColumnElement, Select, bindparam, func, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from akashi.db.fts import text_filter
from akashi.db.models import Agent, Call, CallFlag, Site

_NON_DIGITS = re.compile(r"\D")


def national_digits(number: str) -> str:
    """Digits of a phone number without a leading +81 / 81 (international) or 0 (trunk prefix).

    ``"+81-3-1234-5678"``, ``"03-1234-5678"`` and ``"0312345678"`` all give ``"312345678"``.
    """
    raw = number.strip()
    digits = _NON_DIGITS.sub("", raw)
    if raw.startswith("+81") or (raw.startswith("81") and len(digits) >= 11):
        digits = digits[2:]
    elif raw.startswith("+"):
        return digits
    return digits.lstrip("0") if digits.startswith("0") else digits


def site_id_for(session: Session, name: str, *, label: str = "") -> int | None:
    """The id of site ``name``, created on first use (safe when two writers race); None for no name."""
    if not name:
        return None
    sid = session.scalar(select(Site.id).where(Site.name == name))
    if sid is not None:
        return int(sid)
    try:
        with session.begin_nested():
            site = Site(name=name, label=label)
            session.add(site)
            session.flush()
            return site.id
    except IntegrityError:  # another writer created it first
        sid = session.scalar(select(Site.id).where(Site.name == name))
        if sid is None:
            raise
        return int(sid)


class SeesCalls(Protocol):
    """Anything that yields a visibility filter for calls (an access Principal)."""

    def calls_clause(self) -> ColumnElement[bool]: ...


@dataclass
class CallQuery:
    """Filters of a call search. All optional; combined with AND."""

    from_: datetime | None = None
    to: datetime | None = None
    number: str | None = None
    agent: str | None = None
    site: str | None = None
    flag: str | None = None
    text: str | None = None
    text_reading: str = ""  # katakana reading of ``text`` (analysis.text.search_reading)
    direction: Literal["in", "out"] | None = None
    status: str | None = None
    order: str = "-started_at"
    limit: int = 50
    offset: int = 0


_ORDER = {
    "started_at": Call.started_at,
    "duration": Call.duration_s,
    "caller": Call.caller,
    "agent": Call.agent_name,
    "severity": Call.severity,
    "id": Call.id,
}


def _filtered(session: Session, viewer: SeesCalls | None, q: CallQuery) -> Select[Any]:  # noqa: PLR0912 - one optional filter per CallQuery field
    stmt = select(Call)
    if viewer is not None:
        stmt = stmt.where(viewer.calls_clause())
    if q.from_ is not None:
        stmt = stmt.where(Call.started_at >= q.from_)
    if q.to is not None:
        stmt = stmt.where(Call.started_at < q.to)
    if q.number:
        digits = national_digits(q.number)
        if digits:
            if session.get_bind().dialect.name == "sqlite" and len(digits) >= 3:
                # Trigram FTS5 index over both numbers (migration 0005): no table scan.
                ids = (
                    text("SELECT rowid FROM call_digits_fts WHERE call_digits_fts MATCH :num_q")
                    .bindparams(bindparam("num_q", f'"{digits}"', unique=True))
                    .columns(Call.id)
                )
                stmt = stmt.where(Call.id.in_(ids))
            else:  # PostgreSQL: pg_trgm GIN indexes serve this LIKE
                pat = f"%{digits}%"
                stmt = stmt.where(or_(Call.caller_digits.like(pat), Call.dialled_digits.like(pat)))
    if q.agent:
        # Resolve the agent first: an OR on the denormalised name would defeat the index.
        agent_ids = list(session.scalars(select(Agent.id).where(Agent.name.like(f"%{q.agent}%"))))
        stmt = stmt.where(Call.agent_id.in_(agent_ids) if agent_ids else Call.agent_name.like(f"%{q.agent}%"))
    if q.site:
        stmt = stmt.where(Call.site_id.in_(select(Site.id).where(Site.name == q.site)))
    if q.flag:
        # A materialised set of flagged call ids joined to calls (IN (subquery) was ~15x slower on PostgreSQL).
        flagged = (
            select(CallFlag.call_id)
            .where(CallFlag.category == q.flag)
            .distinct()
            .cte("flag_match")
            .prefix_with("MATERIALIZED")
        )
        stmt = stmt.join(flagged, flagged.c.call_id == Call.id)
    if q.direction:
        stmt = stmt.where(Call.direction == q.direction)
    if q.status:
        stmt = stmt.where(Call.status == q.status)
    if q.text:
        stmt = stmt.where(text_filter(session, q.text, q.text_reading))
    return stmt


def search_calls(session: Session, viewer: SeesCalls | None, q: CallQuery) -> tuple[list[Call], int]:
    """Calls matching ``q`` that ``viewer`` may see (None: no restriction), newest first by default.

    Returns one page of rows and the total count.
    """
    stmt = _filtered(session, viewer, q)
    total = int(session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0)
    key = q.order.lstrip("-")
    col = _ORDER.get(key, Call.started_at)
    ordered = stmt.order_by(col.desc() if q.order.startswith("-") else col.asc(), Call.id.desc())
    rows: list[Call] = list(
        session.scalars(ordered.limit(max(1, min(q.limit, 1000))).offset(max(0, q.offset)))
    )
    return rows, total
