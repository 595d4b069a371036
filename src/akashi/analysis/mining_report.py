"""The mining page's tables, read with SQL over the calls a principal may see.

Every query takes the principal's calls clause (:meth:`akashi.access.Principal.calls_clause`), so a
call of another site is never counted. Periods are Japan time (JST): the *current week* is the seven
JST days ending with ``until`` and the *earlier period* the four weeks before it; the tables other
than the rising terms cover both (five weeks). Hours and weekdays are JST, computed in Python from the
UTC times so that SQLite and PostgreSQL agree.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from akashi.analysis.lexicon import NOTICE_MISSING
from akashi.analysis.mining import rising_terms
from akashi.db.models import Call, CallFlag, Site
from akashi.db.models_analysis import CallKeyword

JST = timezone(timedelta(hours=9), "JST")
WEEKDAYS_JA = ("月", "火", "水", "木", "金", "土", "日")
WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
EARLIER_WEEKS = 4
MAX_ROWS = 200


@dataclass(frozen=True)
class Window:
    """The current week and the four weeks before it, as UTC-comparable instants."""

    until: date  # last JST day of the current week
    start: datetime  # start of the earlier period
    week_start: datetime  # start of the current week
    end: datetime  # end of the current week (exclusive)

    @classmethod
    def ending(cls, until: date) -> Window:
        """The window whose current week ends with JST day ``until``."""
        end = datetime.combine(until + timedelta(days=1), time(0), tzinfo=JST)
        week_start = end - timedelta(days=7)
        return cls(until, week_start - timedelta(days=7 * EARLIER_WEEKS), week_start, end)

    def describe(self) -> dict[str, str]:
        """The window's JST days, for the page, CSV audit entries and file names."""
        last = self.end - timedelta(days=1)
        return {
            "from": self.start.astimezone(JST).date().isoformat(),
            "week_from": self.week_start.astimezone(JST).date().isoformat(),
            "to": last.astimezone(JST).date().isoformat(),
        }


def doc_freq(s: Session, terms: list[str], exclude_call: int) -> tuple[dict[str, int], int]:
    """How many other calls said each of ``terms``, and how many other calls have terms at all."""
    if not terms:
        return {}, 0
    rows = s.execute(
        select(CallKeyword.word, func.count(func.distinct(CallKeyword.call_id)))
        .where(CallKeyword.word.in_(terms), CallKeyword.call_id != exclude_call)
        .group_by(CallKeyword.word)
    ).all()
    n = s.scalar(
        select(func.count(func.distinct(CallKeyword.call_id))).where(CallKeyword.call_id != exclude_call)
    )
    return {w: int(c) for w, c in rows}, int(n or 0)


def _term_counts(
    s: Session, scope: ColumnElement[bool], start: datetime, end: datetime
) -> dict[int | None, Counter[str]]:
    """Calls that said each term, per site, for calls started in [start, end)."""
    out: dict[int | None, Counter[str]] = defaultdict(Counter)
    rows = s.execute(
        select(Call.site_id, CallKeyword.word, func.count(func.distinct(CallKeyword.call_id)))
        .join(Call, Call.id == CallKeyword.call_id)
        .where(scope, Call.started_at >= start, Call.started_at < end)
        .group_by(Call.site_id, CallKeyword.word)
    )
    for site_id, word, n in rows:
        out[site_id][str(word)] += int(n)
    return out


def site_names(s: Session) -> dict[int, str]:
    """Site ids to their labels (their names when unlabelled)."""
    return {sid: (label or name) for sid, name, label in s.execute(select(Site.id, Site.name, Site.label))}


def rising_by_site(
    s: Session, scope: ColumnElement[bool], w: Window, *, top: int = 15
) -> list[dict[str, Any]]:
    """Terms rising this week against the four before, for all visible sites together and each site.

    The prior is the five weeks of every visible site together: a site's rare term is weighed against
    how often the whole company hears it.
    """
    cur = _term_counts(s, scope, w.week_start, w.end)
    prev = _term_counts(s, scope, w.start, w.week_start)
    all_cur: Counter[str] = sum(cur.values(), Counter())
    all_prev: Counter[str] = sum(prev.values(), Counter())
    background = all_cur + all_prev
    names = site_names(s)
    rows: list[dict[str, Any]] = []
    groups: list[tuple[str, Counter[str], Counter[str]]] = [("", all_cur, all_prev)]
    site_ids = set(cur) | set(prev)
    if len(site_ids) > 1:  # with one site, its rows would repeat the rows of all sites
        for sid in sorted(site_ids, key=lambda x: names.get(x, "") if x is not None else ""):
            label = names.get(sid, "") if sid is not None else "-"
            groups.append((label, cur.get(sid, Counter()), prev.get(sid, Counter())))
    for label, c, p in groups:
        for r in rising_terms(c, p, background, top=top):
            rows.append({"site": label, "term": r.term, "week": r.current, "earlier": r.previous, "z": r.z})
    return rows


