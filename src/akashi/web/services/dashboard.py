"""Dashboard figures, computed with SQL aggregates over the calls the user may see."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Date, and_, case, cast, func, literal_column, or_, select
from sqlalchemy.orm import Session

from akashi.access import Principal
from akashi.analysis.mining_report import top_terms
from akashi.db.base import utcnow
from akashi.db.models import Call, CallFlag, Camera, Site
from akashi.web.i18n import JST, jst


def _jst_day(s: Session) -> ColumnElement[Any]:
    """``Call.started_at`` as a JST calendar day, per dialect."""
    if s.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("Asia/Tokyo", Call.started_at), Date)
    return func.date(Call.started_at, literal_column("'+9 hours'"))


def _compliance(s: Session, scope: ColumnElement[bool], since: Any, completed: int) -> dict[str, Any]:
    """Notice compliance over every checked call since ``since``, overall, by site and by operator.

    A call is checked when its notice mode asks for a check and the check has run: an operator-mode
    or imported call once analysed, a live automatic-mode call from its playback log. A notice that
    analysis found missing, late, without its purpose, cut short or inaudible does not count as given.
    """
    checked = and_(
        scope,
        Call.started_at >= since,
        Call.status == "completed",
        Call.notice_mode.not_in(("", "none")),
        or_(Call.analysis_state == "done", and_(Call.notice_mode == "automatic", Call.source != "import")),
    )
    given = case(
        (Call.id.in_(select(CallFlag.call_id).where(CallFlag.category == "notice_missing")), 0), else_=1
    )

    def rows(*by: Any) -> list[Any]:
        q = (
            select(*by, func.count(), func.sum(given))
            .select_from(Call)
            .outerjoin(Site, Site.id == Call.site_id)
            .where(checked)
        )
        if by:
            q = q.group_by(*by).order_by(*by)
        return list(s.execute(q).all())

    def entry(n: Any, ok: Any) -> dict[str, Any]:
        n, ok = int(n or 0), int(ok or 0)
        return {"checked": n, "with_notice": ok, "rate": (ok / n) if n else None}

    total = rows()[0]
    return {
        "completed": int(completed),
        **entry(total[0], total[1]),
        "by_site": [{"site": site} | entry(n, ok) for site, n, ok in rows(Site.name)],
        "by_operator": [{"agent": agent} | entry(n, ok) for agent, n, ok in rows(Call.agent_name)],
    }


def dashboard(s: Session, p: Principal, days: int = 14) -> dict[str, Any]:
    """Figures for the dashboard: flags by category this week, trends, keywords, repeat callers,
    cameras and notice compliance. Empty lists mean nothing was recorded, never made-up data."""
    now = utcnow()
    week = now - timedelta(days=7)
    since = now - timedelta(days=days)
    scope = p.calls_clause()
    by_cat = s.execute(
        select(CallFlag.category, func.count(func.distinct(CallFlag.call_id)))
        .join(Call, Call.id == CallFlag.call_id)
        .where(scope, Call.started_at >= week)
        .group_by(CallFlag.category)
        .order_by(func.count(func.distinct(CallFlag.call_id)).desc())
    ).all()
    day = _jst_day(s)
    per_day: dict[Any, int] = dict(
        s.execute(select(day, func.count()).where(scope, Call.started_at >= since).group_by(day)).all()
    )
    flagged_day: dict[Any, int] = dict(
        s.execute(
            select(day, func.count(func.distinct(Call.id)))
            .join(CallFlag, CallFlag.call_id == Call.id)
            .where(scope, Call.started_at >= since)
            .group_by(day)
        ).all()
    )
    today = now.astimezone(JST).date()
    series = []
    for i in range(days - 1, -1, -1):
        d = today - timedelta(days=i)
        key_str, key_date = d.isoformat(), d
        calls = per_day.get(key_str, per_day.get(key_date, 0))
        flagged = flagged_day.get(key_str, flagged_day.get(key_date, 0))
        series.append({"day": key_str, "calls": int(calls), "flagged": int(flagged)})
    words: Counter[str] = Counter()
    for (w,) in s.execute(
        select(CallFlag.words)
        .join(Call, Call.id == CallFlag.call_id)
        .where(scope, Call.started_at >= now - timedelta(days=30), CallFlag.words != "")
        .limit(20000)
    ):
        for part in str(w).replace("、", ",").split(","):
            if part.strip():
                words[part.strip()] += 1
    # customer-channel terms said in at least two calls (names, fillers, unsure words left out at analysis)
    keywords = top_terms(s, scope, now - timedelta(days=30))
    repeat = s.execute(
        select(Call.caller, func.count())
        .where(scope, Call.started_at >= now - timedelta(days=30), Call.caller_digits != "")
        .group_by(Call.caller)
        .having(func.count() >= 2)
        .order_by(func.count().desc())
        .limit(10)
    ).all()
    completed = (
        s.scalar(select(func.count()).where(scope, Call.started_at >= week, Call.status == "completed")) or 0
    )
    compliance = _compliance(s, scope, week, completed)
    cams = s.scalars(select(Camera).where(p.cameras_clause()).order_by(Camera.name)).all()
    return {
        "flagged_by_category": [{"category": c, "calls": int(n)} for c, n in by_cat],
        "days": series,
        "top_flagged_words": [{"word": w, "count": n} for w, n in words.most_common(10)],
        "top_keywords": keywords,
        "repeat_callers": [{"caller": c, "calls": int(n)} for c, n in repeat],
        "compliance": compliance,
        "cameras": [
            {
                "id": c.id,
                "name": c.name,
                "state": c.state,
                "last_segment_at": c.last_segment_at.isoformat() if c.last_segment_at else None,
                "last_segment_jst": jst(c.last_segment_at),
            }
            for c in cams
        ],
    }
