"""Small helpers of the page handlers: dates and sort orders as typed, labels and facts the pages show."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from akashi.access import Principal
from akashi.db.models import Call, Site
from akashi.web.i18n import jst
from akashi.web.schemas import CallOrder
from akashi.web.services.adminconfig import FormError
from akashi.web.services.analysisview import analysis_info


def parse_day(v: str | None) -> date | None:
    """A ``YYYY-MM-DD`` value as a date; None when empty or not a date (see :func:`date_errors`)."""
    try:
        return date.fromisoformat(v) if v else None
    except ValueError:
        return None


BAD_DATE = ("日付は 2026-01-31 の形で入力してください", "enter the date as 2026-01-31")


def date_errors(**values: str | None) -> dict[str, tuple[str, str]]:
    """The date fields (by name) whose value is not a date, each with its message; empty values are fine."""
    return {name: BAD_DATE for name, v in values.items() if v and parse_day(v) is None}


def pick_order(order: str | None) -> CallOrder:
    """The sort order asked for, or newest first when it is missing or unknown (never a bare 422)."""
    try:
        return CallOrder(order) if order else CallOrder.newest
    except ValueError:
        return CallOrder.newest


def call_analysis_info(db: Session, call_id: int) -> dict[str, object]:
    """The call's analysis state for its page (``none`` for a call that is not there)."""
    call = db.get(Call, call_id)
    return analysis_info(db, call) if call is not None else {"state": "none", "settled": True}


def site_label(db: Session, name: str | None) -> str:
    """A site's label (its ID when it has none)."""
    if not name:
        return ""
    site = db.scalar(select(Site).where(Site.name == name))
    return (site.label or site.name) if site is not None else name


def linked_calls(db: Session, principal: Principal, call_ids: list[int]) -> dict[int, dict[str, object]]:
    """Date, caller, agent and flags of an incident's calls the user may see (the rest show their number)."""
    if not call_ids:
        return {}
    rows = db.scalars(select(Call).where(Call.id.in_(call_ids)))
    return {
        c.id: {
            "started_jst": jst(c.started_at),
            "caller": c.caller,
            "agent": c.agent_name,
            "duration_s": c.duration_s,
            "flags": [str(f) for f in c.flags or []],
        }
        for c in rows
        if principal.may_view_call(c)
    }


def blank(what: tuple[str, str], field: str) -> FormError:
    """The refusal of an empty required field (``what``: its name in Japanese and English)."""
    return FormError(f"{what[0]}を入力してください", f"please enter the {what[1]}", field=field)


def is_time(value: str) -> bool:
    """Whether ``value`` reads as an ISO date-time (as a ``datetime-local`` field sends it)."""
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True
