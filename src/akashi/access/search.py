"""Searching calls through the access layer: scoped to the principal, and audited with its filters.

Who looked for which number or which words is itself sensitive, so every search (web page, API,
CLI) leaves an audit entry naming the filters, committed before any result is returned. Searching by words said reads content: roles that
may not read transcripts (auditors) are refused, and the refusal is audited.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from akashi.access.audit import audit
from akashi.access.evidence import refuse
from akashi.access.principal import Principal
from akashi.db.models import Call
from akashi.db.queries import CallQuery, search_calls


def search_filters(q: CallQuery) -> dict[str, Any]:
    """The filters of a query that were given, as JSON-ready values (for the audit entry)."""
    out: dict[str, Any] = {}
    for name in ("number", "agent", "site", "flag", "text", "direction", "status"):
        value = getattr(q, name)
        if value:
            out[name] = value
    if q.from_ is not None:
        out["from"] = q.from_.isoformat()
    if q.to is not None:
        out["to"] = q.to.isoformat()
    return out


def audited_search(
    s: Session, p: Principal, q: CallQuery, *, client: str, via: str
) -> tuple[list[Call], int]:
    """One page of the calls ``p`` may see matching ``q``; the search is audited and committed first.

    The audit entry is committed (with ``s``'s transaction) before the results are returned, so no
    result leaves before the record of who searched for what: if the entry cannot be written, the
    search fails. (A web request's session would otherwise commit only after the response is sent.)
    ``via`` names the door (``web``, ``api``, ``cli``). A search by words from a role without access
    to content raises :class:`~akashi.errors.AccessDenied` after auditing the refusal.
    """
    filters = search_filters(q)
    if q.text and not p.can_read_content:
        engine = s.get_bind()
        assert isinstance(engine, Engine)
        raise refuse(
            engine,
            p,
            "search",
            "calls",
            "",
            client,
            f"role_{p.role}_no_content",
            message=(
                "監査担当者は通話の内容（言葉）で検索できません",
                "auditors may not search calls by the words said",
            ),
        )
    rows, total = search_calls(s, p, q)
    audit(
        s,
        user=p.name,
        action="search",
        target_type="calls",
        client=client,
        detail={
            "via": via,
            "filters": filters,
            "order": q.order,
            "offset": q.offset,
            "limit": q.limit,
            "results": total,
        },
    )
    s.commit()  # raises (and nothing is returned) when the entry cannot be committed
    return rows, total
