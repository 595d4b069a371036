"""Mining aggregates for dashboards: flagged calls per day and category, top keywords per week,
repeat callers, per-agent exposure and notice compliance, over a time range.

Days and weeks are Japan time (JST), where the calls happen. Aggregation is done in Python over the
calls of the range (one indexed range query on ``calls.started_at``), which keeps it the same on
SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from akashi.analysis.lexicon import NOTICE_MISSING
from akashi.db.base import session_scope
from akashi.db.models import Call
from akashi.db.models_analysis import CallKeyword

JST = ZoneInfo("Asia/Tokyo")


def build_report(
    engine: Engine, start: datetime, end: datetime, *, repeat_calls: int = 3, top_keywords: int = 10
) -> dict[str, Any]:
    """Aggregates over calls that started in [start, end)."""
    with session_scope(engine) as s:
        calls = list(
            s.execute(
                select(
                    Call.id,
                    Call.started_at,
                    Call.caller_digits,
                    Call.agent_name,
                    Call.flags,
                    Call.severity,
                    Call.analysis_state,
                )
                .where(Call.started_at >= start, Call.started_at < end)
                .order_by(Call.started_at)
            )
        )
        ids = [c.id for c in calls]
        kw_rows = (
            list(
                s.execute(
                    select(CallKeyword.call_id, CallKeyword.word, CallKeyword.count).where(
                        CallKeyword.call_id.in_(ids)
                    )
                )
            )
            if ids
            else []
        )
    started = {c.id: c.started_at for c in calls}
    per_day: dict[str, Counter[str]] = defaultdict(Counter)
    flagged_per_day: Counter[str] = Counter()
    per_category: Counter[str] = Counter()
    callers: Counter[str] = Counter()
    agents: dict[str, Counter[str]] = defaultdict(Counter)
    notice_missing = 0
    analysed = 0
    for c in calls:
        day = c.started_at.astimezone(JST).date().isoformat()
        harassment = [f for f in (c.flags or []) if f != NOTICE_MISSING]
        if c.analysis_state == "done":
            analysed += 1
        if NOTICE_MISSING in (c.flags or []):
            notice_missing += 1
        for f in harassment:
            per_day[day][f] += 1
            per_category[f] += 1
        if harassment:
            flagged_per_day[day] += 1
        if c.caller_digits:
            callers[c.caller_digits] += 1
        agent = c.agent_name or "-"
        agents[agent]["calls"] += 1
        agents[agent]["flagged"] += 1 if harassment else 0
    weeks: dict[str, Counter[str]] = defaultdict(Counter)
    for call_id, word, count in kw_rows:
        iso = started[call_id].astimezone(JST).isocalendar()
        weeks[f"{iso.year}-W{iso.week:02d}"][word] += count
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "calls": len(calls),
        "analysed": analysed,
        "flagged_calls": sum(flagged_per_day.values()),
        "per_category": dict(per_category.most_common()),
        "per_day": [
            {"day": d, "flagged_calls": flagged_per_day[d], "categories": dict(per_day[d].most_common())}
            for d in sorted(per_day)
        ],
        "top_keywords_per_week": [
            {"week": w, "keywords": [{"word": k, "count": n} for k, n in weeks[w].most_common(top_keywords)]}
            for w in sorted(weeks)
        ],
        "repeat_callers": [
            {"caller": num, "calls": n} for num, n in callers.most_common() if n >= repeat_calls
        ],
        "agents": [
            {"agent": a, "calls": v["calls"], "flagged_calls": v["flagged"]}
            for a, v in sorted(agents.items(), key=lambda kv: (-kv[1]["flagged"], kv[0]))
        ],
        "notice_missing": notice_missing,
    }