def top_terms(s: Session, scope: ColumnElement[bool], since: datetime, top: int = 10) -> list[dict[str, Any]]:
    """Terms said in the most calls since ``since`` (at least two calls: one call is an anecdote)."""
    calls = func.count(func.distinct(CallKeyword.call_id))
    rows = s.execute(
        select(CallKeyword.word, calls, func.sum(CallKeyword.count))
        .join(Call, Call.id == CallKeyword.call_id)
        .where(scope, Call.started_at >= since)
        .group_by(CallKeyword.word)
        .having(calls >= 2)
        .order_by(calls.desc(), func.sum(CallKeyword.count).desc(), CallKeyword.word)
        .limit(top)
    ).all()
    return [{"word": w, "count": int(n)} for w, n, _ in rows]


def repeat_callers(
    s: Session, scope: ColumnElement[bool], w: Window, min_calls: int, *, callers: int = 50
) -> list[dict[str, Any]]:
    """Numbers that called at least ``min_calls`` times in the window, each with its calls."""
    period = (scope, Call.started_at >= w.start, Call.started_at < w.end, Call.caller_digits != "")
    top = s.execute(
        select(Call.caller_digits, func.count())
        .where(*period)
        .group_by(Call.caller_digits)
        .having(func.count() >= min_calls)
        .order_by(func.count().desc(), Call.caller_digits)
        .limit(callers)
    ).all()
    if not top:
        return []
    names = site_names(s)
    by_number: dict[str, list[Call]] = defaultdict(list)
    for c in s.scalars(
        select(Call).where(*period, Call.caller_digits.in_([n for n, _ in top])).order_by(Call.started_at)
    ):
        by_number[c.caller_digits].append(c)
    out = []
    for number, n in top:
        calls = by_number[number]
        out.append(
            {
                "caller": calls[0].caller if calls else number,
                "calls": int(n),
                "items": [_call_row(c, names) for c in calls[:MAX_ROWS]],
            }
        )
    return out


def _call_row(c: Call, names: dict[int, str]) -> dict[str, Any]:
    return {
        "id": c.id,
        "started_jst": c.started_at.astimezone(JST).strftime("%Y-%m-%d %H:%M"),
        "duration_s": round(c.duration_s or 0.0, 1),
        "talk_s": round(c.facts.talk_s(c.duration_s or 0.0), 1),
        "caller": c.caller,
        "agent": c.agent_name,
        "site": names.get(c.site_id, "") if c.site_id is not None else "",
        "flags": ", ".join(str(f) for f in c.flags or [] if f != NOTICE_MISSING),
    }


def harassment(s: Session, scope: ColumnElement[bool], w: Window) -> dict[str, list[dict[str, Any]]]:
    """Calls flagged for harassment in the window: by category, by JST hour of day and by weekday.

    A call counts once per category, and once in the hour and weekday tables however many flags it has.
    The notice check is compliance, not harassment, and is left out.
    """
    rows = s.execute(
        select(Call.id, Call.started_at, CallFlag.category)
        .join(CallFlag, CallFlag.call_id == Call.id)
        .where(
            scope, Call.started_at >= w.start, Call.started_at < w.end, CallFlag.category != NOTICE_MISSING
        )
        .distinct()
    ).all()
    by_cat: Counter[str] = Counter()
    when: dict[int, datetime] = {}
    for cid, started, category in rows:
        by_cat[str(category)] += 1
        when[int(cid)] = started
    hours: Counter[int] = Counter()
    days: Counter[int] = Counter()
    for started in when.values():
        local = started.astimezone(JST)
        hours[local.hour] += 1
        days[local.weekday()] += 1
    return {
        "category": [
            {"category": c, "calls": n} for c, n in sorted(by_cat.items(), key=lambda x: (-x[1], x[0]))
        ],
        "hour": [{"hour": h, "calls": hours[h]} for h in range(24)],
        "weekday": [
            {"weekday": WEEKDAYS_JA[d], "weekday_en": WEEKDAYS_EN[d], "calls": days[d]} for d in range(7)
        ],
    }


def long_calls(
    s: Session, scope: ColumnElement[bool], w: Window, minutes: float, *, limit: int = MAX_ROWS
) -> list[dict[str, Any]]:
    """Calls whose talk time passed ``minutes`` in the window, longest first.

    Talk time, as the call list shows it and as the live long-call alert counts it: an outbound call's
    early media before the answer is left out. The database holds the recording's length, which is never
    shorter, so it picks the candidates.
    """
    names = site_names(s)
    candidates = s.scalars(
        select(Call).where(
            scope, Call.started_at >= w.start, Call.started_at < w.end, Call.duration_s > minutes * 60
        )
    )
    talks = [(c.facts.talk_s(c.duration_s or 0.0), c) for c in candidates]
    longest = sorted(((t, c) for t, c in talks if t > minutes * 60), key=lambda tc: (-tc[0], tc[1].id))
    return [_call_row(c, names) for _t, c in longest[:limit]]
