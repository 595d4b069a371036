"""What the live board shows: who may watch it, the calls in progress, the events since the last one seen.

The board's routes (the page, the event stream, listen-in, commands) are :mod:`akashi.web.routes.live`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from akashi.access import Principal
from akashi.access.evidence import refuse
from akashi.access.live import calls_in_progress, events_since, last_event_id, may_watch
from akashi.db.base import session_scope
from akashi.db.models_live import LiveCall


def check_board(engine: Engine, p: Principal, client: str) -> None:
    """Refuse (audited) a role that may not watch the board."""
    if not may_watch(p):
        raise refuse(
            engine,
            p,
            "live_view",
            "live",
            "",
            client,
            f"role_{p.role}_no_board",
            message=(
                "通話モニターは管理者とマネージャーのみ利用できます",
                "the live board is for admins and managers",
            ),
        )


def board_snapshot(engine: Engine, p: Principal) -> dict[str, Any]:
    """The calls in progress the principal may see, and the last event id."""
    with session_scope(engine) as s:
        return {"calls": [c.to_json() for c in calls_in_progress(s, p)], "last_id": last_event_id(s)}


def board_events(engine: Engine, p: Principal, after: int) -> list[dict[str, Any]]:
    """Events after ``after`` in scope, each with its call (for a call the board has not seen yet)."""
    with session_scope(engine) as s:
        events = events_since(s, p, after)
        ids = sorted({e.call_id for e in events})
        calls = (
            {c.call_id: c for c in s.scalars(select(LiveCall).where(LiveCall.call_id.in_(ids)))}
            if ids
            else {}
        )
        out = []
        for e in events:
            item = e.to_json()
            c = calls.get(e.call_id)
            if c is not None:
                item["call"] = {
                    "call_id": c.call_id,
                    "site": c.site,
                    "caller": c.caller,
                    "agent": c.agent,
                    "direction": c.direction,
                    "started_at": c.started_at.isoformat(),
                    "answered_at": c.answered_at.isoformat() if c.answered_at else None,
                }
            out.append(item)
        return out
